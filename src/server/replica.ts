// The HTTP side of several `serve` replicas (./leadership.ts): a follower answers reads from the
// store itself and forwards every write (any non-GET request, and /sources uploads, which the
// leader needs on its disk) to the leader, streaming the answer back as it comes (the NDJSON of
// an apply included). With no leader known, or the store unavailable, writes get a 503 the
// client fails over on (VENDETTA_SERVER=url1,url2: ./client.ts).
import http from 'node:http';
import https from 'node:https';
import type { Coordinator } from './coordinator.js';
import type { Leadership } from './leadership.js';

/** A request another replica forwarded: it is never forwarded again (no loops on a stale leader). */
export const FORWARDED_HEADER = 'x-vendetta-forwarded-by';

export interface ReplicaState {
  leadership: Leadership;
  /** The coordinator of the current term, while this replica leads. */
  coordinator(): Coordinator | undefined;
  /** This replica's advertised URL. */
  url: string;
  /** CA to trust when forwarding to an https leader (replicas usually share a certificate). */
  ca?: Buffer;
}

export class UnavailableError extends Error {
  readonly status = 503;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** /healthz of a replica: 200 with its role and the leader, 503 while the store is unavailable. */
export function replicaHealth(replica: ReplicaState): { status: number; body: Record<string, unknown> } {
  const l = replica.leadership;
  const coordinator = replica.coordinator();
  const base = { role: l.role, url: replica.url, leader: l.leader?.url, ...(l.leadingSince ? { leadingSince: new Date(l.leadingSince).toISOString() } : {}) };
  if (l.role === 'leader' && coordinator) return { status: 200, body: { ...coordinator.health(), ...base } };
  if (l.role === 'unavailable') {
    return { status: 503, body: { ok: false, ...base, error: `store unavailable: ${l.problem ?? 'unknown'}`, hint: 'a majority of the etcd members must be running and reachable; this replica touches no node until they are' } };
  }
  return { status: 200, body: { ok: true, ...base } };
}

/** Whether this request must be handled by the leader. */
export function needsLeader(method: string, route: string): boolean {
  // A resource's plan observes the nodes through the leader's engine.
  return method !== 'GET' || route.startsWith('/sources/') || /^\/resources\/[^/]+\/[^/]+\/plan$/.test(route);
}

/**
 * Forwards the request, unread, to the leader and pipes the answer back. Throws UnavailableError
 * (503) when there is no leader to forward to.
 */
export function forwardToLeader(replica: ReplicaState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const l = replica.leadership;
  if (l.role === 'unavailable') {
    throw new UnavailableError(`store unavailable: ${l.problem ?? 'unknown'}`, 'retry once a majority of the etcd members is back (or give the client every replica: VENDETTA_SERVER=url1,url2)');
  }
  const leader = l.leader?.url;
  if (req.headers[FORWARDED_HEADER] || !leader || leader === replica.url) {
    throw new UnavailableError(`this replica (${replica.url}) is not the leader and no other leader is known yet${req.headers[FORWARDED_HEADER] ? ` (forwarded by ${String(req.headers[FORWARDED_HEADER])})` : ''}`, 'an election takes at most the lease TTL; retry, or give the client every replica (VENDETTA_SERVER=url1,url2)');
  }
  const target = new URL(req.url ?? '/', leader);
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise<void>((resolve) => {
    const upstream = lib.request(
      target,
      {
        method: req.method,
        headers: { ...req.headers, host: target.host, [FORWARDED_HEADER]: replica.url },
        ...(target.protocol === 'https:' && replica.ca ? { ca: replica.ca } : {}),
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        // The leader died mid-answer: end what we send; a streaming client sees no result and retries.
        answer.on('error', () => res.destroy());
        answer.on('end', resolve);
        answer.on('close', resolve);
      },
    );
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!res.headersSent) {
        res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ error: `cannot forward to the leader at ${leader}: ${err.code ?? err.message}`, hint: 'it may have just died: a new leader is elected within the lease TTL; retry' }) + '\n');
      } else {
        res.destroy();
      }
      resolve();
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
}
