// GET /api/v1/events/stream: the engine's events, progress lines and pass ends as Server-Sent
// Events (text/event-stream), fed by the EventHub, for the dashboard. The page reads it with
// fetch() and a reader (EventSource cannot send the Authorization header, and tokens never go
// in URLs). Nothing is replayed: the page reads recent history from GET /events first.
import type http from 'node:http';
import type { EventRecord, ResourceId } from '../model/types.js';
import type { PassReport } from '../reconcile/api.js';
import type { EventHub } from './session.js';

/** A comment line every this often keeps proxies and idle timeouts from closing the stream. */
export const HEARTBEAT_MS = 15_000;

/** One SSE message (pure): `event:` and one `data:` line of JSON, then a blank line. */
export function sseMessage(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a pass report becomes on the stream: its duration, its operations, each node's latency. */
export function passSummary(p: PassReport): { durationMs: number; operations: number; notDone: number; nodeLatencyMs: Record<string, number> } {
  return {
    durationMs: Math.round(p.durationMs),
    operations: p.operations.length,
    notDone: p.operations.filter((o) => !o.done).length,
    nodeLatencyMs: Object.fromEntries([...p.nodeLatencyMs].map(([node, ms]) => [node, Math.round(ms)])),
  };
}

/**
 * The live stream's source: the hub, plus the last observation latency of each node (the
 * store does not keep it: it changes every pass), sent to each new follower first.
 */
export class LiveFeed {
  private readonly latency = new Map<string, number>();

  constructor(
    private readonly hub: EventHub,
    private readonly heartbeatMs = HEARTBEAT_MS,
  ) {
    hub.subscribe({
      onPassEnd: (p) => {
        for (const [node, ms] of p.nodeLatencyMs) this.latency.set(node, Math.round(ms));
      },
    });
  }

  /**
   * Follows the hub until the client goes. `stillAllowed` is asked at every heartbeat: a token
   * revoked meanwhile ends its stream there (the page then signs out at its next request).
   */
  stream(req: http.IncomingMessage, res: http.ServerResponse, stillAllowed: () => Promise<boolean> = async () => true): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) => void res.write(sseMessage(event, data));
    res.write('retry: 2000\n');
    send('hello', { time: new Date().toISOString(), nodeLatencyMs: Object.fromEntries(this.latency) });
    const unsubscribe = this.hub.subscribe({
      onEvent: (e: EventRecord) => send('event', e),
      onProgress: (resource: ResourceId, message: string) => send('progress', { resource, message }),
      onPassEnd: (p: PassReport) => send('pass', passSummary(p)),
    });
    const heartbeat = setInterval(() => {
      void stillAllowed().then(
        (ok) => (ok ? res.write(': ping\n\n') : res.end()),
        () => res.end(),
      );
    }, this.heartbeatMs);
    heartbeat.unref();
    const stop = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
    req.on('close', stop);
    res.on('close', stop);
  }
}
