import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { serviceMachine, type ProbeResult, type ServiceEmitted, type ServiceMachineInput, type ServiceOperation } from '../../../src/reconcile/service-machine.js';
import type { ObservedService } from '../../../src/model/types.js';
import type { HealthResult } from '../../../src/services/types.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

const running = (restarts = 0): ObservedService => ({ name: 'web', specHash: 'h', state: 'running', pid: 42, restarts });
const exited = (exitCode: number): ObservedService => ({ name: 'web', specHash: 'h', state: 'exited', exitCode, restarts: 0 });

interface Fakes {
  operate?: () => Promise<void>;
  /** Observations returned in order; the last one repeats. */
  observations?: (ObservedService | undefined)[];
  /** Health results returned in order; the last one repeats. */
  health?: (HealthResult | ProbeResult)[];
}

function start(input: Partial<ServiceMachineInput>, fakes: Fakes = {}) {
  const operations: ServiceOperation[] = [];
  let observeCalls = 0;
  let probeCalls = 0;
  const machine = serviceMachine.provide({
    actors: {
      operate: fromPromise<void, { name: string; operation: ServiceOperation }>(async ({ input }) => {
        operations.push(input.operation);
        await (fakes.operate ?? (async () => {}))();
      }),
      observe: fromPromise<ObservedService | undefined, { name: string }>(async () => {
        const list = fakes.observations ?? [running()];
        return list[Math.min(observeCalls++, list.length - 1)];
      }),
      probe: fromPromise<ProbeResult, { name: string }>(async () => {
        const list = fakes.health ?? [{ ok: true, message: 'ok' }];
        return list[Math.min(probeCalls++, list.length - 1)];
      }),
    },
  });
  const actor = createActor(machine, { input: { name: 'web', target: 'running', workspaceReady: true, ...input } });
  const emitted: ServiceEmitted[] = [];
  actor.on('*', (e) => emitted.push(e));
  actor.start();
  return { actor, operations, emitted, probes: () => probeCalls, observes: () => observeCalls };
}

const value = (a: { getSnapshot(): { value: unknown } }) => a.getSnapshot().value;
const reason = (a: { getSnapshot(): { context: { reason?: string } } }) => a.getSnapshot().context.reason;

