// Golden tests: hand-built (desired, observed, applied) triples, planned and rendered exactly as
// `vendetta diff` prints them, compared with test/unit/plan/golden/<case>.txt. Each file also
// lists the dependsOn edges, which fix the execution order. Review a changed golden like code.
import { describe, expect, it } from 'vitest';
import type { ObservedSet } from '../../../src/model/types.js';
import type { Plan } from '../../../src/plan/types.js';
import { plan, planDeletion } from '../../../src/plan/plan.js';
import { planSummary, renderPlan } from '../../../src/output/plan-render.js';
import type { AppliedRecord } from '../../../src/store/types.js';
import type { LoadedSet } from '../../../src/reconcile/api.js';
import {
  TEST_IDENTITY,
  appliedRecords,
  converged,
  emptyNodes,
  loaded,
  observedService,
  observedWorkspace,
  service,
  workspace,
} from './builders.js';

interface Case {
  set: LoadedSet;
  observed: ObservedSet;
  applied: AppliedRecord[];
  prune?: boolean;
  applySet?: string;
}

function render(p: Plan): string {
  const lines = renderPlan(p);
  const edges = p.operations
    .filter((o) => o.dependsOn.length > 0)
    .map((o) => `${o.id} <- ${o.dependsOn.join(', ')}`);
  const order = edges.length > 0 ? `\n--- dependsOn\n${edges.join('\n')}\n` : '';
  return `${lines}${lines ? '\n' : ''}${planSummary(p)}\n${order}`;
}

function run(c: Case): string {
  return render(plan({ set: c.set, observed: c.observed, applied: c.applied, applySet: c.applySet ?? 'default', prune: c.prune ?? false, identity: TEST_IDENTITY }));
}

/** A process workspace with a database, a web server that needs it healthy, and a worker. */
function app(overrides: { web?: Parameters<typeof service>[2]; db?: Parameters<typeof service>[2] } = {}) {
  return [
    workspace('api', { env: { NODE_ENV: 'development' } }),
    service('db', 'api', { command: 'postgres -D data', ports: [5432], healthcheck: { tcp: { port: 5432 } }, ...overrides.db }),
    service('web', 'api', { command: 'node a.js', ports: [3000], dependsOn: { db: { condition: 'healthy' } }, ...overrides.web }),
    service('worker', 'api', { command: 'node worker.js', dependsOn: { db: { condition: 'started' } } }),
  ];
}

/** `before` was applied and converged; plan `after` against it. */
function from(before: LoadedSet, after: LoadedSet, extra: Partial<Case> = {}): Case {
  return { set: after, observed: converged(before), applied: appliedRecords(before), ...extra };
}

