// The executor's shortcut for units the observation settles (src/reconcile/settled.ts): the same
// outcomes as running a machine for every unit, with machines only for the others.
import { describe, expect, it, vi } from 'vitest';
import type { ObservedService, ObservedSet } from '../../../src/model/types.js';
import { resourceId } from '../../../src/model/types.js';
import type { Operation } from '../../../src/plan/types.js';
import type { PassContext, UnitOutcome } from '../../../src/reconcile/pass.js';
import { settledService, settledWorkspace } from '../../../src/reconcile/settled.js';
import { FakeWorld, loadedSet, node, service, workspace } from './fake-world.js';

// Counts the machines the executor starts.
const machines = vi.hoisted(() => ({ created: 0 }));
vi.mock('xstate', async (importOriginal) => {
  const xstate = await importOriginal<typeof import('xstate')>();
  return {
    ...xstate,
    createActor: ((...args: Parameters<typeof xstate.createActor>) => {
      machines.created++;
      return xstate.createActor(...args);
    }) as typeof xstate.createActor,
  };
});
const { executePass } = await import('../../../src/reconcile/pass.js');

const HEALTHY = { status: 'healthy' as const, failures: 0, message: 'exec: ok' };
const EARLIER = '2026-01-01T10:00:00Z';
const LATER = '2026-01-01T10:00:05Z';

/**
 * One node, observed as the table says: w-run answers with services a..e and h, w-off is stopped
 * as wanted, w-mute is running but listed no services (the pass runs `true` in it).
 */
async function scenario(machineForEveryUnit: boolean): Promise<{ units: UnitOutcome[]; machines: number }> {
  const world = new FakeWorld();
  const probe = { exec: { command: 'check' } };
  const set = loadedSet([
    node('n1', '10.0.0.1'),
    workspace('w-run', { node: 'n1' }),
    workspace('w-off', { node: 'n1', state: 'stopped' }),
    workspace('w-mute', { node: 'n1' }),
    service('a', 'w-run'), // running, no probe: settled
    service('b', 'w-run', { healthcheck: probe }), // healthy by a current verdict: settled
    service('c', 'w-run', { healthcheck: probe }), // verdict older than its run: a machine waits for the next one
    service('d', 'w-run'), // backing off: a machine watches it fail
    service('e', 'w-run', { dependsOn: { a: { condition: 'healthy' } } }), // started this pass, after a settled dependency
    service('h', 'w-run'), // failed last pass: a machine looks twice
    service('f', 'w-off'), // stopped with its workspace: settled
    service('g', 'w-mute'), // no state on the node: a machine gives up on it
  ]);
  const svc = (name: string, state: ObservedService['state'], extra: Partial<ObservedService> = {}): ObservedService => ({ name, specHash: `h-${name}`, state, restarts: 0, pid: 100 + name.charCodeAt(0), ...extra });
  const observedRun = [
    svc('a', 'running'),
    svc('b', 'running', { health: { ...HEALTHY, checkedAt: LATER }, startedAt: EARLIER }),
    svc('c', 'running', { health: { ...HEALTHY, checkedAt: EARLIER }, startedAt: LATER }),
    svc('d', 'backoff', { exitCode: 3, restarts: 4 }),
    svc('h', 'running'),
  ];
  const ws = world.workspaces('n1');
  const fake = (s: ObservedService) => [s.name, { specHash: s.specHash, state: s.state, exitCode: s.exitCode, restarts: s.restarts, pid: s.pid!, env: {} }] as const;
  ws.set('w-run', { provider: 'process', specHash: 'x', applySet: 'default', running: true, services: new Map(observedRun.map(fake)) });
  ws.set('w-off', { provider: 'process', specHash: 'x', applySet: 'default', running: false, services: new Map([fake(svc('f', 'stopped'))]) });
  ws.set('w-mute', { provider: 'process', specHash: 'x', applySet: 'default', running: true, services: new Map() });
  // Later reads of c carry a verdict taken after its start.
  world.recordedHealth.set('c', [{ ...HEALTHY, checkedAt: LATER }]);
  const observed: ObservedSet = new Map([
    [
      'n1',
      {
        name: 'n1',
        reachable: true,
        workspaces: [
          { name: 'w-run', provider: 'process', specHash: 'x', applySet: 'default', running: true, address: '127.0.0.1', services: observedRun },
          { name: 'w-off', provider: 'process', specHash: 'x', applySet: 'default', running: false, address: '127.0.0.1', services: [svc('f', 'stopped')] },
          { name: 'w-mute', provider: 'process', specHash: 'x', applySet: 'default', running: true, address: '127.0.0.1', services: [] },
        ],
      },
    ],
  ]);
  const startE: Operation = { id: 'start-service:e', type: 'start-service', kind: 'Service', name: 'e', resource: resourceId('Service', 'e'), node: 'n1', provider: 'process', workspace: 'w-run', cause: 'not running', dependsOn: [] };
  const ctx: PassContext = {
    helpers: {
      desiredWorkspace: (_set, name) => ({ resource: set.desired.workspaces.get(name)!, specHash: 'x', env: {}, owner: { id: 'i', name: 'me' } }),
      desiredService: (_set, name, dir) => ({ resource: set.desired.services.get(name)!, specHash: `h-${name}`, env: {}, workdir: dir }),
      serviceManager: world.serviceManager,
      checkHealth: async () => ({ ok: false, message: 'the controller should not probe here' }),
      parseDuration: () => 1,
    },
    set,
    plan: { operations: [startE], unreachable: [] },
    observed,
    nodes: new Map([['n1', set.desired.nodes.get('n1')!]]),
    drivers: { process: world.batchDriver() },
    transport: (n) => world.connect(set.desired.nodes.get(n)!),
    applySet: 'default',
    withNodeSlot: (_n, work) => work(),
    record: () => undefined,
    progress: () => undefined,
    signal: new AbortController().signal,
    servicePollMs: 1,
    recheck: new Set([resourceId('Service', 'h')]),
    machineForEveryUnit,
  };
  const before = machines.created;
  const outcome = await executePass(ctx);
  return { units: outcome.units, machines: machines.created - before };
}

