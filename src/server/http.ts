// The coordination server's HTTP API (node:http, JSON under /api/v1, bearer token on every
// request, checked against the token's role: see ./auth.ts), /metrics, and HTTPS when given a
// certificate. Long operations (apply, delete) stream NDJSON when the client asks for it
// (Accept: application/x-ndjson): plans, events and progress as they happen, then the result.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { KINDS, resourceId, type EventRecord, type Kind, type ResourceId } from '../model/types.js';
import type { ApplyResult, EngineEvents } from '../reconcile/api.js';
import type { Store } from '../store/types.js';
import { Coordinator, HeldSetError, InvalidSetError } from './coordinator.js';
import type { EventHub } from './session.js';
import { allows, bearer, identify, requiredRole, type Principal } from './auth.js';
import { CONTENT_TYPE, type ServerMetrics } from './metrics.js';
import type { SourceStore } from './sources.js';
import { ActionError, planOf, restart, syncTarget } from './actions.js';
import { isDashboardPath, serveDashboard } from './dashboard.js';
import { LiveFeed } from './live.js';
import type { WorkspaceRuntime } from '../providers/types.js';
import { forwardToLeader, needsLeader, replicaHealth, UnavailableError, type ReplicaState } from './replica.js';
import { API_PREFIX, toWireResult, type ApplyRequest, type PlanRequest, type StreamMessage } from './wire.js';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export interface ApiServerOptions {
  /** Single server: its coordinator. With `replica`, the current term's (followers have none). */
  coordinator?: Coordinator;
  /** One of several replicas on an etcd store (./replica.ts): followers forward writes to the leader. */
  replica?: ReplicaState;
  store: Store;
  hub: EventHub;
  /** The owner's server.token: an implicit admin named "owner". Other tokens are in the store. */
  token: string;
  metrics?: ServerMetrics;
  /** Uploaded source trees, under /sources (./sources.ts). */
  sources?: SourceStore;
  /** PEM certificate and key: serve HTTPS (`serve --tls-cert/--tls-key`). */
  tls?: { cert: Buffer; key: Buffer };
  /** How to run things in an applied workspace (the dashboard's restart button). */
  openRuntime?: (workspace: string) => Promise<WorkspaceRuntime>;
  /** How often /events/stream sends a keep-alive and checks its token again (default 15 s; tests). */
  heartbeatMs?: number;
}

export function createApiServer(opts: ApiServerOptions): http.Server {
  const live = new LiveFeed(opts.hub, opts.heartbeatMs);
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(opts, req, res, live).catch((err: unknown) => {
      const status =
        err instanceof HttpError || err instanceof ActionError || err instanceof UnavailableError ? err.status : err instanceof HeldSetError ? 409 : unavailable(err) ? 503 : 500;
      if (!res.headersSent) sendJson(res, status, { error: (err as Error).message, hint: (err as HttpError).hint });
      else res.end();
    });
  };
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
  // Followers of /events keep connections open; closing the server must not wait for them.
  server.on('close', () => server.closeAllConnections());
  return server;
}

export function listen(server: http.Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve(`${server instanceof https.Server ? 'https' : 'http'}://${shown}:${a.port}`);
    });
  });
}

