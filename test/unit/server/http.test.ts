// The API over real HTTP on loopback, with a stub engine (the reconcile engine has its own tests;
// here: routing, auth, validation, streaming, the client round trip).
import type http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type Resource } from '../../../src/model/types.js';
import { withDefaults } from '../../../src/manifest/defaults.js';
import type { ApplyResult, LoadedSet } from '../../../src/reconcile/api.js';
import type { Engine, LoopOptions } from '../../../src/reconcile/engine.js';
import { Coordinator } from '../../../src/server/coordinator.js';
import { createApiServer, listen } from '../../../src/server/http.js';
import { EventHub, lockHeldStore } from '../../../src/server/session.js';
import { ensureToken } from '../../../src/server/token.js';
import { ApiClient, remoteEngine, remoteStore, ServerError } from '../../../src/server/client.js';
import { openStore } from '../../../src/store/file-store.js';
import type { Store } from '../../../src/store/types.js';
import { setFromBundle } from '../../../src/server/wire.js';
import { hashToken, newToken } from '../../../src/server/auth.js';
import { ServerMetrics } from '../../../src/server/metrics.js';
import parsePrometheus from 'parse-prometheus-text-format';

const plan = { operations: [], unreachable: [] };
const ok = (set: LoadedSet): ApplyResult => ({
  converged: true,
  plan,
  operationsRun: set.desired.workspaces.size,
  statuses: new Map([...set.desired.workspaces.keys()].map((n) => [`workspace/${n}`, { phase: 'Ready', conditions: [], observedGeneration: 1 }])),
  failures: [],
  endpoints: new Map(),
});

/** Records what the coordinator asks of the engine; the resync loop waits for its abort. */
function stubEngine(store: Store, hub: EventHub) {
  const calls: string[] = [];
  /** Who each apply and delete was for (the token's name the coordinator passed on). */
  const actors: string[] = [];
  const engine: Engine = {
    async plan() {
      calls.push('plan');
      return { plan, observed: new Map() };
    },
    async apply(set, opts) {
      calls.push(`apply ${opts.applySet} ${[...set.desired.workspaces.keys()].join(',')}`);
      actors.push(`apply ${opts.actor}`);
      for (const r of set.desired.workspaces.values()) await store.putApplied(r, opts.applySet);
      hub.events.onPlan?.(plan, 1);
      hub.events.onEvent?.({ time: 't', object: 'workspace/api', type: 'Normal', reason: 'Created', message: 'created' });
      return ok(set);
    },
    async delete(ids, opts) {
      calls.push(`delete ${ids.join(',')}`);
      actors.push(`delete ${opts.actor}`);
      for (const id of ids) await store.remove(id);
      return ok({ desired: { nodes: new Map(), workspaces: new Map(), services: new Map() }, env: new Map() });
    },
    async runLoop(set: LoadedSet, loop: LoopOptions) {
      calls.push(`loop ${[...set.desired.workspaces.keys()].sort().join(',')}`);
      await new Promise<void>((resolve) => loop.signal!.addEventListener('abort', () => resolve()));
      return ok(set);
    },
    async close() {},
  };
  return { engine, calls, actors };
}

const workspace = (name: string, line: number): Resource =>
  withDefaults({ apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node: 'local', provider: 'process' }, source: { file: '/m/a.yaml', line, col: 1 } } as Resource);
function loaded(...resources: Resource[]): LoadedSet {
  const r = setFromBundle({ resources, env: {} }, []);
  if (!r.ok) throw new Error('invalid fixture');
  return r.set;
}

let home: string;
let server: http.Server;
let url: string;
let token: string;
let calls: string[];
let coordinator: Coordinator;
let actors: string[];
let store: Store;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'vendetta-unit-http-'));
  store = await openStore(home);
  token = await ensureToken(home);
  const hub = new EventHub();
  const stub = stubEngine(lockHeldStore(store), hub);
  calls = stub.calls;
  actors = stub.actors;
  const metrics = new ServerMetrics('0.0.0-test');
  coordinator = new Coordinator({ store, engine: stub.engine, hub, resyncMs: 60_000, metrics });
  await coordinator.start();
  server = createApiServer({ coordinator, store, hub, token, metrics });
  url = await listen(server, '127.0.0.1', 0);
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await coordinator.stop();
  await rm(home, { recursive: true, force: true });
});

