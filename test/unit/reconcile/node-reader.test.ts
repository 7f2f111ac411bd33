import { describe, expect, it, vi } from 'vitest';
import type { ObservedService } from '../../../src/model/types.js';
import { createNodeReader, type ServicesByWorkspace } from '../../../src/reconcile/node-reader.js';

const svc = (name: string, restarts = 0): ObservedService => ({ name, specHash: 'h', state: 'running', restarts });

/** A fetch that records its calls and answers when told to. */
function node() {
  const calls: { key: string; workspaces: string[] }[] = [];
  const answers: ((m: ServicesByWorkspace) => void)[] = [];
  const failures: ((e: Error) => void)[] = [];
  const fetch = (key: string, workspaces: string[]) => {
    calls.push({ key, workspaces });
    return new Promise<ServicesByWorkspace>((resolve, reject) => {
      answers.push(resolve);
      failures.push(reject);
    });
  };
  return { calls, answers, failures, fetch };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('node reader', () => {
  it('turns the requests of one tick for one node into one read, per node', async () => {
    const n = node();
    const reader = createNodeReader(n.fetch);
    const reads = [reader.read('n1', 'a'), reader.read('n1', 'b'), reader.read('n1', 'a'), reader.read('n2', 'c')];
    await tick();
    expect(n.calls).toEqual([
      { key: 'n1', workspaces: ['a', 'b'] },
      { key: 'n2', workspaces: ['c'] },
    ]);
    n.answers[0]!(new Map([['a', [svc('web')]], ['b', [svc('db')]]]));
    n.answers[1]!(new Map());
    expect(await Promise.all(reads)).toEqual([[svc('web')], [svc('db')], [svc('web')], []]);
  });

  it('requests made while a read is in flight wait for the next read, made together', async () => {
    const n = node();
    const reader = createNodeReader(n.fetch);
    const first = reader.read('n1', 'a');
    await tick();
    const later = [reader.read('n1', 'a'), reader.read('n1', 'b')];
    await tick();
    expect(n.calls).toHaveLength(1); // one read of a node at a time
    n.answers[0]!(new Map([['a', [svc('web', 0)]]]));
    expect(await first).toEqual([svc('web', 0)]);
    // The next read follows a rest in proportion to the first one's time (not 0 on a loaded machine).
    await vi.waitFor(() => expect(n.calls).toHaveLength(2), { timeout: 2000, interval: 1 });
    expect(n.calls).toEqual([
      { key: 'n1', workspaces: ['a'] },
      { key: 'n1', workspaces: ['a', 'b'] },
    ]);
    n.answers[1]!(new Map([['a', [svc('web', 1)]], ['b', []]]));
    expect(await Promise.all(later)).toEqual([[svc('web', 1)], []]);
  });

  it('rests after a read in proportion to how long it took, so polling never keeps a node busy', async () => {
    const n = node();
    const reader = createNodeReader(n.fetch);
    const first = reader.read('n1', 'a');
    await tick();
    await new Promise((r) => setTimeout(r, 40)); // the read takes 40 ms
    const later = reader.read('n1', 'a');
    n.answers[0]!(new Map([['a', [svc('web', 0)]]]));
    await first;
    await tick();
    await tick();
    expect(n.calls).toHaveLength(1); // resting: 2 × 40 ms
    await new Promise((r) => setTimeout(r, 120));
    expect(n.calls).toHaveLength(2);
    n.answers[1]!(new Map([['a', [svc('web', 1)]]]));
    expect(await later).toEqual([svc('web', 1)]);
  });

  it('a failed read fails its requests; an error for one workspace fails only that one', async () => {
    const n = node();
    const reader = createNodeReader(n.fetch);
    const both = [reader.read('n1', 'a'), reader.read('n1', 'b')];
    await tick();
    n.answers[0]!(new Map<string, ObservedService[] | Error>([['a', new Error('exec into a failed')], ['b', [svc('db')]]]));
    await expect(both[0]).rejects.toThrow('exec into a failed');
    expect(await both[1]).toEqual([svc('db')]);

    // The reader rests twice as long as the last read took before the next one (restRatio): under
    // load that is more than a tick, so wait for the read itself rather than assume a tick suffices.
    const again = reader.read('n1', 'a');
    await vi.waitFor(() => expect(n.calls).toHaveLength(2));
    n.failures[1]!(new Error('connection lost'));
    await expect(again).rejects.toThrow('connection lost');
    // The next request reads again.
    const third = reader.read('n1', 'a');
    await vi.waitFor(() => expect(n.calls).toHaveLength(3));
    n.answers[2]!(new Map([['a', [svc('web')]]]));
    expect(await third).toEqual([svc('web')]);
  });
});

describe('recorded health verdicts', () => {
  it('a verdict checked before the current run started is stale', async () => {
    const { staleVerdict } = await import('../../../src/reconcile/settled.js');
    expect(staleVerdict('2026-01-01T10:00:00Z', '2026-01-01T10:00:05Z')).toBe(true);
    expect(staleVerdict('2026-01-01T10:00:06Z', '2026-01-01T10:00:05Z')).toBe(false);
    // Without both times nothing says it is stale.
    expect(staleVerdict(undefined, '2026-01-01T10:00:05Z')).toBe(false);
    expect(staleVerdict('2026-01-01T10:00:06Z', undefined)).toBe(false);
  });
});
