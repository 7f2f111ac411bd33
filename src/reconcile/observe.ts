// The observe stage: what is really on the nodes a command needs, read through each provider's
// driver (one batched listing per provider and node). I/O only; deciding what to do with it is
// the planner's job (../plan), and turning it into statuses is ./record.ts's.
import type { HealthcheckSpec, NodeResource, ObservedNode, ObservedSet, ObservedWorkspace, ProviderName } from '../model/types.js';
import { IMPLICIT_LOCAL_NODE, LOCAL_ADDRESS, LOCAL_NODE } from '../model/types.js';
import type { ObservationTargets } from '../plan/targets.js';
import { ProviderError, type ProviderDriver } from '../providers/types.js';
import type { AppliedRecord } from '../store/types.js';
import { HostKeyMismatchError, TransportError, type Transport } from '../transport/types.js';
import type { LoadedSet } from './api.js';
import { errorMessage } from './retry.js';

/** What one observation found, with where each node is and what to tell a user about it. */
export interface Observation {
  observed: ObservedSet;
  nodes: Map<string, NodeResource>;
  /** How long each reachable node took to observe (progress and benchmarks; never stored). */
  latencyMs: Map<string, number>;
  /** What to do about each node that could not be observed. */
  hints: Map<string, string>;
}

/** Node resources by name: declared in the set, else as last applied, else the implicit local node. */
export function resolveNodes(set: LoadedSet | undefined, applied: AppliedRecord[]): Map<string, NodeResource> {
  const nodes = new Map<string, NodeResource>();
  for (const r of applied) if (r.kind === 'Node') nodes.set(r.name, r.resource as NodeResource);
  for (const [name, n] of set?.desired.nodes ?? []) nodes.set(name, n);
  if (!nodes.has(LOCAL_NODE)) nodes.set(LOCAL_NODE, IMPLICIT_LOCAL_NODE);
  return nodes;
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

export interface Observer {
  /** The node's transport: one per node, reused across passes and commands of this engine. */
  transportFor(node: NodeResource): Promise<Transport>;
  /**
   * Starts connecting to the nodes the set's workspaces are on, and loading their providers'
   * drivers, without waiting: the SSH handshakes and module loading then overlap the store's
   * lock and reads instead of following them.
   */
  warm(set: LoadedSet): void;
  /** Observes the target nodes only (see ../plan/targets.ts for which a command needs). */
  observe(set: LoadedSet | undefined, applied: AppliedRecord[], applySet: string, targets: ObservationTargets): Promise<Observation>;
  close(): Promise<void>;
}

export function createObserver(opts: {
  connect: (node: NodeResource) => Promise<Transport>;
  drivers: Partial<Record<ProviderName, ProviderDriver>>;
}): Observer {
  const transports = new Map<string, Promise<Transport>>();

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

  async function observe(set: LoadedSet | undefined, applied: AppliedRecord[], applySet: string, targets: ObservationTargets): Promise<Observation> {
    const nodes = resolveNodes(set, applied);
    const observed: ObservedSet = new Map();
    const latencyMs = new Map<string, number>();
    const hints = new Map<string, string>();
    await Promise.all(
      [...targets].map(async ([name, providers]) => {
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

  async function close(): Promise<void> {
    const all = [...transports.values()];
    transports.clear();
    await Promise.all(all.map((t) => t.then((x) => x.close()).catch(() => undefined)));
  }

  function warm(set: LoadedSet): void {
    const workspaces = [...set.desired.workspaces.values()];
    for (const p of new Set(workspaces.map((w) => w.spec.provider))) opts.drivers[p]?.prepare?.();
    const names = new Set(workspaces.map((w) => w.spec.node));
    for (const name of names) {
      const node = set.desired.nodes.get(name);
      // A failure is the observation's to report; a refused connection is simply tried again there.
      if (node) transportFor(node).catch(() => undefined);
    }
  }

  return { transportFor, warm, observe, close };
}

/**
 * The observation as a pass left it: what the pass deleted (a delete resolved, so the driver
 * removed it) is gone, without observing the nodes again. Pure.
 */
/** What afterPass reads of a pass's units (the executor's UnitOutcome has it; no import of the executor here). */
interface FinishedUnit {
  kind: 'Workspace' | 'Service';
  name: string;
  node: string;
  workspace?: string;
  target: string;
  operationDone: boolean;
}

export function afterPass(observation: Observation, outcome: { units: readonly FinishedUnit[] }): Observation {
  const deleted = outcome.units.filter((u) => u.target === 'deleted' && u.operationDone);
  if (deleted.length === 0) return observation;
  const observed: ObservedSet = new Map();
  for (const [name, o] of observation.observed) {
    const gone = deleted.filter((u) => u.node === name);
    if (gone.length === 0) {
      observed.set(name, o);
      continue;
    }
    const workspaces = o.workspaces
      .filter((w) => !gone.some((u) => u.kind === 'Workspace' && u.name === w.name))
      .map((w) => {
        const services = w.services.filter((s) => !gone.some((u) => u.kind === 'Service' && u.workspace === w.name && u.name === s.name));
        return services.length === w.services.length ? w : { ...w, services };
      });
    observed.set(name, { ...o, workspaces });
  }
  return { ...observation, observed };
}

/**
 * Why `provider` could not be observed on `node`, if it could not: its workspaces there have no
 * machine this pass (nothing is known about them), like those of an unreachable node.
 */
export function providerUnavailable(observed: ObservedSet, node: string, provider: ProviderName): { error: string; hint?: string } | undefined {
  return observed.get(node)?.unavailable?.find((u) => u.provider === provider);
}

/**
 * What a resync pass must have seen unchanged to skip planning: the store's records and every
 * node's observation. The time of a service's last health check and how long a start watched it
 * change with every look and decide nothing once the pass before converged, so they are left out.
 */
/**
 * A running workspace whose services the observation listed answered a command from inside it
 * moments ago: every driver reads them from inside (docker/lxc exec, the guest over SSH, the node
 * for process) and fails the observation or lists none when that does not work.
 */
export function answeredObservation(ws: ObservedWorkspace | undefined): boolean {
  return !!ws && ws.running && ws.services.length > 0;
}

/** A health check with something to probe (exec, tcp or http). */
export function hasProbe(hc: HealthcheckSpec | undefined): hc is HealthcheckSpec {
  return !!hc && !!(hc.exec || hc.tcp || hc.http);
}

/**
 * Would a pass over this observation conclude from the observation alone? Then an earlier quiet
 * pass over the same observation stands in for it. Not when a running workspace listed no
 * services (the pass runs a command inside to check it), nor when a probed service carries no
 * healthy verdict of its supervisor (the pass waits for one, or probes from the controller).
 */
export function decidedByObservation(set: LoadedSet, observed: ObservedSet): boolean {
  const byName = new Map<string, ObservedWorkspace>();
  for (const [node, o] of observed) for (const w of o.workspaces) byName.set(`${node}/${w.name}`, w);
  for (const ws of set.desired.workspaces.values()) {
    if (ws.spec.state === 'stopped') continue;
    if (!answeredObservation(byName.get(`${ws.spec.node}/${ws.metadata.name}`))) return false;
  }
  for (const svc of set.desired.services.values()) {
    if (!hasProbe(svc.spec.healthcheck)) continue;
    const node = set.desired.workspaces.get(svc.spec.workspace)?.spec.node;
    const seen = byName.get(`${node}/${svc.spec.workspace}`)?.services.find((s) => s.name === svc.metadata.name);
    if (seen?.health?.status !== 'healthy') return false;
  }
  return true;
}

export function quietKey(applied: AppliedRecord[], observed: ObservedSet): string {
  // Nodes in name order: the observation map fills in the order the nodes answered.
  const nodes = [...observed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([applied, nodes], (k, v: unknown) => (k === 'checkedAt' || k === 'settledMs' ? undefined : v));
}
