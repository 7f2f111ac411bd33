// Planner rules the golden files do not pin down: operation fields, edges, odd observations.
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../../src/model/types.js';
import { plan, planDeletion, type PlanInput } from '../../../src/plan/plan.js';
import { desiredWorkspace } from '../../../src/plan/desired.js';
import { planSummary, renderPlan } from '../../../src/output/plan-render.js';
import { TEST_IDENTITY, appliedRecords, converged, emptyNodes, loaded, observedService, observedWorkspace, service, workspace } from './builders.js';

function input(partial: Partial<PlanInput> & Pick<PlanInput, 'set' | 'observed'>): PlanInput {
  return { applied: [], applySet: 'default', prune: false, identity: TEST_IDENTITY, ...partial };
}

describe('plan', () => {
  it('fills every operation field', () => {
    const set = loaded([workspace('api', { node: 'n1', provider: 'docker', image: 'busybox' }), service('web', 'api')]);
    const p = plan(input({ set, observed: emptyNodes('n1') }));
    expect(p.operations).toEqual([
      {
        id: 'create-workspace:api',
        type: 'create-workspace',
        kind: 'Workspace',
        name: 'api',
        resource: 'workspace/api',
        node: 'n1',
        provider: 'docker',
        cause: 'not found on node n1',
        dependsOn: [],
      },
      {
        id: 'start-service:web',
        type: 'start-service',
        kind: 'Service',
        name: 'web',
        resource: 'service/web',
        node: 'n1',
        provider: 'docker',
        workspace: 'api',
        cause: 'workspace is being created',
        dependsOn: ['create-workspace:api'],
      },
    ]);
    expect(p.unreachable).toEqual([]);
  });

  it('treats a node that was not observed at all as unreachable, listed once', () => {
    const set = loaded([workspace('a', { node: 'gone' }), workspace('b', { node: 'gone' }), service('s', 'a')]);
    const p = plan(input({ set, observed: new Map() }));
    expect(p.operations).toEqual([]);
    expect(p.unreachable).toEqual([{ node: 'gone', error: 'node was not observed' }]);
  });

  it('creates a workspace declared stopped without starting its services', () => {
    const set = loaded([workspace('api', { state: 'stopped' }), service('web', 'api')]);
    const p = plan(input({ set, observed: emptyNodes('local') }));
    expect(p.operations.map((o) => o.id)).toEqual(['create-workspace:api']);
  });

  it('leaves a stopped workspace declared stopped alone', () => {
    const set = loaded([workspace('api', { state: 'stopped' }), service('web', 'api')]);
    expect(plan(input({ set, observed: converged(set), applied: appliedRecords(set) })).operations).toEqual([]);
  });

  it('starts a service stopped on purpose, and one that exited with no recorded code', () => {
    const set = loaded([workspace('api'), service('a', 'api'), service('b', 'api')]);
    const observed = converged(set);
    observedService(observed, 'a').state = 'stopped';
    Object.assign(observedService(observed, 'b'), { state: 'exited', exitCode: undefined });
    const p = plan(input({ set, observed }));
    expect(p.operations.map((o) => `${o.id}: ${o.cause}`)).toEqual([
      'start-service:a: stopped',
      'start-service:b: exited with an unknown code',
    ]);
  });

  it('restarts a completed or failed service when its spec changed', () => {
    const before = loaded([workspace('api'), service('job', 'api', { restart: 'never', command: 'v1' })]);
    const after = loaded([workspace('api'), service('job', 'api', { restart: 'never', command: 'v2' })]);
    for (const exitCode of [0, 1]) {
      const observed = converged(before);
      Object.assign(observedService(observed, 'job'), { state: 'exited', exitCode });
      const p = plan(input({ set: after, observed, applied: appliedRecords(before) }));
      expect(p.operations.map((o) => o.id)).toEqual(['restart-service:job']);
    }
  });

  it('says so when a hash changed and the store has no applied record to compare', () => {
    const before = loaded([workspace('api', { image: 'a' })]);
    const after = loaded([workspace('api', { image: 'b' })]);
    const p = plan(input({ set: after, observed: converged(before), applied: [] }));
    expect(p.operations[0]).toMatchObject({ type: 'recreate-workspace', cause: 'spec-hash changed (no applied record to compare with)' });
    expect(p.operations[0]!.changes).toBeUndefined();
  });

  it('names another spec, not secrets, when nothing differs and the workspace has no secrets', () => {
    const set = loaded([workspace('api', { image: 'a' })]);
    const observed = converged(set);
    observedWorkspace(observed, 'api').specHash = 'made-elsewhere';
    const p = plan(input({ set, observed, applied: appliedRecords(set) }));
    expect(p.operations[0]!.cause).toBe('spec-hash changed: the object on the node was made from another spec');
  });

  it('never puts a secret value in the plan', () => {
    const before = loaded([workspace('api', { env: { T: { fromEnv: 'T' } } }), service('web', 'api', { env: { K: 'plain' } })], { T: 'old-s3cret' });
    const after = loaded(
      [workspace('api', { env: { T: { fromEnv: 'T' } } }), service('web', 'api', { env: { K: { fromFile: '/k' } } })],
      { T: 'new-s3cret', '/k': 'file-s3cret' },
    );
    const text = JSON.stringify(plan(input({ set: after, observed: converged(before), applied: appliedRecords(before) })));
    expect(text).toContain('recreate-workspace:api');
    expect(text).not.toMatch(/s3cret/);
  });

  it('makes creates on a node wait for that node\'s pruned workspaces, not other nodes\'', () => {
    const before = loaded([workspace('old', { ports: ['8080:80'] }), workspace('far', { node: 'b' })]);
    const after = loaded([workspace('new', { ports: ['8080:80'] }), workspace('near', { node: 'b' })]);
    const p = plan(input({ set: after, observed: converged(before), applied: appliedRecords(before), prune: true }));
    const byId = new Map(p.operations.map((o) => [o.id, o]));
    expect([...byId.keys()]).toEqual(['delete-workspace:far', 'create-workspace:near', 'delete-workspace:old', 'create-workspace:new']);
    expect(byId.get('create-workspace:new')!.dependsOn).toEqual(['delete-workspace:old']);
    expect(byId.get('create-workspace:near')!.dependsOn).toEqual(['delete-workspace:far']);
  });

  it('deletes a pruned service before its workspace is stopped', () => {
    const before = loaded([workspace('api'), service('web', 'api'), service('old', 'api')]);
    const after = loaded([workspace('api', { state: 'stopped' }), service('web', 'api')]);
    const p = plan(input({ set: after, observed: converged(before), applied: appliedRecords(before), prune: true }));
    expect(p.operations.map((o) => `${o.id} <- ${o.dependsOn.join(',')}`)).toEqual([
      'stop-workspace:api <- delete-service:old',
      'delete-service:old <- ',
    ]);
  });

  it('does not prune a service inside a workspace that is recreated', () => {
    const before = loaded([workspace('api', { image: 'a' }), service('web', 'api'), service('old', 'api')]);
    const after = loaded([workspace('api', { image: 'b' }), service('web', 'api')]);
    const p = plan(input({ set: after, observed: converged(before), applied: appliedRecords(before), prune: true }));
    expect(p.operations.map((o) => o.id)).toEqual(['recreate-workspace:api', 'start-service:web']);
  });

  it('prunes nothing on an unreachable node', () => {
    const before = loaded([workspace('old', { node: 'b' })]);
    const observed = converged(before);
    observed.get('b')!.reachable = false;
    observed.get('b')!.error = 'timeout';
    const p = plan(input({ set: loaded([]), observed, applied: appliedRecords(before), prune: true }));
    expect(p).toEqual({ operations: [], unreachable: [{ node: 'b', error: 'timeout' }] });
  });

  it('removes a service from the workspace it moved away from', () => {
    const before = loaded([workspace('a'), workspace('b'), service('web', 'a')]);
    const after = loaded([workspace('a'), workspace('b'), service('web', 'b')]);
    const p = plan(input({ set: after, observed: converged(before), applied: appliedRecords(before) }));
    expect(p.operations.map((o) => `${o.id} ${o.workspace}: ${o.cause}`)).toEqual([
      'delete-service:web a: moved to workspace b',
      'start-service:web b: not running',
    ]);
  });

  it('is deterministic whatever the insertion order of the maps', () => {
    const resources: Resource[] = [
      workspace('z', { node: 'n2' }),
      workspace('a', { node: 'n1' }),
      service('s3', 'a', { dependsOn: { s1: { condition: 'healthy' } } }),
      service('s1', 'a'),
      service('s2', 'z'),
    ];
    const observed = emptyNodes('n1', 'n2');
    const p1 = plan(input({ set: loaded(resources), observed }));
    const p2 = plan(input({ set: loaded([...resources].reverse()), observed: emptyNodes('n2', 'n1') }));
    expect(p2).toEqual(p1);
    expect(p1.operations.map((o) => o.id)).toEqual([
      'create-workspace:a',
      'create-workspace:z',
      'start-service:s1',
      'start-service:s2',
      'start-service:s3',
    ]);
  });
});

