// The CLI's side of the coordination server: an EngineApi and a read-only Store that talk HTTP,
// so apply/diff/delete/get/describe run unchanged and print the same output in client mode.
import type { EventRecord, Kind, ResourceId } from '../model/types.js';
import type { ManifestError } from '../manifest/errors.js';
import type { ApplyOptions, ApplyResult, EngineApi, EngineEvents, LoadedSet } from '../reconcile/api.js';
import type { Plan } from '../plan/types.js';
import type { AppliedRecord, Store } from '../store/types.js';
import { API_PREFIX, fromWireResult, toBundle, type ApplyRequest, type PlanRequest, type StreamMessage, type WireResult } from './wire.js';

export class ServerError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly hint?: string,
    /** Manifest errors (422). */
    readonly errors?: ManifestError[],
  ) {
    super(message);
    this.name = 'ServerError';
  }
}

/** How long a client given several server URLs keeps failing over before it gives up. */
export const FAILOVER_MS = 90_000;

export class ApiClient {
  /** Every server's API base (VENDETTA_SERVER=url1,url2: replicas of one etcd store). */
  readonly bases: string[];
  /** The one that answered last: tried first. */
  private at = 0;
  constructor(
    url: string,
    private readonly token: string,
    /** fetch, or one that trusts a given CA (./tls.ts, VENDETTA_SERVER_CA). */
    private readonly fetchImpl: typeof fetch = fetch,
    /** With several URLs: how long to keep failing over (default FAILOVER_MS). */
    private readonly failoverMs = FAILOVER_MS,
    /** Told each time the client moves to another server or retries. */
    private readonly onFailover?: (message: string) => void,
  ) {
    this.bases = url
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean)
      .map((u) => u.replace(/\/+$/, '') + API_PREFIX);
    if (this.bases.length === 0) throw new Error(`no server URL in "${url}"`);
  }

  get base(): string {
    return this.bases[this.at]!;
  }

  /** Several servers: connection failures and 503s move to the next one, until failoverMs. */
  get failsOver(): boolean {
    return this.bases.length > 1;
  }

  async fetch(path: string, init: RequestInit & { accept?: string; contentType?: string } = {}): Promise<Response> {
    if (!this.failsOver) return this.fetchOnce(this.base, path, init);
    return this.withFailover(() => this.fetchOnce(this.base, path, init));
  }

  /**
   * Runs `work` against the current server; on a failure another replica may not have (no
   * connection, 503: not the leader yet, store unavailable, a stream cut short) moves to the next
   * server and runs it again, with a short pause after each full round, for up to failoverMs.
   */
  async withFailover<T>(work: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.failoverMs;
    let round = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (!(err instanceof ServerError) || !retryable(err) || Date.now() >= deadline) throw err;
        const from = this.base;
        this.at = (this.at + 1) % this.bases.length;
        this.onFailover?.(`${from.slice(0, -API_PREFIX.length)}: ${err.message}; trying ${this.base.slice(0, -API_PREFIX.length)}`);
        if (attempt % this.bases.length === 0) {
          round++;
          await new Promise((resolve) => setTimeout(resolve, Math.min(250 * round, 2000)));
        }
      }
    }
  }

  private async fetchOnce(base: string, path: string, init: RequestInit & { accept?: string; contentType?: string }): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(base + path, {
        ...init,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: init.accept ?? 'application/json',
          ...(init.body ? { 'content-type': init.contentType ?? 'application/json' } : {}),
        },
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new ServerError(`cannot reach the vendetta server at ${base}: ${cause}`, 0, 'start it with `vendetta serve`, or check --server / VENDETTA_SERVER');
    }
    if (res.ok) return res;
    const body = (await res.json().catch(() => ({}))) as { error?: string; hint?: string; errors?: ManifestError[] };
    const hint = res.status === 401 ? 'use the token from the server\'s $VENDETTA_HOME/server.token (--token-file or VENDETTA_TOKEN)' : body.hint;
    throw new ServerError(`server: ${body.error ?? res.statusText} (HTTP ${res.status})`, res.status, hint, body.errors);
  }

  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    return (await (await this.fetch(path, init)).json()) as T;
  }

  /**
   * A streamed apply/delete: forwards plans, events and progress to `events`, returns the result.
   * With several servers, a stream that breaks before its result (the leader died) is sent again
   * (`again`: the request to re-submit; apply and delete are idempotent) to whichever replica
   * leads next.
   */
  async stream(path: string, init: RequestInit, events: EngineEvents, again?: RequestInit): Promise<ApplyResult> {
    if (!this.failsOver) return this.streamOnce(path, init, events);
    let first = true;
    return this.withFailover(() => {
      const req = first ? init : (again ?? init);
      first = false;
      return this.streamOnce(path, req, events);
    });
  }

  private async streamOnce(path: string, init: RequestInit, events: EngineEvents): Promise<ApplyResult> {
    const res = await this.fetchOnce(this.base, path, { ...init, accept: 'application/x-ndjson' });
    let result: WireResult | undefined;
    for await (const line of guardStream(ndjsonLines(res))) {
      const m = line as StreamMessage;
      if (m.type === 'plan') events.onPlan?.(m.plan, m.pass);
      else if (m.type === 'event') events.onEvent?.(m.event);
      else if (m.type === 'progress') events.onProgress?.(m.resource, m.message);
      else if (m.type === 'result') result = m.result;
      else if (m.type === 'error') throw new ServerError(`server: ${m.error}`, m.status, m.hint, m.errors);
    }
    if (!result) throw new ServerError('server closed the connection before reporting a result', 0, 'see the server log; run the command again');
    return fromWireResult(result);
  }
}

