import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEngine, type Engine } from '../../../src/reconcile/engine.js';
import { openStore } from '../../../src/store/file-store.js';
import type { ApplyOptions } from '../../../src/reconcile/api.js';
import { hookCommands, hooksAfter } from '../../../src/reconcile/lifecycle.js';
import { FakeWorld, loadedSet, service, workspace } from './fake-world.js';

describe('lifecycle hooks (pure)', () => {
  it('which hooks an operation owes', () => {
    expect(hooksAfter('create')).toEqual(['onCreate', 'postCreate', 'postStart']);
    expect(hooksAfter('recreate')).toEqual(['onCreate', 'postCreate', 'postStart']);
    expect(hooksAfter('start')).toEqual(['postStart']);
    expect(hooksAfter('update')).toEqual([]);
    expect(hooksAfter(undefined)).toEqual([]);
  });
  it('commands in order, named for reports', () => {
    expect(hookCommands({ onCreate: ['a'], postCreate: ['b', 'c'], postAttach: ['d'] }, ['onCreate', 'postCreate', 'postStart'])).toEqual([
      { hook: 'onCreate', command: 'a' },
      { hook: 'postCreate[0]', command: 'b' },
      { hook: 'postCreate[1]', command: 'c' },
    ]);
    expect(hookCommands(undefined, ['onCreate'])).toEqual([]);
  });
});

describe('lifecycle hooks in the executor', () => {
  let home: string;
  let world: FakeWorld;
  let engine: Engine;
  const opts = (): ApplyOptions => ({ applySet: 'default', prune: false, timeoutMs: 20_000 });
  const hooks = (execs: string[]) => execs.filter((e) => e.startsWith('exec api: sh -c'));

  beforeEach(async () => {
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'vendetta-lifecycle-'));
    world = new FakeWorld();
    engine = createEngine({
      store: await openStore(home),
      connect: world.connect,
      drivers: { process: world.driver() },
      serviceManagerFn: world.serviceManager,
      retry: { baseMs: 1, capMs: 5, maxAttempts: 2 },
      servicePollMs: 1,
      serviceStableMs: 0,
      retryDelayMs: 1,
    });
  });
  afterEach(async () => {
    await engine.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  it('a create runs onCreate, postCreate, postStart once, before services start; a no-op apply runs none', async () => {
    const lifecycle = { onCreate: ['one'], postCreate: ['two', 'three'], postStart: ['four'], postAttach: ['never here'] };
    const set = loadedSet([workspace('api', { lifecycle }), service('web', 'api')]);
    const first = await engine.apply(set, opts());
    expect(first.failures).toEqual([]);
    expect(hooks(world.execs)).toEqual(['exec api: sh -c one', 'exec api: sh -c two', 'exec api: sh -c three', 'exec api: sh -c four']);
    // before the service's start
    const lastHook = world.execs.lastIndexOf('exec api: sh -c four');
    // (the service's start is confirmed by observing it, which follows the hooks)
    expect(world.execs.indexOf('observe-services api')).toBeGreaterThan(lastHook);
    expect(world.calls).toEqual(['create local/api', 'start-service web']);

    world.execs.length = 0;
    expect((await engine.apply(set, opts())).operationsRun).toBe(0);
    expect(hooks(world.execs)).toEqual([]);
  });

  it('a start after a stop runs postStart only', async () => {
    const lifecycle = { postCreate: ['made'], postStart: ['started'] };
    await engine.apply(loadedSet([workspace('api', { lifecycle, state: 'stopped' })]), opts());
    expect(hooks(world.execs)).toEqual([]); // created stopped: nothing can run in it
    world.execs.length = 0;
    await engine.apply(loadedSet([workspace('api', { lifecycle })]), opts());
    expect(hooks(world.execs)).toEqual(['exec api: sh -c started']);
  });

  it('a failing postCreate fails the create with its output and removes the workspace; the next apply creates it again', async () => {
    const set = loadedSet([workspace('api', { lifecycle: { postCreate: ['fail now'] } }), service('web', 'api')]);
    const first = await engine.apply(set, opts());
    expect(first.converged).toBe(false);
    const failure = first.failures.find((f) => f.resource === 'workspace/api');
    expect(failure?.reason).toBe('create failed: postCreate command failed (exit 7):\nboom\nit broke');
    // Each create whose hook failed was removed again (the engine may try once more in the same apply).
    expect(world.calls.length).toBeGreaterThanOrEqual(2);
    world.calls.forEach((c, i) => expect(c).toBe(i % 2 === 0 ? 'create local/api' : 'delete local/api'));
    expect(world.workspaces('local').has('api')).toBe(false);
    world.calls.length = 0;
    await engine.apply(set, opts());
    expect(world.calls[0]).toBe('create local/api');
  });
});
