// The reconcile engine, as a pipeline of stages: load (the caller) → observe (./observe.ts) →
// plan (pure, ../plan) → execute (./pass.ts) → record (./record.ts). `runLoop` repeats passes,
// level-triggered: each pass starts from the whole desired set and a fresh observation. `apply`
// runs it until converged; watch and serve modes run it forever with a resync interval. This
// file holds the loop, apply and delete, and what they remember about where records' objects are.
//
// Every dependency is passed in (`EngineDeps`), so this file imports no other engineer's
// implementation; ./engine.ts wires the real ones.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  EventRecord,
  HealthcheckSpec,
  NodeResource,
  ObservedSet,
  ProviderName,
  ResourceId,
  ResourceStatus,
  WorkspaceResource,
  WorkspaceSpec,
  ServiceSpec,
} from '../model/types.js';
import { LOCAL_NODE, resourceId } from '../model/types.js';
import { setLongTimeout, sleepMs } from '../model/timers.js';
import type { Plan } from '../plan/types.js';
import type { ObservationTargets } from '../plan/targets.js';
import type { DesiredWorkspace, ProviderDriver, WorkspaceRuntime } from '../providers/types.js';
import type { DesiredService, HealthResult, ServiceManager } from '../services/types.js';
import type { AppliedRecord, PreviousPlacement, Store, StoreIdentity } from '../store/types.js';
import type { Transport } from '../transport/types.js';
import type { ApplyOptions, ApplyResult, DeletionReport, EngineApi, EngineEvents, Failure, LoadedSet, VolumesReport } from './api.js';
import { hasVolumes } from '../model/volumes.js';
import type { PassOutcome } from './pass.js';
import { afterPass, createObserver, decidedByObservation, providerUnavailable, quietKey, resolveNodes, type Observation } from './observe.js';
import { hintFor, OWNED_ELSEWHERE, plannedStatuses, statusChanged, summarize, writeStatuses } from './record.js';
import type { RetryPolicy } from './retry.js';
import { serviceLeftover, workspaceLeftover } from './leftovers.js';
import { carryTransitionTimes, condition, failureSignature } from './status.js';

export interface PlanFnInput {
  set: LoadedSet;
  observed: ObservedSet;
  applied: AppliedRecord[];
  applySet: string;
  prune: boolean;
  identity: StoreIdentity;
  adopt?: boolean;
  rebuild?: ReadonlySet<string>;
  upstream?: ReadonlyMap<string, string>;
}
export interface PlanDeletionFnInput {
  ids: ResourceId[];
  applied: AppliedRecord[];
  set?: LoadedSet;
  observed: ObservedSet;
  identity?: StoreIdentity;
}

/** The modules the engine is built from; ./engine.ts passes the real ones. */
export interface EngineDeps {
  plan: (input: PlanFnInput) => Plan;
  planDeletion: (input: PlanDeletionFnInput) => Plan;
  /** Which nodes/providers apply and diff observe (./plan/targets.ts). */
  applyTargets: (input: { set: LoadedSet; applied: AppliedRecord[]; applySet: string; prune: boolean }) => ObservationTargets;
  /** Which nodes/providers a delete observes. */
  deleteTargets: (input: { ids: ResourceId[]; applied: AppliedRecord[]; set?: LoadedSet }) => ObservationTargets;
  desiredWorkspace: (set: LoadedSet, name: string, identity: StoreIdentity) => DesiredWorkspace;
  desiredService: (set: LoadedSet, name: string, workspaceDir: string, key: string) => DesiredService;
  /** Optional: hash the desired set ahead of the plan, while the nodes are observed (./plan/desired.ts). */
  hashDesired?: (set: LoadedSet, identity: StoreIdentity) => void;
  serviceManager: (rt: WorkspaceRuntime) => ServiceManager;
  checkHealth: (hc: HealthcheckSpec, rt: WorkspaceRuntime, transport: Transport, timeoutMs: number) => Promise<HealthResult>;
  parseDuration: (text: string) => number;
  /** Port mapping parser for workspace endpoints ("127.0.0.1:8080:3000"). */
  parsePortSpec: (text: string) => { hostIp?: string; hostPort: number; containerPort: number };
}

export interface EngineOptions {
  store: Store;
  connect: (node: NodeResource) => Promise<Transport>;
  drivers: Partial<Record<ProviderName, ProviderDriver>>;
  /** Provider operations at a time per node (default DEFAULT_CONCURRENCY_PER_NODE). */
  concurrencyPerNode?: number;
  events?: EngineEvents;
  // Injectable for tests; the defaults are the real modules.
  planFn?: EngineDeps['plan'];
  planDeletionFn?: EngineDeps['planDeletion'];
  desiredWorkspaceFn?: EngineDeps['desiredWorkspace'];
  desiredServiceFn?: EngineDeps['desiredService'];
  serviceManagerFn?: EngineDeps['serviceManager'];
  checkHealthFn?: EngineDeps['checkHealth'];
  /** Machine retry policy (tests shorten it). */
  retry?: Partial<RetryPolicy>;
  /** Gap between reads of a node's service state while confirming starts and health (default 50 ms). */
  servicePollMs?: number;
  /** How long a service this pass starts must be seen running to count as started (default 0: its "ready"). */
  serviceStableMs?: number;
  /** Pause before a retry pass after failures (default 500 ms); a converged pass is not repeated. */
  retryDelayMs?: number;
}

export interface LoopOptions extends ApplyOptions {
  /** 'converged': stop when converged or stuck (apply). 'forever': resync every resyncMs (watch, serve). */
  until: 'converged' | 'forever';
  resyncMs?: number;
  /** Called after each pass with the result so far. */
  onPass?: (result: ApplyResult, pass: number) => void;
}

