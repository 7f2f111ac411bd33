// The coordination server's brain (no HTTP here): the desired state of every apply set, one
// engine, one resync loop over the union of the sets, and the changes requested through the API
// applied one at a time. ./http.ts maps requests onto these methods.
//
// Desired state survives a restart because everything applied is in the store. Env references
// (fromEnv/fromFile) are not stored — secrets never touch disk — so on start they are resolved
// again from the server's own environment and files; an apply set whose references cannot be
// resolved is *suspended* (not reconciled, nothing torn down or restarted) until it is applied
// again, and /healthz says so.
import { dirname } from 'node:path';
import type { ResolvedEnv } from '../model/env.js';
import { resourceId, type EventRecord, type NodeResource, type Resource, type ResourceId } from '../model/types.js';
import { resolveEnv } from '../manifest/env.js';
import type { ManifestError } from '../manifest/errors.js';
import type { ApplyResult, EngineEvents, LoadedSet } from '../reconcile/api.js';
import type { Engine } from '../reconcile/engine.js';
import type { AppliedRecord, Store } from '../store/types.js';
import type { ServerMetrics, Trigger } from './metrics.js';
import { driftEvents, EventHub, Mutex, nodeTransitions, ResyncLoop } from './session.js';
import { OWNER } from './auth.js';
import { resolveSources, type SourceStore } from './sources.js';
import { isEmptySet, mergeSets, setFromBundle, withoutResources, type ApplyRequest, type PlanRequest } from './wire.js';

export class InvalidSetError extends Error {
  constructor(readonly errors: ManifestError[]) {
    super(`${errors.length} error${errors.length === 1 ? '' : 's'} in manifests; nothing was changed`);
  }
}

/** An apply set the server cannot act on (suspended, or never applied to it): HTTP 409. */
export class HeldSetError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface CoordinatorOptions {
  /** The real store (the caller holds its lock) and the engine built on its lock-free view. */
  store: Store;
  engine: Engine;
  hub: EventHub;
  resyncMs: number;
  /** Uploaded source trees (src/server/sources.ts); without it a workspace naming a digest is refused. */
  sources?: SourceStore;
  /** Where fromEnv references are resolved after a restart (default process.env). */
  environ?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Fed from the engine's events (passes, drift, nodes, events) for /metrics. */
  metrics?: ServerMetrics;
  /**
   * A replica's term (./leadership.ts): when it aborts, the change in flight is cut short at a
   * safe point and fails as "this replica stopped leading" (the client retries on the new
   * leader), and the resync loop is not restarted.
   */
  signal?: AbortSignal;
}

/** A change cut short because this replica's term ended (HTTP 503: the client retries elsewhere). */
export class StoppedLeadingError extends Error {
  constructor() {
    super('this replica stopped leading');
    this.name = 'NotLeaderError';
  }
}