describe('planDeletion', () => {
  it('plans nothing for nodes or for what is not observed', () => {
    const set = loaded([workspace('api'), service('web', 'api')]);
    const p = planDeletion({ ids: ['node/local', 'workspace/ghost', 'service/ghost'], applied: [], set, observed: converged(set) });
    expect(p).toEqual({ operations: [], unreachable: [] });
  });

  it('does not look for what no record or manifest places (that is NotFound, not a search)', () => {
    const set = loaded([workspace('api', { node: 'n2' }), service('web', 'api')]);
    const observed = converged(set);
    const p = planDeletion({ ids: ['service/web', 'workspace/api'], applied: [], observed });
    expect(p.operations).toEqual([]);
  });

  it('deletes a workspace from every node its record says it may be on', () => {
    const set = loaded([workspace('api', { node: 'n2' }), service('web', 'api')]);
    const observed = converged(set);
    observed.set('n1', { name: 'n1', reachable: true, workspaces: [{ ...observed.get('n2')!.workspaces[0]! }] });
    const [record] = appliedRecords(set).filter((r) => r.kind === 'Workspace');
    const applied = [{ ...record!, previousNodes: [{ node: 'n1', provider: 'process' as const }] }];
    const p = planDeletion({ ids: ['workspace/api'], applied, observed });
    expect(p.operations.map((o) => [o.id, o.node])).toEqual([
      ['delete-workspace:api@n1', 'n1'],
      ['delete-workspace:api', 'n2'],
    ]);
  });
});

