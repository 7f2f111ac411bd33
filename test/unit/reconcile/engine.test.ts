import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEngine, type Engine } from '../../../src/reconcile/engine.js';
import { openStore } from '../../../src/store/file-store.js';
import type { Store } from '../../../src/store/types.js';
import type { EventRecord } from '../../../src/model/types.js';
import type { ResolvedEnv } from '../../../src/model/env.js';
import type { ApplyOptions } from '../../../src/reconcile/api.js';
import { HostKeyMismatchError, TransportError } from '../../../src/transport/types.js';
import { ProviderError, type ProviderDriver } from '../../../src/providers/types.js';
import { FakeWorld, loadedSet, node, service, workspace } from './fake-world.js';

let home: string;
let store: Store;
let world: FakeWorld;
let events: EventRecord[];
let engine: Engine;

const opts = (extra: Partial<ApplyOptions> = {}): ApplyOptions => ({ applySet: 'default', prune: false, timeoutMs: 20_000, ...extra });
const fastHealth = { exec: { command: '' }, interval: '10ms', timeout: '1s', retries: 2 };
const check = (name: string) => ({ ...fastHealth, exec: { command: `check ${name}` } });

beforeEach(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'vendetta-engine-'));
  store = await openStore(home);
  world = new FakeWorld();
  events = [];
  engine = createEngine({
    store,
    connect: world.connect,
    drivers: { process: world.driver() },
    events: { onEvent: (e) => events.push(e) },
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

const reasons = (object: string) => events.filter((e) => e.object === object).map((e) => e.reason);

describe('engine apply', () => {
  it('converges, then a second apply is a no-op pass with 0 operations', async () => {
    // The loader adds the built-in local node (no source position): it is not recorded as applied.
    const set = loadedSet([node('local', 'local'), workspace('api', { ports: ['127.0.0.1:8080:3000'] }), service('web', 'api', { ports: [3000] }), service('db', 'api')]);
    const first = await engine.apply(set, opts());
    expect(first.failures).toEqual([]);
    expect(first.converged).toBe(true);
    expect(first.operationsRun).toBe(3);
    expect(first.plan.operations.map((o) => o.id)).toEqual(['create-workspace:api', 'start-service:db', 'start-service:web']);
    expect(first.statuses.get('workspace/api')?.phase).toBe('Ready');
    expect(first.statuses.get('service/web')).toMatchObject({ phase: 'Ready', observedGeneration: 1, details: { node: 'local', address: '127.0.0.1', restarts: 0 } });
    // web's port 3000 is published by its workspace as 8080: that is where a user reaches it.
    expect(first.endpoints.get('service/web')).toBe('http://127.0.0.1:8080');
    expect(first.endpoints.get('workspace/api')).toBe('http://127.0.0.1:8080');
    expect(reasons('workspace/api')).toEqual(['Created']);
    expect(reasons('service/web')).toEqual(['Started']);
    expect((await store.get('service/web'))?.status?.phase).toBe('Ready');
    expect(await store.inventory('default')).toEqual(['service/db', 'service/web', 'workspace/api']);
    expect((await store.list()).map((r) => r.id)).toEqual(['service/db', 'service/web', 'workspace/api']);

    const callsBefore = world.calls.length;
    const second = await engine.apply(set, opts());
    expect(second.converged).toBe(true);
    expect(second.operationsRun).toBe(0);
    expect(second.plan.operations).toEqual([]);
    expect(world.calls.length).toBe(callsBefore);
    expect(world.connects).toBe(1); // one transport per node, reused across passes and applies
  });

  it('while a pass recreates a drifted workspace, the store says so (not the last pass\'s Ready)', async () => {
    const set = loadedSet([workspace('api'), service('web', 'api')]);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    world.workspaces('local').delete('api'); // drift: someone removed it
    world.createDelayMs = 300;
    const applying = engine.apply(set, opts());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const during = await store.get('workspace/api');
    expect(during?.status).toMatchObject({ phase: 'Creating', conditions: [{ type: 'Ready', status: 'False', reason: 'Reconciling' }] });
    expect((await store.get('service/web'))?.status?.phase).toBe('Starting');
    expect((await applying).converged).toBe(true);
    expect((await store.get('workspace/api'))?.status?.phase).toBe('Ready');
    expect((await store.get('service/web'))?.status?.phase).toBe('Ready');
  });

  it('a store that refuses the planned statuses changes no node: the operations wait for the write, made beside the machines', async () => {
    const set = loadedSet([workspace('api'), service('web', 'api')]);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    world.workspaces('local').delete('api'); // drift: the next pass plans a create
    world.calls.length = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const refusing = new Proxy(store, {
      get(target, prop) {
        // A deposed leader's etcd store: its writes fail (after a moment, as a transaction does).
        if (prop === 'setStatus') return async () => { await gate; throw new Error('lock lost: not the leader'); };
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const fenced = createEngine({ store: refusing, connect: world.connect, drivers: { process: world.driver() }, serviceManagerFn: world.serviceManager, servicePollMs: 1, retry: { baseMs: 1, capMs: 5, maxAttempts: 3 }, retryDelayMs: 1 });
    try {
      const applying = fenced.apply(set, opts());
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(world.calls).toEqual([]); // the machines wait for the store
      release();
      await expect(applying).rejects.toThrow(/not the leader/);
      expect(world.calls).toEqual([]);
    } finally {
      await fenced.close();
    }
  });

  it('a workspace another vendetta owns fails the apply without a retry pass: no pass can change whose it is', async () => {
    world.workspaces('local').set('theirs', { provider: 'process', specHash: 'x', applySet: 'default', running: true, services: new Map(), owner: { id: 'another-store', name: 'ed@elsewhere:/home/ed/.vendetta' } });
    const set = loadedSet([workspace('theirs'), workspace('mine'), service('web', 'mine')]);
    const result = await engine.apply(set, opts());
    expect(result.converged).toBe(false);
    expect(result.failures.map((f) => f.resource)).toEqual(['workspace/theirs']);
    expect(world.calls).toEqual(['create local/mine', 'start-service web']);
    expect(world.observations).toBe(1);
  });

  it('a no-op pass reaches into workspaces only for health probes: the observation has the rest', async () => {
    world.healthy.add('db');
    const set = loadedSet([workspace('api'), service('db', 'api', { healthcheck: check('db') }), service('web', 'api', { dependsOn: { db: { condition: 'healthy' } } })]);
    const first = await engine.apply(set, opts());
    expect(first.converged).toBe(true);
    // Started this pass: the workspace is checked and each service is observed until stable.
    expect(world.execs).toEqual(expect.arrayContaining(['exec api: true', 'observe-services api']));

    world.execs.length = 0;
    const second = await engine.apply(set, opts());
    expect(second.converged).toBe(true);
    expect(second.statuses.get('service/web')?.phase).toBe('Ready');
    expect(second.statuses.get('service/db')?.conditions.find((c) => c.type === 'Healthy')?.status).toBe('True');
    expect(world.execs).toEqual(['exec api: /bin/sh -c check db']);
  });

  it('a workspace whose driver says started means running is not checked with `true` after its create', async () => {
    const trusting = createEngine({ store, connect: world.connect, drivers: { process: { ...world.driver(), startedMeansRunning: true } }, serviceManagerFn: world.serviceManager, servicePollMs: 1, serviceStableMs: 0 });
    try {
      const result = await trusting.apply(loadedSet([workspace('api'), service('web', 'api')]), opts());
      expect(result.converged).toBe(true);
      expect(world.execs).not.toContain('exec api: true');
      expect(world.calls).toContain('create local/api');
    } finally {
      await trusting.close();
    }
  });

  it('a no-op pass records no events: nothing changed, dependencies included', async () => {
    world.healthy.add('db');
    const set = loadedSet([
      workspace('api'),
      service('db', 'api', { healthcheck: check('db') }),
      service('web', 'api', { dependsOn: { db: { condition: 'healthy' } } }),
      service('worker', 'api', { dependsOn: { web: { condition: 'started' } } }),
    ]);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    expect(reasons('service/web')).toContain('DependencyReady');
    const stored = (await store.events()).length;
    events.length = 0;
    const second = await engine.apply(set, opts());
    expect(second.converged).toBe(true);
    expect(second.operationsRun).toBe(0);
    expect(events).toEqual([]);
    expect((await store.events()).length).toBe(stored);
  });

  it('a no-op pass still checks a running workspace whose observation listed no services', async () => {
    const set = loadedSet([workspace('empty')]);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    world.execs.length = 0;
    expect((await engine.apply(set, opts())).converged).toBe(true);
    expect(world.execs).toEqual(['exec empty: true']);
  });

  it('a no-op pass fails a service its observation saw exited, without looking again', async () => {
    world.behavior.set('job', 'crash');
    const set = loadedSet([workspace('api'), service('job', 'api', { restart: 'never' })]);
    expect((await engine.apply(set, opts())).converged).toBe(false);
    world.execs.length = 0;
    const again = await engine.apply(set, opts());
    expect(again.statuses.get('service/job')?.phase).toBe('Failed');
    expect(again.failures.find((f) => f.resource === 'service/job')?.reason).toBe('exited with code 1');
  });

  it('a failing node does not block another node', async () => {
    world.unreachable.set('far', new TransportError('far', 'connect ECONNREFUSED 127.0.0.9:22', 'start sshd on far'));
    const set = loadedSet([node('far', '127.0.0.9'), workspace('near'), service('a', 'near'), workspace('away', { node: 'far' }), service('b', 'away')]);
    const result = await engine.apply(set, opts());
    expect(result.converged).toBe(false);
    expect(result.statuses.get('workspace/near')?.phase).toBe('Ready');
    expect(result.statuses.get('service/a')?.phase).toBe('Ready');
    expect(result.statuses.get('workspace/away')?.phase).toBe('NotReady');
    expect(result.statuses.get('node/far')?.conditions.find((c) => c.type === 'Reachable')?.status).toBe('False');
    const nodeFailure = result.failures.find((f) => f.resource === 'node/far');
    expect(nodeFailure?.reason).toBe('cannot connect to node far (127.0.0.9:22): connect ECONNREFUSED 127.0.0.9:22');
    expect(nodeFailure?.hint).toBe('start sshd on far');
    expect(result.failures.find((f) => f.resource === 'service/b')).toMatchObject({ node: 'far', reason: 'node far is unreachable' });
    expect(reasons('node/far')).toContain('NodeUnreachable');
  });

  it('never retries a changed host key', async () => {
    world.unreachable.set('far', new HostKeyMismatchError('far', 'SHA256:old', 'SHA256:new', 'if the node was reinstalled, update hostKey'));
    const set = loadedSet([node('far', '127.0.0.9'), workspace('away', { node: 'far' }), workspace('near')]);
    const result = await engine.apply(set, opts());
    await engine.apply(set, opts());
    expect(world.connects).toBe(2); // local once, far once: the mismatch is remembered
    expect(result.failures.find((f) => f.resource === 'node/far')?.reason).toMatch(/host key for node far changed/);
    expect(result.statuses.get('workspace/near')?.phase).toBe('Ready');
  });

  it('makes dependsOn order visible in events', async () => {
    world.healthy.add('db');
    const set = loadedSet([
      workspace('api'),
      service('db', 'api', { healthcheck: check('db') }),
      service('web', 'api', { dependsOn: { db: { condition: 'healthy' } } }),
    ]);
    const result = await engine.apply(set, opts());
    expect(result.converged).toBe(true);
    const lines = events.map((e) => `${e.object} ${e.reason}: ${e.message}`);
    const at = (text: string) => lines.findIndex((l) => l.startsWith(text));
    expect(lines).toContain('service/web WaitingForDependency: waiting for service db to be healthy');
    expect(at('service/db Healthy')).toBeGreaterThan(at('service/db Started'));
    expect(at('service/web DependencyReady: service db is healthy')).toBeGreaterThan(at('service/db Healthy'));
    expect(at('service/web Started')).toBeGreaterThan(at('service/web DependencyReady'));
    expect(world.calls.indexOf('start-service web')).toBeGreaterThan(world.calls.indexOf('start-service db'));
  });

  it('a failing health check fails the service with the reason, and its dependents', async () => {
    const set = loadedSet([
      workspace('api'),
      service('db', 'api', { healthcheck: check('db') }),
      service('web', 'api', { dependsOn: { db: { condition: 'healthy' } } }),
    ]);
    const result = await engine.apply(set, opts());
    expect(result.converged).toBe(false);
    const db = result.failures.find((f) => f.resource === 'service/db');
    expect(db?.reason).toBe('unhealthy after 2 consecutive failed checks: exec "check db" → exit 1: connection refused');
    expect(db?.hint).toBe('see what it printed: vendetta logs db');
    expect(result.statuses.get('service/db')?.phase).toBe('Failed');
    expect(result.statuses.get('service/db')?.conditions.find((c) => c.type === 'Healthy')?.status).toBe('False');
    expect(result.failures.find((f) => f.resource === 'service/web')?.reason).toMatch(/^dependency db cannot become healthy: unhealthy after 2/);
    expect(world.calls).not.toContain('start-service web');
    expect(reasons('service/db')).toEqual(expect.arrayContaining(['Started', 'Unhealthy', 'Failed']));
  });

  it('a service that exits non-zero with restart never fails with its exit code; exit 0 completes', async () => {
    world.behavior.set('bad', 'crash');
    world.behavior.set('migrate', 'exit0');
    const set = loadedSet([workspace('api'), service('bad', 'api', { restart: 'never' }), service('migrate', 'api', { restart: 'never' })]);
    const result = await engine.apply(set, opts());
    expect(result.failures.map((f) => `${f.resource}: ${f.reason}`)).toEqual(['service/bad: exited with code 1']);
    expect(result.statuses.get('service/migrate')?.phase).toBe('Completed');
  });

  it('fails workspaces of a provider without a driver, with a clear reason', async () => {
    const set = loadedSet([workspace('box', { provider: 'lxc' }), workspace('api')]);
    const result = await engine.apply(set, opts());
    expect(result.failures.find((f) => f.resource === 'workspace/box')?.reason).toBe('create failed: no lxc driver is available on node local');
    expect(result.statuses.get('workspace/api')?.phase).toBe('Ready');
  });

  describe('a provider that cannot observe its node', () => {
    // An lxc driver whose daemon is missing: observe throws, everything else is never called.
    const noDaemon = (): ProviderDriver => {
      const missing = () => Promise.reject(new Error('not called: nothing is planned for lxc'));
      return {
        name: 'lxc',
        availability: async () => ({ available: false }),
        observe: () => Promise.reject(new ProviderError('no LXD or Incus daemon answers on node local', 'install LXD on node local')),
        create: missing,
        start: missing,
        stop: missing,
        delete: missing,
        runtime: missing,
      };
    };
    const withLxc = (lxc: ProviderDriver) =>
      createEngine({ store, connect: world.connect, drivers: { process: world.driver(), lxc }, serviceManagerFn: world.serviceManager, retry: { baseMs: 1, capMs: 5, maxAttempts: 2 }, servicePollMs: 1, retryDelayMs: 1 });

    it('fails only its own workspaces and services, with its error and hint; the node stays Ready', async () => {
      const lxcEngine = withLxc(noDaemon());
      try {
        const set = loadedSet([workspace('box', { provider: 'lxc' }), service('httpd', 'box'), workspace('api'), service('web', 'api')]);
        const result = await lxcEngine.apply(set, opts());
        expect(result.converged).toBe(false);
        expect(result.plan.operations.map((o) => o.id)).toEqual(['create-workspace:api', 'start-service:web']);
        expect(result.plan.unavailable).toEqual([{ node: 'local', provider: 'lxc', error: 'no LXD or Incus daemon answers on node local' }]);
        expect(result.statuses.get('workspace/api')?.phase).toBe('Ready');
        expect(result.statuses.get('service/web')?.phase).toBe('Ready');
        expect(result.statuses.get('workspace/box')?.phase).toBe('Failed');
        expect(result.statuses.get('service/httpd')?.phase).toBe('Failed');
        expect(result.statuses.get('node/local')?.phase).toBe('Ready');
        expect(result.statuses.get('node/local')?.conditions.find((c) => c.type === 'ProvidersAvailable')?.status).toBe('False');
        const reason = 'no LXD or Incus daemon answers on node local';
        expect(result.failures).toEqual([
          { resource: 'workspace/box', node: 'local', reason, hint: 'install LXD on node local' },
          { resource: 'service/httpd', node: 'local', reason, hint: 'install LXD on node local' },
        ]);
      } finally {
        await lxcEngine.close();
      }
    });

    it('prune keeps the record of a workspace it cannot see, and says why', async () => {
      const lxcEngine = withLxc(noDaemon());
      try {
        const box = workspace('box', { provider: 'lxc' });
        await store.putApplied(box, 'default');
        await store.setInventory('default', ['workspace/box']);
        const result = await lxcEngine.apply(loadedSet([workspace('api')]), opts({ prune: true }));
        expect(result.plan.operations.map((o) => o.id)).toEqual(['create-workspace:api']);
        expect(result.converged).toBe(false);
        expect(result.failures).toEqual([{ resource: 'node/local', node: 'local', reason: 'no LXD or Incus daemon answers on node local', hint: 'install LXD on node local' }]);
        expect((await store.list()).map((r) => r.id).sort()).toEqual(['workspace/api', 'workspace/box']);
      } finally {
        await lxcEngine.close();
      }
    });

    it('a connection failure during a provider observation still makes the node unreachable', async () => {
      const lxcEngine = withLxc({ ...noDaemon(), observe: () => Promise.reject(new TransportError('local', 'connection lost')) });
      try {
        const result = await lxcEngine.apply(loadedSet([workspace('box', { provider: 'lxc' }), workspace('api')]), opts());
        expect(result.plan.operations).toEqual([]);
        expect(result.statuses.get('node/local')?.phase).toBe('NotReady');
        expect(result.statuses.get('workspace/api')?.phase).toBe('NotReady');
      } finally {
        await lxcEngine.close();
      }
    });
  });

  it('never puts env values in events or status', async () => {
    const set = loadedSet(
      [workspace('api'), service('web', 'api', { env: { TOKEN: { fromEnv: 'TOKEN' } } })],
      new Map([['service/web', { TOKEN: { value: 's3cr3t-value', secret: true } }]]),
    );
    const result = await engine.apply(set, opts());
    expect(result.converged).toBe(true);
    expect(world.workspaces('local').get('api')!.services.get('web')!.env.TOKEN).toBe('s3cr3t-value');
    const everything = JSON.stringify([events, [...result.statuses], await store.list(), await store.events()]);
    expect(everything).not.toContain('s3cr3t-value');
  });

  it('a failure quoting the service log shows its last lines, with secret values redacted', async () => {
    world.behavior.set('web', 'crash-printing-env');
    const set = loadedSet(
      [workspace('api', { env: { WS_KEY: { fromFile: 'key' } } }), service('web', 'api', { env: { TOKEN: { fromEnv: 'TOKEN' }, MODE: 'dev' } })],
      new Map<string, ResolvedEnv>([
        ['service/web', { TOKEN: { value: 's3cr3t-value', secret: true }, MODE: { value: 'dev', secret: false } }],
        ['workspace/api', { WS_KEY: { value: 'ws-k3y', secret: true } }],
      ]),
    );
    const result = await engine.apply(set, opts());
    expect(result.converged).toBe(false);
    const failure = result.failures.find((f) => f.resource === 'service/web');
    expect(failure?.reason).toMatch(/^exited with code 1; last log lines:\n/);
    expect(failure?.reason).toContain('TOKEN=(secret)');
    expect(failure?.reason).toContain('WS_KEY=(secret)');
    expect(failure?.reason).toContain('MODE=dev');
    const everything = JSON.stringify([events, [...result.statuses], result.failures, await store.list(), await store.events()]);
    expect(everything).not.toContain('s3cr3t-value');
    expect(everything).not.toContain('ws-k3y');
  });

  it('prune deletes only what this apply set applied and no longer declares', async () => {
    await engine.apply(loadedSet([workspace('a1'), workspace('a2'), service('s2', 'a2')]), opts({ applySet: 'team-a' }));
    await engine.apply(loadedSet([workspace('b1')]), opts({ applySet: 'team-b' }));
    const result = await engine.apply(loadedSet([workspace('a1')]), opts({ applySet: 'team-a', prune: true }));
    expect(result.converged).toBe(true);
    expect(result.plan.operations.map((o) => o.id)).toEqual(['delete-workspace:a2']);
    expect([...world.workspaces('local').keys()].sort()).toEqual(['a1', 'b1']);
    expect((await store.list()).map((r) => r.id).sort()).toEqual(['workspace/a1', 'workspace/b1']);
    expect(await store.inventory('team-a')).toEqual(['workspace/a1']);
    expect(await store.inventory('team-b')).toEqual(['workspace/b1']);
    expect(reasons('workspace/a2')).toEqual(['Created', 'Deleted']);
  });

  it('stops a workspace whose state is stopped and its services report Stopped', async () => {
    await engine.apply(loadedSet([workspace('api'), service('web', 'api')]), opts());
    const result = await engine.apply(loadedSet([workspace('api', { state: 'stopped' }), service('web', 'api')]), opts());
    expect(result.converged).toBe(true);
    expect(result.statuses.get('workspace/api')?.phase).toBe('Stopped');
    expect(result.statuses.get('service/web')?.phase).toBe('Stopped');
    expect(world.workspaces('local').get('api')!.running).toBe(false);
  });

  it('runs at most concurrencyPerNode provider operations per node', async () => {
    world.createDelayMs = 5;
    const limited = createEngine({ store, connect: world.connect, drivers: { process: world.driver() }, serviceManagerFn: world.serviceManager, concurrencyPerNode: 2 });
    const result = await limited.apply(loadedSet(['a', 'b', 'c', 'd', 'e'].map((n) => workspace(n))), opts());
    expect(result.converged).toBe(true);
    expect(world.maxConcurrentCreates).toBe(2);
    await limited.close();
  });

  it('gives up at timeoutMs with the resources that were not ready', async () => {
    world.createDelayMs = Infinity;
    const result = await engine.apply(loadedSet([workspace('slow')]), opts({ timeoutMs: 50 }));
    expect(result.converged).toBe(false);
    expect(result.failures).toEqual([{ resource: 'workspace/slow', node: 'local', reason: 'timed out while creating', hint: undefined }]);
    expect(result.statuses.get('workspace/slow')?.phase).toBe('Creating');
  });

  it('runLoop forever resyncs and heals drift until aborted', async () => {
    const stop = new AbortController();
    const set = loadedSet([workspace('api'), service('web', 'api')]);
    const passes: { converged: boolean; operationsRun: number }[] = [];
    const result = await engine.runLoop(set, {
      ...opts(),
      until: 'forever',
      resyncMs: 1,
      signal: stop.signal,
      onPass: (r, pass) => {
        passes.push({ converged: r.converged, operationsRun: r.operationsRun });
        if (pass === 2) world.workspaces('local').delete('api'); // drift: someone removed it
        if (pass === 5) stop.abort();
      },
    });
    // Each pass that repairs converges by itself: no confirmation pass follows it.
    expect(passes.map((p) => p.converged)).toEqual([true, true, true, true, true]);
    expect(passes.map((p) => p.operationsRun)).toEqual([2, 2, 4, 4, 4]);
    expect(world.calls.filter((c) => c === 'create local/api')).toHaveLength(2);
    expect(result.operationsRun).toBe(4);
  });

  it('runLoop forever: a resync pass that observes what the last quiet pass did plans nothing; a change plans again', async () => {
    const planned: number[] = [];
    const counted = createEngine({
      store,
      connect: world.connect,
      drivers: { process: world.driver() },
      events: { onPlan: (_plan, pass) => planned.push(pass) },
      serviceManagerFn: world.serviceManager,
      servicePollMs: 1,
      serviceStableMs: 0,
      retryDelayMs: 1,
    });
    const stop = new AbortController();
    const observed: number[] = [];
    try {
      await counted.runLoop(loadedSet([workspace('api'), service('web', 'api')]), {
        ...opts(),
        until: 'forever',
        resyncMs: 1,
        signal: stop.signal,
        onPass: (r, pass) => {
          expect(r.converged).toBe(true);
          observed.push(world.observations);
          if (pass === 4) world.workspaces('local').delete('api'); // drift
          if (pass === 7) stop.abort();
        },
      });
    } finally {
      await counted.close();
    }
    // 1 creates; 2 sees the statuses 1 wrote, plans, finds nothing to do; 3 and 4 observe the same
    // and skip planning; 5 sees the drift and repairs; 6 plans once more (new statuses); 7 skips.
    expect(planned).toEqual([1, 2, 5, 6]);
    expect(observed).toEqual([1, 2, 3, 4, 5, 6, 7]); // every pass still observes every node
  });

  it('a no-op apply that starts from what the last quiet apply started from takes its stored result; any change runs the pass', async () => {
    const set = loadedSet([workspace('api'), service('web', 'api')]);
    expect((await engine.apply(set, opts())).operationsRun).toBe(2);
    // The second apply plans nothing and converges: quiet, so its result is stored under a digest of its inputs.
    expect((await engine.apply(set, opts())).operationsRun).toBe(0);
    const memo = await store.quietMemo('default');
    expect(memo?.statuses.map(([id]) => id)).toEqual(expect.arrayContaining(['service/web', 'workspace/api']));
    // Mark the stored result: an apply that shows the mark took it instead of running its machines.
    const marked = memo!.statuses.map(([id, st]): [string, typeof st] => [id, { ...st, details: { ...st.details, memo: 'used' } }]);
    await store.setQuietMemo('default', { ...memo!, statuses: marked });
    const third = await engine.apply(set, opts());
    expect(third.converged).toBe(true);
    expect(third.statuses.get('service/web')?.details?.memo).toBe('used');

    // Drift on the node: the observation differs, so the pass runs and repairs.
    world.workspaces('local').delete('api');
    const repaired = await engine.apply(set, opts());
    expect(repaired.operationsRun).toBe(2);
    expect(repaired.statuses.get('service/web')?.details?.memo).toBeUndefined();
  });

  it('no stored result stands in for a pass that probes or checks from the controller', async () => {
    // A probed service whose supervisor records no verdict: the controller probes it every pass.
    world.healthy.add('web');
    const set = loadedSet([workspace('api'), service('web', 'api', { healthcheck: check('web') })]);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    expect(await store.quietMemo('default')).toBeUndefined();
    // With the supervisor's healthy verdict recorded, the pass concludes from the observation alone.
    world.recordedHealth.set('web', [{ status: 'healthy', failures: 0, message: 'exit 0' }]);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    expect(await store.quietMemo('default')).toBeDefined();
  });

  it('a no-op pass writes no status: only what changed is stored, once', async () => {
    const set = loadedSet([node('n1', '127.0.0.9'), workspace('api', { node: 'n1' }), service('web', 'api'), workspace('solo')]);
    expect((await engine.apply(set, opts())).converged).toBe(true);
    const written: string[] = [];
    const counting = new Proxy(store, {
      get(target, prop) {
        if (prop === 'setStatus') return (id: string, status: unknown) => (written.push(id), target.setStatus(id, status as never));
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const counted = createEngine({ store: counting, connect: world.connect, drivers: { process: world.driver() }, serviceManagerFn: world.serviceManager, servicePollMs: 1 });
    try {
      expect((await counted.apply(set, opts())).converged).toBe(true);
      expect(written).toEqual([]);
      // A change writes only the resource it acts on: once as it starts (Stopping), once with the result.
      const stopped = loadedSet([node('n1', '127.0.0.9'), workspace('api', { node: 'n1' }), service('web', 'api'), workspace('solo', { state: 'stopped' })]);
      expect((await counted.apply(stopped, opts())).converged).toBe(true);
      expect(written).toEqual(['workspace/solo', 'workspace/solo']);
      expect((await store.get('workspace/solo'))?.status?.phase).toBe('Stopped');
    } finally {
      await counted.close();
    }
    expect((await store.get('node/n1'))?.status?.phase).toBe('Ready');
  });

  it('a cold apply that succeeds observes once: no confirmation pass', async () => {
    const set = loadedSet([workspace('api'), service('web', 'api'), workspace('db'), service('pg', 'db')]);
    const result = await engine.apply(set, opts());
    expect(result.converged).toBe(true);
    expect(result.operationsRun).toBe(4);
    expect(world.observations).toBe(1);
    world.observations = 0;
    expect((await engine.apply(set, opts())).converged).toBe(true);
    expect(world.observations).toBe(1);
  });

  it('a retry pass watches a service that failed before for the full window, not one look', async () => {
    // A crash loop: the service fails (exit 127); the retry pass's observation happens to catch it
    // running between restarts; the next reads see it backing off again.
    world.sequence.set('web', [
      { state: 'running' },
      { state: 'backoff', exitCode: 127, restarts: 1 },
      { state: 'running', restarts: 2 },
      { state: 'backoff', exitCode: 127, restarts: 2 },
    ]);
    const result = await engine.apply(loadedSet([workspace('api'), service('web', 'api')]), opts());
    expect(result.converged).toBe(false);
    expect(result.failures.map((f) => `${f.resource}: ${f.reason}`)).toEqual(['service/web: command not found (exit 127)']);
    expect(world.observations).toBe(2);
  });

  it('a failed pass is retried with a fresh observation', async () => {
    world.behavior.set('web', 'crash');
    const result = await engine.apply(loadedSet([workspace('api'), service('web', 'api', { restart: 'never' })]), opts());
    expect(result.converged).toBe(false);
    // The first pass fails web; the retry pass restarts it and fails the same way: stuck.
    expect(world.observations).toBe(2);
  });

  it('runLoop forever stops at once when aborted while waiting to resync: no further observation', async () => {
    const stop = new AbortController();
    let passes = 0;
    const done = engine.runLoop(loadedSet([workspace('api')]), {
      ...opts(),
      until: 'forever',
      resyncMs: 60_000,
      signal: stop.signal,
      onPass: () => {
        passes++;
        setTimeout(() => stop.abort(), 1);
      },
    });
    await done;
    expect(passes).toBe(1);
    expect(world.observations).toBe(1);
  });

  it('plan observes and plans without changing anything', async () => {
    const { plan, observed } = await engine.plan(loadedSet([workspace('api')]), { applySet: 'default', prune: false });
    expect(plan.operations.map((o) => o.id)).toEqual(['create-workspace:api']);
    expect(observed.get('local')?.reachable).toBe(true);
    expect(world.calls).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it('reports waiting for the lock', async () => {
    const release = await store.lock('other', { timeoutMs: 1000 });
    const waits: string[] = [];
    const waiting = createEngine({
      store,
      connect: world.connect,
      drivers: { process: world.driver() },
      serviceManagerFn: world.serviceManager,
      events: { onLockWait: (h) => waits.push(h.command) },
    });
    await expect(waiting.apply(loadedSet([workspace('api')]), opts({ lockTimeoutMs: 1 }))).rejects.toThrow(/still holds the lock/);
    expect(waits).toEqual(['other']);
    await release();
    await waiting.close();
  });
});

describe('engine with a driver that reads services per node', () => {
  let batched: Engine;
  beforeEach(() => {
    batched = createEngine({
      store,
      connect: world.connect,
      drivers: { process: world.batchDriver() },
      events: { onEvent: (e) => events.push(e) },
      serviceManagerFn: world.serviceManager,
      retry: { baseMs: 1, capMs: 5, maxAttempts: 2 },
      servicePollMs: 1,
      serviceStableMs: 0,
      retryDelayMs: 1,
    });
  });
  afterEach(() => batched.close());

  it('confirms the starts of many workspaces with reads of the whole node, never one exec per workspace', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const set = loadedSet([...names.map((n) => workspace(n)), ...names.map((n) => service(`svc-${n}`, n))]);
    const result = await batched.apply(set, opts());
    expect(result.converged).toBe(true);
    expect(world.execs.filter((e) => e.startsWith('observe-services'))).toEqual([]);
    const reads = world.batches.filter((b) => b.startsWith('observeServices local: '));
    // Every service is seen running twice; coalesced, that is far fewer reads than services × 2.
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.length).toBeLessThan(names.length * 2);
    expect(reads.some((r) => r.split(': ')[1]!.split(',').length > 1)).toBe(true);
  });

  it('takes health from the verdict the supervisor recorded: no probe from the controller', async () => {
    world.recordedHealth.set('db', [
      { status: 'starting', failures: 0, message: 'tcp 127.0.0.1:5432: connection refused' },
      { status: 'healthy', failures: 0, message: 'tcp 127.0.0.1:5432: connected' },
    ]);
    const set = loadedSet([workspace('api'), service('db', 'api', { healthcheck: check('db') }), service('web', 'api', { dependsOn: { db: { condition: 'healthy' } } })]);
    const result = await batched.apply(set, opts());
    expect(result.failures).toEqual([]);
    expect(result.converged).toBe(true);
    expect(world.execs.filter((e) => e.includes('check db'))).toEqual([]);
    expect(result.statuses.get('service/db')?.conditions.find((c) => c.type === 'Healthy')).toMatchObject({ status: 'True', message: 'tcp 127.0.0.1:5432: connected' });
    expect(events.find((e) => e.object === 'service/db' && e.reason === 'Healthy')?.message).toBe('tcp 127.0.0.1:5432: connected');
    expect(world.calls.indexOf('start-service web')).toBeGreaterThan(world.calls.indexOf('start-service db'));

    // A no-op pass reads the verdict from its observation: not a single round trip into the workspace.
    world.execs.length = 0;
    world.batches.length = 0;
    const again = await batched.apply(set, opts());
    expect(again.converged).toBe(true);
    expect(world.execs).toEqual([]);
    expect(world.batches).toEqual([]);
  });

  it('an unhealthy verdict fails the service at once with its message, and its dependents', async () => {
    world.recordedHealth.set('db', [{ status: 'unhealthy', failures: 3, message: 'http 127.0.0.1:8080/health → 503' }]);
    const set = loadedSet([workspace('api'), service('db', 'api', { healthcheck: check('db') }), service('web', 'api', { dependsOn: { db: { condition: 'healthy' } } })]);
    const result = await batched.apply(set, opts());
    expect(result.converged).toBe(false);
    expect(result.failures.find((f) => f.resource === 'service/db')?.reason).toBe('unhealthy after 3 consecutive failed checks: http 127.0.0.1:8080/health → 503');
    expect(result.failures.find((f) => f.resource === 'service/web')?.reason).toMatch(/^dependency db cannot become healthy: unhealthy after 3/);
    expect(world.execs.filter((e) => e.includes('check db'))).toEqual([]);
  });

  it('deletes the workspaces of one node with one deleteMany call, not one delete each', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    expect((await batched.apply(loadedSet([...names.map((n) => workspace(n)), workspace('x', { node: 'n1' }), node('n1', '127.0.0.9')]), opts())).converged).toBe(true);
    const result = await batched.delete([...names, 'x'].map((n) => `workspace/${n}`), { timeoutMs: 20_000 });
    expect(result.failures).toEqual([]);
    expect(result.converged).toBe(true);
    // More than the node's concurrency limit (4), still one batch per node.
    expect(world.batches.filter((b) => b.startsWith('deleteMany'))).toEqual([`deleteMany local: ${names.join(',')}`, 'deleteMany n1: x']);
    expect(world.calls.filter((c) => c.startsWith('delete '))).toEqual([]);
    expect([...world.workspaces('local').keys()]).toEqual([]);
    expect(result.deletion?.deleted.map((d) => d.id).sort()).toEqual([...names, 'x'].map((n) => `workspace/${n}`).sort());
    expect((await store.list()).map((r) => r.id)).toEqual(['node/n1']);
  });

  it('a workspace the batch could not delete fails alone, with its error; the rest are deleted', async () => {
    await batched.apply(loadedSet([workspace('a'), workspace('b'), workspace('c')]), opts());
    world.undeletable.add('b');
    const result = await batched.delete(['workspace/a', 'workspace/b', 'workspace/c'], { timeoutMs: 20_000 });
    expect(result.converged).toBe(false);
    expect(result.failures.map((f) => `${f.resource}: ${f.reason}`)).toEqual(['workspace/b: delete failed after 2 attempts: b is busy']);
    expect([...world.workspaces('local').keys()]).toEqual(['b']);
    expect((await store.list()).map((r) => r.id)).toEqual(['workspace/b']);
  });

  it('prune deletes with one batch per node too', async () => {
    await batched.apply(loadedSet([workspace('a'), workspace('b'), workspace('c')]), opts());
    const result = await batched.apply(loadedSet([workspace('a')]), opts({ prune: true }));
    expect(result.converged).toBe(true);
    expect(world.batches.filter((b) => b.startsWith('deleteMany'))).toEqual(['deleteMany local: b,c']);
    expect((await store.list()).map((r) => r.id)).toEqual(['workspace/a']);
  });

  it('a verdict of unknown (no probe tool in the workspace) falls back to probing from the controller', async () => {
    world.recordedHealth.set('db', [{ status: 'unknown', failures: 0, message: 'no bash, nc or wget for a tcp probe' }]);
    world.healthy.add('db');
    const set = loadedSet([workspace('api'), service('db', 'api', { healthcheck: check('db') })]);
    const result = await batched.apply(set, opts());
    expect(result.converged).toBe(true);
    expect(world.execs).toContain('exec api: /bin/sh -c check db');
  });
});

describe('engine delete', () => {
  it('deletes a workspace with its services, waits until gone, forgets them', async () => {
    await engine.apply(loadedSet([workspace('api'), service('web', 'api'), workspace('keep')]), opts());
    const result = await engine.delete(['workspace/api'], { timeoutMs: 20_000 });
    expect(result.failures).toEqual([]);
    expect(result.converged).toBe(true);
    expect(result.operationsRun).toBe(1);
    expect([...world.workspaces('local').keys()]).toEqual(['keep']);
    expect((await store.list()).map((r) => r.id)).toEqual(['workspace/keep']);
    expect(await store.inventory('default')).toEqual(['workspace/keep']);
    expect(reasons('workspace/api')).toEqual(['Created', 'Deleted']);
    expect(reasons('service/web')).toEqual(['Started', 'Deleted']);
  });

  it('a delete whose operations all resolved does not observe again', async () => {
    await engine.apply(loadedSet([workspace('api'), service('web', 'api')]), opts());
    world.observations = 0;
    const result = await engine.delete(['workspace/api'], { timeoutMs: 20_000 });
    expect(result.converged).toBe(true);
    expect(world.observations).toBe(1);
    expect(await store.list()).toEqual([]);
  });
});

describe('volumes', () => {
  // The fake driver's volumes: "node/workspace/volume", made by create, never by delete.
  let volumes: Set<string>;
  let listed: number;
  let vengine: Engine;
  let makeEngine: () => Engine;

  beforeEach(() => {
    volumes = new Set();
    listed = 0;
    const base = world.driver();
    const driver: ProviderDriver = {
      ...base,
      async create(ctx, ws) {
        await base.create(ctx, ws);
        for (const v of ws.resource.spec.volumes ?? []) volumes.add(`${ctx.node.metadata.name}/${ws.resource.metadata.name}/${v.name}`);
      },
      async listVolumes(ctx, workspaces) {
        listed++;
        return [...volumes]
          .map((k) => k.split('/') as [string, string, string])
          .filter(([n, w]) => n === ctx.node.metadata.name && (!workspaces || workspaces.includes(w)))
          .map(([, w, v]) => ({ workspace: w, name: v, handle: `${w}/${v}` }));
      },
      async deleteVolumes(ctx, list) {
        for (const v of list) volumes.delete(`${ctx.node.metadata.name}/${v.workspace}/${v.name}`);
      },
    };
    makeEngine = () => createEngine({ store, connect: world.connect, drivers: { process: driver }, events: { onEvent: (e) => events.push(e) }, retry: { baseMs: 1, capMs: 5, maxAttempts: 2 }, retryDelayMs: 1 });
    vengine = makeEngine();
  });
  afterEach(() => vengine.close());

  const withData = (name: string) => workspace(name, { volumes: [{ name: 'data', path: 'data' }] });

  it('apply never lists volumes; a plain delete keeps them, delete --volumes removes them', async () => {
    await vengine.apply(loadedSet([withData('api')]), opts());
    await vengine.apply(loadedSet([withData('api')]), opts());
    expect(listed).toBe(0);
    const plain = await vengine.delete(['workspace/api'], { timeoutMs: 20_000 });
    expect(plain.converged).toBe(true);
    expect(plain.volumesDeleted).toBeUndefined();
    expect([...volumes]).toEqual(['local/api/data']);
    // Gone from the store and the node, found again by name: not "not found".
    const purge = await vengine.delete(['workspace/api'], { timeoutMs: 20_000, volumes: true });
    expect(purge.converged).toBe(true);
    expect(purge.deletion?.notFound).toEqual([]);
    expect(purge.volumesDeleted).toEqual([{ workspace: 'api', node: 'local', volumes: ['data'] }]);
    expect([...volumes]).toEqual([]);
    expect(reasons('workspace/api')).toContain('VolumesDeleted');
  });

  it('keeps the volumes of a workspace whose node could not be reached (the workspace is not gone)', async () => {
    const set = loadedSet([node('n1', '10.0.0.1'), withData('api')].map((r) => (r.kind === 'Workspace' ? { ...r, spec: { ...r.spec, node: 'n1' } } : r)));
    await vengine.apply(set, opts());
    world.unreachable.set('n1', new TransportError('n1', 'connection refused'));
    // A later command: a new engine, with no connection to n1 open.
    await vengine.close();
    vengine = makeEngine();
    const result = await vengine.delete(['workspace/api'], { timeoutMs: 20_000, volumes: true });
    expect(result.converged).toBe(false);
    expect(result.volumesDeleted).toEqual([]);
    expect([...volumes]).toEqual(['n1/api/data']);
  });

  it('plain --prune keeps the pruned workspace volumes and says so; --prune --volumes removes them', async () => {
    await vengine.apply(loadedSet([withData('a'), withData('b')]), opts());
    const kept = await vengine.apply(loadedSet([withData('a')]), opts({ prune: true }));
    expect(kept.volumesKept).toEqual([{ workspace: 'b', node: 'local', volumes: ['data'] }]);
    expect([...volumes].sort()).toEqual(['local/a/data', 'local/b/data']);
    await vengine.apply(loadedSet([withData('a'), withData('b')]), opts());
    const removed = await vengine.apply(loadedSet([withData('a')]), opts({ prune: true, pruneVolumes: true }));
    expect(removed.converged).toBe(true);
    expect(removed.volumesDeleted).toEqual([{ workspace: 'b', node: 'local', volumes: ['data'] }]);
    expect([...volumes]).toEqual(['local/a/data']);
  });
});

describe('who asked (actor)', () => {
  it('an apply with an actor records Applied by it for each changed record, and its pass events carry `by`; without one, none', async () => {
    const set = loadedSet([workspace('api'), service('web', 'api')]);
    await engine.apply(set, opts({ actor: 'alice' }));
    const api = events.filter((e) => e.object === 'workspace/api');
    expect(api.map((e) => [e.reason, e.message, e.by])).toEqual([
      ['Applied', 'applied by alice (generation 1)', 'alice'],
      ['Created', expect.any(String), 'alice'],
    ]);
    expect(events.filter((e) => e.object === 'service/web').every((e) => e.by === 'alice')).toBe(true);
    expect((await store.events({ object: 'workspace/api' })).map((e) => e.by)).toEqual(['alice', 'alice']);
    // The same spec again: nothing changed in the store, so no Applied line.
    events.length = 0;
    await engine.apply(set, opts({ actor: 'bob' }));
    expect(events).toEqual([]);
    // Embedded (no actor): no Applied line, no `by`.
    await engine.apply(loadedSet([workspace('api', { image: 'b' }), service('web', 'api')]), opts());
    expect(events.some((e) => e.reason === 'Applied' || 'by' in e)).toBe(false);
  });

  it('a delete with an actor records DeleteRequested by it, and its events carry `by`', async () => {
    await engine.apply(loadedSet([workspace('api')]), opts());
    events.length = 0;
    const result = await engine.delete(['workspace/api'], { timeoutMs: 20_000, actor: 'carol' });
    expect(result.failures).toEqual([]);
    expect(events.map((e) => [e.reason, e.by])).toEqual([
      ['DeleteRequested', 'carol'],
      ['Deleted', 'carol'],
    ]);
    expect(events[0]!.message).toBe('delete requested by carol');
  });

  it('every pass is reported with its duration, operations and node latency', async () => {
    const reports: import('../../../src/reconcile/api.js').PassReport[] = [];
    const counted = createEngine({
      store,
      connect: world.connect,
      drivers: { process: world.driver() },
      events: { onPassEnd: (r) => reports.push(r) },
      serviceManagerFn: world.serviceManager,
      retry: { baseMs: 1, capMs: 5, maxAttempts: 2 },
      servicePollMs: 1,
      serviceStableMs: 0,
      retryDelayMs: 1,
    });
    try {
      await counted.apply(loadedSet([workspace('api'), service('web', 'api')]), opts());
      expect(reports).toHaveLength(1);
      expect(reports[0]!.operations).toEqual([
        { type: 'create-workspace', done: true },
        { type: 'start-service', done: true },
      ]);
      expect(reports[0]!.durationMs).toBeGreaterThan(0);
      expect([...reports[0]!.nodeLatencyMs.keys()]).toEqual(['local']);
      await counted.delete(['workspace/api'], { timeoutMs: 20_000 });
      expect(reports[1]!.operations).toEqual([{ type: 'delete-workspace', done: true }]);
    } finally {
      await counted.close();
    }
  });
});