export class Coordinator {
  private readonly sets = new Map<string, LoadedSet>();
  private readonly suspended = new Map<string, string>();
  private readonly mutex = new Mutex();
  private readonly loop: ResyncLoop;
  private nodePhases = new Map<string, string>();
  private resyncing = false;
  /** What the engine is doing for an API request while the loop is stopped (for /metrics). */
  private request: Trigger = 'apply';
  private lastPassAt?: string;
  private passes = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: CoordinatorOptions) {
    this.loop = new ResyncLoop(opts.engine, {
      resyncMs: opts.resyncMs,
      applySet: 'default',
      hooks: {
        onPass: (result) => void this.afterResyncPass(result),
        onError: (err) => this.log(`resync loop failed: ${(err as Error).message}; restarting on the next change`),
      },
    });
    this.unsubscribe = opts.hub.subscribe({
      onPlan: (plan) => {
        if (!this.resyncing || plan.operations.length === 0) return;
        opts.metrics?.drift(plan);
        for (const e of driftEvents(plan, new Date().toISOString())) void this.record(e);
      },
      onPassEnd: (report) => opts.metrics?.pass(this.resyncing ? 'resync' : this.request, report),
      onEvent: (e) => opts.metrics?.event(e.type),
    });
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Rebuilds the desired sets from the store and starts the resync loop. */
  async start(): Promise<void> {
    const records = await this.opts.store.list();
    const knownNodes = records.filter((r) => r.kind === 'Node').map((r) => r.resource as NodeResource);
    const bySet = new Map<string, AppliedRecord[]>();
    for (const r of records) bySet.set(r.applySet, [...(bySet.get(r.applySet) ?? []), r]);
    for (const [applySet, recs] of bySet) {
      const { env, problems } = await resolveStoredEnv(recs.map((r) => r.resource), this.opts.environ ?? process.env);
      if (problems.length > 0) {
        this.suspended.set(applySet, problems.join('; '));
        this.log(`apply set ${applySet} suspended until it is applied again: ${problems.join('; ')}`);
        continue;
      }
      const built = setFromBundle({ resources: recs.map((r) => r.resource), env }, knownNodes);
      if (!built.ok) {
        this.suspended.set(applySet, built.errors.map((e) => e.message).join('; '));
        continue;
      }
      // An upload gone from $VENDETTA_HOME/sources: suspended like a secret that cannot be read.
      const resolved = await resolveSources(built.set, this.opts.sources);
      if (resolved.errors.length > 0) {
        this.suspended.set(applySet, resolved.errors.map((e) => e.message).join('; '));
        this.log(`apply set ${applySet} suspended until it is applied again: ${resolved.errors.map((e) => e.message).join('; ')}`);
        continue;
      }
      this.sets.set(applySet, resolved.set);
    }
    this.log(`desired state rebuilt from the store: ${this.sets.size} apply set(s)${this.suspended.size ? `, ${this.suspended.size} suspended` : ''}`);
    this.restartLoop();
  }

  async stop(): Promise<void> {
    await this.mutex.run(() => this.loop.stop());
    // A replica makes one coordinator per term on one hub: the last one's listener goes with it.
    this.unsubscribe();
  }

  health() {
    return {
      ok: true,
      applySets: [...this.sets.keys()].sort(),
      suspended: Object.fromEntries(this.suspended),
      resyncMs: this.opts.resyncMs,
      passes: this.passes,
      lastPassAt: this.lastPassAt,
    };
  }

  async knownNodes(): Promise<NodeResource[]> {
    return (await this.opts.store.list('Node')).map((r) => r.resource as NodeResource);
  }

  async plan(req: PlanRequest) {
    const set = await this.validated(req.set);
    return this.opts.engine.plan(set, { applySet: req.applySet, prune: req.prune, adopt: req.adopt === true });
  }

  /** Validates, then stops the resync loop, applies (until converged), and resumes the loop. */
  /** `actor`: the token's name, recorded on the events the apply writes. */
  async apply(req: ApplyRequest, listener?: EngineEvents, actor?: string): Promise<ApplyResult> {
    // Only the owner (server.token) may have the server read a source.path on its own disk.
    const set = await this.validated(req.set, actor !== undefined && actor !== OWNER);
    return this.exclusive('apply', listener, async () => {
      const result = await this.opts.engine.apply(set, {
        signal: this.opts.signal,
        applySet: req.applySet,
        prune: req.prune,
        timeoutMs: req.timeoutMs,
        noWait: req.noWait,
        adopt: req.adopt === true,
        pruneVolumes: req.pruneVolumes === true,
        actor,
      });
      this.sets.set(req.applySet, set);
      this.suspended.delete(req.applySet);
      if (this.opts.signal?.aborted) throw new StoppedLeadingError();
      return result;
    });
  }

  async delete(
    ids: ResourceId[],
    timeoutMs: number,
    listener?: EngineEvents,
    flags: { force?: boolean; ignoreNotFound?: boolean; volumes?: boolean } = {},
    actor?: string,
  ): Promise<ApplyResult> {
    return this.exclusive('delete', listener, async () => {
      if (this.opts.signal?.aborted) throw new StoppedLeadingError();
      const result = await this.opts.engine.delete(ids, { signal: this.opts.signal, timeoutMs, force: flags.force, ignoreNotFound: flags.ignoreNotFound, volumes: flags.volumes, actor });
      for (const [name, set] of this.sets) {
        const rest = withoutResources(set, ids);
        if (isEmptySet(rest)) this.sets.delete(name);
        else this.sets.set(name, rest);
      }
      if (this.opts.signal?.aborted) throw new StoppedLeadingError();
      return result;
    });
  }

  /**
   * An apply set as this server holds it (its resources and resolved env), for the dashboard's
   * plan and sync; a suspended or unknown set is a HeldSetError saying why.
   */
  heldSet(applySet: string): LoadedSet {
    const set = this.sets.get(applySet);
    if (set) return set;
    const why = this.suspended.get(applySet);
    if (why !== undefined) throw new HeldSetError(`apply set ${applySet} is suspended: ${why}`, 'apply it again with vendetta --server URL apply -f …');
    throw new HeldSetError(`this server holds no apply set ${applySet}`, 'apply it with vendetta --server URL apply -f …');
  }

  /** What a pass over one held apply set would do now (read-only: the nodes are observed). */
  async planHeld(applySet: string) {
    return this.opts.engine.plan(this.heldSet(applySet), { applySet, prune: false });
  }

  /** Converges one held apply set now, as a re-apply of it by `actor` (the dashboard's sync). */
  async syncHeld(applySet: string, timeoutMs: number, listener?: EngineEvents, actor?: string): Promise<ApplyResult> {
    const set = this.heldSet(applySet);
    return this.exclusive('apply', listener, () => this.opts.engine.apply(set, { applySet, prune: false, timeoutMs, actor }));
  }

  /** Runs `work` between stopping and restarting the loop, like a change (the dashboard's restart). */
  whileStopped<T>(work: () => Promise<T>): Promise<T> {
    return this.exclusive('apply', undefined, work);
  }

  private async validated(bundle: PlanRequest['set'], uploadsRequired = false): Promise<LoadedSet> {
    const built = setFromBundle(bundle, await this.knownNodes());
    if (!built.ok) throw new InvalidSetError(built.errors);
    const resolved = await resolveSources(built.set, this.opts.sources, { uploadsRequired });
    if (resolved.errors.length > 0) throw new InvalidSetError(resolved.errors);
    return resolved.set;
  }

  private exclusive<T>(request: Trigger, listener: EngineEvents | undefined, work: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      if (this.opts.signal?.aborted) throw new StoppedLeadingError();
      await this.loop.stop();
      this.resyncing = false;
      this.request = request;
      const unsubscribe = listener ? this.opts.hub.subscribe(listener) : () => undefined;
      try {
        return await work();
      } finally {
        unsubscribe();
        this.restartLoop();
      }
    });
  }

  private restartLoop(): void {
    if (this.sets.size === 0 || this.opts.signal?.aborted) return;
    this.resyncing = true;
    this.loop.start(mergeSets(this.sets.values()));
  }

  private async afterResyncPass(result: ApplyResult): Promise<void> {
    this.passes++;
    const now = new Date().toISOString();
    this.lastPassAt = now;
    const { events, phases } = nodeTransitions(this.nodePhases, result.statuses, now);
    this.nodePhases = phases;
    for (const [id, phase] of phases) this.opts.metrics?.nodeReady(id.slice('node/'.length), phase === 'Ready');
    for (const e of events) await this.record(e);
  }

  private async record(e: EventRecord): Promise<void> {
    this.opts.hub.events.onEvent?.(e);
    await this.opts.store.appendEvent(e).catch(() => undefined);
  }
}

/**
 * Env of stored resources, with fromEnv/fromFile resolved here (after a restart). Returns what
 * could not be resolved instead of failing: the caller suspends that apply set.
 */
export async function resolveStoredEnv(
  resources: Resource[],
  environ: NodeJS.ProcessEnv,
): Promise<{ env: Record<ResourceId, ResolvedEnv>; problems: string[] }> {
  const env: Record<ResourceId, ResolvedEnv> = {};
  const problems: string[] = [];
  for (const r of resources) {
    if (r.kind === 'Node') continue;
    const pos = r.source ?? { file: '<store>', line: 0, col: 0 };
    const result = await resolveEnv(r.spec.env, {
      subject: `${r.kind} "${r.metadata.name}"`,
      manifestDir: dirname(pos.file),
      environ,
      at: () => pos,
    });
    problems.push(...result.errors.map((e) => e.message));
    env[resourceId(r.kind, r.metadata.name)] = result.env;
  }
  return { env, problems };
}