async function handle(opts: ApiServerOptions, req: http.IncomingMessage, res: http.ServerResponse, live: LiveFeed): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  if (url.pathname === '/metrics' && opts.metrics) {
    // Same tokens as the API; any role may read them (Prometheus: bearer_token_file).
    await authorize(opts, req, 'view', `${method} /metrics`);
    if (method !== 'GET') throw new HttpError(405, 'use GET /metrics');
    res.writeHead(200, { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' });
    return void res.end(opts.metrics.render());
  }
  // The dashboard's page, script and stylesheet: no token (they hold no data; the page asks for one).
  if (isDashboardPath(url.pathname)) return serveDashboard(method, url.pathname, res);
  if (!url.pathname.startsWith(API_PREFIX + '/')) throw new HttpError(404, `no such endpoint ${url.pathname}`, `the API lives under ${API_PREFIX}`);
  const route = url.pathname.slice(API_PREFIX.length);
  const who = await authorize(opts, req, requiredRole(method, route), `${method} ${url.pathname}`);
  const { store } = opts;
  const parts = route.split('/').filter(Boolean).map(decodeURIComponent);
  if (opts.replica && method === 'GET' && route === '/healthz') {
    const { status, body } = replicaHealth(opts.replica);
    return sendJson(res, status, body);
  }
  const coordinator = opts.replica ? opts.replica.coordinator() : opts.coordinator;
  if (opts.replica && !coordinator && needsLeader(method, route)) return forwardToLeader(opts.replica, req, res);
  const leading = (): Coordinator => {
    if (!coordinator) throw new UnavailableError('this replica is not the leader', 'retry');
    return coordinator;
  };

  if (method === 'GET' && route === '/healthz') return sendJson(res, 200, leading().health());
  if (method === 'GET' && route === '/whoami') return sendJson(res, 200, { name: who.name, role: who.role });
  if (method === 'GET' && route === '/events/stream') return live.stream(req, res, () => authorize(opts, req, 'view', `${method} ${url.pathname}`).then(() => true, () => false));
  if (parts[0] === 'resources' && parts.length === 4) {
    // The dashboard's resource page: its set's plan, sync (converge it now), restart services.
    const kind = parseKind(parts[1]!);
    const name = parts[2]!;
    const actions = { coordinator: leading(), store, hub: opts.hub, openRuntime: opts.openRuntime };
    if (method === 'GET' && parts[3] === 'plan') return sendJson(res, 200, await planOf(actions, kind, name));
    if (method === 'POST' && parts[3] === 'sync') {
      const applySet = await syncTarget(actions, kind, name);
      const timeoutMs = Number(url.searchParams.get('timeoutMs') ?? 300_000);
      return runStreamed(req, res, (listener) => leading().syncHeld(applySet, timeoutMs, listener, who.name));
    }
    if (method === 'POST' && parts[3] === 'restart') return sendJson(res, 200, await restart(actions, kind, name, who.name));
  }
  if (method === 'GET' && route === '/nodes') return sendJson(res, 200, await store.list('Node'));
  if (method === 'GET' && parts[0] === 'resources' && parts.length === 1) {
    const kind = url.searchParams.get('kind');
    return sendJson(res, 200, await store.list(kind ? parseKind(kind) : undefined));
  }
  if (parts[0] === 'resources' && parts.length === 3) {
    const id = resourceId(parseKind(parts[1]!), parts[2]!);
    if (method === 'GET') {
      const record = await store.get(id);
      if (!record) throw new HttpError(404, `${id} has not been applied`);
      return sendJson(res, 200, { record, events: await store.events({ object: id, limit: 50 }) });
    }
    if (method === 'DELETE') {
      const timeoutMs = Number(url.searchParams.get('timeoutMs') ?? 300_000);
      return runStreamed(req, res, (listener) => leading().delete([id], timeoutMs, listener, {}, who.name));
    }
  }
  if (method === 'GET' && route === '/events') return streamEvents(opts, url, req, res);
  if (parts[0] === 'sources' && opts.sources) {
    const reply = await opts.sources.route(method, parts.slice(1), req);
    return sendJson(res, reply.status, reply.body);
  }
  if (method === 'POST' && route === '/plan') {
    const body = (await readJson(req)) as PlanRequest;
    try {
      const { plan } = await leading().plan(body);
      return sendJson(res, 200, { plan });
    } catch (err) {
      if (err instanceof InvalidSetError) return sendJson(res, 422, { error: err.message, errors: err.errors });
      throw err;
    }
  }
  if (method === 'POST' && route === '/apply') {
    const body = (await readJson(req)) as ApplyRequest;
    return runStreamed(req, res, (listener) => leading().apply(body, listener, who.name));
  }
  if (method === 'POST' && route === '/delete') {
    const body = (await readJson(req)) as { ids: ResourceId[]; timeoutMs?: number; force?: boolean; ignoreNotFound?: boolean; volumes?: boolean };
    if (!Array.isArray(body.ids)) throw new HttpError(400, 'body.ids must be a list of resource ids ("workspace/api")');
    const flags = { force: body.force === true, ignoreNotFound: body.ignoreNotFound === true, volumes: body.volumes === true };
    return runStreamed(req, res, (listener) => leading().delete(body.ids, body.timeoutMs ?? 300_000, listener, flags, who.name));
  }
  throw new HttpError(404, `no such endpoint: ${method} ${url.pathname}`);
}

/**
 * Who sent the request, if their token may do `what` (which needs role `needed`): 401 for no,
 * an unknown or a revoked token, 403 for a role too low. The owner's token is checked first,
 * so its requests never read the store.
 */
export async function authorize(opts: Pick<ApiServerOptions, 'token' | 'store'>, req: http.IncomingMessage, needed: Principal['role'], what: string): Promise<Principal> {
  const given = bearer(req.headers.authorization);
  let who = identify(given, opts.token, []);
  if (!who && given) who = identify(given, opts.token, await opts.store.tokens());
  if (who === 'revoked') throw new HttpError(401, 'this token was revoked', 'ask an admin for a new one (vendetta serve token create NAME --role view|edit|admin)');
  if (!who) {
    throw new HttpError(401, 'missing or unknown bearer token', 'send Authorization: Bearer <token>: $VENDETTA_HOME/server.token on the server, or one made by `vendetta serve token create`');
  }
  if (!allows(who.role, needed)) {
    throw new HttpError(403, `token "${who.name}" has role ${who.role}; ${what} needs role ${needed}`, `ask an admin for a token with role ${needed} (vendetta serve token create NAME --role ${needed})`);
  }
  return who;
}

/**
 * Runs an apply/delete. Streaming clients get NDJSON lines as the engine works; others one JSON
 * document at the end. Manifest errors are 422 with the file:line list.
 */
async function runStreamed(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  work: (listener: EngineEvents) => Promise<ApplyResult>,
): Promise<void> {
  const streaming = /application\/x-ndjson/.test(req.headers.accept ?? '');
  const send = (m: StreamMessage) => {
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.write(JSON.stringify(m) + '\n');
  };
  const listener: EngineEvents = streaming
    ? {
        onPlan: (plan, pass) => send({ type: 'plan', plan, pass }),
        onEvent: (event) => send({ type: 'event', event }),
        onProgress: (resource, message) => send({ type: 'progress', resource, message }),
      }
    : {};
  let result: ApplyResult;
  try {
    result = await work(listener);
  } catch (err) {
    if (err instanceof InvalidSetError) {
      if (res.headersSent) return void res.end(JSON.stringify({ type: 'error', status: 422, error: err.message, errors: err.errors }) + '\n');
      return sendJson(res, 422, { error: err.message, errors: err.errors });
    }
    if (res.headersSent) return void res.end(JSON.stringify({ type: 'error', status: unavailable(err) ? 503 : 500, error: (err as Error).message }) + '\n');
    throw err;
  }
  if (streaming) {
    send({ type: 'result', result: toWireResult(result) });
    res.end();
  } else {
    sendJson(res, 200, toWireResult(result));
  }
}

/** Recent events as NDJSON; with ?follow=1 the connection stays open and new events follow. */
async function streamEvents(opts: ApiServerOptions, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const object = url.searchParams.get('object') ?? undefined;
  const limit = Number(url.searchParams.get('limit') ?? 100);
  const follow = url.searchParams.get('follow') === '1';
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  for (const e of await opts.store.events({ object, limit })) res.write(JSON.stringify(e) + '\n');
  if (!follow) return void res.end();
  const unsubscribe = opts.hub.subscribe({
    onEvent: (e: EventRecord) => {
      if (!object || e.object === object) res.write(JSON.stringify(e) + '\n');
    },
  });
  req.on('close', unsubscribe);
}

/** The store cannot be used (no etcd quorum) or this replica stopped leading: the client may retry elsewhere. */
function unavailable(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === 'StoreUnavailableError' || name === 'NotLeaderError' || (err as Error)?.message === 'this replica stopped leading';
}

function parseKind(word: string): Kind {
  const lower = word.toLowerCase().replace(/s$/, '');
  const kind = KINDS.find((k) => k.toLowerCase() === lower);
  if (!kind) throw new HttpError(400, `unknown kind "${word}"`, 'use node, workspace or service');
  return kind;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v));
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text + '\n');
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
  }
}
