// The record stage: a pass's outcome as Kubernetes-style statuses, failures and endpoints
// (pure), and writing those statuses to the store.
import type { ProviderName, ResourceId, ResourceStatus } from '../model/types.js';
import { LOCAL_ADDRESS, resourceId } from '../model/types.js';
import type { Plan } from '../plan/types.js';
import type { AppliedRecord, Store } from '../store/types.js';
import type { ApplyResult, Failure, LoadedSet } from './api.js';
import type { PassOutcome, UnitOutcome } from './pass.js';
import { providerUnavailable, type Observation } from './observe.js';
import { carryTransitionTimes, condition, httpEndpoint, OPERATION_PHASE, publishedHost, settledOk } from './status.js';

/** What a pass's statuses are made from. */
export interface SummaryInput {
  set: LoadedSet | undefined;
  plan: Plan;
  observation: Observation;
  applied: AppliedRecord[];
  outcome: PassOutcome;
  timedOut: boolean;
  parsePortSpec: (text: string) => { hostIp?: string; hostPort: number; containerPort: number };
  /** ISO time for new condition transitions. */
  now: string;
}

/** Statuses, failures and endpoints of a pass (pure: ./record.ts's writeStatuses stores them). */
/** The Ready condition's reason for a workspace (and its services) that another vendetta owns. */
export const OWNED_ELSEWHERE = 'OwnedByAnotherVendetta';

export function summarize(input: SummaryInput): ApplyResult {
  const { set, plan, observation, applied, outcome, timedOut, now } = input;
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
    const reachable = !!o?.reachable;
    // A provider that could not be observed fails its own workspaces, not the node.
    const unavailable = o?.unavailable ?? [];
    statuses.set(id, {
      phase: reachable ? 'Ready' : 'NotReady',
      conditions: [
        condition('Reachable', reachable, reachable ? 'Observed' : 'Unreachable', reachable ? 'answered the observation' : (o?.error ?? 'not observed'), now),
        condition('Ready', reachable, reachable ? 'Observed' : 'Unreachable', reachable ? 'node observed' : (o?.error ?? 'not observed'), now),
        ...(unavailable.length > 0 ? [condition('ProvidersAvailable', false, 'ProviderUnavailable', unavailable.map((u) => u.error).join('; '), now)] : []),
      ],
      observedGeneration: generation(id),
      // No latency here: it changes on every pass, and an unchanged status is not written again
      // (`vendetta node test` measures it).
      details: { address: observation.nodes.get(name)?.spec.address ?? 'unknown' },
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
        const p = input.parsePortSpec(spec);
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
    const reason = u.reason ?? (ok ? undefined : timedOut ? `timed out while ${phaseWords(u.phase)}` : `not ready: ${u.phase}`);
    const details: Record<string, string | number | boolean> = { node: u.node };
    if (u.workspace) details.workspace = u.workspace;
    if (u.address) details.address = u.address;
    if (u.gitCommit) details.commit = u.gitCommit;
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
          const port = input.parsePortSpec(first);
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
  const conflicts = new Map((plan.conflicts ?? []).map((c) => [c.resource, c]));
  for (const { id, node, provider } of unitless) {
    if (byId.has(id)) continue;
    // Owned by another vendetta (or in a workspace that is): failed, untouched, until adopted.
    const conflict = conflicts.get(id) ?? conflicts.get(resourceId('Workspace', set?.desired.services.get(id.slice('service/'.length))?.spec.workspace ?? ''));
    if (conflict && conflict.node === node) {
      statuses.set(id, {
        phase: 'Failed',
        conditions: [condition('Ready', false, OWNED_ELSEWHERE, conflict.message, now)],
        observedGeneration: previousGeneration(id),
        details: { node, owner: conflict.owner.name },
      });
      failures.push({ resource: id, node, reason: conflict.message, hint: conflict.resource === id ? 'to take it over: vendetta apply --adopt (replaces it)' : undefined });
      continue;
    }
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

  // Conflicts of resources no longer declared (prune, a move away): fail the apply too.
  for (const c of conflicts.values()) {
    if (!failures.some((f) => f.resource === c.resource && f.node === c.node)) failures.push({ resource: c.resource, node: c.node, reason: c.message });
  }

  // A condition that did not change keeps the time it last changed (and the status stays equal).
  for (const [id, status] of statuses) statuses.set(id, carryTransitionTimes(status, records.get(id)?.status));
  // Converged without looking again: every planned operation completed and every machine settled
  // OK (each confirmed its own resource: a workspace answered, a service was seen running).
  const converged = !timedOut && outcome.allOperationsDone && plan.unreachable.length === 0 && failures.length === 0;
  return { converged, plan, operationsRun: outcome.operationsRun, statuses, failures, endpoints };
}

export function hintFor(u: UnitOutcome): string | undefined {
  if (u.kind === 'Service' && /unhealthy|exited|did not stay running|not found|not executable|already in use/.test(u.reason ?? '')) {
    return `see what it printed: vendetta logs ${u.name}`;
  }
  if (u.phase === 'Failed') return `see vendetta describe ${u.id.replace('/', ' ')}`;
  return undefined;
}

/** JSON with object keys sorted: equal values give equal text whatever order they were built in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as object).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** Does `next` say anything `stored` does not? (Transition times of unchanged conditions are carried over.) */
export function statusChanged(next: ResourceStatus, stored: ResourceStatus | undefined): boolean {
  return !stored || canonical(next) !== canonical(stored);
}

/**
 * What the resources a plan acts on are while it runs (pure). Written before the executor starts,
 * so that `get` during a long pass (a recreate after drift, in `serve`) does not show the last
 * pass's Ready. Resources without an operation keep their status; a no-op plan gives none.
 */
export function plannedStatuses(plan: Plan, records: Map<ResourceId, AppliedRecord>, now: string): Map<ResourceId, ResourceStatus> {
  const out = new Map<ResourceId, ResourceStatus>();
  for (const op of plan.operations) {
    if (!records.has(op.resource) || out.has(op.resource)) continue;
    const previous = records.get(op.resource)?.status;
    out.set(
      op.resource,
      carryTransitionTimes(
        {
          // An operation type names its machine's operation first: "recreate-workspace" → recreate.
          phase: OPERATION_PHASE[op.type.split('-')[0] as keyof typeof OPERATION_PHASE],
          conditions: [condition('Ready', false, 'Reconciling', `${op.type.replace('-', ' ')}: ${op.cause}`, now)],
          observedGeneration: previous?.observedGeneration ?? 0,
          ...(previous?.details ? { details: previous.details } : {}),
        },
        previous,
      ),
    );
  }
  return out;
}

/**
 * Writes the statuses of a pass that differ from the stored ones (`records`: the store as the
 * pass read it), each at most once. A no-op pass writes nothing: most of what a no-op would cost
 * is otherwise rewriting identical records.
 */
export async function writeStatuses(store: Store, statuses: Map<ResourceId, ResourceStatus>, records: Map<ResourceId, AppliedRecord>): Promise<void> {
  // Without a record (the implicit local node) the store has nowhere to keep a status.
  const changed = [...statuses].filter(([id, status]) => records.has(id) && statusChanged(status, records.get(id)?.status));
  await Promise.all(changed.map(([id, status]) => store.setStatus(id, status)));
}

/** "WaitingDependencies" → "waiting for dependencies", for failure reasons. */
function phaseWords(phase: string): string {
  if (phase === 'WaitingDependencies') return 'waiting for dependencies';
  if (phase === 'WaitingHealthy') return 'waiting to be healthy';
  return phase.toLowerCase();
}