describe('units the observation settles', () => {
  it('end as their machines would, and only the others get one', async () => {
    const all = await scenario(true);
    const shortcut = await scenario(false);
    expect(shortcut.units).toEqual(all.units);
    const phase = Object.fromEntries(all.units.map((u) => [u.id, u.phase]));
    expect(phase).toEqual({
      'workspace/w-run': 'Ready',
      'workspace/w-off': 'Stopped',
      'workspace/w-mute': 'Ready',
      'service/a': 'Ready',
      'service/b': 'Ready',
      'service/c': 'Ready',
      'service/d': 'Failed',
      'service/e': 'Ready',
      'service/h': 'Ready',
      'service/f': 'Stopped',
      'service/g': 'Failed',
    });
    expect(all.units.find((u) => u.id === 'service/b')?.lastHealth).toEqual({ ok: true, message: 'exec: ok' });
    expect(all.machines).toBe(11);
    // w-run, w-off, a, b, f settle; w-mute and c, d, e, g, h need their machine.
    expect(shortcut.machines).toBe(6);
  });

  it('never settles a unit with an operation, one to look at again, or one still to watch', () => {
    const look = { target: 'running' as const, hasOperation: false, workspaceSettled: true, recheck: false, untilExit: false, probed: false, seen: { name: 's', specHash: 'h', state: 'running' as const, restarts: 0 } };
    expect(settledService(look)).toMatchObject({ state: 'ready' });
    expect(settledService({ ...look, hasOperation: true })).toBeUndefined();
    expect(settledService({ ...look, workspaceSettled: false })).toBeUndefined();
    expect(settledService({ ...look, recheck: true })).toBeUndefined();
    expect(settledService({ ...look, untilExit: true })).toBeUndefined();
    expect(settledService({ ...look, probed: true })).toBeUndefined(); // no verdict recorded
    expect(settledService({ ...look, seen: { ...look.seen, state: 'exited', exitCode: 0 } })).toBeUndefined();
    expect(settledService({ ...look, seen: undefined })).toBeUndefined();
    expect(settledWorkspace('running', false, { name: 'w', provider: 'process', specHash: 'x', running: true, services: [] })).toBeUndefined();
    expect(settledWorkspace('running', true, { name: 'w', provider: 'process', specHash: 'x', running: true, services: [look.seen] })).toBeUndefined();
    expect(settledWorkspace('deleted', false, undefined)).toBeUndefined();
  });
});