describe('ownership and half-made workspaces', () => {
  const other = { id: 'bbbbbbbbbbbbbbbb', name: 'dev@laptop-2:/home/dev/.vendetta' };
  const docker = () => loaded([workspace('api', { node: 'n1', provider: 'docker', image: 'busybox' }), service('web', 'api')]);
  function ownedBy(set: ReturnType<typeof loaded>, owner: typeof other | undefined, extra: object = {}) {
    const observed = converged(set);
    const ws = observedWorkspace(observed, 'api');
    if (owner) ws.owner = owner;
    else delete ws.owner;
    Object.assign(ws, extra);
    return observed;
  }

  it('another store\'s workspace is a conflict: nothing planned for it or its services', () => {
    const set = docker();
    const observed = ownedBy(set, other, { specHash: 'theirs' });
    observedService(observed, 'web').state = 'exited';
    const p = plan(input({ set, observed, applied: appliedRecords(set) }));
    expect(p.operations).toEqual([]);
    expect(p.conflicts).toEqual([
      {
        resource: 'workspace/api',
        node: 'n1',
        provider: 'docker',
        owner: other,
        message:
          'workspace api on node n1 is managed by another vendetta (owner dev@laptop-2:/home/dev/.vendetta); ' +
          'nothing was changed: delete it from there, or take it over with --adopt',
      },
    ]);
  });

  it('--adopt replaces it, and says from whom', () => {
    const set = docker();
    const p = plan(input({ set, observed: ownedBy(set, other), applied: appliedRecords(set), adopt: true }));
    expect(p.conflicts).toBeUndefined();
    expect(p.operations.map((o) => `${o.id}: ${o.cause}`)).toEqual([
      'recreate-workspace:api: adopt from owner dev@laptop-2:/home/dev/.vendetta',
      'start-service:web: workspace is being recreated',
    ]);
  });

  it('our own workspace is no conflict; one without an owner (older vendetta) is ours too', () => {
    const set = docker();
    expect(plan(input({ set, observed: converged(set), applied: appliedRecords(set) })).operations).toEqual([]);
    const legacy = plan(input({ set, observed: ownedBy(set, undefined), applied: appliedRecords(set) }));
    expect(legacy.operations).toEqual([]);
    expect(legacy.conflicts).toBeUndefined();
  });

  it('prune and delete never remove another store\'s workspace: conflicts', () => {
    const set = docker();
    const observed = ownedBy(set, other);
    const pruned = plan(input({ set: loaded([]), observed, applied: appliedRecords(set), prune: true }));
    expect(pruned.operations).toEqual([]);
    expect(pruned.conflicts?.map((c) => c.message)).toEqual([expect.stringContaining('is managed by another vendetta (owner dev@laptop-2:/home/dev/.vendetta); not pruned')]);
    const deleted = planDeletion({ ids: ['workspace/api', 'service/web'], applied: appliedRecords(set), observed, identity: TEST_IDENTITY });
    expect(deleted.operations).toEqual([]);
    expect(deleted.conflicts?.map((c) => c.resource)).toEqual(['workspace/api']);
  });

  it('a half-made workspace is recreated, whatever its hash says', () => {
    const set = docker();
    const p = plan(input({ set, observed: ownedBy(set, { id: TEST_IDENTITY.id, name: TEST_IDENTITY.name }, { incomplete: true, running: false, services: [] }), applied: appliedRecords(set) }));
    expect(p.operations.map((o) => `${o.id}: ${o.cause}`)).toEqual([
      'recreate-workspace:api: creation was interrupted',
      'start-service:web: workspace is being recreated',
    ]);
  });

  it('a changed secret is a keyed-hash change: the hash never equals the unkeyed one of older labels', () => {
    const set = docker();
    const observed = converged(set);
    // Same spec, hashed under another store's key: differs, so it is recreated (relabelled) once.
    observedWorkspace(observed, 'api').specHash = 'f00dfeedf00dfeed';
    const p = plan(input({ set, observed, applied: appliedRecords(set) }));
    expect(p.operations[0]).toMatchObject({ id: 'recreate-workspace:api' });
  });

  describe('env changes and data loss', () => {
    const before = loaded([workspace('api', { env: { TOKEN: 'a' } }), service('web', 'api'), service('idle', 'api', { env: { OWN: '1' } })]);
    const after = loaded([workspace('api', { env: { TOKEN: 'b' } }), service('web', 'api'), service('idle', 'api', { env: { OWN: '1' } })]);
    /** As a process node reports it: with the shape hash its driver records. */
    const processObserved = () => {
      const observed = converged(before);
      observedWorkspace(observed, 'api').shapeHash = desiredWorkspace(before, 'api', TEST_IDENTITY).shapeHash;
      return observed;
    };

    it('updates a workspace in place when only its env changed and its provider records the shape', () => {
      const p = plan(input({ set: after, observed: processObserved(), applied: appliedRecords(before) }));
      expect(p.operations.map((o) => `${o.id}: ${o.cause}`)).toEqual([
        'update-workspace:api: env changed: env.TOKEN',
        // Both services get the workspace env: both restart, none is recreated with the workspace.
        'restart-service:idle: workspace env changed',
        'restart-service:web: workspace env changed',
      ]);
      expect(p.operations.some((o) => o.dataLoss)).toBe(false);
    });

    it('replaces it, with a data-loss warning, when the shape changed too or the provider records none', () => {
      const changedShape = loaded([workspace('api', { env: { TOKEN: 'b' }, image: 'other' }), service('web', 'api'), service('idle', 'api', { env: { OWN: '1' } })]);
      for (const [set, observed] of [
        [changedShape, processObserved()],
        [after, converged(before)], // docker, lxc, qemu: no shape hash
      ] as const) {
        const p = plan(input({ set, observed, applied: appliedRecords(before) }));
        expect(p.operations[0]).toMatchObject({ id: 'recreate-workspace:api', dataLoss: 'files in the workspace are lost (it declares no volumes)' });
      }
    });

    it('warns on prunes and moves, not on creates, starts or an interrupted creation', () => {
      const pruned = plan(input({ set: loaded([]), observed: converged(before), applied: appliedRecords(before), prune: true }));
      expect(pruned.operations.filter((o) => o.type === 'delete-workspace').map((o) => o.dataLoss)).toEqual(['files in the workspace are lost (it declares no volumes)']);
      const moved = loaded([workspace('api', { env: { TOKEN: 'a' }, node: 'n2' }), service('web', 'api'), service('idle', 'api', { env: { OWN: '1' } })]);
      const observed = converged(before);
      observed.set('n2', { ...observed.get('local')!, name: 'n2', workspaces: [] });
      const m = plan(input({ set: moved, observed, applied: appliedRecords(before) }));
      expect(m.operations.find((o) => o.type === 'delete-workspace')?.dataLoss).toBe('files in the workspace on node local are lost (it declares no volumes)');
      expect(m.operations.filter((o) => o.type !== 'delete-workspace').every((o) => o.dataLoss === undefined)).toBe(true);
      const interrupted = converged(before);
      observedWorkspace(interrupted, 'api').incomplete = true;
      expect(plan(input({ set: before, observed: interrupted, applied: appliedRecords(before) })).operations[0]).not.toHaveProperty('dataLoss');
    });

    it('replaces a matching workspace a sync asked to rebuild, with the warning; the others stay', () => {
      const set = loaded([workspace('api'), workspace('other'), service('web', 'api')]);
      const p = plan(input({ set, observed: converged(set), applied: appliedRecords(set), rebuild: new Set(['api']) }));
      expect(p.operations.map((o) => `${o.id}: ${o.cause}`)).toEqual([
        'recreate-workspace:api: rebuild after a source sync (onSync: rebuild)',
        'start-service:web: workspace is being recreated',
      ]);
      expect(p.operations[0]!.dataLoss).toBe('files in the workspace are lost (it declares no volumes)');
    });

    it('renders the warning under the operation and counts it in the summary', () => {
      const p = plan(input({ set: after, observed: converged(before), applied: appliedRecords(before) }));
      const text = renderPlan(p);
      expect(text).toContain('-/+ workspace/api');
      expect(text).toMatch(/\n {8}warning: replaced, files in the workspace are lost \(it declares no volumes\)\n/);
      expect(planSummary(p)).toBe('Plan: 2 to start, 1 to recreate. Data loss: 1 workspace replaced or removed (api).');
    });
  });
});