/** A response body that breaks mid-way (the server died) as a retryable ServerError. */
async function* guardStream(lines: AsyncGenerator<unknown>): AsyncGenerator<unknown> {
  try {
    yield* lines;
  } catch (err) {
    if (err instanceof ServerError || (err as Error).name === 'AbortError') throw err;
    throw new ServerError(`the server's answer broke off: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message}`, 0, 'run the command again');
  }
}

/** Worth trying on another replica: no connection, an answer cut short (status 0), or 503. */
function retryable(err: ServerError): boolean {
  return err.status === 0 || err.status === 503 || err.status === 502;
}

export async function* ndjsonLines(res: Response): AsyncGenerator<unknown> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buffered.trim()) yield JSON.parse(buffered);
}

/** EngineApi over HTTP. Locking happens on the server (it holds the store lock). */
export function remoteEngine(client: ApiClient, events: EngineEvents = {}): EngineApi {
  return {
    async plan(set: LoadedSet, opts) {
      const body: PlanRequest = { set: toBundle(set), applySet: opts.applySet, prune: opts.prune, adopt: opts.adopt };
      const { plan } = await client.json<{ plan: Plan }>('/plan', { method: 'POST', body: JSON.stringify(body) });
      return { plan, observed: new Map() };
    },
    apply(set: LoadedSet, opts: ApplyOptions) {
      const body: ApplyRequest = { set: toBundle(set), applySet: opts.applySet, prune: opts.prune, timeoutMs: opts.timeoutMs, noWait: opts.noWait, adopt: opts.adopt, pruneVolumes: opts.pruneVolumes };
      return client.stream('/apply', { method: 'POST', body: JSON.stringify(body), signal: opts.signal }, events);
    },
    delete(ids: ResourceId[], opts) {
      const body = { ids, timeoutMs: opts.timeoutMs, force: opts.force, ignoreNotFound: opts.ignoreNotFound, volumes: opts.volumes };
      // Sent again after a failover, what the first attempt deleted is not an error.
      const again = { method: 'POST', body: JSON.stringify({ ...body, ignoreNotFound: true }), signal: opts.signal };
      return client.stream('/delete', { method: 'POST', body: JSON.stringify(body), signal: opts.signal }, events, again);
    },
    async close() {},
  };
}

/** The read side of a Store over HTTP (get, describe); writes belong to the server. */
export function remoteStore(client: ApiClient): Store {
  const readOnly = (what: string) => () => Promise.reject(new Error(`${what} is not available through the server API`));
  return {
    home: client.base,
    async get(id: ResourceId) {
      const [kind, name] = id.split('/') as [string, string];
      try {
        const { record } = await client.json<{ record: AppliedRecord }>(`/resources/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`);
        return record;
      } catch (err) {
        if (err instanceof ServerError && err.status === 404) return undefined;
        throw err;
      }
    },
    list(kind?: Kind) {
      return client.json<AppliedRecord[]>(`/resources${kind ? `?kind=${kind}` : ''}`);
    },
    async events(opts: { object?: ResourceId; limit?: number } = {}) {
      const q = new URLSearchParams();
      if (opts.object) q.set('object', opts.object);
      if (opts.limit) q.set('limit', String(opts.limit));
      const out: EventRecord[] = [];
      for await (const e of ndjsonLines(await client.fetch(`/events?${q}`, { accept: 'application/x-ndjson' }))) out.push(e as EventRecord);
      return out;
    },
    putApplied: readOnly('putApplied'),
    setStatus: readOnly('setStatus'),
    setPrevious: readOnly('setPrevious'),
    remove: readOnly('remove'),
    inventory: readOnly('inventory'),
    setInventory: readOnly('setInventory'),
    quietMemo: async () => undefined,
    setQuietMemo: readOnly('setQuietMemo'),
    appendEvent: readOnly('appendEvent'),
    lock: readOnly('lock'),
    identity: readOnly('identity'),
    tokens: readOnly('tokens'),
    createToken: readOnly('createToken'),
    revokeToken: readOnly('revokeToken'),
  };
}