export interface Engine extends EngineApi {
  /** The reconcile loop without locking or recording what was applied (the caller does). */
  runLoop(set: LoadedSet, opts: LoopOptions): Promise<ApplyResult>;
}

const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
/**
 * Part of every stored QuietMemo's digest: raise it when a pass may conclude differently from the
 * same records and observation (a new status field, a new check in a machine), so that memos of
 * older passes no longer match.
 */
const QUIET_MEMO_FORMAT = 1;
const memoDigest = (key: string) => createHash('sha256').update(`${QUIET_MEMO_FORMAT}\n`).update(key).digest('hex');
/**
 * Provider operations at a time per node (creates, starts; batched deletes take no slot). Most of
 * a create is waiting on the node's daemon, so more than the node's cores pay off: 30 busybox
 * workspaces with a service each on one 2-core test node, cold apply through the built CLI,
 * took 58.8/62.9 s at 4, 68.1/50.1 s at 8 and 48.8/47.7 s at 16.
 */
export const DEFAULT_CONCURRENCY_PER_NODE = 16;

/** Limits concurrent work per key. */
class KeyedSemaphore {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  constructor(private readonly limit: number) {}

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    if ((this.active.get(key) ?? 0) >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.set(key, [...(this.waiting.get(key) ?? []), resolve]));
    } else {
      this.active.set(key, (this.active.get(key) ?? 0) + 1);
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.get(key)?.shift();
      if (next) next(); // hand the slot over directly
      else this.active.set(key, (this.active.get(key) ?? 1) - 1);
    }
  }
}