describe('service machine: starting', () => {
  it('starts and is ready once the process stays up (no healthcheck)', async () => {
    const s = start({ operation: 'start' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('ready');
    expect(s.operations).toEqual(['start']);
    expect(s.observes()).toBe(2);
    expect(s.emitted.map((e) => e.type)).toEqual(['operated', 'started']);
  });

  it('a start that settled on the node for the whole window is started at its first look, with no wait', async () => {
    const s = start({ operation: 'start', stableMs: 250 }, { observations: [{ ...running(), settledMs: 250 }] });
    await vi.advanceTimersByTimeAsync(0);
    expect(value(s.actor)).toBe('ready');
    expect(s.observes()).toBe(1);
  });

  it('a settle shorter than the window counts as one look only', async () => {
    const s = start({ operation: 'start', stableMs: 250 }, { observations: [{ ...running(), settledMs: 100 }, running()] });
    await vi.advanceTimersByTimeAsync(0);
    expect(value(s.actor)).not.toBe('ready');
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('ready');
    expect(s.observes()).toBeGreaterThan(1);
  });

  it('a process that exits immediately is not started: exited non-zero → failed with the code', async () => {
    const s = start({ operation: 'start' }, { observations: [running(), exited(3)] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('failed');
    expect(reason(s.actor)).toBe('exited with code 3');
  });

  it('a command that is not found fails at the first look, with the log lines that say why', async () => {
    const notFound: ObservedService = { ...exited(127), state: 'backoff', restarts: 1, logTail: ['sh: 1: nosuchcmd: not found'] };
    const s = start({ operation: 'start' }, { observations: [notFound, running(2)] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('failed');
    expect(s.observes()).toBe(1);
    expect(reason(s.actor)).toBe('command not found (exit 127); last log lines:\n    sh: 1: nosuchcmd: not found');
  });

  it('a port already in use fails at once and names the port', async () => {
    const inUse: ObservedService = { ...exited(1), state: 'backoff', logTail: ['Error: listen EADDRINUSE: address already in use :::3000'] };
    const s = start({ operation: 'start', ports: [3000] }, { observations: [running(), inUse, running(1)] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('failed');
    expect(s.observes()).toBe(2);
    expect(reason(s.actor)).toMatch(/^port 3000 already in use; last log lines:\n {4}Error: listen EADDRINUSE/);
  });

  it('a failed health check of a process that cannot bind its port says so at once', async () => {
    const inUse: ObservedService = { ...exited(1), state: 'backoff', restarts: 1, logTail: ['listen tcp :3000: bind: address already in use'] };
    const s = start(
      { operation: 'start', ports: [3000], health: { intervalMs: 100, retries: 5, startPeriodMs: 0 } },
      { observations: [running(), running(), inUse], health: [{ ok: false, message: 'http://10.0.0.2:3000/ → no response after 1000ms' }] },
    );
    await vi.advanceTimersByTimeAsync(2000);
    expect(value(s.actor)).toBe('failed');
    expect(s.probes()).toBe(1);
    expect(reason(s.actor)).toMatch(/^port 3000 already in use; last log lines:/);
  });

  it('exited 0 → completed', async () => {
    const s = start({ operation: 'start' }, { observations: [exited(0)] });
    await vi.advanceTimersByTimeAsync(0);
    expect(value(s.actor)).toBe('completed');
  });

  it('one that another service awaits to complete is confirmed by its exit, however long it runs', async () => {
    // A migration running for longer than the stable window and the confirm budget.
    const observations = [...Array.from({ length: 60 }, () => running()), exited(0)];
    const awaited = start({ operation: 'start', maxPolls: 10, untilExit: true }, { observations });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(value(awaited.actor)).toBe('completed');
    expect(awaited.emitted.map((e) => e.type)).toEqual(['operated']);
    // The same run without a waiter counts as started at its second look.
    const plain = start({ operation: 'start', maxPolls: 10 }, { observations });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(plain.actor)).toBe('ready');
  });

  it('a crash-looping process (restarts keep rising) fails after maxPolls', async () => {
    let restarts = 0;
    const observations = Array.from({ length: 10 }, () => running(restarts++));
    const s = start({ operation: 'start', maxPolls: 10 }, { observations: [...observations, { ...running(), state: 'backoff', exitCode: 1, restarts: 11 }] });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(value(s.actor)).toBe('failed');
    expect(reason(s.actor)).toBe('did not stay running: kept restarting (9 restarts)');
  });

  it('stop and delete do not wait for the workspace or dependencies', async () => {
    const stop = start({ operation: 'stop', target: 'stopped', workspaceReady: false, dependsOn: [{ service: 'db', condition: 'healthy' }] });
    const del = start({ operation: 'delete', target: 'deleted', workspaceReady: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(value(stop.actor)).toBe('stopped');
    expect(value(del.actor)).toBe('deleted');
  });

  it('retries a failing start with backoff', async () => {
    let n = 0;
    const t = start({ operation: 'restart' }, {
      operate: async () => {
        if (n++ < 1) throw new Error('ssh channel closed');
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(value(t.actor)).toBe('operateBackoff');
    await vi.advanceTimersByTimeAsync(500);
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(t.actor)).toBe('ready');
    expect(t.operations).toEqual(['restart', 'restart']);
    expect(t.emitted[0]).toMatchObject({ type: 'retrying', step: 'restart', attempt: 1, delayMs: 500, error: 'ssh channel closed' });
  });
});

describe('service machine: gating', () => {
  it('waits for the workspace, then for dependencies, and reports both', async () => {
    const s = start({
      operation: 'start',
      workspaceReady: false,
      dependsOn: [
        { service: 'db', condition: 'healthy' },
        { service: 'migrate', condition: 'completed' },
      ],
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(value(s.actor)).toBe('waitingWorkspace');
    s.actor.send({ type: 'DEPENDENCY_CHANGED', service: 'db', state: 'started' }); // remembered while waiting
    s.actor.send({ type: 'WORKSPACE_READY' });
    expect(value(s.actor)).toBe('waitingDependencies');
    expect(s.emitted[0]).toEqual({
      type: 'waitingForDependencies',
      unmet: [
        { service: 'db', condition: 'healthy' },
        { service: 'migrate', condition: 'completed' },
      ],
    });
    s.actor.send({ type: 'DEPENDENCY_CHANGED', service: 'db', state: 'healthy' });
    expect(value(s.actor)).toBe('waitingDependencies');
    expect(s.operations).toEqual([]);
    s.actor.send({ type: 'DEPENDENCY_CHANGED', service: 'migrate', state: 'completed' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('ready');
    expect(s.operations).toEqual(['start']);
    expect(s.emitted.filter((e) => e.type === 'dependencyReady').map((e) => e.type === 'dependencyReady' && e.dependency.service)).toEqual(['db', 'migrate']);
  });

  it('a service with no operation this pass does not wait for its dependencies', async () => {
    const s = start({ dependsOn: [{ service: 'db', condition: 'healthy' }] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('ready');
    expect(s.emitted.map((e) => e.type)).toEqual(['started']);
  });

  it('started is satisfied by a running or healthy dependency', async () => {
    const s = start({ operation: 'start', dependsOn: [{ service: 'db', condition: 'started' }] });
    expect(value(s.actor)).toBe('waitingDependencies');
    s.actor.send({ type: 'DEPENDENCY_CHANGED', service: 'db', state: 'started' });
    expect(value(s.actor)).not.toBe('waitingDependencies');
  });

  it('fails when a dependency fails, or completes when it had to become healthy', async () => {
    const a = start({ operation: 'start', dependsOn: [{ service: 'db', condition: 'healthy' }] });
    a.actor.send({ type: 'DEPENDENCY_CHANGED', service: 'db', state: 'failed', reason: 'exited with code 1' });
    expect(value(a.actor)).toBe('failed');
    expect(reason(a.actor)).toBe('dependency db cannot become healthy: exited with code 1');
    const b = start({ operation: 'start', dependsOn: [{ service: 'db', condition: 'healthy' }] });
    b.actor.send({ type: 'DEPENDENCY_CHANGED', service: 'db', state: 'completed' });
    expect(reason(b.actor)).toBe('dependency db cannot become healthy: exited before becoming healthy');
    expect(a.operations).toEqual([]);
  });

  it('fails when its workspace fails', () => {
    const s = start({ operation: 'start', workspaceReady: false });
    s.actor.send({ type: 'WORKSPACE_FAILED', reason: 'create failed: no space left' });
    expect(value(s.actor)).toBe('failed');
    expect(reason(s.actor)).toBe('workspace not ready: create failed: no space left');
  });
});

describe('service machine: health', () => {
  const bad = (message = 'tcp 127.0.0.1:5432: connection refused'): HealthResult => ({ ok: false, message });

  it('becomes ready on the first passing check', async () => {
    const s = start({ operation: 'start', health: { intervalMs: 1000, retries: 3, startPeriodMs: 0 } }, { health: [bad(), { ok: true, message: 'http 200' }] });
    await vi.advanceTimersByTimeAsync(250);
    expect(value(s.actor)).toEqual({ waitingHealthy: 'waiting' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('ready');
    expect(s.emitted.map((e) => e.type)).toEqual(['operated', 'started', 'unhealthy', 'healthy']);
  });

  it('fails with the last health message after `retries` consecutive failures', async () => {
    const s = start({ operation: 'start', health: { intervalMs: 1000, retries: 3, startPeriodMs: 0 } }, { health: [bad('first'), bad('second'), bad('third')] });
    await vi.advanceTimersByTimeAsync(250);
    expect(s.probes()).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    await waitFor(s.actor, (snap) => snap.status === 'done');
    expect(s.probes()).toBe(3);
    expect(value(s.actor)).toBe('failed');
    expect(reason(s.actor)).toBe('unhealthy after 3 consecutive failed checks: third');
  });

  it('does not count failures during startPeriod', async () => {
    const s = start({ operation: 'start', health: { intervalMs: 1000, retries: 2, startPeriodMs: 5000 } }, { health: [bad()] });
    await vi.advanceTimersByTimeAsync(250); // started; first probe at t=250
    await vi.advanceTimersByTimeAsync(4000); // probes at 1250…4250: all inside the start period
    expect(value(s.actor)).toEqual({ waitingHealthy: 'waiting' });
    expect(s.actor.getSnapshot().context.healthFailures).toBe(0);
    await vi.advanceTimersByTimeAsync(1000); // t=5250: first counted failure
    expect(s.actor.getSnapshot().context.healthFailures).toBe(1);
    expect(value(s.actor)).toEqual({ waitingHealthy: 'waiting' });
    await vi.advanceTimersByTimeAsync(1000); // second counted failure → failed
    expect(value(s.actor)).toBe('failed');
    expect(s.probes()).toBe(7);
  });

  it('a probe that throws counts as a failed check', async () => {
    const machine = serviceMachine.provide({
      actors: {
        operate: fromPromise(async () => {}),
        observe: fromPromise<ObservedService | undefined, { name: string }>(async () => running()),
        probe: fromPromise<ProbeResult, { name: string }>(async () => {
          throw new Error('direct-tcpip refused');
        }),
      },
    });
    const actor = createActor(machine, { input: { name: 'web', target: 'running', workspaceReady: true, health: { intervalMs: 100, retries: 1, startPeriodMs: 0 } } }).start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.reason).toBe('unhealthy after 1 consecutive failed checks: direct-tcpip refused');
  });
});

describe('service machine: quick polls, an honest window', () => {
  it('running twice within stableMs is not yet started: a process that dies at once is still seen', async () => {
    const s = start({ operation: 'start', pollMs: 50, stableMs: 250 }, { observations: [running(), running(), running(), exited(127)] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('failed');
    expect(reason(s.actor)).toBe('command not found (exit 127)');
  });

  it('is started once seen running over stableMs, polling every pollMs', async () => {
    const s = start({ operation: 'start', pollMs: 50, stableMs: 250 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('ready');
    expect(s.observes()).toBe(6); // 0, 50, …, 250 ms
  });
});

describe('service machine: health verdicts recorded on the node', () => {
  const health = { intervalMs: 10_000, retries: 3, startPeriodMs: 0 };

  it('polls a starting verdict at the poll gap, not the check interval, and is ready once healthy', async () => {
    const s = start(
      { operation: 'start', health, pollMs: 50 },
      {
        health: [
          { ok: false, message: 'refused', verdict: 'starting', observed: running() },
          { ok: false, message: 'refused', verdict: 'starting', observed: running() },
          { ok: true, message: 'connected', verdict: 'healthy' },
        ],
      },
    );
    await vi.advanceTimersByTimeAsync(500);
    expect(value(s.actor)).toBe('ready');
    expect(s.probes()).toBe(3);
    expect(s.emitted.filter((e) => e.type === 'unhealthy')).toEqual([]);
    expect(s.actor.getSnapshot().context.lastHealth).toEqual({ ok: true, message: 'connected' });
  });

  it('an unhealthy verdict is final: no counting of its own', async () => {
    const s = start({ operation: 'start', health }, { health: [{ ok: false, message: '503', verdict: 'unhealthy', failures: 3, observed: running() }] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('failed');
    expect(reason(s.actor)).toBe('unhealthy after 3 consecutive failed checks: 503');
    expect(s.probes()).toBe(1);
  });

  it('a process that dies while its verdict is pending fails with its exit', async () => {
    const s = start({ operation: 'start', health, pollMs: 50 }, { health: [{ ok: false, message: 'refused', verdict: 'starting', observed: exited(2) }] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(value(s.actor)).toBe('failed');
    expect(reason(s.actor)).toBe('exited with code 2');
  });
});
