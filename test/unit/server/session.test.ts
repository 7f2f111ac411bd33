import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { driftEvents, lockHeldStore, Mutex, nodeTransitions } from '../../../src/server/session.js';
import { ensureToken } from '../../../src/server/token.js';
import { bearer, identify } from '../../../src/server/auth.js';
import { openStore } from '../../../src/store/file-store.js';
import { changeBatcher, dropsResources, isManifestPath } from '../../../src/cli/watch.js';
import { parseListen } from '../../../src/cli/serve.js';
import type { LoadedSet } from '../../../src/reconcile/api.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  vi.useRealTimers();
});
async function tempDir() {
  const d = await mkdtemp(join(tmpdir(), 'vendetta-unit-server-'));
  dirs.push(d);
  return d;
}

describe('token', () => {
  it('is generated once with mode 0600 and checked exactly', async () => {
    const home = await tempDir();
    const token = await ensureToken(home);
    expect(token.length).toBeGreaterThanOrEqual(40);
    expect((await stat(join(home, 'server.token'))).mode & 0o777).toBe(0o600);
    expect(await ensureToken(home)).toBe(token);
    // The server checks it as the owner's token (./auth.ts).
    expect(identify(bearer(`Bearer ${token}`), token, [])).toEqual({ name: 'owner', role: 'admin' });
    expect(identify(bearer(`Bearer ${token}x`), token, [])).toBeUndefined();
    expect(bearer(token)).toBeUndefined();
    expect(identify(bearer(undefined), token, [])).toBeUndefined();
  });
});

describe('lockHeldStore', () => {
  it('lets the engine "lock" while the session holds the real lock, and delegates the rest', async () => {
    const store = await openStore(await tempDir());
    const release = await store.lock('session', { timeoutMs: 1000 });
    const view = lockHeldStore(store);
    const inner = await view.lock('apply', { timeoutMs: 10 }); // would time out on the real store
    await inner();
    await view.appendEvent({ time: new Date().toISOString(), object: 'service/a', type: 'Normal', reason: 'X', message: 'm' });
    expect((await store.events()).map((e) => e.reason)).toEqual(['X']);
    // The real lock is still ours: another locker times out.
    await expect(store.lock('other', { timeoutMs: 50 })).rejects.toThrow(/still holds the lock/);
    await release();
  });
});

it('Mutex runs work one at a time, in order, past failures', async () => {
  const m = new Mutex();
  const order: string[] = [];
  const slow = m.run(async () => {
    await new Promise((r) => setTimeout(r, 20));
    order.push('a');
    throw new Error('a failed');
  });
  const fast = m.run(async () => order.push('b'));
  await expect(slow).rejects.toThrow('a failed');
  await fast;
  expect(order).toEqual(['a', 'b']);
});

it('driftEvents: one warning per repair operation', () => {
  const events = driftEvents(
    {
      operations: [
        { id: 'start-service:web', type: 'start-service', kind: 'Service', name: 'web', resource: 'service/web', node: 'n1', provider: 'docker', cause: 'stopped', dependsOn: [] },
      ],
      unreachable: [],
    },
    't',
  );
  expect(events).toEqual([
    { time: 't', object: 'service/web', type: 'Warning', reason: 'DriftDetected', message: 'resync on node n1 found drift (stopped); repairing: start-service' },
  ]);
});

it('nodeTransitions: NotReady and Ready again are events, steady states are not', () => {
  const notReady = { phase: 'NotReady', conditions: [{ type: 'Ready', message: 'cannot connect' }] };
  const ready = { phase: 'Ready', conditions: [{ type: 'Ready', message: 'node observed' }] };
  let s = nodeTransitions(new Map(), new Map([['node/n1', ready]]), 't');
  expect(s.events).toEqual([]);
  s = nodeTransitions(s.phases, new Map([['node/n1', notReady], ['workspace/x', notReady]]), 't');
  expect(s.events.map((e) => [e.object, e.reason])).toEqual([['node/n1', 'NodeNotReady']]);
  s = nodeTransitions(s.phases, new Map([['node/n1', notReady]]), 't');
  expect(s.events).toEqual([]);
  s = nodeTransitions(s.phases, new Map([['node/n1', ready]]), 't');
  expect(s.events.map((e) => e.reason)).toEqual(['NodeReady']);
});

describe('watch helpers', () => {
  it('only manifest files (or files named with -f) trigger a re-apply', () => {
    const explicit = new Set(['conf/app.manifest']);
    expect(isManifestPath('m/a.yaml', explicit)).toBe(true);
    expect(isManifestPath('m/a.YML', explicit)).toBe(true);
    expect(isManifestPath('m/.a.yaml.swp', explicit)).toBe(false);
    expect(isManifestPath('m/a.yaml~', explicit)).toBe(false);
    expect(isManifestPath('conf/app.manifest', explicit)).toBe(true);
  });

  it('the change batcher acts on the first change at once and coalesces the rest of the burst', async () => {
    vi.useFakeTimers();
    const fire = vi.fn((_edge: 'leading' | 'trailing') => true);
    const b = changeBatcher(300, fire);
    b.poke();
    expect(fire.mock.calls).toEqual([['leading']]); // no waiting for the debounce
    await vi.advanceTimersByTimeAsync(200);
    b.poke();
    b.poke();
    await vi.advanceTimersByTimeAsync(299);
    expect(fire).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fire.mock.calls).toEqual([['leading'], ['trailing']]); // the burst, once
    // A lone change: the leading call only, no trailing one.
    await vi.advanceTimersByTimeAsync(1000);
    b.poke();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fire.mock.calls).toEqual([['leading'], ['trailing'], ['leading']]);
    b.poke();
    b.poke();
    b.cancel();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fire).toHaveBeenCalledTimes(4);
  });

  it('a declined leading call (half-written file) is decided by a trailing call after the quiet time', async () => {
    vi.useFakeTimers();
    const fire = vi.fn((edge: 'leading' | 'trailing') => Promise.resolve(edge === 'trailing'));
    const b = changeBatcher(300, fire);
    b.poke();
    await vi.advanceTimersByTimeAsync(299);
    expect(fire.mock.calls).toEqual([['leading']]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fire.mock.calls).toEqual([['leading'], ['trailing']]);
    // Declined after the quiet time already ended (a slow load): the trailing call follows at once.
    let decline!: (v: boolean) => void;
    fire.mockImplementationOnce(() => new Promise<boolean>((r) => (decline = r)));
    await vi.advanceTimersByTimeAsync(1000);
    b.poke();
    await vi.advanceTimersByTimeAsync(500);
    expect(fire).toHaveBeenCalledTimes(3);
    decline(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(fire.mock.calls.at(-1)).toEqual(['trailing']);
  });

  it('dropsResources: a set that no longer declares something in force', () => {
    const set = (ws: string[]) => ({ desired: { nodes: new Map(), workspaces: new Map(ws.map((n) => [n, {}])), services: new Map() } }) as unknown as LoadedSet;
    expect(dropsResources(set(['a', 'b']), set(['a', 'b', 'c']))).toBe(false);
    expect(dropsResources(set(['a', 'b']), set(['a']))).toBe(true);
  });
});

it('parseListen', () => {
  expect(parseListen('127.0.0.1:7171')).toEqual({ host: '127.0.0.1', port: 7171 });
  expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
  expect(parseListen(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
  expect(() => parseListen('localhost')).toThrow(/invalid --listen/);
  expect(() => parseListen('x:99999')).toThrow(/invalid --listen/);
});