describe('coordination server API', () => {
  it('refuses requests without the right bearer token (401)', async () => {
    expect((await fetch(`${url}/api/v1/healthz`)).status).toBe(401);
    expect((await fetch(`${url}/api/v1/resources`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const res = await fetch(`${url}/api/v1/healthz`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, applySets: [] });
  });

  it('applies through the client: streams plan and events, returns the result, resumes the loop', async () => {
    const client = new ApiClient(url, token);
    const seen: string[] = [];
    const engine = remoteEngine(client, { onPlan: () => seen.push('plan'), onEvent: (e) => seen.push(e.reason) });
    const result = await engine.apply(loaded(workspace('api', 1)), { applySet: 'default', prune: false, timeoutMs: 1000 });
    expect(result.converged).toBe(true);
    expect(result.statuses.get('workspace/api')?.phase).toBe('Ready');
    expect(seen).toEqual(['plan', 'Created']);
    expect(calls).toEqual(['apply default api', 'loop api']);
    const store = remoteStore(client);
    expect((await store.list('Workspace')).map((r) => r.name)).toEqual(['api']);
    expect(await store.get('workspace/nope')).toBeUndefined();
  });

  it('a second apply set joins the resync loop (the union of sets)', async () => {
    const engine = remoteEngine(new ApiClient(url, token));
    await engine.apply(loaded(workspace('other', 1)), { applySet: 'team-b', prune: false, timeoutMs: 1000 });
    expect(calls.at(-1)).toBe('loop api,other');
  });

  it('rejects an invalid set with 422 and the file:line of each problem; nothing is applied', async () => {
    const before = calls.length;
    const broken = { ...workspace('bad', 7), spec: { node: 'local', provider: 'vmware' } } as unknown as Resource;
    const res = await fetch(`${url}/api/v1/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ set: { resources: [broken], env: {} }, applySet: 'default', prune: false, timeoutMs: 1000 }),
    });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { errors: { file: string; line: number; message: string }[] };
    expect(body.errors[0]).toMatchObject({ file: '/m/a.yaml', line: 7 });
    expect(calls.length).toBe(before);
    const err = await remoteEngine(new ApiClient(url, token)).plan({ desired: { nodes: new Map(), workspaces: new Map([['bad', broken as never]]), services: new Map() }, env: new Map() }, { applySet: 'default', prune: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).status).toBe(422);
  });

  it('deletes a resource and drops it from the desired state', async () => {
    const res = await fetch(`${url}/api/v1/resources/workspace/other`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(calls.slice(-2)).toEqual(['delete workspace/other', 'loop api']);
    expect((await (await fetch(`${url}/api/v1/healthz`, { headers: { authorization: `Bearer ${token}` } })).json()).applySets).toEqual(['default']);
  });

  it('GET /resources/:kind/:name has the record and its events; unknown kinds are 400', async () => {
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const res = await fetch(`${url}/api/v1/resources/workspaces/api`, auth);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { record: { name: string } }).record.name).toBe('api');
    expect((await fetch(`${url}/api/v1/resources/gadget/api`, auth)).status).toBe(400);
    expect((await fetch(`${url}/api/v1/resources/workspace/zzz`, auth)).status).toBe(404);
  });
});

describe('users and roles', () => {
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    for (const [name, role] of [['vera', 'view'], ['ed', 'edit'], ['gone', 'edit']] as const) {
      tokens[name] = newToken();
      expect(await store.createToken({ name, role, hash: hashToken(tokens[name]!), created: new Date().toISOString() })).toBe(true);
    }
    expect(await store.revokeToken('gone', new Date().toISOString())).toBe(true);
  });
  const as = (name: string) => ({ authorization: `Bearer ${name === 'owner' ? token : tokens[name]}` });
  const applyBody = (name: string) => JSON.stringify({ set: { resources: [workspace(name, 1)], env: {} }, applySet: 'roles', prune: false, timeoutMs: 1000 });

  it('view reads (and plans) but gets 403 naming the role needed on apply and delete; nothing runs', async () => {
    expect((await fetch(`${url}/api/v1/resources`, { headers: as('vera') })).status).toBe(200);
    expect((await fetch(`${url}/api/v1/plan`, { method: 'POST', headers: as('vera'), body: applyBody('v1') })).status).toBe(200);
    const before = calls.length;
    const apply = await fetch(`${url}/api/v1/apply`, { method: 'POST', headers: as('vera'), body: applyBody('v1') });
    expect(apply.status).toBe(403);
    expect(await apply.json()).toMatchObject({ error: 'token "vera" has role view; POST /api/v1/apply needs role edit', hint: expect.stringContaining('--role edit') });
    const del = await fetch(`${url}/api/v1/resources/workspace/api`, { method: 'DELETE', headers: as('vera') });
    expect(del.status).toBe(403);
    expect((await fetch(`${url}/api/v1/delete`, { method: 'POST', headers: as('vera'), body: '{"ids":["workspace/api"]}' })).status).toBe(403);
    expect(calls.length).toBe(before);
  });

  it('a revoked token gets 401 saying so; an unknown one 401 with where tokens come from', async () => {
    const revoked = await fetch(`${url}/api/v1/healthz`, { headers: as('gone') });
    expect(revoked.status).toBe(401);
    expect(await revoked.json()).toMatchObject({ error: 'this token was revoked', hint: expect.stringContaining('token create') });
    const unknown = await fetch(`${url}/api/v1/healthz`, { headers: { authorization: `Bearer ${newToken()}` } });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: 'missing or unknown bearer token', hint: expect.stringContaining('server.token') });
  });

  it('edit applies and deletes, and the engine is told who asked; the owner token is "owner"', async () => {
    actors.length = 0;
    expect((await fetch(`${url}/api/v1/apply`, { method: 'POST', headers: as('ed'), body: applyBody('e1') })).status).toBe(200);
    expect((await fetch(`${url}/api/v1/resources/workspace/e1`, { method: 'DELETE', headers: as('ed') })).status).toBe(200);
    expect((await fetch(`${url}/api/v1/apply`, { method: 'POST', headers: as('owner'), body: applyBody('o1') })).status).toBe(200);
    expect(actors).toEqual(['apply ed', 'delete ed', 'apply owner']);
  });

  it('/metrics needs a token (any role) and parses as Prometheus text', async () => {
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: as('gone') })).status).toBe(401);
    const res = await fetch(`${url}/metrics`, { headers: as('vera') });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const names = parsePrometheus(await res.text()).map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['vendetta_build_info', 'vendetta_pass_duration_seconds', 'vendetta_operations_total', 'vendetta_drift_repairs_total', 'vendetta_node_observation_latency_seconds']));
  });
});
