// A dockerode client per (transport, socket). Its HTTP connections are opened by the node's
// Transport: a local unix socket for `local` nodes, ssh2 stream-local forwarding on the shared
// SSH connection for remote ones (~4.5 ms per API call, vs ~115 ms for docker-modem's
// protocol:'ssh', which opens a new SSH connection and `docker system dial-stdio` per request).
import http from 'node:http';
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import { requestText, TransportUnixAgent } from '../../transport/unix-agent.js';
import type Docker from 'dockerode';
import type { Transport } from '../../transport/types.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * Docker Engine API requests made by this process, for tests and benchmarks ("a second apply
 * makes zero mutating Docker API calls"). `mutations` lists "POST /containers/create"-style
 * entries for requests that change containers, images or volumes. Exec sessions (create, start,
 * resize) are counted in `execs` instead: observing services and running commands use them.
 */
export interface DockerApiCalls {
  total: number;
  mutating: number;
  execs: number;
  mutations: string[];
}

export const dockerApiCalls: DockerApiCalls = { total: 0, mutating: 0, execs: 0, mutations: [] };

export function resetDockerApiCalls(): void {
  dockerApiCalls.total = 0;
  dockerApiCalls.mutating = 0;
  dockerApiCalls.execs = 0;
  dockerApiCalls.mutations = [];
}

/** Pure: classify one request for the counters. Paths may carry a version prefix and a query. */
export function classifyRequest(method: string, path: string): 'read' | 'exec' | 'mutating' {
  const bare = path.replace(/^\/v[0-9.]+(?=\/)/, '').split('?')[0]!;
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (/^\/exec\//.test(bare) || /^\/containers\/[^/]+\/exec$/.test(bare)) return 'exec';
  return 'mutating';
}

function countRequest(method: string, path: string): void {
  dockerApiCalls.total++;
  const kind = classifyRequest(method, path);
  if (kind === 'exec') dockerApiCalls.execs++;
  if (kind === 'mutating') {
    dockerApiCalls.mutating++;
    dockerApiCalls.mutations.push(`${method} ${path.replace(/^\/v[0-9.]+(?=\/)/, '').split('?')[0]}`);
  }
}

/** The node's Docker socket through its transport, counting every API request. */
class TransportAgent extends TransportUnixAgent {
  // docker-modem logs every request with util.inspect(options, { showHidden: true, depth: null })
  // even when its debug output is off. options holds this agent, and through it the live SSH
  // connection: walking it took ~15 ms of CPU per API call (more with more channels open), most
  // of what a resync pass cost.
  [inspect.custom](): string {
    return 'TransportAgent';
  }

  // Undocumented but stable Agent hook: every request passes through it exactly once.
  addRequest(req: http.ClientRequest, options: unknown): void {
    countRequest(req.method, req.path);
    (http.Agent.prototype as unknown as { addRequest(r: unknown, o: unknown): void }).addRequest.call(this, req, options);
  }
}

interface NodeDocker {
  agent: TransportAgent;
  client?: Docker;
}
const clients = new WeakMap<Transport, Map<string, NodeDocker>>();

function nodeDocker(transport: Transport, socketPath: string): NodeDocker {
  let bySocket = clients.get(transport);
  if (!bySocket) clients.set(transport, (bySocket = new Map()));
  let entry = bySocket.get(socketPath);
  if (!entry) bySocket.set(socketPath, (entry = { agent: new TransportAgent(transport, socketPath) }));
  return entry;
}

/**
 * The Docker client for a node. Unversioned on purpose: dockerd answers in its own API version
 * (20.10 speaks 1.41 and rejects 1.44 with HTTP 400; new engines drop old versions). dockerode is
 * loaded on the first call: with its BuildKit/gRPC dependencies that is ~0.11 s, which a pass
 * that only observes (dockerGet) does not pay.
 */
export function dockerClient(transport: Transport, socketPath: string): Docker {
  const entry = nodeDocker(transport, socketPath);
  if (!entry.client) {
    const DockerClass = createRequire(import.meta.url)('dockerode') as typeof Docker;
    entry.client = new DockerClass({ protocol: 'http', host: 'docker', port: 80, agent: entry.agent } as Docker.DockerOptions);
  }
  return entry.client;
}

/** An error of the Engine API, shaped like dockerode's (statusCode, json.message) for the same handling. */
export class DockerApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly json: { message?: string } | undefined,
  ) {
    super(`(HTTP code ${statusCode}) ${json?.message ?? 'unexpected response'}`);
  }
}

/**
 * One Engine API request (JSON in, JSON out) on the node's socket, through the same agent (and
 * counters) as dockerClient, without loading dockerode (0.2–0.3 s to load on the bench machine):
 * what an observation and the cold path (inspect, create, start, rename, remove) need. Any
 * status outside 2xx rejects with a DockerApiError, 304 ("already started") included, as
 * dockerode does.
 */
export function dockerRequest<T>(transport: Transport, socketPath: string, method: string, path: string, payload?: unknown): Promise<T> {
  const { agent } = nodeDocker(transport, socketPath);
  const body = payload === undefined ? undefined : JSON.stringify(payload);
  const headers = { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
  return requestText(agent, { host: 'docker', path, method, headers }, body).then(({ status, text }) => {
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = { message: text.trim() };
    }
    if (status < 200 || status > 299) throw new DockerApiError(status, parsed as { message?: string });
    return parsed as T;
  });
}

/** GET `path` (dockerRequest): one read of the Engine API. */
export function dockerGet<T>(transport: Transport, socketPath: string, path: string): Promise<T> {
  return dockerRequest<T>(transport, socketPath, 'GET', path);
}

/** GET /containers/json with dockerode's query encoding (filters as JSON). */
export function listContainersPath(opts: { all?: boolean; filters?: Record<string, string[]> }): string {
  const query = new URLSearchParams();
  if (opts.all) query.set('all', 'true');
  if (opts.filters) query.set('filters', JSON.stringify(opts.filters));
  const q = query.toString();
  return `/containers/json${q ? `?${q}` : ''}`;
}
