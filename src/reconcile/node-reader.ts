// Reads services' recorded state for the machines of a pass, coalesced per node: every request
// for one node (and provider) that arrives in the same tick becomes ONE read of the node, and
// while a read is in flight, new requests wait for the next one. A hundred services confirming
// their start on one node cost one round trip per poll, not a hundred. The read itself is
// injected (a driver's observeServices, or one exec per workspace as a fallback), so this is
// pure scheduling.
import type { ObservedService } from '../model/types.js';

/** Services per workspace; an Error for a workspace that could not be read. */
export type ServicesByWorkspace = Map<string, ObservedService[] | Error>;

export interface NodeReader {
  /** The services of `workspace` on the node `key` names, from the next read of that node. */
  read(key: string, workspace: string): Promise<ObservedService[]>;
}

interface Waiter {
  resolve: (services: ObservedService[]) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  /** Requests for the next read, by workspace. */
  pending: Map<string, Waiter[]>;
  scheduled: boolean;
  inFlight: boolean;
}

export function createNodeReader(
  fetch: (key: string, workspaces: string[]) => Promise<ServicesByWorkspace>,
  schedule: (run: () => void) => void = (run) => void setImmediate(run),
): NodeReader {
  const batches = new Map<string, Batch>();

  const flush = (key: string, batch: Batch) => {
    batch.scheduled = false;
    if (batch.inFlight || batch.pending.size === 0) return;
    const waiting = batch.pending;
    batch.pending = new Map();
    batch.inFlight = true;
    const settle = (each: (workspace: string, waiter: Waiter) => void) => {
      for (const [workspace, waiters] of waiting) for (const w of waiters) each(workspace, w);
    };
    fetch(key, [...waiting.keys()])
      .then(
        (found) =>
          settle((workspace, w) => {
            const services = found.get(workspace);
            // A workspace the read did not list has no recorded services (yet).
            if (services instanceof Error) w.reject(services);
            else w.resolve(services ?? []);
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
    read(key, workspace) {
      let batch = batches.get(key);
      if (!batch) batches.set(key, (batch = { pending: new Map(), scheduled: false, inFlight: false }));
      const b = batch;
      return new Promise<ObservedService[]>((resolve, reject) => {
        b.pending.set(workspace, [...(b.pending.get(workspace) ?? []), { resolve, reject }]);
        arm(key, b);
      });
    },
  };
}
