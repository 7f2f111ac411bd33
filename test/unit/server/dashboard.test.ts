// The dashboard's side of the server over real HTTP on loopback, with a stub engine and a fake
// workspace runtime: its static files, /whoami, the SSE stream fed by the hub, and a resource's
// plan, sync and restart with their roles (the browser itself: test/e2e/serve-dashboard.test.ts).
import type http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type EventRecord, type Resource } from '../../../src/model/types.js';
import { withDefaults } from '../../../src/manifest/defaults.js';
import type { ApplyResult, LoadedSet } from '../../../src/reconcile/api.js';
import type { Engine, LoopOptions } from '../../../src/reconcile/engine.js';
import type { WorkspaceRuntime } from '../../../src/providers/types.js';
import { Coordinator } from '../../../src/server/coordinator.js';
import { createApiServer, listen } from '../../../src/server/http.js';
import { EventHub, lockHeldStore } from '../../../src/server/session.js';
import { ensureToken } from '../../../src/server/token.js';
import { hashToken, newToken } from '../../../src/server/auth.js';
import { sseMessage } from '../../../src/server/live.js';
import { setFromBundle } from '../../../src/server/wire.js';
import { openStore } from '../../../src/store/file-store.js';
import type { Store } from '../../../src/store/types.js';

const plan = { operations: [], unreachable: [] };
const result = (): ApplyResult => ({ converged: true, plan, operationsRun: 0, statuses: new Map(), failures: [], endpoints: new Map() });

const at = { file: '/m/a.yaml', line: 1, col: 1 };
const resources: Resource[] = [
  withDefaults({ apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: 'api' }, spec: { node: 'local', provider: 'process' }, source: at } as Resource),
  withDefaults({ apiVersion: API_VERSION, kind: 'Service', metadata: { name: 'web' }, spec: { workspace: 'api', command: 'sleep 1' }, source: at } as Resource),
  withDefaults({ apiVersion: API_VERSION, kind: 'Service', metadata: { name: 'db' }, spec: { workspace: 'api', command: 'sleep 1' }, source: at } as Resource),
];

let home: string;
let server: http.Server;
let url: string;
let store: Store;
let hub: EventHub;
let coordinator: Coordinator;
const calls: string[] = [];
/** The commands the fake runtime was asked to run: [workspace, argv[4] = the service's dir]. */
const execs: string[] = [];
const tokens: Record<string, string> = {};

function stubEngine(s: Store): Engine {
  return {
    async plan(set, opts) {
      calls.push(`plan ${opts.applySet} ${[...set.desired.services.keys()].sort().join(',')}`);
      return { plan: { operations: [], unreachable: [{ node: 'n9', error: 'gone' }] }, observed: new Map() };
    },
    async apply(set, opts) {
      calls.push(`apply ${opts.applySet} by ${opts.actor}`);
      for (const r of [...set.desired.workspaces.values(), ...set.desired.services.values()]) await s.putApplied(r, opts.applySet);
      return result();
    },
    async delete() {
      return result();
    },
    async runLoop(_set: LoadedSet, loop: LoopOptions) {
      await new Promise<void>((resolve) => loop.signal!.addEventListener('abort', () => resolve()));
      return result();
    },
    async close() {},
  };
}

function fakeRuntime(workspace: string): WorkspaceRuntime {
  return {
    root: '/w',
    stateDir: '/w/state',
    async exec(argv: string[]) {
      execs.push(`${workspace} ${argv[4]}`);
      return { code: 0, stdout: '', stderr: '' };
    },
  } as unknown as WorkspaceRuntime;
}

