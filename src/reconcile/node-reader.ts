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
  /**
   * After a call that took D ms, the key's next call waits D × restRatio ms: reads polled back to
   * back would otherwise keep the node's shell busy full time (a hundred workspaces starting on
   * one node, each read of them costing more as they start). 2: reads take at most a third of it.
   */
  restRatio = 0,
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
    /** No call before this time (ms since epoch): the rest after the last one. */
    notBefore: number;
  }
  const batches = new Map<string, Batch>();

  const flush = (key: string, batch: Batch) => {
    batch.scheduled = false;
    if (batch.inFlight || batch.pending.size === 0) return;
    const waiting = batch.pending;
    batch.pending = new Map();
    batch.inFlight = true;
    const started = Date.now();
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
        batch.notBefore = Date.now() + (Date.now() - started) * restRatio;
        if (batch.pending.size > 0) arm(key, batch);
      });
  };

  const arm = (key: string, batch: Batch) => {
    if (batch.scheduled || batch.inFlight) return;
    batch.scheduled = true;
    const rest = batch.notBefore - Date.now();
    // A rest too short to matter is not worth a timer.
    if (rest >= 5) setTimeout(() => flush(key, batch), rest);
    else schedule(() => flush(key, batch));
  };

  return {
    request(key, item) {
      let batch = batches.get(key);
      if (!batch) batches.set(key, (batch = { pending: new Map(), scheduled: false, inFlight: false, notBefore: 0 }));
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
  restRatio = 2,
): NodeReader {
  const c = createCoalescer<ObservedService[]>(fetch, [], schedule, restRatio);
  return { read: (key, workspace) => c.request(key, workspace) };
}
