// A long-running reconcile session, shared by `apply --watch` and `vendetta serve`: the store lock
// held for the whole session, the engine's loop running forever over the desired set (resync =
// drift repair), and changes applied one at a time between stopping and restarting that loop.
import type { EventRecord, ResourceId } from '../model/types.js';
import type { ApplyResult, EngineEvents, LoadedSet } from '../reconcile/api.js';
import type { Engine } from '../reconcile/engine.js';
import type { Plan } from '../plan/types.js';
import type { Store } from '../store/types.js';

/**
 * The session holds the real lock; the engine gets this view of the store whose lock() is a
 * no-op, so engine.apply/delete (which lock per call) run inside the session without
 * deadlocking on our own lock.
 */
export function lockHeldStore(store: Store): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'lock') return async () => async () => undefined;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Serializes async work: one change at a time. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export interface LoopHooks {
  /** Each pass's plan while the loop resyncs: a non-empty plan is drift being repaired. */
  onDrift?: (plan: Plan) => void;
  onPass?: (result: ApplyResult, pass: number) => void;
  onError?: (err: unknown) => void;
}

/**
 * The engine's loop in `until: 'forever'` mode over one desired set. stop() aborts it and waits
 * for the pass in flight to reach a safe point (the machines stop at the abort signal; whatever
 * is half-done is finished by the next pass, which starts from a fresh observation).
 */
export class ResyncLoop {
  private current?: { abort: AbortController; done: Promise<void> };
  constructor(
    private readonly engine: Engine,
    private readonly opts: { resyncMs: number; applySet: string; hooks?: LoopHooks },
  ) {}

  get running(): boolean {
    return this.current !== undefined;
  }

  start(set: LoadedSet): void {
    if (this.current) throw new Error('resync loop already running: stop it first');
    const abort = new AbortController();
    const hooks = this.opts.hooks ?? {};
    const done = this.engine
      .runLoop(set, {
        applySet: this.opts.applySet,
        prune: false,
        timeoutMs: 0,
        until: 'forever',
        resyncMs: this.opts.resyncMs,
        signal: abort.signal,
        onPass: (result, pass) => {
          hooks.onPass?.(result, pass);
        },
      })
      .then(
        () => undefined,
        (err: unknown) => {
          if (!abort.signal.aborted) hooks.onError?.(err);
        },
      );
    this.current = { abort, done };
  }

  async stop(): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    current.abort.abort();
    await current.done;
  }
}

/** Engine hooks that fan out to whoever listens right now (a streaming request, the log). */
export class EventHub {
  private readonly listeners = new Set<EngineEvents>();
  readonly events: EngineEvents = {
    onEvent: (e: EventRecord) => this.each((l) => l.onEvent?.(e)),
    onProgress: (r: ResourceId, m: string) => this.each((l) => l.onProgress?.(r, m)),
    onPlan: (p: Plan, pass: number) => this.each((l) => l.onPlan?.(p, pass)),
    onLockWait: (h) => this.each((l) => l.onLockWait?.(h)),
    onPassEnd: (p) => this.each((l) => l.onPassEnd?.(p)),
  };
  subscribe(listener: EngineEvents): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  private each(f: (l: EngineEvents) => void): void {
    for (const l of this.listeners) {
      try {
        f(l);
      } catch {
        // a listener's failure (a closed response) never breaks the engine
      }
    }
  }
}

/** What drift a resync pass found, as one event per planned operation (pure). */
export function driftEvents(plan: Plan, time: string): EventRecord[] {
  const events: EventRecord[] = plan.operations.map((op) => ({
    time,
    object: op.resource,
    type: 'Warning',
    reason: 'DriftDetected',
    message: `resync on node ${op.node} found drift (${op.cause}); repairing: ${op.type}`,
  }));
  return events;
}

/** Node Ready/NotReady transitions between two passes, as events (pure). */
export function nodeTransitions(
  previous: Map<string, string>,
  statuses: Map<ResourceId, { phase: string; conditions: { type: string; message: string }[] }>,
  time: string,
): { events: EventRecord[]; phases: Map<string, string> } {
  const phases = new Map(previous);
  const events: EventRecord[] = [];
  for (const [id, status] of statuses) {
    if (!id.startsWith('node/')) continue;
    const before = previous.get(id);
    phases.set(id, status.phase);
    if (before === status.phase || (before === undefined && status.phase === 'Ready')) continue;
    const why = status.conditions.find((c) => c.type === 'Ready')?.message ?? '';
    events.push(
      status.phase === 'Ready'
        ? { time, object: id, type: 'Normal', reason: 'NodeReady', message: `node is reachable again (${why})` }
        : { time, object: id, type: 'Warning', reason: 'NodeNotReady', message: why || 'node could not be observed' },
    );
  }
  return { events, phases };
}
