import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { workspaceMachine, type WorkspaceMachineInput, type WorkspaceOperation } from '../../../src/reconcile/workspace-machine.js';
import { backoffMs, TerminalError } from '../../../src/reconcile/retry.js';
import { HostKeyMismatchError } from '../../../src/transport/types.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function start(input: WorkspaceMachineInput, impl: { operate?: () => Promise<void>; verify?: () => Promise<void> }) {
  const operations: WorkspaceOperation[] = [];
  const machine = workspaceMachine.provide({
    actors: {
      operate: fromPromise<void, { name: string; operation: WorkspaceOperation }>(async ({ input }) => {
        operations.push(input.operation);
        await (impl.operate ?? (async () => {}))();
      }),
      verify: fromPromise<void, { name: string }>(async () => (impl.verify ?? (async () => {}))()),
    },
  });
  const actor = createActor(machine, { input });
  const emitted: string[] = [];
  actor.on('*', (e) => emitted.push(e.type === 'retrying' ? `retrying ${e.step} #${e.attempt} in ${e.delayMs}ms` : `${e.type} ${e.operation}`));
  actor.start();
  return { actor, operations, emitted };
}

function failing(times: number, error: () => Error = () => new Error('connection reset')) {
  let calls = 0;
  return async () => {
    calls++;
    if (calls <= times) throw error();
  };
}

describe('backoffMs', () => {
  it('doubles from 0.5s and caps', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffMs(a))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });
});

describe('workspace machine', () => {
  it('creates, verifies and becomes ready', async () => {
    const { actor, operations, emitted } = start({ name: 'api', operation: 'create', target: 'running' }, {});
    await waitFor(actor, (s) => s.status === 'done');
    expect(actor.getSnapshot().value).toBe('ready');
    expect(operations).toEqual(['create']);
    expect(emitted).toEqual(['operated create']);
  });

  it('with no operation only verifies; stopped/deleted targets finish at once', async () => {
    const verify = vi.fn(async () => {});
    const ready = start({ name: 'api', target: 'running' }, { verify });
    await waitFor(ready.actor, (s) => s.status === 'done');
    expect(ready.actor.getSnapshot().value).toBe('ready');
    expect(ready.operations).toEqual([]);
    expect(verify).toHaveBeenCalledOnce();
    expect(start({ name: 'api', target: 'stopped' }, {}).actor.getSnapshot().value).toBe('stopped');
    expect(start({ name: 'api', target: 'deleted' }, {}).actor.getSnapshot().value).toBe('deleted');
  });

  it('retries a failing operation with exponential backoff, then succeeds', async () => {
    const { actor, operations, emitted } = start({ name: 'api', operation: 'start', target: 'running' }, { operate: failing(2) });
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().value).toBe('operateBackoff');
    expect(actor.getSnapshot().context.reason).toBe('connection reset');
    await vi.advanceTimersByTimeAsync(499);
    expect(operations).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(operations).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(operations).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await waitFor(actor, (s) => s.status === 'done');
    expect(actor.getSnapshot().value).toBe('ready');
    expect(emitted).toEqual(['retrying operate #1 in 500ms', 'retrying operate #2 in 1000ms', 'operated start']);
  });

  it('fails with a reason after maxAttempts', async () => {
    const { actor, operations } = start(
      { name: 'api', operation: 'create', target: 'running', retry: { maxAttempts: 3 } },
      { operate: failing(99, () => new Error('docker: no such image')) },
    );
    await vi.advanceTimersByTimeAsync(10_000);
    expect(actor.getSnapshot().value).toBe('failed');
    expect(operations).toHaveLength(3);
    expect(actor.getSnapshot().context.reason).toBe('create failed after 3 attempts: docker: no such image');
  });

  it('never retries a host key mismatch or a terminal error', async () => {
    const hostKey = start(
      { name: 'api', operation: 'create', target: 'running' },
      { operate: failing(1, () => new HostKeyMismatchError('node-a', 'SHA256:old', 'SHA256:new', 'check the node')) },
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(hostKey.actor.getSnapshot().value).toBe('failed');
    expect(hostKey.operations).toHaveLength(1);
    expect(hostKey.actor.getSnapshot().context.reason).toMatch(/^create failed: host key for node node-a changed/);

    const terminal = start({ name: 'api', operation: 'stop', target: 'stopped' }, { operate: failing(1, () => new TerminalError('no driver')) });
    await vi.advanceTimersByTimeAsync(0);
    expect(terminal.actor.getSnapshot().value).toBe('failed');
    expect(terminal.operations).toHaveLength(1);
  });

  it('retries verification separately and fails when the workspace never answers', async () => {
    const { actor } = start(
      { name: 'api', operation: 'create', target: 'running', retry: { maxAttempts: 2 } },
      { verify: failing(99, () => new Error('exec true exited 126')) },
    );
    await vi.advanceTimersByTimeAsync(5_000);
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.reason).toBe('reaching the workspace failed after 2 attempts: exec true exited 126');
  });

  it('stop ends stopped, delete ends deleted', async () => {
    const stop = start({ name: 'api', operation: 'stop', target: 'stopped' }, {});
    const del = start({ name: 'api', operation: 'delete', target: 'deleted' }, {});
    await waitFor(stop.actor, (s) => s.status === 'done');
    await waitFor(del.actor, (s) => s.status === 'done');
    expect(stop.actor.getSnapshot().value).toBe('stopped');
    expect(del.actor.getSnapshot().value).toBe('deleted');
  });
});