describe('plan: spec.build', () => {
  const withBuild = (hash: string, args: Record<string, string> = {}) => {
    const set = loaded([workspace('api', { node: 'n1', provider: 'docker', build: { context: '/p/app', args } }), service('web', 'api')]);
    return { ...set, builds: new Map([['api', hash]]) };
  };
  const observedFrom = (set: ReturnType<typeof withBuild>, hash: string) => {
    const observed = converged(set);
    observedWorkspace(observed, 'api').buildHash = hash;
    return observed;
  };

  it('an unchanged build hash plans nothing', () => {
    const set = withBuild('h1');
    expect(plan(input({ set, observed: observedFrom(set, 'h1'), applied: appliedRecords(set) })).operations).toEqual([]);
  });

  it('a changed context (same spec) replaces the workspace: "build context changed"', () => {
    const before = withBuild('h1');
    const after = withBuild('h2');
    const p = plan(input({ set: after, observed: observedFrom(before, 'h1'), applied: appliedRecords(before) }));
    expect(p.operations.map((o) => `${o.id}: ${o.cause}`)).toEqual(['recreate-workspace:api: build context changed', 'start-service:web: workspace is being recreated']);
    expect(renderPlan(p)).toContain('-/+ workspace/api  recreate  on n1 (docker): build context changed');
  });

  it('a changed build arg says which field, without the context remark', () => {
    const before = withBuild('h1', { A: '1' });
    const after = withBuild('h2', { A: '2' });
    const p = plan(input({ set: after, observed: observedFrom(before, 'h1'), applied: appliedRecords(before) }));
    expect(p.operations[0]!.cause).toBe('spec-hash changed: build.args.A');
  });

  it('another field and the context changed: both are said', () => {
    const before = withBuild('h1');
    const after = loaded([workspace('api', { node: 'n1', provider: 'docker', build: { context: '/p/app', args: {} }, ports: ['8080:80'] }), service('web', 'api')]);
    const p = plan(input({ set: { ...after, builds: new Map([['api', 'h2']]) }, observed: observedFrom(before, 'h1'), applied: appliedRecords(before) }));
    expect(p.operations[0]!.cause).toBe('spec-hash changed: ports; build context changed');
  });

  it('desiredWorkspace carries the tag, and refuses a build without a hash', () => {
    const set = withBuild('0123456789abcdef0123');
    expect(desiredWorkspace(set, 'api', TEST_IDENTITY).build).toEqual({ hash: '0123456789abcdef0123', tag: 'vendetta-build/api:0123456789ab' });
    expect(() => desiredWorkspace({ ...set, builds: undefined }, 'api', TEST_IDENTITY)).toThrow(/no build hash/);
  });
});
