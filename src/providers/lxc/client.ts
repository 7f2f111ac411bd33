// A small client for the LXD / Incus REST API (the two speak the same /1.0 API) over the daemon's
// unix socket on the node, reached through the node's Transport: a local socket for `local`
// nodes, ssh2 stream-local forwarding on the shared SSH connection for remote ones.
import http from 'node:http';
import type { Transport } from '../../transport/types.js';
import { requestText, TransportUnixAgent } from '../../transport/unix-agent.js';

/**
 * REST requests made by this process, for tests and benchmarks ("a second apply makes zero
 * mutating LXD calls"). `mutations` lists "PUT /1.0/instances/x/state"-style entries.
 */
export interface LxcApiCalls {
  total: number;
  mutating: number;
  mutations: string[];
}

export const lxcApiCalls: LxcApiCalls = { total: 0, mutating: 0, mutations: [] };

export function resetLxcApiCalls(): void {
  lxcApiCalls.total = 0;
  lxcApiCalls.mutating = 0;
  lxcApiCalls.mutations = [];
}

/** An error answer of the daemon (or a failed background operation). */
export class LxcApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly request: string,
  ) {
    super(message);
    this.name = 'LxcApiError';
  }
}

export function statusOf(err: unknown): number | undefined {
  return err instanceof LxcApiError ? err.status : undefined;
}

/** The envelope every answer comes in (sync, async or error). */
interface Envelope {
  type: 'sync' | 'async' | 'error';
  status_code?: number;
  error_code?: number;
  error?: string;
  operation?: string;
  metadata?: unknown;
}

interface Operation {
  id: string;
  status: string;
  status_code: number;
  err?: string;
  metadata?: Record<string, unknown> | null;
}

export interface RequestOptions {
  body?: unknown;
  /** Raw body (file uploads); `body` is JSON-encoded otherwise. */
  raw?: Buffer | string;
  headers?: Record<string, string>;
}

export class LxcClient {
  private readonly agent: http.Agent;

  constructor(
    readonly transport: Transport,
    readonly socket: string,
  ) {
    this.agent = new TransportUnixAgent(transport, socket);
  }

  /** One request; returns the envelope's metadata, or waits for the operation of an async answer. */
  async call<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const env = await this.request(method, path, opts);
    if (env.type === 'async' && env.operation) return (await this.wait(env.operation, `${method} ${path}`)) as T;
    return env.metadata as T;
  }

  /** Waits for a background operation; a failed one rejects with the daemon's own message. */
  async wait(operation: string, what: string): Promise<Record<string, unknown> | null | undefined> {
    const id = operation.replace(/^\/1\.0\/operations\//, '');
    // Long operations (image downloads) outlast one wait: poll with a server-side timeout.
    for (;;) {
      const env = await this.request('GET', `/1.0/operations/${encodeURIComponent(id)}/wait?timeout=30`);
      const op = env.metadata as Operation;
      if (op.status_code >= 400 || op.status === 'Failure') throw new LxcApiError(op.err || op.status, op.status_code, what);
      if (op.status === 'Success') return op.metadata;
      if (op.status === 'Cancelled') throw new LxcApiError('operation cancelled', op.status_code, what);
    }
  }

  private request(method: string, path: string, opts: RequestOptions = {}): Promise<Envelope> {
    lxcApiCalls.total++;
    if (method !== 'GET' && method !== 'HEAD') {
      lxcApiCalls.mutating++;
      lxcApiCalls.mutations.push(`${method} ${path.split('?')[0]}`);
    }
    const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    const headers: Record<string, string | number> = { ...opts.headers };
    if (payload !== undefined) {
      headers['Content-Length'] = Buffer.byteLength(payload);
      headers['Content-Type'] ??= opts.raw !== undefined ? 'application/octet-stream' : 'application/json';
    }
    return requestText(this.agent, { host: 'lxd', path, method, headers }, payload).then(({ status, text }) => {
      let env: Envelope;
      try {
        env = JSON.parse(text) as Envelope;
      } catch {
        throw new LxcApiError(`unexpected answer (HTTP ${status}): ${text.slice(0, 200)}`, status, `${method} ${path}`);
      }
      if (env.type === 'error' || (status || 500) >= 400) {
        throw new LxcApiError(env.error || `HTTP ${status}`, env.error_code ?? (status || 0), `${method} ${path}`);
      }
      return env;
    });
  }
}

const clients = new WeakMap<Transport, Map<string, LxcClient>>();

/** The client for a node's socket, shared by every call through the same transport. */
export function lxcClient(transport: Transport, socket: string): LxcClient {
  let bySocket = clients.get(transport);
  if (!bySocket) clients.set(transport, (bySocket = new Map()));
  let client = bySocket.get(socket);
  if (!client) bySocket.set(socket, (client = new LxcClient(transport, socket)));
  return client;
}
