// The reconcile engine: observe every node (I/O) → plan (pure) → execute the plan with machines
// (./pass.ts) → status and events. `runLoop` repeats passes, level-triggered: each pass starts
// from the whole desired set and a fresh observation. `apply` runs it until converged; watch and
// serve modes run it forever with a resync interval.
//
// Every dependency is passed in (`EngineDeps`), so this file imports no other engineer's
// implementation; ./engine.ts wires the real ones.
import { hostname } from 'node:os';
import type {
  EventRecord,
  HealthcheckSpec,
  NodeResource,
  ObservedNode,
  ObservedSet,
  ObservedWorkspace,
  ProviderName,
  ResourceId,
  ResourceStatus,
  WorkspaceResource,
  WorkspaceSpec,
  ServiceSpec,
} from '../model/types.js';
import { IMPLICIT_LOCAL_NODE, LOCAL_ADDRESS, LOCAL_NODE, resourceId } from '../model/types.js';
import type { Plan } from '../plan/types.js';
import { ProviderError, type DesiredWorkspace, type ProviderDriver, type WorkspaceRuntime } from '../providers/types.js';
import type { DesiredService, HealthResult, ServiceManager } from '../services/types.js';
import type { AppliedRecord, Store } from '../store/types.js';
import { HostKeyMismatchError, TransportError, type Transport } from '../transport/types.js';
import type { ApplyOptions, ApplyResult, EngineApi, EngineEvents, Failure, LoadedSet } from './api.js';
import { executePass, providerUnavailable, type PassOutcome, type UnitOutcome } from './pass.js';
import { errorMessage, type RetryPolicy } from './retry.js';
import { carryTransitionTimes, condition, failureSignature, httpEndpoint, publishedHost, settledOk } from './status.js';

export interface PlanFnInput {
  set: LoadedSet;
  observed: ObservedSet;
  applied: AppliedRecord[];
  applySet: string;
  prune: boolean;
}
export interface PlanDeletionFnInput {
  ids: ResourceId[];
  applied: AppliedRecord[];
  set?: LoadedSet;
  observed: ObservedSet;
}

