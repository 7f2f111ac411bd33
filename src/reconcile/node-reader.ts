// Requests to a node, coalesced per node: every request for one node (and provider) that arrives
// in the same tick becomes ONE call, and while a call is in flight, new requests wait for the
// next one. Reads of services' recorded state (a hundred services confirming their start on one
// node cost one round trip per poll, not a hundred) and batched deletes use it. The call itself
// is injected (a driver's observeServices / deleteMany, or a fallback), so this is pure
// scheduling.
import type { ObservedService } from '../model/types.js';

/** Services per workspace; an Error for a workspace that could not be read. */
export type ServicesByWorkspace = Map<string, ObservedService[] | Error>;

export interface NodeReader {
  /** The services of `workspace` on the node `key` names, from the next read of that node. */
  read(key: string, workspace: string): Promise<ObservedService[]>;
}

/** Coalesces requests per key: `request(key, item)` resolves with the item's share of one call. */
export interface Coalescer<T> {
  request(key: string, item: string): Promise<T>;
}

export function createCoalescer<T>(
  call: (key: string, items: string[]) => Promise<Map<string, T | Error>>,
  /** What an item the call's answer does not mention resolves with. */
  absent: T,
  schedule: (run: () => void) => void = (run) => void setImmediate(run),
): Coalescer<T> {
  interface Waiter {
    resolve: (value: T) => void;
    reject: (err: unknown) => void;
  }
  interface Batch {
    /** Requests for the next call, by item. */
    pending: Map<string, Waiter[]>;
    scheduled: boolean;
    inFlight: boolean;
  }
  const batches = new Map<string, Batch>();

  const flush = (key: string, batch: Batch) => {
    batch.scheduled = false;
    if (batch.inFlight || batch.pending.size === 0) return;
    const waiting = batch.pending;
    batch.pending = new Map();
    batch.inFlight = true;
    const settle = (each: (item: string, waiter: Waiter) => void) => {
      for (const [item, waiters] of waiting) for (const w of waiters) each(item, w);
    };
    call(key, [...waiting.keys()])
      .then(
        (answers) =>
          settle((item, w) => {
            const answer = answers.has(item) ? answers.get(item)! : absent;
            if (answer instanceof Error) w.reject(answer);
            else w.resolve(answer);
          }),
        (err: unknown) => settle((_, w) => w.reject(err)),
      )
      .finally(() => {
        batch.inFlight = false;
        if (batch.pending.size > 0) arm(key, batch);
      });
  };

  const arm = (key: string, batch: Batch) => {
    if (batch.scheduled || batch.inFlight) return;
    batch.scheduled = true;
    schedule(() => flush(key, batch));
  };

  return {
    request(key, item) {
      let batch = batches.get(key);
      if (!batch) batches.set(key, (batch = { pending: new Map(), scheduled: false, inFlight: false }));
      const b = batch;
      return new Promise<T>((resolve, reject) => {
        b.pending.set(item, [...(b.pending.get(item) ?? []), { resolve, reject }]);
        arm(key, b);
      });
    },
  };
}

/** Services' recorded state per workspace, one read per node; a workspace the read did not list has none (yet). */
export function createNodeReader(
  fetch: (key: string, workspaces: string[]) => Promise<ServicesByWorkspace>,
  schedule?: (run: () => void) => void,
): NodeReader {
  const c = createCoalescer<ObservedService[]>(fetch, [], schedule);
  return { read: (key, workspace) => c.request(key, workspace) };
}