const cases: Record<string, () => Case> = {
  'fresh-create': () => ({ set: loaded(app()), observed: emptyNodes('local'), applied: [] }),

  'converged-noop': () => {
    const set = loaded(app());
    return from(set, set);
  },

  'command-change-restarts-only-that-service': () => from(loaded(app()), loaded(app({ web: { command: 'node b.js' } }))),

  'image-change-recreates-only-that-workspace': () => {
    const v = (image: string, cpus: number) =>
      loaded([
        workspace('front', { provider: 'docker', image: 'node:22' }),
        service('web', 'front', { command: 'npm start', ports: [3000] }),
        workspace('data', { provider: 'docker', image, resources: { cpus, memory: '1Gi' } }),
        service('db', 'data', { command: 'postgres', ports: [5432] }),
      ]);
    return from(v('postgres:16', 1), v('postgres:17', 2));
  },

  'stopped-by-hand-starts': () => {
    const set = loaded(app());
    const c = from(set, set);
    const ws = observedWorkspace(c.observed, 'api');
    ws.running = false;
    for (const s of ws.services) s.state = 'stopped';
    return c;
  },

  'state-stopped-stops-workspace': () => {
    const running = loaded(app());
    const stopped = loaded(app().map((r) => (r.kind === 'Workspace' ? workspace('api', { ...r.spec, state: 'stopped' }) : r)));
    return from(running, stopped);
  },

  'killed-and-exited-services-start': () => {
    const set = loaded(app());
    const c = from(set, set);
    const ws = observedWorkspace(c.observed, 'api');
    ws.services = ws.services.filter((s) => s.name !== 'worker'); // killed, state dir gone
    Object.assign(observedService(c.observed, 'web'), { state: 'exited', exitCode: 137, pid: undefined });
    return c;
  },

  'completed-service-is-left-alone': () => {
    const set = loaded([...app(), service('migrate', 'api', { command: 'npm run migrate', restart: 'never' })]);
    const c = from(set, set);
    Object.assign(observedService(c.observed, 'migrate'), { state: 'exited', exitCode: 0, pid: undefined });
    return c;
  },

  'restart-never-failed-is-left-alone': () => {
    const set = loaded([...app(), service('seed', 'api', { command: 'npm run seed', restart: 'never' })]);
    const c = from(set, set);
    Object.assign(observedService(c.observed, 'seed'), { state: 'exited', exitCode: 3, pid: undefined });
    Object.assign(observedService(c.observed, 'web'), { state: 'backoff', exitCode: 1, pid: undefined });
    return c;
  },

  'prune-deletes-workspace-and-service': () => {
    const before = loaded([...app(), workspace('old'), service('legacy', 'old')]);
    const after = loaded(app().filter((r) => r.metadata.name !== 'worker'));
    return from(before, after, { prune: true });
  },

  'prune-leaves-other-apply-sets': () => {
    const before = loaded([...app(), workspace('old'), service('legacy', 'old')]);
    const after = loaded(app());
    const c = from(before, after, { prune: true });
    // "old" was applied by another apply set: not ours to prune.
    c.applied = c.applied.map((r) => (r.name === 'old' || r.name === 'legacy' ? { ...r, applySet: 'other' } : r));
    return c;
  },

  'no-prune-deletes-nothing': () => {
    const before = loaded([...app(), workspace('old'), service('legacy', 'old')]);
    const after = loaded(app().filter((r) => r.metadata.name !== 'worker'));
    return from(before, after);
  },

  'unreachable-node-other-node-planned': () => {
    const set = loaded([
      workspace('alpha', { node: 'a' }),
      service('one', 'alpha'),
      workspace('beta', { node: 'b', provider: 'docker', image: 'busybox' }),
      service('two', 'beta'),
    ]);
    const observed = emptyNodes('a');
    observed.set('b', { name: 'b', reachable: false, error: 'ssh 127.0.0.3:22: connect ECONNREFUSED', workspaces: [] });
    return { set, observed, applied: [] };
  },

  'provider-unavailable-other-provider-planned': () => {
    // lxc could not be observed on node a (no daemon): nothing is planned for box (no create, no
    // prune of the applied "gone"), while the node's process workspace is planned as usual.
    const before = loaded([workspace('gone', { node: 'a', provider: 'lxc', image: 'debian/12' })]);
    const set = loaded([
      workspace('alpha', { node: 'a' }),
      service('one', 'alpha'),
      workspace('box', { node: 'a', provider: 'lxc', image: 'debian/12' }),
      service('two', 'box'),
    ]);
    const observed = emptyNodes('a');
    observed.get('a')!.unavailable = [{ provider: 'lxc', error: 'no LXD or Incus daemon answers on node a', hint: 'install LXD on node a' }];
    return { set, observed, applied: appliedRecords(before), prune: true };
  },

  'depends-on-order-across-workspaces': () => ({
    set: loaded([
      workspace('front'),
      service('app', 'front', { dependsOn: { queue: { condition: 'healthy' } } }),
      service('assets', 'front'),
      workspace('back', { provider: 'docker', image: 'busybox' }),
      service('queue', 'back', { ports: [5672], dependsOn: { store: { condition: 'healthy' } } }),
      service('store', 'back', { ports: [6379] }),
    ]),
    observed: emptyNodes('local'),
    applied: [],
  }),

  'secret-change-recreates': () => {
    const v = (secrets: Record<string, string>, apiKey: string | { fromFile: string }) =>
      loaded(
        [
          workspace('vault', { env: { TOKEN: { fromEnv: 'VAULT_TOKEN' } } }),
          service('agent', 'vault'),
          workspace('keys', { env: { API_KEY: apiKey, REGION: 'eu' } }),
        ],
        secrets,
      );
    return from(v({ VAULT_TOKEN: 'old-token' }, 'dev-key'), v({ VAULT_TOKEN: 'new-token', './api.key': 'k-123' }, { fromFile: './api.key' }));
  },

  'sibling-port-change-restarts-dependents': () => from(loaded(app()), loaded(app({ db: { ports: [5433], healthcheck: { tcp: { port: 5433 } } } }))),

  'provider-change-deletes-and-creates': () => {
    const before = loaded([workspace('api'), service('web', 'api')]);
    const after = loaded([workspace('api', { provider: 'docker', image: 'node:22' }), service('web', 'api')]);
    return from(before, after);
  },

  'workspace-moved-to-another-node': () => {
    const before = loaded([workspace('api', { node: 'a' }), service('web', 'api')]);
    const after = loaded([workspace('api', { node: 'b' }), service('web', 'api')]);
    const c = from(before, after);
    c.observed.set('b', { name: 'b', reachable: true, workspaces: [] });
    return c;
  },

  // What apply sees: it recorded the new spec (node b) before planning; the record remembers a.
  'workspace-moved-as-apply-sees-it': () => {
    const before = loaded([workspace('api', { node: 'a', provider: 'docker', image: 'busybox' }), service('web', 'api')]);
    const after = loaded([workspace('api', { node: 'b', provider: 'docker', image: 'busybox' }), service('web', 'api')]);
    const c = from(before, after);
    c.applied = appliedRecords(after).map((r) => (r.kind === 'Workspace' ? { ...r, previousNodes: [{ node: 'a', provider: 'docker' as const }] } : r));
    c.observed.set('b', { name: 'b', reachable: true, workspaces: [] });
    return c;
  },

  // The new copy already runs on b; the old one on a is still there (a failed delete last time).
  'workspace-moved-old-copy-left': () => {
    const before = loaded([workspace('api', { node: 'a' }), service('web', 'api')]);
    const after = loaded([workspace('api', { node: 'b' }), service('web', 'api')]);
    const observed = converged(before);
    for (const [name, n] of converged(after)) if (name === 'b') observed.set(name, n);
    const applied = appliedRecords(after).map((r) => (r.kind === 'Workspace' ? { ...r, previousNodes: [{ node: 'a', provider: 'process' as const }] } : r));
    return { set: after, observed, applied };
  },

  'workspace-moved-old-node-unreachable': () => {
    const after = loaded([workspace('api', { node: 'b' }), service('web', 'api')]);
    const observed = emptyNodes('b');
    observed.set('a', { name: 'a', reachable: false, error: 'ssh 127.0.0.3:22: connect ECONNREFUSED', workspaces: [] });
    const applied = appliedRecords(after).map((r) => (r.kind === 'Workspace' ? { ...r, previousNodes: [{ node: 'a', provider: 'process' as const }] } : r));
    return { set: after, observed, applied };
  },

  'service-moved-to-another-workspace-as-apply-sees-it': () => {
    const before = loaded([workspace('one'), workspace('two'), service('web', 'one')]);
    const after = loaded([workspace('one'), workspace('two'), service('web', 'two')]);
    const c = from(before, after);
    c.applied = appliedRecords(after).map((r) => (r.kind === 'Service' ? { ...r, previousWorkspaces: ['one'] } : r));
    return c;
  },

  'prune-moved-workspace-everywhere': () => {
    const before = loaded([workspace('api', { node: 'a' }), workspace('keep', { node: 'a' })]);
    const moved = loaded([workspace('api', { node: 'b' })]);
    const observed = converged(before);
    for (const [name, n] of converged(moved)) observed.set(name, n);
    const applied = [
      ...appliedRecords(moved).map((r) => ({ ...r, previousNodes: [{ node: 'a', provider: 'process' as const }] })),
      ...appliedRecords(loaded([workspace('keep', { node: 'a' })])),
    ];
    return { set: loaded([workspace('keep', { node: 'a' })]), observed, applied, prune: true };
  },
};

describe('plan golden', () => {
  for (const [name, build] of Object.entries(cases)) {
    it(name, async () => {
      await expect(run(build())).toMatchFileSnapshot(`./golden/${name}.txt`);
    });
  }

  it('delete-request', async () => {
    const set = loaded([...app(), workspace('tools'), service('lint', 'tools'), service('docs', 'tools')]);
    const observed = converged(set);
    observed.set('b', { name: 'b', reachable: false, error: 'host key changed', workspaces: [] });
    const p = planDeletion({
      ids: ['workspace/api', 'service/web', 'service/lint', 'service/ghost', 'node/local'],
      applied: appliedRecords(set),
      set,
      observed,
    });
    await expect(render(p)).toMatchFileSnapshot('./golden/delete-request.txt');
  });
});