/** The modules the engine is built from; ./engine.ts passes the real ones. */
export interface EngineDeps {
  plan: (input: PlanFnInput) => Plan;
  planDeletion: (input: PlanDeletionFnInput) => Plan;
  desiredWorkspace: (set: LoadedSet, name: string) => DesiredWorkspace;
  desiredService: (set: LoadedSet, name: string, workspaceDir: string) => DesiredService;
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
  /** Provider operations at a time per node (default 4). */
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
  /** Gap between service observations while confirming a start (default 250 ms). */
  servicePollMs?: number;
  /** Pause between passes that are still converging (default 500 ms). */
  passDelayMs?: number;
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

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Math.round(ms / 100) / 10}s`;
}

/** Does the node's connection still run a command? (Any exit code counts: it answered.) */
function answers(transport: Transport): Promise<boolean> {
  return transport.exec(['true']).then(
    () => true,
    () => false,
  );
}

function nodeHint(node: string, err: unknown): string {
  if ((err instanceof TransportError || err instanceof ProviderError) && err.hint) return err.hint;
  return `check that node ${node} is up and reachable: vendetta node test ${node}`;
}

export function createEngineWith(deps: EngineDeps, opts: EngineOptions): Engine {
  const { store } = opts;
  const events = opts.events ?? {};
  const helpers = {
    desiredWorkspace: opts.desiredWorkspaceFn ?? deps.desiredWorkspace,
    desiredService: opts.desiredServiceFn ?? deps.desiredService,
    serviceManager: opts.serviceManagerFn ?? deps.serviceManager,
    checkHealth: opts.checkHealthFn ?? deps.checkHealth,
    parseDuration: deps.parseDuration,
  };
  const planFn = opts.planFn ?? deps.plan;
  const planDeletionFn = opts.planDeletionFn ?? deps.planDeletion;
  const semaphore = new KeyedSemaphore(opts.concurrencyPerNode ?? 4);
  const transports = new Map<string, Promise<Transport>>();

  // ----- transports: one per node, reused across passes ---------------------------------------
  function transportFor(node: NodeResource): Promise<Transport> {
    const name = node.metadata.name;
    let t = transports.get(name);
    if (!t) {
      t = opts.connect(node);
      transports.set(name, t);
      // A failed connection is retried next pass; a changed host key never is.
      t.catch((err) => {
        if (!(err instanceof HostKeyMismatchError)) transports.delete(name);
      });
    }
    return t;
  }

  // ----- events ------------------------------------------------------------------------------
  async function recordEvent(e: Omit<EventRecord, 'time'>): Promise<void> {
    const event: EventRecord = { time: new Date().toISOString(), ...e };
    events.onEvent?.(event);
    await store.appendEvent(event).catch(() => undefined); // events are best effort: never fail a pass
  }

  // ----- observe -----------------------------------------------------------------------------
  /** Node resources by name: declared in the set, else as last applied, else the implicit local node. */
  function resolveNodes(set: LoadedSet | undefined, applied: AppliedRecord[]): Map<string, NodeResource> {
    const nodes = new Map<string, NodeResource>();
    for (const r of applied) if (r.kind === 'Node') nodes.set(r.name, r.resource as NodeResource);
    for (const [name, n] of set?.desired.nodes ?? []) nodes.set(name, n);
    if (!nodes.has(LOCAL_NODE)) nodes.set(LOCAL_NODE, IMPLICIT_LOCAL_NODE);
    return nodes;
  }

  /** Which providers to observe on which node: those of desired and of applied workspaces. */
  function observationTargets(set: LoadedSet | undefined, applied: AppliedRecord[]): Map<string, Set<ProviderName>> {
    const targets = new Map<string, Set<ProviderName>>();
    const add = (spec: WorkspaceSpec) => targets.set(spec.node, (targets.get(spec.node) ?? new Set()).add(spec.provider));
    for (const ws of set?.desired.workspaces.values() ?? []) add(ws.spec);
    for (const r of applied) if (r.kind === 'Workspace') add((r.resource as WorkspaceResource).spec);
    return targets;
  }

  interface Observation {
    observed: ObservedSet;
    nodes: Map<string, NodeResource>;
    latencyMs: Map<string, number>;
    hints: Map<string, string>;
  }

  async function observe(set: LoadedSet | undefined, applied: AppliedRecord[], applySet: string): Promise<Observation> {
    const nodes = resolveNodes(set, applied);
    const observed: ObservedSet = new Map();
    const latencyMs = new Map<string, number>();
    const hints = new Map<string, string>();
    await Promise.all(
      [...observationTargets(set, applied)].map(async ([name, providers]) => {
        const node = nodes.get(name);
        if (!node) {
          observed.set(name, { name, reachable: false, error: `node ${name} is not declared in the manifests or the store`, workspaces: [] });
          hints.set(name, `add a Node named ${name} to the manifests`);
          return;
        }
        const started = Date.now();
        let transport: Transport | undefined;
        try {
          transport = await transportFor(node);
          const ctx = { node, transport, applySet };
          const unavailable: NonNullable<ObservedNode['unavailable']> = [];
          const lists = await Promise.all(
            // A provider without a driver is not observed: its workspaces fail when operated on.
            [...providers].map(async (p) => {
              try {
                return (await opts.drivers[p]?.observe(ctx)) ?? [];
              } catch (err) {
                // The connection itself failed: the whole node is unreachable (below). Anything
                // else (no LXD daemon, no Docker socket) only takes this provider's workspaces
                // out of the pass; the node's other providers still converge. Drivers also throw
                // TransportError for a daemon socket that does not answer, so a round trip tells
                // whether the node's connection is what failed.
                if (err instanceof TransportError && !(await answers(transport!))) throw err;
                const message = errorMessage(err);
                const error = message.includes(`node ${name}`) ? message : `cannot observe ${p} on node ${name}: ${message}`;
                unavailable.push({ provider: p, error, hint: err instanceof ProviderError || err instanceof TransportError ? err.hint : undefined });
                return [] as ObservedWorkspace[];
              }
            }),
          );
          unavailable.sort((a, b) => a.provider.localeCompare(b.provider));
          observed.set(name, { name, reachable: true, workspaces: lists.flat(), ...(unavailable.length > 0 ? { unavailable } : {}) });
          latencyMs.set(name, Date.now() - started);
        } catch (err) {
          const where = transport?.describe ?? (node.spec.address === LOCAL_ADDRESS ? 'local' : `${node.spec.user ? `${node.spec.user}@` : ''}${node.spec.address}:${node.spec.port ?? 22}`);
          const what = transport ? 'cannot observe' : 'cannot connect to';
          // Most transport errors already say "… node <name> (<where>)": don't say it twice.
          const message = errorMessage(err);
          const error = message.includes(`node ${name} `) ? message : `${what} node ${name} (${where}): ${message}`;
          observed.set(name, { name, reachable: false, error, workspaces: [] });
          hints.set(name, nodeHint(name, err));
        }
      }),
    );
    return { observed, nodes, latencyMs, hints };
  }

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
    p: { applySet: string; signal: AbortSignal; noWait?: boolean },
  ): Promise<PassResult> {
    const outcome = await executePass({
      helpers,
      set,
      plan,
      observed: observation.observed,
      nodes: observation.nodes,
      drivers: opts.drivers,
      transport: (node) => transportFor(observation.nodes.get(node)!),
      applySet: p.applySet,
      withNodeSlot: (node, work) => semaphore.run(node, work),
      record: (e) => void recordEvent(e),
      progress: (id, message) => events.onProgress?.(id, message),
      signal: p.signal,
      retry: opts.retry,
      servicePollMs: opts.servicePollMs,
      noWait: p.noWait,
    });
    const result = await summarize(set, plan, observation, applied, outcome, p.signal.aborted);
    return { plan, outcome, result };
  }

  /** Statuses, failures and endpoints of a pass; statuses are written to the store. */
  async function summarize(
    set: LoadedSet | undefined,
    plan: Plan,
    observation: Observation,
    applied: AppliedRecord[],
    outcome: PassOutcome,
    timedOut: boolean,
  ): Promise<ApplyResult> {
    const now = new Date().toISOString();
    const records = new Map(applied.map((r) => [r.id, r]));
    const statuses = new Map<ResourceId, ResourceStatus>();
    const failures: Failure[] = [];
    const endpoints = new Map<ResourceId, string>();
    const generation = (id: ResourceId) => records.get(id)?.generation ?? 0;
    const previousGeneration = (id: ResourceId) => records.get(id)?.status?.observedGeneration ?? 0;

    // Nodes.
    const nodeNames = new Set([...(set?.desired.workspaces.values() ?? [])].map((w) => w.spec.node));
    for (const name of observation.observed.keys()) nodeNames.add(name);
    for (const name of nodeNames) {
      const o = observation.observed.get(name);
      const id = resourceId('Node', name);
      const latency = observation.latencyMs.get(name);
      const reachable = !!o?.reachable;
      // A provider that could not be observed fails its own workspaces, not the node.
      const unavailable = o?.unavailable ?? [];
      statuses.set(id, {
        phase: reachable ? 'Ready' : 'NotReady',
        conditions: [
          condition('Reachable', reachable, reachable ? 'Observed' : 'Unreachable', reachable ? `observed in ${latency} ms` : (o?.error ?? 'not observed'), now),
          condition('Ready', reachable, reachable ? 'Observed' : 'Unreachable', reachable ? 'node observed' : (o?.error ?? 'not observed'), now),
          ...(unavailable.length > 0 ? [condition('ProvidersAvailable', false, 'ProviderUnavailable', unavailable.map((u) => u.error).join('; '), now)] : []),
        ],
        observedGeneration: generation(id),
        details: { address: observation.nodes.get(name)?.spec.address ?? 'unknown', ...(latency !== undefined ? { latencyMs: latency } : {}) },
      });
      if (!reachable) {
        failures.push({ resource: id, node: name, reason: o?.error ?? `node ${name} was not observed`, hint: observation.hints.get(name) });
      }
      // A provider only applied workspaces use (a prune) has no declared workspace to fail: the node says it.
      for (const u of unavailable) {
        const declaredThere = [...(set?.desired.workspaces.values() ?? [])].some((w) => w.spec.node === name && w.spec.provider === u.provider);
        if (!declaredThere) failures.push({ resource: id, node: name, reason: u.error, hint: u.hint });
      }
    }

    function publishedPortFor(workspace: string, containerPort: number) {
      for (const spec of set?.desired.workspaces.get(workspace)?.spec.ports ?? []) {
        try {
          const p = deps.parsePortSpec(spec);
          if (p.containerPort === containerPort) return p;
        } catch {
          // validated by the loader: an unparsable one is just not an endpoint
        }
      }
      return undefined;
    }

    // Resources that had a machine this pass.
    const byId = new Map<ResourceId, UnitOutcome>();
    for (const u of outcome.units) {
      if (u.target === 'deleted') continue;
      byId.set(u.id, u);
    }
    for (const u of byId.values()) {
      const ok = settledOk(u.phase);
      const converged = ok && !timedOut;
      const reason = u.reason ?? (ok ? undefined : timedOut ? `timed out while ${u.phase.toLowerCase()}` : `not ready: ${u.phase}`);
      const details: Record<string, string | number | boolean> = { node: u.node };
      if (u.workspace) details.workspace = u.workspace;
      if (u.address) details.address = u.address;
      const conditions = [
        condition('Ready', u.phase === 'Ready' || u.phase === 'Completed', u.phase, reason ?? (u.phase === 'Stopped' ? 'stopped as declared' : 'ready'), now),
      ];
      if (u.kind === 'Service') {
        const obs = u.observedService;
        if (obs?.pid !== undefined) details.pid = obs.pid;
        if (obs) details.restarts = obs.restarts;
        if (obs?.exitCode !== undefined) details.exitCode = obs.exitCode;
        const svc = set?.desired.services.get(u.name);
        const port = svc?.spec.ports?.[0];
        // Where a user reaches it: the workspace's published port for it when there is one (a
        // container address is only reachable from the node), else the workspace address.
        const published = port === undefined ? undefined : publishedPortFor(svc!.spec.workspace, port);
        const nodeAddress = observation.nodes.get(u.node)?.spec.address ?? LOCAL_ADDRESS;
        if (published) details.endpoint = httpEndpoint(publishedHost(published.hostIp, nodeAddress), published.hostPort);
        else if (port !== undefined && u.address) details.endpoint = httpEndpoint(u.address, port);
        if (details.endpoint && u.phase === 'Ready') endpoints.set(u.id, String(details.endpoint));
        if (u.hasHealthcheck) {
          conditions.push(
            condition(
              'Healthy',
              u.lastHealth ? u.lastHealth.ok : 'Unknown',
              u.lastHealth ? (u.lastHealth.ok ? 'Healthy' : 'Unhealthy') : 'NotChecked',
              u.lastHealth?.message ?? 'not checked yet',
              now,
            ),
          );
        }
        if (u.dependsOn?.length) {
          const waiting = u.phase === 'WaitingDependencies' || (u.phase === 'Failed' && /^dependency /.test(u.reason ?? ''));
          conditions.push(condition('DependenciesMet', !waiting, waiting ? 'Waiting' : 'Met', waiting ? (reason ?? 'waiting') : 'dependencies met', now));
        }
      } else {
        const ws = set?.desired.workspaces.get(u.name);
        const nodeAddress = observation.nodes.get(u.node)?.spec.address ?? LOCAL_ADDRESS;
        const first = ws?.spec.ports?.[0];
        if (first && u.phase === 'Ready') {
          try {
            const port = deps.parsePortSpec(first);
            endpoints.set(u.id, httpEndpoint(publishedHost(port.hostIp, nodeAddress), port.hostPort));
          } catch {
            // The manifest loader validated ports; an unparsable one just has no endpoint.
          }
        }
      }
      const status: ResourceStatus = {
        phase: u.phase,
        conditions,
        observedGeneration: converged ? generation(u.id) : previousGeneration(u.id),
        details,
      };
      statuses.set(u.id, carryTransitionTimes(status, records.get(u.id)?.status));
      if (!ok) {
        failures.push({ resource: u.id, node: u.node, reason: reason!, hint: hintFor(u) });
      }
    }

    // Declared resources without a machine: their node could not be observed.
    // (or, on a reachable node, their provider could not be observed).
    const unitless: { id: ResourceId; node: string; provider?: ProviderName }[] = [];
    for (const ws of set?.desired.workspaces.values() ?? []) unitless.push({ id: resourceId('Workspace', ws.metadata.name), node: ws.spec.node, provider: ws.spec.provider });
    for (const svc of set?.desired.services.values() ?? []) {
      const ws = set?.desired.workspaces.get(svc.spec.workspace);
      unitless.push({ id: resourceId('Service', svc.metadata.name), node: ws?.spec.node ?? 'unknown', provider: ws?.spec.provider });
    }
    for (const { id, node, provider } of unitless) {
      if (byId.has(id)) continue;
      const unavailable = observation.observed.get(node)?.reachable && provider ? providerUnavailable(observation.observed, node, provider) : undefined;
      if (unavailable) {
        statuses.set(id, {
          phase: 'Failed',
          conditions: [condition('Ready', false, 'ProviderUnavailable', unavailable.error, now)],
          observedGeneration: previousGeneration(id),
          details: { node },
        });
        failures.push({ resource: id, node, reason: unavailable.error, hint: unavailable.hint });
        continue;
      }
      const why = observation.observed.get(node)?.error ?? `node ${node} was not observed`;
      statuses.set(id, {
        phase: 'NotReady',
        conditions: [condition('Ready', false, 'NodeUnreachable', why, now)],
        observedGeneration: previousGeneration(id),
        details: { node },
      });
      failures.push({ resource: id, node, reason: `node ${node} is unreachable`, hint: observation.hints.get(node) });
    }

    await Promise.all([...statuses].map(([id, status]) => store.setStatus(id, status)));
    const converged = !timedOut && plan.operations.length === 0 && plan.unreachable.length === 0 && failures.length === 0;
    return { converged, plan, operationsRun: outcome.operationsRun, statuses, failures, endpoints };
  }

  function hintFor(u: UnitOutcome): string | undefined {
    if (u.kind === 'Service' && /unhealthy|exited|did not stay running|not found|not executable|already in use/.test(u.reason ?? '')) {
      return `see what it printed: vendetta logs ${u.name}`;
    }
    if (u.phase === 'Failed') return `see vendetta describe ${u.id.replace('/', ' ')}`;
    return undefined;
  }

  /** After a prune or delete pass: forget records whose objects are gone from their nodes. */
  async function forgetGone(
    candidates: AppliedRecord[],
    all: AppliedRecord[],
    outcome: PassOutcome,
    observation: Observation,
  ): Promise<ResourceId[]> {
    const deletedOk = new Set(outcome.units.filter((u) => u.target === 'deleted' && u.phase === 'Deleting').map((u) => u.id));
    const failedDelete = new Set(outcome.units.filter((u) => u.target === 'deleted' && u.phase !== 'Deleting').map((u) => u.id));
    const removed: ResourceId[] = [];
    // Workspaces first: a service whose workspace record is gone went with it.
    const ordered = [...candidates].sort((a, b) => Number(a.kind === 'Service') - Number(b.kind === 'Service'));
    for (const r of ordered) {
      if (failedDelete.has(r.id)) continue;
      const workspaceGone =
        r.kind === 'Service' && (removed.includes(resourceId('Workspace', (r.resource.spec as ServiceSpec).workspace)) || !workspaceNodeOf(r, all));
      if (!deletedOk.has(r.id) && r.kind !== 'Node' && !workspaceGone) {
        // Not deleted in this pass: forget it only if its node says it is not there.
        const node = r.kind === 'Workspace' ? (r.resource.spec as WorkspaceSpec).node : workspaceNodeOf(r, all);
        const o = node ? observation.observed.get(node) : undefined;
        if (!o?.reachable) continue;
        // Its provider could not be observed there: absent from the list proves nothing.
        const provider = workspaceRecordOf(r, all)?.spec.provider;
        if (provider && providerUnavailable(observation.observed, o.name, provider)) continue;
        if (r.kind === 'Workspace' && o.workspaces.some((w) => w.name === r.name)) continue;
        if (r.kind === 'Service' && o.workspaces.some((w) => w.services.some((s) => s.name === r.name) && w.name === (r.resource.spec as ServiceSpec).workspace)) continue;
      }
      await store.remove(r.id);
      removed.push(r.id);
    }
    const bySet = new Map<string, ResourceId[]>();
    for (const r of candidates) if (removed.includes(r.id)) bySet.set(r.applySet, [...(bySet.get(r.applySet) ?? []), r.id]);
    for (const [applySet, ids] of bySet) {
      const inventory = await store.inventory(applySet);
      await store.setInventory(applySet, inventory.filter((id) => !ids.includes(id)));
    }
    return removed;
  }

  function workspaceNodeOf(service: AppliedRecord, records: AppliedRecord[]): string | undefined {
    const ws = (service.resource.spec as ServiceSpec).workspace;
    const rec = records.find((r) => r.kind === 'Workspace' && r.name === ws);
    return rec ? (rec.resource.spec as WorkspaceSpec).node : undefined;
  }

  /** A workspace record itself, or a service record's workspace record. */
  function workspaceRecordOf(r: AppliedRecord, records: AppliedRecord[]): WorkspaceResource | undefined {
    if (r.kind === 'Workspace') return r.resource as WorkspaceResource;
    const ws = (r.resource.spec as ServiceSpec).workspace;
    return records.find((x) => x.kind === 'Workspace' && x.name === ws)?.resource as WorkspaceResource | undefined;
  }

  // ----- the loop ----------------------------------------------------------------------------
  async function runLoop(set: LoadedSet, loop: LoopOptions): Promise<ApplyResult> {
    const deadline = new AbortController();
    const timer = loop.until === 'converged' ? setTimeout(() => deadline.abort(), loop.timeoutMs) : undefined;
    const signal = loop.signal ? AbortSignal.any([loop.signal, deadline.signal]) : deadline.signal;
    let firstPlan: Plan | undefined;
    let operationsRun = 0;
    let previousFailures: string | undefined;
    let last: ApplyResult | undefined;
    try {
      for (let pass = 1; ; pass++) {
        const applied = await store.list();
        const observation = await observe(set, applied, loop.applySet);
        const plan = planFn({ set, observed: observation.observed, applied, applySet: loop.applySet, prune: loop.prune });
        events.onPlan?.(plan, pass);
        firstPlan ??= plan;
        for (const u of plan.unreachable) {
          void recordEvent({ object: resourceId('Node', u.node), type: 'Warning', reason: 'NodeUnreachable', message: u.error });
        }
        const { outcome, result } = await runPass(set, plan, observation, applied, {
          applySet: loop.applySet,
          signal,
          noWait: loop.noWait,
        });
        operationsRun += outcome.operationsRun;
        if (loop.prune) {
          const pruned = applied.filter((r) => r.applySet === loop.applySet && !declared(set, r));
          await forgetGone(pruned, applied, outcome, observation);
        }
        last = { ...result, plan: firstPlan, operationsRun };
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
        const stuck = result.failures.length > 0 && (outcome.operationsSucceeded === 0 || failures === previousFailures);
        previousFailures = failures;
        if (loop.until === 'converged') {
          if (result.converged || stuck) break;
          await sleep(opts.passDelayMs ?? 500, signal);
        } else {
          await sleep(result.converged || stuck ? (loop.resyncMs ?? 30_000) : (opts.passDelayMs ?? 500), signal);
        }
      }
    } finally {
      clearTimeout(timer);
    }
    return last!;
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

  /** What apply records: everything declared, but not the built-in local node (nobody declared it). */
  function allResources(set: LoadedSet) {
    const nodes = [...set.desired.nodes.values()].filter((n) => n.source || n.metadata.name !== LOCAL_NODE);
    return [...nodes, ...set.desired.workspaces.values(), ...set.desired.services.values()];
  }

  return {
    runLoop,

    async plan(set, p) {
      const applied = await store.list();
      const observation = await observe(set, applied, p.applySet);
      return { plan: planFn({ set, observed: observation.observed, applied, applySet: p.applySet, prune: p.prune }), observed: observation.observed };
    },

    apply(set, applyOpts) {
      return withLock(`apply (${hostname()})`, applyOpts.lockTimeoutMs, async () => {
        const resources = allResources(set);
        for (const r of resources) await store.putApplied(r, applyOpts.applySet);
        const ids = resources.map((r) => resourceId(r.kind, r.metadata.name));
        // Without --prune, what the set no longer declares stays in its inventory for a later prune.
        const previous = applyOpts.prune ? [] : await store.inventory(applyOpts.applySet);
        await store.setInventory(applyOpts.applySet, [...previous, ...ids]);
        return runLoop(set, { ...applyOpts, until: 'converged' });
      });
    },

    delete(ids, deleteOpts) {
      return withLock(`delete ${ids.join(' ')}`, deleteOpts.lockTimeoutMs, async () => {
        const deadline = AbortSignal.timeout(deleteOpts.timeoutMs);
        const signal = deleteOpts.signal ? AbortSignal.any([deleteOpts.signal, deadline]) : deadline;
        const applied = await store.list();
        // What goes: the ids, plus the services of deleted workspaces.
        const workspaces = new Set(ids.filter((id) => id.startsWith('workspace/')).map((id) => id.slice('workspace/'.length)));
        const targets = applied.filter(
          (r) => ids.includes(r.id) || (r.kind === 'Service' && workspaces.has((r.resource.spec as ServiceSpec).workspace)),
        );
        let firstPlan: Plan | undefined;
        let operationsRun = 0;
        let last: ApplyResult | undefined;
        const deletedByOperation = new Set<ResourceId>();
        for (;;) {
          // The manifests' set (delete -f) says where things are even when the store forgot it.
          const observation = await observe(deleteOpts.set, applied, 'default');
          const plan = planDeletionFn({ ids, applied, set: deleteOpts.set, observed: observation.observed });
          firstPlan ??= plan;
          events.onPlan?.(plan, 1);
          const { outcome, result } = await runPass(undefined, plan, observation, applied, { applySet: 'default', signal });
          operationsRun += outcome.operationsRun;
          const failedOps = outcome.units.filter((u) => u.phase === 'Failed');
          last = { ...result, plan: firstPlan, operationsRun, failures: [...result.failures.filter((f) => f.resource.startsWith('node/')), ...failedOps.map((u) => ({ resource: u.id, node: u.node, reason: u.reason ?? 'failed', hint: hintFor(u) }))] };
          if (plan.operations.length === 0 || failedOps.length > 0 || signal.aborted) {
            // Nothing left to delete on reachable nodes: forget what is confirmed gone.
            const reobserved = plan.operations.length === 0 ? observation : await observe(undefined, applied, 'default');
            const removed = await forgetGone(targets, applied, { units: [], operationsRun: 0, operationsSucceeded: 0 }, reobserved);
            for (const id of removed) {
              if (!deletedByOperation.has(id)) void recordEvent({ object: id, type: 'Normal', reason: 'Deleted', message: `forgot ${id}: no longer on its node` });
            }
            const notGone = targets.filter((r) => r.kind !== 'Node' && !removed.includes(r.id));
            for (const r of notGone) {
              if (!last.failures.some((f) => f.resource === r.id)) {
                last.failures.push({ resource: r.id, reason: 'still present or its node could not be observed; kept in the store', hint: 'run vendetta delete again once the node is reachable' });
              }
            }
            last.converged = last.failures.length === 0 && !signal.aborted;
            for (const id of removed) last.statuses.delete(id);
            return last;
          }
          for (const u of outcome.units) if (u.target === 'deleted' && u.operationDone) deletedByOperation.add(u.id);
          await sleep(opts.passDelayMs ?? 500, signal);
        }
      });
    },

    async close() {
      const all = [...transports.values()];
      transports.clear();
      await Promise.all(all.map((t) => t.then((x) => x.close()).catch(() => undefined)));
    },
  };
}