// Resync periods come from flags: sleepMs never overflows setTimeout.
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleepMs(ms, signal);
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Math.round(ms / 100) / 10}s`;
}

export function createEngineWith(deps: EngineDeps, opts: EngineOptions): Engine {
  const { store } = opts;
  const events = opts.events ?? {};
  // The store's identity (owner of what we make, key of spec hashes), set before each plan.
  let identity: StoreIdentity | undefined;
  const desiredWorkspaceFn = opts.desiredWorkspaceFn ?? deps.desiredWorkspace;
  const desiredServiceFn = opts.desiredServiceFn ?? deps.desiredService;
  const helpers = {
    desiredWorkspace: (set: LoadedSet, name: string) => desiredWorkspaceFn(set, name, identity!),
    desiredService: (set: LoadedSet, name: string, dir: string) => desiredServiceFn(set, name, dir, identity!.key),
    serviceManager: opts.serviceManagerFn ?? deps.serviceManager,
    checkHealth: opts.checkHealthFn ?? deps.checkHealth,
    parseDuration: deps.parseDuration,
  };
  const planFn = opts.planFn ?? deps.plan;

  /**
   * Mutating commands make the identity on first use. Read-only ones (diff) must leave the store
   * as they found it: without an identity nothing on the nodes is ours yet, so a throwaway one
   * plans the same.
   */
  let stored: StoreIdentity | undefined;
  async function loadIdentity(create: boolean): Promise<StoreIdentity> {
    // A stored identity never changes: read the file once, not on every pass of a resync loop.
    stored ??= await store.identity({ create });
    identity = stored ?? {
      id: randomBytes(8).toString('hex'),
      name: `(no identity yet)@${hostname()}:${store.home}`,
      key: randomBytes(32).toString('base64'),
    };
    return identity;
  }
  const planDeletionFn = opts.planDeletionFn ?? deps.planDeletion;
  const semaphore = new KeyedSemaphore(opts.concurrencyPerNode ?? DEFAULT_CONCURRENCY_PER_NODE);
  const observer = createObserver({ connect: opts.connect, drivers: opts.drivers });
  const observe = observer.observe;
  // The executor and its XState machines load while a pass's first observation waits on the
  // nodes (`diff` never needs them).
  let executor: Promise<typeof import('./pass.js')> | undefined;
  const loadExecutor = () => (executor ??= import('./pass.js'));
  const transportFor = observer.transportFor;

  // ----- events ------------------------------------------------------------------------------
  // Event writes still in flight: a command returns only once they are done.
  const eventWrites = new Set<Promise<void>>();
  async function recordEvent(e: Omit<EventRecord, 'time'>): Promise<void> {
    const event: EventRecord = { time: new Date().toISOString(), ...e };
    events.onEvent?.(event);
    const write = store.appendEvent(event).catch(() => undefined); // events are best effort: never fail a pass
    eventWrites.add(write);
    await write;
    eventWrites.delete(write);
  }
  const eventsWritten = () => Promise.all([...eventWrites]);

  // ----- one pass ----------------------------------------------------------------------------
  interface PassResult {
    plan: Plan;
    outcome: PassOutcome;
    result: ApplyResult;
  }

  async function runPass(
    set: LoadedSet | undefined,
    plan: Plan,
    observation: Observation,
    applied: AppliedRecord[],
    p: { applySet: string; signal: AbortSignal; noWait?: boolean; recheck?: ReadonlySet<ResourceId>; actor?: string; started: number },
  ): Promise<PassResult> {
    const records = new Map(applied.map((r) => [r.id, r]));
    const planned = plannedStatuses(plan, records, new Date().toISOString());
    // Written while the executor makes its machines (2,000 at 10 x 100); its operations wait
    // for the write, so a store that refuses it (a deposed leader's etcd) still changes no node.
    const plannedWritten = planned.size > 0 ? writeStatuses(store, planned, records) : undefined;
    plannedWritten?.catch(() => undefined); // rethrown below, after the pass
    const { executePass } = await loadExecutor();
    const outcome = await executePass({
      operationsAfter: plannedWritten,
      helpers,
      set,
      plan,
      observed: observation.observed,
      nodes: observation.nodes,
      drivers: opts.drivers,
      transport: (node) => transportFor(observation.nodes.get(node)!),
      applySet: p.applySet,
      withNodeSlot: (node, work) => semaphore.run(node, work),
      record: (e) => void recordEvent(p.actor ? { ...e, by: p.actor } : e),
      progress: (id, message) => events.onProgress?.(id, message),
      signal: p.signal,
      retry: opts.retry,
      servicePollMs: opts.servicePollMs,
      serviceStableMs: opts.serviceStableMs,
      noWait: p.noWait,
      recheck: p.recheck,
    });
    if (plannedWritten) {
      await plannedWritten;
      for (const [id, status] of planned) records.set(id, { ...records.get(id)!, status });
    }
    const result = summarize({ set, plan, observation, applied, outcome, timedOut: p.signal.aborted, parsePortSpec: deps.parsePortSpec, now: new Date().toISOString() });
    await writeStatuses(store, result.statuses, records);
    passEnd(p.started, observation, outcome);
    return { plan, outcome, result };
  }

  /** Reports a finished pass to whoever counts them (serve's /metrics); a quiet pass ran nothing. */
  function passEnd(started: number, observation: Observation, outcome?: PassOutcome): void {
    if (!events.onPassEnd) return;
    const operations = (outcome?.units ?? []).flatMap((u) => (u.operation ? [{ type: u.operation.type, done: u.operationDone }] : []));
    events.onPassEnd({ durationMs: performance.now() - started, operations, nodeLatencyMs: observation.latencyMs });
  }


  // ----- where records' objects are, and whether they are gone --------------------------------
  /** Places a workspace record says its object may be: its node, then nodes it moved away from. */
  function placementsOf(r: AppliedRecord): PreviousPlacement[] {
    const spec = r.resource.spec as WorkspaceSpec;
    const out: PreviousPlacement[] = [{ node: spec.node, provider: spec.provider }];
    for (const p of r.previousNodes ?? []) if (!out.some((o) => o.node === p.node)) out.push(p);
    return out;
  }

  /**
   * Is `workspace` (with `service` in it, when given) confirmed absent from one placement?
   * Only a reachable node whose provider was observed can say so; otherwise why not.
   */
  function absentFrom(
    p: PreviousPlacement,
    workspace: string,
    service: string | undefined,
    observation: Observation,
  ): { absent: true } | { absent: false; why: 'present' | 'unreachable' | 'unavailable'; error?: string } {
    const o = observation.observed.get(p.node);
    if (!o?.reachable) return { absent: false, why: 'unreachable', error: o?.error ?? `node ${p.node} was not observed` };
    const unavailable = providerUnavailable(observation.observed, p.node, p.provider);
    if (unavailable) return { absent: false, why: 'unavailable', error: unavailable.error };
    const ws = o.workspaces.find((w) => w.name === workspace);
    if (!ws) return { absent: true };
    if (service !== undefined && !ws.services.some((s) => s.name === service)) return { absent: true };
    return { absent: false, why: 'present' };
  }

  /**
   * Where a record's object still is (or may be): [] when it is confirmed gone everywhere it may
   * be. A service whose workspace record is gone (or unknown) went with it.
   */
  function remainsOf(
    r: AppliedRecord,
    records: Map<ResourceId, AppliedRecord>,
    observation: Observation,
  ): { node: string; provider: ProviderName; workspace: string; why: 'present' | 'unreachable' | 'unavailable'; error?: string }[] {
    const out: ReturnType<typeof remainsOf> = [];
    if (r.kind === 'Workspace') {
      for (const p of placementsOf(r)) {
        const a = absentFrom(p, r.name, undefined, observation);
        if (!a.absent) out.push({ ...p, workspace: r.name, why: a.why, error: a.error });
      }
    } else if (r.kind === 'Service') {
      const workspaces = [...new Set([(r.resource.spec as ServiceSpec).workspace, ...(r.previousWorkspaces ?? [])])];
      for (const w of workspaces) {
        const wsRecord = records.get(resourceId('Workspace', w));
        if (!wsRecord) continue;
        for (const p of placementsOf(wsRecord)) {
          const a = absentFrom(p, w, r.name, observation);
          if (!a.absent) out.push({ ...p, workspace: w, why: a.why, error: a.error });
        }
      }
    }
    return out;
  }

  /** Workspace records that still place something on `node` (a Node record is never forgotten while any does). */
  function usersOf(node: string, records: Iterable<AppliedRecord>): ResourceId[] {
    return [...records].filter((r) => r.kind === 'Workspace' && placementsOf(r).some((p) => p.node === node)).map((r) => r.id);
  }

  async function dropFromInventories(removed: AppliedRecord[]): Promise<void> {
    const bySet = new Map<string, ResourceId[]>();
    for (const r of removed) bySet.set(r.applySet, [...(bySet.get(r.applySet) ?? []), r.id]);
    for (const [applySet, ids] of bySet) {
      const inventory = await store.inventory(applySet);
      await store.setInventory(applySet, inventory.filter((id) => !ids.includes(id)));
    }
  }

  /**
   * After a prune pass: forget the pruned records whose objects are confirmed gone (observed
   * absent, or deleted by this pass). Workspaces first: a service goes with its workspace. A Node
   * record stays while a workspace record still places something on it.
   */
  async function forgetPruned(candidates: AppliedRecord[], all: AppliedRecord[], outcome: PassOutcome, observation: Observation): Promise<ResourceId[]> {
    const records = new Map(all.map((r) => [r.id, r]));
    const deletedOn = new Set(outcome.units.filter((u) => u.target === 'deleted' && u.operationDone).map((u) => `${u.id}@${u.node}`));
    const removed: AppliedRecord[] = [];
    const order = { Workspace: 0, Service: 1, Node: 2 } as const;
    for (const r of [...candidates].sort((x, y) => order[x.kind] - order[y.kind])) {
      if (r.kind === 'Node') {
        if (usersOf(r.name, records.values()).length > 0) continue;
      } else {
        const remains = remainsOf(r, records, observation).filter((x) => !deletedOn.has(`${r.kind === 'Workspace' ? r.id : resourceId('Workspace', x.workspace)}@${x.node}`) && !deletedOn.has(`${r.id}@${x.node}`));
        if (remains.length > 0) continue;
      }
      await store.remove(r.id);
      records.delete(r.id);
      removed.push(r);
    }
    await dropFromInventories(removed);
    return removed.map((r) => r.id);
  }

  /**
   * After an apply pass: a moved workspace (service) whose old copy is confirmed gone from a
   * previous node (workspace) no longer needs it remembered.
   */
  async function settleMoves(set: LoadedSet, all: AppliedRecord[], observation: Observation): Promise<void> {
    const records = new Map(all.map((r) => [r.id, r]));
    for (const r of all) {
      if (r.kind === 'Workspace' && r.previousNodes?.length && set.desired.workspaces.has(r.name)) {
        const kept = r.previousNodes.filter((p) => !absentFrom(p, r.name, undefined, observation).absent);
        if (kept.length !== r.previousNodes.length) await store.setPrevious(r.id, { previousNodes: kept });
      }
      if (r.kind === 'Service' && r.previousWorkspaces?.length && set.desired.services.has(r.name)) {
        const kept = r.previousWorkspaces.filter((w) => {
          const wsRecord = records.get(resourceId('Workspace', w));
          const where = set.desired.workspaces.get(w)?.spec ?? (wsRecord?.resource as WorkspaceResource | undefined)?.spec;
          if (!where) return false; // nothing says where that workspace is: nothing left to find
          return !absentFrom({ node: where.node, provider: where.provider }, w, r.name, observation).absent;
        });
        if (kept.length !== r.previousWorkspaces.length) await store.setPrevious(r.id, { previousWorkspaces: kept });
      }
    }
  }

  /**
   * Without a record, a resource exists for delete only if the manifests (`delete -f`) declare
   * it and its node does not say it is absent: observed there, or the node could not tell.
   */
  function declaredAndPresent(id: ResourceId, set: LoadedSet | undefined, observation: Observation): boolean {
    if (!set) return false;
    const slash = id.indexOf('/');
    const kind = id.slice(0, slash);
    const name = id.slice(slash + 1);
    let workspace: string | undefined;
    let service: string | undefined;
    if (kind === 'workspace') workspace = name;
    else if (kind === 'service') {
      workspace = set.desired.services.get(name)?.spec.workspace;
      service = name;
    }
    const spec = workspace ? set.desired.workspaces.get(workspace)?.spec : undefined;
    if (!workspace || !spec) return false;
    if (kind === 'service' && !set.desired.services.has(name)) return false;
    return !absentFrom({ node: spec.node, provider: spec.provider }, workspace, service, observation).absent;
  }

  // ----- volumes -----------------------------------------------------------------------------
  /**
   * Deletes the volumes of workspaces that are gone, at each place given. Volumes are listed here
   * only, never by observe: a pass costs the same with or without them. `search` places are
   * guesses (a workspace no record or manifest places): a node or provider that cannot answer
   * there is skipped, not a failure.
   */
  async function deleteVolumesAt(
    places: { workspace: string; node: string; provider: ProviderName; search?: boolean }[],
    set: LoadedSet | undefined,
    applied: AppliedRecord[],
  ): Promise<{ removed: VolumesReport[]; failures: Failure[] }> {
    const nodes = resolveNodes(set, applied);
    const groups = new Map<string, typeof places>();
    for (const p of places) groups.set(`${p.node}\0${p.provider}`, [...(groups.get(`${p.node}\0${p.provider}`) ?? []), p]);
    const removed: VolumesReport[] = [];
    const failures: Failure[] = [];
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const { node, provider } = group[0]!;
        const search = group.every((p) => p.search);
        const driver = opts.drivers[provider];
        const nodeResource = nodes.get(node);
        if (!driver?.listVolumes || !driver.deleteVolumes || !nodeResource) return;
        const workspaces = [...new Set(group.map((p) => p.workspace))];
        try {
          const ctx = { node: nodeResource, transport: await transportFor(nodeResource), applySet: 'default' };
          const found = await driver.listVolumes(ctx, workspaces);
          if (found.length === 0) return;
          await driver.deleteVolumes(ctx, found);
          for (const w of workspaces) {
            const names = found.filter((v) => v.workspace === w).map((v) => v.name).sort();
            if (names.length === 0) continue;
            removed.push({ workspace: w, node, volumes: names });
            void recordEvent({ object: resourceId('Workspace', w), type: 'Normal', reason: 'VolumesDeleted', message: `deleted volume${names.length === 1 ? '' : 's'} ${names.join(', ')} of workspace ${w} on node ${node}` });
          }
        } catch (err) {
          if (search) return;
          for (const w of workspaces) {
            failures.push({ resource: resourceId('Workspace', w), node, reason: `its volumes were not deleted: ${(err as Error).message}`, hint: `run vendetta delete workspace ${w} --volumes again once node ${node} answers` });
          }
        }
      }),
    );
    return { removed, failures };
  }

  /** Every place a workspace's volumes may be: what its record or the manifests say, else every known node and provider. */
  function volumePlaces(name: string, record: AppliedRecord | undefined, set: LoadedSet | undefined, applied: AppliedRecord[]) {
    if (record) return placementsOf(record).map((p) => ({ ...p, workspace: name }));
    const spec = set?.desired.workspaces.get(name)?.spec;
    if (spec) return [{ node: spec.node, provider: spec.provider, workspace: name }];
    const providers = Object.keys(opts.drivers) as ProviderName[];
    return [...resolveNodes(set, applied).keys()].flatMap((node) => providers.map((provider) => ({ node, provider, workspace: name, search: true })));
  }

  // ----- the loop ----------------------------------------------------------------------------
  async function runLoop(loaded: LoadedSet, loop: LoopOptions): Promise<ApplyResult> {
    const deadline = new AbortController();
    const timer = loop.until === 'converged' ? setLongTimeout(() => deadline.abort(), loop.timeoutMs) : undefined;
    const signal = loop.signal ? AbortSignal.any([loop.signal, deadline.signal]) : deadline.signal;
    let firstPlan: Plan | undefined;
    let operationsRun = 0;
    let previousFailures: string | undefined;
    let failedBefore: ReadonlySet<ResourceId> = new Set();
    let last: ApplyResult | undefined;
    // A pass that starts from exactly what the last quiet pass started from (the same records and
    // observation; that pass planned nothing, converged and reached every node) would plan nothing,
    // write nothing and conclude the same: it keeps that pass's result instead of running two
    // machines per workspace again. Between the passes of a resync loop (serve, watch) the memo is
    // in memory; between commands it is in the store (QuietMemo), where a no-op apply finds it.
    let quiet: string | undefined;
    const stored = loop.noWait ? undefined : await store.quietMemo(loop.applySet);
    try {
      for (let pass = 1; ; pass++) {
        // Stopped (watch, serve) or out of time while waiting: no further observation.
        if (pass > 1 && signal.aborted) break;
        const started = performance.now();
        // Build contexts are hashed again each pass (stats only, for files seen unchanged): an
        // edited Dockerfile shows up in a resync loop (watch, serve) like any other change.
        const set = await withBuilds(loaded);
        const applied = await store.list();
        const targets = deps.applyTargets({ set, applied, applySet: loop.applySet, prune: loop.prune });
        // With a stored memo this is most likely a no-op, which never needs the executor.
        if (!stored || pass > 1) void loadExecutor();
        const observing = observe(set, applied, loop.applySet, targets);
        // While the nodes answer: the desired hashes the plan needs (CPU, not network).
        deps.hashDesired?.(set, await loadIdentity(true));
        const observation = await observing;
        let key: string | undefined;
        const keyOf = () => (key ??= quietKey(applied, observation.observed) + (set.builds?.size ? JSON.stringify([...set.builds]) : ''));
        if (last && loop.until === 'forever' && keyOf() === quiet) {
          passEnd(started, observation);
          loop.onPass?.(last, pass);
          await sleep(loop.resyncMs ?? 30_000, signal);
          continue;
        }
        const rebuild = pass === 1 && loop.rebuild?.length ? new Set(loop.rebuild) : undefined;
        const plan = planFn({ set, observed: observation.observed, applied, applySet: loop.applySet, prune: loop.prune, identity: await loadIdentity(true), adopt: loop.adopt, rebuild });
        // Only a pass whose every conclusion comes from its inputs may be memoized or replaced by a memo.
        const memoizable =
          plan.operations.length === 0 &&
          plan.unreachable.length === 0 &&
          !plan.conflicts?.length &&
          !applied.some((r) => r.previousNodes?.length || r.previousWorkspaces?.length || (loop.prune && r.applySet === loop.applySet && !declared(set, r))) &&
          decidedByObservation(set, observation.observed);
        if (pass === 1 && stored && memoizable && stored.key === memoDigest(keyOf())) {
          firstPlan = plan;
          last = { converged: true, plan, operationsRun: 0, statuses: new Map(stored.statuses), failures: [], endpoints: new Map(stored.endpoints) };
          quiet = keyOf();
          events.onPlan?.(plan, pass);
          passEnd(started, observation);
          loop.onPass?.(last, pass);
          if (loop.until === 'converged' || signal.aborted) break;
          await sleep(loop.resyncMs ?? 30_000, signal);
          continue;
        }
        events.onPlan?.(plan, pass);
        firstPlan ??= plan;
        for (const u of plan.unreachable) {
          void recordEvent({ object: resourceId('Node', u.node), type: 'Warning', reason: 'NodeUnreachable', message: u.error });
        }
        const { outcome, result } = await runPass(set, plan, observation, applied, {
          applySet: loop.applySet,
          signal,
          noWait: loop.noWait,
          recheck: failedBefore,
          actor: loop.actor,
          started,
        });
        failedBefore = new Set(result.failures.map((f) => f.resource));
        quiet = memoizable && result.converged && result.failures.length === 0 ? keyOf() : undefined;
        if (quiet !== undefined && !loop.noWait) {
          await store.setQuietMemo(loop.applySet, { key: memoDigest(quiet), statuses: [...result.statuses], endpoints: [...result.endpoints] });
        }
        operationsRun += outcome.operationsRun;
        const after = afterPass(observation, outcome);
        let volumes: Pick<ApplyResult, 'volumesDeleted' | 'volumesKept' | 'failures'> = { failures: [] };
        if (loop.prune) {
          const pruned = applied.filter((r) => r.applySet === loop.applySet && !declared(set, r));
          const forgotten = await forgetPruned(pruned, applied, outcome, after);
          volumes = await prunedVolumes(applied.filter((r) => r.kind === 'Workspace' && forgotten.includes(r.id)), set, applied, loop.pruneVolumes === true);
        }
        await settleMoves(set, applied, after);
        last = { ...result, plan: firstPlan, operationsRun, failures: [...result.failures, ...volumes.failures] };
        if (volumes.failures.length > 0) last.converged = false;
        if (volumes.volumesDeleted?.length) last.volumesDeleted = [...(last.volumesDeleted ?? []), ...volumes.volumesDeleted];
        if (volumes.volumesKept?.length) last.volumesKept = volumes.volumesKept;
        if (deadline.signal.aborted && !result.converged && last.failures.length === 0) {
          last.failures.push({
            resource: 'apply',
            reason: `not converged after ${formatMs(loop.timeoutMs)}`,
            hint: 'raise --timeout, or see vendetta get for what is still pending',
          });
        }
        loop.onPass?.(last, pass);
        if (signal.aborted || loop.noWait) break;
        // Stuck: nothing ran, or the same failures again after a retry pass. More passes cannot
        // fix it without a change on a node or in the manifests (an unreachable node, a changed
        // host key — whose connection is never retried —, a service that keeps failing).
        const failures = failureSignature(result.failures);
        // A workspace another vendetta owns (and its services) stays theirs whatever a pass does.
        const onlyOwnedElsewhere = result.failures.every((f) => result.statuses.get(f.resource)?.conditions.some((c) => c.reason === OWNED_ELSEWHERE));
        const stuck = result.failures.length > 0 && (outcome.operationsSucceeded === 0 || failures === previousFailures || onlyOwnedElsewhere);
        previousFailures = failures;
        // A converged pass needs no confirmation pass: its machines confirmed every resource. Only a
        // retry after failures waits a moment (a failing service gets time to show it again).
        if (loop.until === 'converged') {
          if (result.converged || stuck) break;
          await sleep(opts.retryDelayMs ?? 500, signal);
        } else {
          await sleep(result.converged || stuck ? (loop.resyncMs ?? 30_000) : (opts.retryDelayMs ?? 500), signal);
        }
      }
    } finally {
      timer?.clear();
      await eventsWritten();
    }
    return last!;
  }

  /** After a prune forgot these workspaces: their volumes go (--volumes) or are kept, and said so. */
  async function prunedVolumes(workspaces: AppliedRecord[], set: LoadedSet, applied: AppliedRecord[], remove: boolean): Promise<Pick<ApplyResult, 'volumesDeleted' | 'volumesKept' | 'failures'>> {
    if (remove) {
      const places = workspaces.flatMap((r) => volumePlaces(r.name, r, set, applied));
      const { removed, failures } = await deleteVolumesAt(places, set, applied);
      return { volumesDeleted: removed, failures };
    }
    const kept: VolumesReport[] = [];
    for (const r of workspaces) {
      const spec = r.resource.spec as WorkspaceSpec;
      if (!hasVolumes(spec)) continue;
      kept.push({ workspace: r.name, node: spec.node, volumes: spec.volumes!.map((v) => v.name) });
      void recordEvent({ object: r.id, type: 'Normal', reason: 'VolumesKept', message: `kept volume data of workspace ${r.name}: delete with vendetta delete workspace ${r.name} --volumes` });
    }
    return { volumesKept: kept, failures: [] };
  }

  function declared(set: LoadedSet, r: AppliedRecord): boolean {
    const maps = { Node: set.desired.nodes, Workspace: set.desired.workspaces, Service: set.desired.services } as const;
    return maps[r.kind].has(r.name);
  }

  async function withLock<T>(command: string, lockTimeoutMs: number | undefined, work: () => Promise<T>): Promise<T> {
    const release = await store.lock(command, { timeoutMs: lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, onWait: events.onLockWait });
    try {
      return await work();
    } finally {
      await release();
    }
  }

  /**
   * The commit each branch or tag source.git names upstream now: one `git ls-remote` per workspace
   * made from a branch, on its node (its network, its keys), all at once. A commit SHA never moves
   * and is not asked; nor is a workspace not there yet or on a node that was not reached.
   */
  async function resolveUpstreamRefs(set: LoadedSet, observed: ObservedSet, nodes: ReadonlyMap<string, NodeResource>): Promise<Map<string, string>> {
    const { isCommitId, resolveUpstream } = await import('../providers/git-source.js');
    const out = new Map<string, string>();
    await Promise.all(
      [...set.desired.workspaces.values()].map(async (ws) => {
        const git = ws.spec.source?.git;
        const node = observed.get(ws.spec.node);
        const current = node?.reachable ? node.workspaces.find((w) => w.name === ws.metadata.name) : undefined;
        if (!git || isCommitId(git.ref) || !current?.gitCommit) return;
        const resource = nodes.get(ws.spec.node);
        if (!resource) return;
        const transport = await transportFor(resource);
        out.set(ws.metadata.name, await resolveUpstream(transport, git));
      }),
    );
    return out;
  }

  /** What apply records: everything declared, but not the built-in local node (nobody declared it). */
  function allResources(set: LoadedSet) {
    const nodes = [...set.desired.nodes.values()].filter((n) => n.source || n.metadata.name !== LOCAL_NODE);
    return [...nodes, ...set.desired.workspaces.values(), ...set.desired.services.values()];
  }

  return {
    runLoop,

    async plan(loaded, p) {
      observer.warm(loaded);
      const set = await withBuilds(loaded);
      const applied = await store.list();
      const observation = await observe(set, applied, p.applySet, deps.applyTargets({ set, applied, applySet: p.applySet, prune: p.prune }));
      const id = await loadIdentity(false);
      const upstream = p.refresh ? await resolveUpstreamRefs(set, observation.observed, observation.nodes) : undefined;
      return { plan: planFn({ set, observed: observation.observed, applied, applySet: p.applySet, prune: p.prune, identity: id, adopt: p.adopt, upstream }), observed: observation.observed };
    },

    apply(set, applyOpts) {
      observer.warm(set);
      return withLock(`apply (${hostname()})`, applyOpts.lockTimeoutMs, async () => {
        const resources = allResources(set);
        // A record whose resource is the same text, in the same apply set, would be written back
        // unchanged (putApplied writes only what changed): skip even reading it again. At 10 x 100
        // that was 2,000 reads and canonical comparisons on every no-op.
        const stored = new Map((await store.list()).map((r) => [r.id, r]));
        for (const r of resources) {
          const before = stored.get(resourceId(r.kind, r.metadata.name));
          if (before?.applySet === applyOpts.applySet && JSON.stringify(before.resource) === JSON.stringify(r)) continue;
          const record = await store.putApplied(r, applyOpts.applySet);
          // The audit line: who changed what the store holds (a no-op apply of the same spec writes none).
          if (applyOpts.actor) {
            void recordEvent({ object: record.id, type: 'Normal', reason: 'Applied', message: `applied by ${applyOpts.actor} (generation ${record.generation})`, by: applyOpts.actor });
          }
        }
        const ids = resources.map((r) => resourceId(r.kind, r.metadata.name));
        // Without --prune, what the set no longer declares stays in its inventory for a later prune.
        const previous = applyOpts.prune ? [] : await store.inventory(applyOpts.applySet);
        await store.setInventory(applyOpts.applySet, [...previous, ...ids]);
        return runLoop(set, { ...applyOpts, until: 'converged' });
      });
    },

    delete(ids, deleteOpts) {
      return withLock(`delete ${ids.join(' ')}`, deleteOpts.lockTimeoutMs, async () => {
        const started = performance.now();
        const deadline = AbortSignal.timeout(deleteOpts.timeoutMs);
        const signal = deleteOpts.signal ? AbortSignal.any([deleteOpts.signal, deadline]) : deadline;
        const set = deleteOpts.set;
        const applied = await store.list();
        const records = new Map(applied.map((r) => [r.id, r]));
        const requested = [...new Set(ids)];
        // What goes: the ids, plus the services (in the store) of deleted workspaces.
        const workspaces = new Set(requested.filter((id) => id.startsWith('workspace/')).map((id) => id.slice('workspace/'.length)));
        const withServices = [
          ...requested,
          ...applied.filter((r) => r.kind === 'Service' && workspaces.has((r.resource.spec as ServiceSpec).workspace) && !requested.includes(r.id)).map((r) => r.id),
        ];
        // Only the nodes where the targets may be are observed: an unreachable node holding
        // other things never fails a delete.
        const targets = deps.deleteTargets({ ids: withServices, applied, set });
        void loadExecutor();
        let observation = await observe(set, applied, 'default', targets);
        // A Node the manifests declare but the store does not hold has nothing to forget: not an error.
        const nodeOfSet = (id: ResourceId) => id.startsWith('node/') && !!set?.desired.nodes.has(id.slice('node/'.length));
        const notFound = requested.filter((id) => !records.has(id) && !nodeOfSet(id) && !declaredAndPresent(id, set, observation));
        const live = withServices.filter((id) => !notFound.includes(id));

        const actor = deleteOpts.actor;
        const by = actor ? { by: actor } : {};
        // The audit line: who asked for each delete, before anything is touched.
        if (actor) for (const id of live) void recordEvent({ object: id, type: 'Normal', reason: 'DeleteRequested', message: `delete requested by ${actor}`, by: actor });
        const plan = planDeletionFn({ ids: live, applied, set, observed: observation.observed, identity: await loadIdentity(true) });
        const firstPlan = plan;
        events.onPlan?.(plan, 1);
        const last = await runPass(undefined, plan, observation, applied, { applySet: 'default', signal, actor, started });
        const operationsRun = last.outcome.operationsRun;
        const deletedOn = new Map<ResourceId, Set<string>>();
        for (const u of last.outcome.units) {
          if (u.target === 'deleted' && u.operationDone) deletedOn.set(u.id, (deletedOn.get(u.id) ?? new Set()).add(u.node));
        }
        const failedOps = last.outcome.units.filter((u) => u.phase === 'Failed');
        // A delete that resolved removed its object: no second look. After a failed one, look
        // again: it may have removed part of what it was asked to.
        observation = failedOps.length > 0 ? await observe(set, applied, 'default', targets) : afterPass(observation, last.outcome);

        const report: DeletionReport = { deleted: [], forgotten: [], notFound, pending: [] };
        // An unreachable node fails the delete, unless --force forgets what is on it (warned below).
        const failures: Failure[] = deleteOpts.force ? [] : [...last.result.failures.filter((f) => f.resource.startsWith('node/'))];
        for (const u of failedOps) failures.push({ resource: u.id, node: u.node, reason: u.reason ?? 'failed', hint: hintFor(u) });
        // Another vendetta's workspace was not touched: say whose it is (it stays in our store).
        for (const c of firstPlan?.conflicts ?? []) failures.push({ resource: c.resource, node: c.node, reason: c.message });
        const statuses = new Map(last.result.statuses);
        const removed: AppliedRecord[] = [];
        const remaining = new Map(records);
        const now = new Date().toISOString();
        const order = { Workspace: 0, Service: 1, Node: 2 } as const;
        const liveRecords = live.map((id) => records.get(id)).filter((r): r is AppliedRecord => !!r).sort((x, y) => order[x.kind] - order[y.kind]);
        // The records go at once, not one after the other (2,000 at 10 x 100 took 0.6 s in turn):
        // what the loop decides from (`remaining`) changes now, the removals are awaited below.
        const removals: Promise<void>[] = [];
        const forget = (r: AppliedRecord) => {
          removals.push(store.remove(r.id));
          remaining.delete(r.id);
          removed.push(r);
          statuses.delete(r.id);
        };

        for (const r of liveRecords) {
          if (r.kind === 'Node') {
            const users = usersOf(r.name, remaining.values());
            if (users.length === 0) {
              forget(r);
              report.deleted.push({ id: r.id, nodes: [] });
              void recordEvent({ object: r.id, type: 'Normal', reason: 'Forgotten', message: `forgot node ${r.name}: no workspace record uses it`, ...by });
              continue;
            }
            // Never forget a node while records place workspaces on it: they could not be
            // observed (or deleted) any more. delete -f of a set sharing the node with others
            // keeps it quietly; naming the node explicitly is an error.
            const message = `node ${r.name} is still used by ${users.join(', ')}: kept in the store`;
            const others = users.filter((u) => !live.includes(u));
            if (set || others.length === 0) {
              // Its workspaces in this delete are reported themselves; others of another set are theirs.
              void recordEvent({ object: r.id, type: 'Normal', reason: 'Kept', message, ...by });
            } else {
              failures.push({ resource: r.id, node: r.name, reason: message, hint: `delete those first (vendetta delete ${others.map((u) => u.replace('/', ' ')).join('; vendetta delete ')})` });
            }
            continue;
          }
          const remains = remainsOf(r, remaining, observation);
          if (remains.length === 0) {
            forget(r);
            report.deleted.push({ id: r.id, nodes: [...(deletedOn.get(r.id) ?? [])].sort() });
            if (!deletedOn.has(r.id)) void recordEvent({ object: r.id, type: 'Normal', reason: 'Deleted', message: `forgot ${r.id}: no longer on its node`, ...by });
            continue;
          }
          const present = remains.filter((x) => x.why === 'present');
          if (present.length > 0) {
            if (!failures.some((f) => f.resource === r.id)) {
              failures.push({ resource: r.id, node: present[0]!.node, reason: `still on node ${present.map((x) => x.node).join(', ')} after delete; kept in the store`, hint: `see vendetta describe ${r.id.replace('/', ' ')}, then run vendetta delete again` });
            }
            continue;
          }
          // Only unreachable nodes (or unobservable providers) hold it, as far as we know.
          const where = remains.map((x) => x.node);
          if (deleteOpts.force) {
            forget(r);
            for (const x of remains) {
              const leftover = r.kind === 'Service' ? serviceLeftover(r.name, x.workspace, x.provider) : workspaceLeftover(observation.nodes.get(x.node), x.provider, x.workspace);
              report.forgotten.push({ id: r.id, node: x.node, leftover });
              void recordEvent({ object: r.id, type: 'Warning', reason: 'ForgottenUnreachable', message: `forgot ${r.id} without deleting it: node ${x.node} could not be reached; it may still have ${leftover}`, ...by });
            }
            continue;
          }
          const status: ResourceStatus = {
            phase: 'DeletePending',
            conditions: [condition('Deleted', false, remains[0]!.why === 'unreachable' ? 'NodeUnreachable' : 'ProviderUnavailable', `delete requested; ${remains.map((x) => x.error).join('; ')}`, now)],
            observedGeneration: r.status?.observedGeneration ?? 0,
            details: { node: where.join(',') },
          };
          const next = carryTransitionTimes(status, r.status);
          if (statusChanged(next, r.status)) await store.setStatus(r.id, next);
          statuses.set(r.id, next);
          for (const x of remains) report.pending.push({ id: r.id, node: x.node });
          const leftovers = remains.map((x) => (r.kind === 'Service' ? serviceLeftover(r.name, x.workspace, x.provider) : workspaceLeftover(observation.nodes.get(x.node), x.provider, x.workspace)));
          failures.push({
            resource: r.id,
            node: where.join(', '),
            reason: `node ${where.join(', ')} could not be reached: not deleted, kept in the store as DeletePending`,
            hint: `run vendetta delete again once ${where.join(', ')} is reachable, or add --force to forget it (it may be left there: ${leftovers.join('; ')})`,
          });
        }
        await Promise.all(removals);
        // Declared in the manifests only (no record): nothing to keep, but say it was not deleted.
        const reported = new Set(report.deleted.map((d) => d.id));
        for (const id of live) {
          if (records.has(id) || nodeOfSet(id) || reported.has(id)) continue;
          if (declaredAndPresent(id, set, observation) && !failures.some((f) => f.resource === id)) {
            failures.push({ resource: id, reason: 'not deleted: its node could not be observed', hint: 'run vendetta delete again once the node is reachable' });
          } else {
            report.deleted.push({ id, nodes: [...(deletedOn.get(id) ?? [])].sort() });
          }
        }
        let volumesDeleted: VolumesReport[] | undefined;
        if (deleteOpts.volumes) {
          // Only workspaces confirmed gone (or never found): a kept or pending one keeps its data.
          const gone = requested.filter((id) => id.startsWith('workspace/') && (notFound.includes(id) || report.deleted.some((d) => d.id === id)));
          const places = gone.flatMap((id) => volumePlaces(id.slice('workspace/'.length), records.get(id), set, applied));
          const volumes = await deleteVolumesAt(places, set, applied);
          failures.push(...volumes.failures);
          volumesDeleted = volumes.removed;
          // A workspace already gone whose volumes were still there was found after all.
          report.notFound = notFound.filter((id) => !volumes.removed.some((v) => resourceId('Workspace', v.workspace) === id));
        }
        await dropFromInventories(removed);
        const ok = failures.length === 0 && !signal.aborted && (report.notFound.length === 0 || !!deleteOpts.ignoreNotFound);
        if (signal.aborted && failures.length === 0) {
          failures.push({ resource: 'delete', reason: `not done after ${formatMs(deleteOpts.timeoutMs)}`, hint: 'raise --timeout' });
        }
        await eventsWritten();
        return { converged: ok, plan: firstPlan!, operationsRun, statuses, failures, endpoints: new Map(), deletion: report, ...(volumesDeleted ? { volumesDeleted } : {}) };
      });
    },

    close: () => observer.close(),
  };
}

/**
 * The set with the build hash of every workspace that has spec.build (src/build/context.ts). That
 * module (tar-stream, dockerignore rules) is loaded only when some workspace builds.
 */
async function withBuilds(loaded: LoadedSet): Promise<LoadedSet> {
  if (![...loaded.desired.workspaces.values()].some((ws) => ws.spec.build !== undefined)) return loaded;
  const { withBuildHashes } = await import('../build/context.js');
  return withBuildHashes(loaded);
}