const as = (name: string, path: string, init: RequestInit = {}) =>
  fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${tokens[name]}`, ...(init.headers as Record<string, string>) } });

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'vendetta-unit-dash-'));
  store = await openStore(home);
  tokens.owner = await ensureToken(home);
  for (const [name, role] of [['vera', 'view'], ['ed', 'edit'], ['gone', 'view']] as const) {
    tokens[name] = newToken();
    await store.createToken({ name, role, hash: hashToken(tokens[name]!), created: new Date().toISOString() });
  }
  hub = new EventHub();
  coordinator = new Coordinator({ store, engine: stubEngine(lockHeldStore(store)), hub, resyncMs: 60_000 });
  await coordinator.start();
  server = createApiServer({ coordinator, store, hub, token: tokens.owner!, openRuntime: async (ws) => fakeRuntime(ws), heartbeatMs: 100 });
  url = await listen(server, '127.0.0.1', 0);
  const built = setFromBundle({ resources, env: {} }, []);
  if (!built.ok) throw new Error(`invalid fixture: ${JSON.stringify(built.errors)}`);
  await coordinator.apply({ set: { resources, env: {} }, applySet: 'team', prune: false, timeoutMs: 1000 }, undefined, 'ed');
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await coordinator.stop();
  await rm(home, { recursive: true, force: true });
});

describe('the dashboard on the server', () => {
  it('serves its page, script and stylesheet without a token, and nothing else under /ui', async () => {
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await page.text()).toContain('<script type="module" src="/ui/app.js">');
    expect((await fetch(`${url}/ui/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(`${url}/ui/style.css`)).status).toBe(200);
    expect((await fetch(`${url}/ui/nope.js`)).status).toBe(404);
    expect((await fetch(`${url}/ui/%2e%2e/dashboard.ts`)).status).toBe(404);
    expect((await fetch(`${url}/`, { method: 'POST' })).status).toBe(405);
  });

  it('/whoami names the token and its role (401 without one)', async () => {
    expect((await fetch(`${url}/api/v1/whoami`)).status).toBe(401);
    expect(await (await as('owner', '/api/v1/whoami')).json()).toEqual({ name: 'owner', role: 'admin' });
    expect(await (await as('vera', '/api/v1/whoami')).json()).toEqual({ name: 'vera', role: 'view' });
  });

  it('streams events, progress and pass ends as Server-Sent Events to a view token', async () => {
    const abort = new AbortController();
    const res = await as('vera', '/api/v1/events/stream', { signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) text += (await reader.read()).value ?? '';
    };
    await until(/event: hello\n/);
    const event: EventRecord = { time: 't', object: 'service/web', type: 'Warning', reason: 'DriftDetected', message: 'found drift' };
    hub.events.onEvent?.(event);
    hub.events.onPassEnd?.({ durationMs: 12.4, operations: [{ type: 'start-service', done: true }], nodeLatencyMs: new Map([['n1', 7.6]]) });
    await until(/event: pass\n.*\n\n/);
    abort.abort();
    expect(text).toContain(sseMessage('event', event));
    expect(text).toContain(sseMessage('pass', { durationMs: 12, operations: 1, notDone: 0, nodeLatencyMs: { n1: 8 } }));
    // A new follower learns the last latencies at once.
    const again = new AbortController();
    const second = (await as('vera', '/api/v1/events/stream', { signal: again.signal })).body!.pipeThrough(new TextDecoderStream()).getReader();
    let hello = '';
    while (!/\n\n/.test(hello.replace(/^retry: \d+\n/, ''))) hello += (await second.read()).value ?? '';
    again.abort();
    expect(hello).toMatch(/event: hello\ndata: \{"time":"[^"]+","nodeLatencyMs":\{"n1":8\}\}/);
  });

  it('keeps a stream alive with comments, and ends it at the next heartbeat once its token is revoked', async () => {
    const res = await as('gone', '/api/v1/events/stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes(': ping\n\n')) text += (await reader.read()).value ?? '';
    expect(await store.revokeToken('gone', new Date().toISOString())).toBe(true);
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    expect((await as('gone', '/api/v1/whoami')).status).toBe(401);
  });

  it("a resource's plan is its apply set's, planned as the server holds it", async () => {
    const res = await as('vera', '/api/v1/resources/service/web/plan');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ applySet: 'team', plan: { operations: [], unreachable: [{ node: 'n9', error: 'gone' }] } });
    expect(calls.at(-1)).toBe('plan team db,web');
    expect((await as('vera', '/api/v1/resources/service/nope/plan')).status).toBe(404);
    const node = await as('vera', '/api/v1/resources/node/local/plan');
    expect(node.status).toBe(400);
    expect((await node.json()).error).toMatch(/works on a workspace or a service/);
  });

  it('sync converges the apply set again, by who asked; a view token gets 403', async () => {
    const refused = await as('vera', '/api/v1/resources/workspace/api/sync', { method: 'POST' });
    expect(refused.status).toBe(403);
    expect((await refused.json()).error).toBe('token "vera" has role view; POST /api/v1/resources/workspace/api/sync needs role edit');
    const res = await as('ed', '/api/v1/resources/workspace/api/sync', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ converged: true });
    expect(calls.at(-1)).toBe('apply team by ed');
  });

  it('restart restarts a service, or every service of a workspace, each with a Restarted event by who asked', async () => {
    expect((await as('vera', '/api/v1/resources/service/web/restart', { method: 'POST' })).status).toBe(403);
    const seen: EventRecord[] = [];
    const unsubscribe = hub.subscribe({ onEvent: (e) => seen.push(e) });
    const one = await as('ed', '/api/v1/resources/service/web/restart', { method: 'POST' });
    expect(await one.json()).toEqual({ restarted: ['service/web'] });
    const all = await as('ed', '/api/v1/resources/workspace/api/restart', { method: 'POST' });
    expect(await all.json()).toEqual({ restarted: ['service/db', 'service/web'] });
    unsubscribe();
    expect(execs).toEqual(['api /w/state/services/web', 'api /w/state/services/db', 'api /w/state/services/web']);
    expect(seen.map((e) => [e.object, e.reason, e.message, e.by])).toEqual([
      ['service/web', 'Restarted', 'restarted by ed', 'ed'],
      ['service/db', 'Restarted', 'restarted by ed', 'ed'],
      ['service/web', 'Restarted', 'restarted by ed', 'ed'],
    ]);
    expect((await store.events({ object: 'service/db' })).map((e) => e.reason)).toContain('Restarted');
  });

  it('a resource the server holds no apply set for is a 409 saying why', async () => {
    await store.putApplied(withDefaults({ apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: 'stray' }, spec: { node: 'local', provider: 'process' } } as Resource), 'elsewhere');
    const res = await as('ed', '/api/v1/resources/workspace/stray/sync', { method: 'POST' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: 'this server holds no apply set elsewhere' });
  });
});
