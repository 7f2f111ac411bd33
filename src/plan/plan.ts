// The planner: desired set + observation of the nodes (+ what the store says was applied, only
// to explain changes and to know what --prune may delete) → ordered operations with causes.
// Pure: no I/O, no clock. Every decision is made here; the executor only carries it out.
import type {
  ObservedNode,
  Owner,
  ObservedSet,
  ObservedWorkspace,
  ProviderName,
  ResourceId,
  ServiceResource,
  ServiceSpec,
  WorkspaceResource,
  WorkspaceSpec,
} from '../model/types.js';
import { resourceId } from '../model/types.js';
import { hasVolumes } from '../model/volumes.js';
import { networkTarget } from '../model/network.js';
import type { LoadedSet } from '../reconcile/api.js';
import type { AppliedRecord, StoreIdentity } from '../store/types.js';
import { compareStrings, desiredServiceHash, desiredWorkspace, discoveryEnv } from './desired.js';
import { envChanges, shortPath, specChanges } from './diff.js';
import type { Conflict, FieldChange, Operation, OperationType, Plan } from './types.js';

export interface PlanInput {
  set: LoadedSet;
  observed: ObservedSet;
  /** Every record in the store (any apply set). */
  applied: AppliedRecord[];
  applySet: string;
  prune: boolean;
  /** The applying store: owner of what it makes, and the key of its spec hashes. */
  identity: StoreIdentity;
  /** Take over workspaces another store owns (replace them) instead of reporting a conflict. */
  adopt?: boolean;
  /** Workspaces to replace even though they match their spec (a sync asked: onSync: rebuild). */
  rebuild?: ReadonlySet<string>;
  /**
   * `diff --refresh`: the commit each workspace's source.git ref names upstream now (asked on its
   * node). A workspace made from another commit is replaced. Absent: the recorded commit is used.
   */
  upstream?: ReadonlyMap<string, string>;
}

/** Where a workspace lives: what every operation on it or its services carries. */
interface Placement {
  workspace: string;
  node: string;
  provider: ProviderName;
}

export function plan(input: PlanInput): Plan {
  const { set, observed } = input;
  const b = new PlanBuilder((svc) => Object.keys(set.desired.services.get(svc)?.spec.dependsOn ?? {}));
  const applied = new Map(input.applied.map((r) => [r.id, r]));
  const unreachable = unreachableNodes(observed, [...set.desired.workspaces.values()].map((w) => w.spec.node));
  const reachable = (node: string): ObservedNode | undefined => {
    const n = observed.get(node);
    return n?.reachable ? n : undefined;
  };

  for (const ws of sortedByName(set.desired.workspaces.values())) {
    // An unreachable (or unobserved) node: we cannot know what is there, so nothing is planned
    // for its workspaces or their services; the node is listed once in plan.unreachable.
    const node = reachable(ws.spec.node);
    if (!node) continue;
    // Same when only its provider could not be observed there (listed in plan.unavailable).
    // Applied workspaces of that provider are not in node.workspaces either, so no prune or
    // move deletes them.
    if (node.unavailable?.some((u) => u.provider === ws.spec.provider)) continue;
    const name = ws.metadata.name;
    const place: Placement = { workspace: name, node: ws.spec.node, provider: ws.spec.provider };
    const desired = desiredWorkspace(set, name, input.identity);
    const services = sortedByName([...set.desired.services.values()].filter((s) => s.spec.workspace === name));
    const wantRunning = ws.spec.state !== 'stopped';
    const startAll = (after: Operation, cause: string) => {
      if (!wantRunning) return;
      for (const svc of services) b.service('start-service', svc.metadata.name, place, cause, { after: [after.id] });
    };

    // Moved to another node: the applied record says where we put it before (its node when
    // `diff` runs, previousNodes once apply recorded the new spec); remove it there. An old node
    // that is unreachable is in plan.unreachable, so the apply fails until it is cleaned up.
    const record = applied.get(resourceId('Workspace', name));
    const previous = record?.resource as WorkspaceResource | undefined;
    const moves = oldPlacements(record, ws.spec.node);
    for (const oldNode of moves) {
      const old = findWorkspace(reachable(oldNode), name);
      if (old && foreign(old, input.identity) && !input.adopt) b.conflict(name, oldNode, old, 'not deleted from there (the workspace moved to node ' + ws.spec.node + ')');
      else if (old) b.workspace('delete-workspace', { workspace: name, node: oldNode, provider: old.provider }, `moved to node ${ws.spec.node}`, { idSuffix: `@${oldNode}`, dataLoss: dataLossWarning(previous ?? ws, oldNode) });
    }

    const current = findWorkspace(node, name);
    if (current && foreign(current, input.identity)) {
      // Another vendetta store made it: never touched, unless taken over with --adopt. Adopting
      // replaces it: its spec hash is keyed with the other store's key, so whether it matches
      // this spec cannot be told, and docker labels cannot be changed in place anyway.
      if (!input.adopt) {
        b.conflict(name, ws.spec.node, current);
        continue;
      }
      const cause = `adopt from owner ${current.owner!.name}`;
      const dataLoss = dataLossWarning(ws);
      if (current.provider !== ws.spec.provider) {
        b.workspace('delete-workspace', { ...place, provider: current.provider }, cause, { dataLoss });
        b.gone.add(name);
        startAll(b.workspace('create-workspace', place, cause), 'workspace is being created');
      } else {
        b.gone.add(name);
        startAll(b.workspace('recreate-workspace', place, cause, { dataLoss }), 'workspace is being recreated');
      }
      continue;
    }
    if (!current) {
      // Not there: create it (the driver leaves it stopped when state: stopped); its services
      // start after it, all of them, since a new workspace runs none.
      const cause = moves.length > 0 ? `moved from node ${moves.join(', ')}` : `not found on node ${ws.spec.node}`;
      const op = b.workspace('create-workspace', place, cause);
      startAll(op, 'workspace is being created');
    } else if (current.provider !== ws.spec.provider) {
      // Another provider: only the old driver can delete it and only the new one can create it,
      // so this is a delete and a create rather than one recreate.
      const from = { ...place, provider: current.provider };
      b.workspace('delete-workspace', from, `provider changed: ${current.provider} → ${ws.spec.provider}`, { dataLoss: dataLossWarning(ws) });
      b.gone.add(name);
      const op = b.workspace('create-workspace', place, `provider changed: ${current.provider} → ${ws.spec.provider}`);
      startAll(op, 'workspace is being created');
    } else if (current.incomplete) {
      // Its creation stopped before the last step (killed mid-upload, say): what is there is
      // not the workspace, whatever its hash says. Made again from scratch.
      const op = b.workspace('recreate-workspace', place, 'creation was interrupted');
      b.gone.add(name);
      startAll(op, 'workspace is being recreated');
    } else if (input.rebuild?.has(name) && current.specHash === desired.specHash) {
      // A source sync asked for it (onSync: rebuild): made again from the source as it is now.
      const op = b.workspace('recreate-workspace', place, 'rebuild after a source sync (onSync: rebuild)', { dataLoss: dataLossWarning(ws) });
      b.gone.add(name);
      startAll(op, 'workspace is being recreated');
    } else if (current.specHash === desired.specHash && movedUpstream(input, name, current)) {
      // Its branch moved since it was made (diff --refresh asked upstream): made again from it.
      const cause = `git ref ${ws.spec.source?.git?.ref ?? 'HEAD'} moved ${current.gitCommit!.slice(0, 7)}→${input.upstream!.get(name)!.slice(0, 7)}`;
      const op = b.workspace('recreate-workspace', place, cause, { dataLoss: dataLossWarning(ws) });
      b.gone.add(name);
      startAll(op, 'workspace is being recreated');
    } else if (current.specHash !== desired.specHash && current.shapeHash !== undefined && current.shapeHash === desired.shapeHash && current.running && wantRunning) {
      // Only env (or a field its provider changes live, e.g. qemu ports) differs, and the provider
      // records the shape, so it changes that in place: its files stay; services whose env
      // changed restart (their hash has the env).
      const changes = workspaceChanges(previous, ws);
      const secrets = hasSecretEnv(set, resourceId('Workspace', name));
      // No field of the written spec changed but it has fromEnv/fromFile values: one of those did.
      const envOnly = changes !== undefined && (changes.length > 0 ? changes.every((c) => { const p = shortPath(c.path); return p === 'env' || p.startsWith('env.'); }) : secrets);
      const cause = hashCause(changes, secrets).replace('spec-hash changed', envOnly ? 'env changed' : 'changed in place');
      b.workspace('update-workspace', place, cause, { changes });
      for (const svc of services) planService(input, b, place, current, svc, applied, 'workspace env changed');
    } else if (current.specHash !== desired.specHash) {
      // Made from another spec: delete + create. Services go with the old workspace, so all of
      // them start again. `state` is not in the hash, so start/stop alone never lands here.
      const changes = workspaceChanges(previous, ws);
      const cause = withBuildCause(hashCause(changes, hasSecretEnv(set, resourceId('Workspace', name))), changes, current, desired.build?.hash);
      const op = b.workspace('recreate-workspace', place, cause, { changes, dataLoss: dataLossWarning(ws) });
      b.gone.add(name);
      startAll(op, 'workspace is being recreated');
    } else if (!current.running) {
      // Stopped (by hand, or by an earlier state: stopped). Its services stopped with it.
      if (wantRunning) {
        const op = b.workspace('start-workspace', place, 'stopped on the node, state is running');
        startAll(op, 'workspace is being started');
      }
    } else if (!wantRunning) {
      // state: stopped. Stopping the workspace stops its services: no service operations.
      b.workspace('stop-workspace', place, 'running, state is stopped');
    } else {
      for (const svc of services) planService(input, b, place, current, svc, applied);
    }
  }

  planSharedNetworks(input, b, reachable);
  planServiceMoves(input, b, applied, reachable);
  if (input.prune) planPrune(input, b, applied, reachable);
  return withConflicts(withUnavailable({ operations: b.ordered(), unreachable }, observed), b.conflicts);
}

/** Its recorded commit is not the one its ref names upstream now (known only after a refresh). */
function movedUpstream(input: PlanInput, name: string, current: ObservedWorkspace): boolean {
  const upstream = input.upstream?.get(name);
  return upstream !== undefined && current.gitCommit !== undefined && current.gitCommit !== upstream;
}

/**
 * Docker workspaces that share another's network namespace (network.mode "service:<target>")
 * join the target's container as it is when they are made: they are made after it, and a target
 * made anew (created or recreated) takes them with it, since they would keep its old, dead
 * namespace. Chains (a → b → c) are followed, targets first.
 */
function planSharedNetworks(input: PlanInput, b: PlanBuilder, reachable: (node: string) => ObservedNode | undefined): void {
  const desired = input.set.desired.workspaces;
  const sharing = [...desired.values()].filter((w) => networkTarget(w.spec.network?.mode) !== undefined);
  if (sharing.length === 0) return;
  const depth = (w: WorkspaceResource, seen = new Set<string>()): number => {
    const t = desired.get(networkTarget(w.spec.network?.mode) ?? '');
    if (!t || seen.has(t.metadata.name)) return 0;
    seen.add(t.metadata.name);
    return 1 + depth(t, seen);
  };
  for (const ws of sharing.sort((a, c) => depth(a) - depth(c) || compareStrings(a.metadata.name, c.metadata.name))) {
    const name = ws.metadata.name;
    const target = networkTarget(ws.spec.network?.mode)!;
    const targetOp = b.workspaceOp(target);
    if (!targetOp || targetOp.type === 'stop-workspace') continue;
    let own = b.workspaceOp(name);
    const current = findWorkspace(reachable(ws.spec.node), name);
    const remade = targetOp.type === 'create-workspace' || targetOp.type === 'recreate-workspace';
    if (remade && current && !current.incomplete && own?.type !== 'create-workspace' && own?.type !== 'recreate-workspace' && own?.type !== 'delete-workspace' && ws.spec.state !== 'stopped') {
      if (b.conflicts.some((c) => c.resource === resourceId('Workspace', name))) continue;
      own = b.replaceWithRecreate(ws, `shares the network of workspace ${target}, which is ${targetOp.type === 'create-workspace' ? 'created' : 'recreated'}`, dataLossWarning(ws), input.set);
    }
    if (own && own.type !== 'delete-workspace' && own.type !== 'stop-workspace' && !own.dependsOn.includes(targetOp.id)) own.dependsOn.push(targetOp.id);
  }
}

/**
 * Owned by another store. Objects without an owner were made before ownership existed: they
 * count as ours (a one-time migration; their unkeyed hash differs, so they are recreated once,
 * which also labels them).
 */
export function foreign(ws: ObservedWorkspace, identity: Owner): boolean {
  return ws.owner !== undefined && ws.owner.id !== identity.id;
}

export function conflictMessage(workspace: string, node: string, owner: Owner, what = 'nothing was changed'): string {
  return (
    `workspace ${workspace} on node ${node} is managed by another vendetta (owner ${owner.name}); ` +
    `${what}: delete it from there, or take it over with --adopt`
  );
}

function withConflicts(p: Plan, conflicts: Conflict[]): Plan {
  if (conflicts.length === 0) return p;
  const sorted = [...conflicts].sort((a, b) => compareStrings(a.node, b.node) || compareStrings(a.resource, b.resource));
  return { ...p, conflicts: sorted };
}

/** A service of a workspace that exists, runs and is unchanged. */
function planService(
  input: PlanInput,
  b: PlanBuilder,
  place: Placement,
  ws: ObservedWorkspace,
  svc: ServiceResource,
  applied: Map<ResourceId, AppliedRecord>,
  /** Why its hash may differ when its own spec did not change (its workspace's env did). */
  workspaceCause?: string,
): void {
  const name = svc.metadata.name;
  const current = ws.services.find((s) => s.name === name);
  if (!current) {
    b.service('start-service', name, place, 'not running');
    return;
  }
  const hash = desiredServiceHash(input.set, name, input.identity.key);
  if (current.specHash !== hash) {
    const changes = serviceChanges(input, svc, applied);
    const cause = workspaceCause && changes?.length === 0 ? workspaceCause : hashCause(changes, hasSecretEnv(input.set, resourceId('Service', name)));
    b.service('restart-service', name, place, cause, { changes });
    return;
  }
  switch (current.state) {
    case 'running':
    case 'backoff': // the supervisor is alive and restarting it per policy: its job, not ours
      return;
    case 'stopped':
      b.service('start-service', name, place, 'stopped');
      return;
    case 'exited': {
      // Exit 0 = completed (one-shot tasks, `completed` dependencies): leave it. A failure with
      // restart: never stays failed (the engine reports Failed); otherwise run it again, since
      // a gone supervisor means nobody else will.
      if (current.exitCode === 0) return;
      if (svc.spec.restart === 'never') return;
      const code = current.exitCode === undefined ? 'an unknown code' : `code ${current.exitCode}`;
      b.service('start-service', name, place, `exited with ${code}`);
      return;
    }
  }
}

/**
 * A service whose workspace changed leaves its old copy behind: remove it from the old workspace
 * (unless that workspace is going away anyway). Not pruning: it is the same declared resource.
 */
function planServiceMoves(
  input: PlanInput,
  b: PlanBuilder,
  applied: Map<ResourceId, AppliedRecord>,
  reachable: (node: string) => ObservedNode | undefined,
): void {
  for (const svc of sortedByName(input.set.desired.services.values())) {
    const record = applied.get(resourceId('Service', svc.metadata.name));
    for (const oldWorkspace of oldWorkspaces(record, svc.spec.workspace)) {
      deleteServiceIfPresent(input, b, applied, reachable, svc.metadata.name, oldWorkspace, `moved to workspace ${svc.spec.workspace}`);
    }
  }
}

/**
 * --prune: what this apply set applied before and no longer declares is deleted, if it is still
 * on its node. Other apply sets' resources and anything we never applied are never touched;
 * nodes are never operated on. A service inside a workspace that is deleted or recreated needs
 * no operation of its own.
 */
function planPrune(
  input: PlanInput,
  b: PlanBuilder,
  applied: Map<ResourceId, AppliedRecord>,
  reachable: (node: string) => ObservedNode | undefined,
): void {
  const cause = `pruned: no longer declared in apply set ${input.applySet}`;
  const records = [...applied.values()]
    .filter((r) => r.applySet === input.applySet)
    .sort((x, y) => compareStrings(x.id, y.id));
  for (const r of records) {
    if (r.kind !== 'Workspace' || input.set.desired.workspaces.has(r.name)) continue;
    // Everywhere the record says it may be: its node, and the nodes it moved away from.
    for (const { node, suffix } of recordPlacements(r)) {
      const current = findWorkspace(reachable(node), r.name);
      if (!current) continue;
      if (foreign(current, input.identity) && !input.adopt) {
        b.conflict(r.name, node, current, 'not pruned');
        continue;
      }
      b.workspace('delete-workspace', { workspace: r.name, node, provider: current.provider }, cause, { idSuffix: suffix, dataLoss: dataLossWarning(r.resource as WorkspaceResource) });
      b.gone.add(r.name);
    }
  }
  for (const r of records) {
    if (r.kind !== 'Service' || input.set.desired.services.has(r.name)) continue;
    const spec = r.resource.spec as ServiceSpec;
    deleteServiceIfPresent(input, b, applied, reachable, r.name, spec.workspace, cause);
  }
}

function deleteServiceIfPresent(
  input: PlanInput,
  b: PlanBuilder,
  applied: Map<ResourceId, AppliedRecord>,
  reachable: (node: string) => ObservedNode | undefined,
  name: string,
  workspace: string,
  cause: string,
): void {
  if (b.gone.has(workspace)) return;
  const node = workspaceNode(workspace, input.set, applied);
  const ws = node === undefined ? undefined : findWorkspace(reachable(node), workspace);
  if (!node || !ws || !ws.services.some((s) => s.name === name)) return;
  // Another store's workspace: its services are its owner's (the workspace itself is reported).
  if (foreign(ws, input.identity) && !input.adopt) return;
  const del = b.service('delete-service', name, { workspace, node, provider: ws.provider }, cause);
  // Removing a service needs its workspace running: after a start, before a stop.
  const wsOp = b.workspaceOp(workspace);
  if (wsOp?.type === 'start-workspace') del.dependsOn.push(wsOp.id);
  if (wsOp?.type === 'stop-workspace') wsOp.dependsOn.push(del.id);
}

export interface DeletionInput {
  /** What exists to delete (see deletionTargets): not-found ids are left out by the caller. */
  ids: ResourceId[];
  applied: AppliedRecord[];
  set?: LoadedSet;
  observed: ObservedSet;
  /** The deleting store: another store's workspaces are reported as conflicts, not deleted. */
  identity?: Owner;
}

/**
 * `vendetta delete`: a workspace is deleted with everything in it (no service operations), from
 * every node its record says it may be on (its node, and nodes it moved away from); a service
 * alone is deleted from its workspace. Where a resource is comes from its record, or from the
 * manifests (`delete -f`) when the store has none. Only what is observed is planned; node ids
 * plan nothing (nodes are not ours to delete, only to forget).
 */
export function planDeletion(input: DeletionInput): Plan {
  const b = new PlanBuilder();
  const applied = new Map(input.applied.map((r) => [r.id, r]));
  const ids = [...new Set(input.ids)].sort(compareStrings);
  const unreachable = unreachableNodes(input.observed, []);
  const cause = 'deleted on request';

  for (const id of ids) {
    const [kind, name] = splitId(id);
    if (kind !== 'workspace') continue;
    for (const { node, ws, suffix } of locateWorkspace(name, input.set, applied, input.observed)) {
      if (input.identity && foreign(ws, input.identity)) {
        b.conflict(name, node, ws, 'not deleted');
        continue;
      }
      b.workspace('delete-workspace', { workspace: name, node, provider: ws.provider }, cause, { idSuffix: suffix });
      b.gone.add(name);
    }
  }
  for (const id of ids) {
    const [kind, name] = splitId(id);
    if (kind !== 'service') continue;
    const record = applied.get(id);
    const workspaces = [
      input.set?.desired.services.get(name)?.spec.workspace ?? (record?.resource.spec as ServiceSpec | undefined)?.workspace,
      ...(record?.previousWorkspaces ?? []),
    ].filter((w): w is string => !!w);
    for (const workspace of [...new Set(workspaces)]) {
      if (b.gone.has(workspace)) continue;
      for (const { node, ws } of locateWorkspace(workspace, input.set, applied, input.observed)) {
        if (!ws.services.some((s) => s.name === name)) continue;
        if (input.identity && foreign(ws, input.identity)) continue;
        b.service('delete-service', name, { workspace, node, provider: ws.provider }, cause);
      }
    }
  }
  return withConflicts(withUnavailable({ operations: b.ordered(), unreachable }, input.observed), b.conflicts);
}

// ---------------------------------------------------------------------------------------------
// Causes and field changes
// ---------------------------------------------------------------------------------------------

const MAX_FIELDS_IN_CAUSE = 5;

/**
 * "spec-hash changed: image, resources.cpus". When no field differs, the hash moved because of
 * something the store cannot show: a fromEnv/fromFile value (never stored), or an object made
 * elsewhere from another spec.
 */
function hashCause(changes: FieldChange[] | undefined, hasSecrets: boolean): string {
  if (changes === undefined) return 'spec-hash changed (no applied record to compare with)';
  if (changes.length === 0) {
    return hasSecrets
      ? 'spec-hash changed: env value from fromEnv/fromFile'
      : 'spec-hash changed: the object on the node was made from another spec';
  }
  const names = changes.map((c) => shortPath(c.path));
  const shown = names.slice(0, MAX_FIELDS_IN_CAUSE).join(', ');
  const more = names.length > MAX_FIELDS_IN_CAUSE ? ` and ${names.length - MAX_FIELDS_IN_CAUSE} more` : '';
  return `spec-hash changed: ${shown}${more}`;
}

/**
 * A built image whose inputs changed while its spec did not (an edited Dockerfile, a file it
 * copies): "build context changed", which the applied record cannot show. Said beside the fields
 * when others changed too, unless a spec.build field already explains it.
 */
function withBuildCause(cause: string, changes: FieldChange[] | undefined, current: ObservedWorkspace, buildHash: string | undefined): string {
  if (buildHash === undefined || current.buildHash === undefined || current.buildHash === buildHash) return cause;
  if (changes === undefined || changes.length === 0) return 'build context changed';
  if (changes.some((c) => c.path === 'spec.build' || c.path.startsWith('spec.build.'))) return cause;
  return `${cause}; build context changed`;
}

/**
 * What removing an existing workspace's object loses, for the plan's warning (and apply's
 * question on a TTY). Volumes outlive it; everything else in it goes.
 */
export function dataLossWarning(ws: WorkspaceResource | undefined, node?: string): string {
  const where = node ? ` on node ${node}` : '';
  return ws && hasVolumes(ws.spec) ? `files outside volumes${where} are lost` : `files in the workspace${where} are lost (it declares no volumes)`;
}

/** Applied vs desired workspace spec, without `state` (not part of the hash). */
function workspaceChanges(previous: WorkspaceResource | undefined, desired: WorkspaceResource): FieldChange[] | undefined {
  if (!previous) return undefined;
  return specChanges(previous.spec, desired.spec, 'spec', ['state']);
}

/**
 * Applied vs desired service spec, plus the discovery variables as they were computed from the
 * applied siblings vs now: a sibling's new port restarts this service too, and this says why.
 */
function serviceChanges(input: PlanInput, svc: ServiceResource, applied: Map<ResourceId, AppliedRecord>): FieldChange[] | undefined {
  const previous = applied.get(resourceId('Service', svc.metadata.name))?.resource as ServiceResource | undefined;
  if (!previous) return undefined;
  const workspace = svc.spec.workspace;
  const appliedSiblings = [...applied.values()]
    .filter((r) => r.kind === 'Service' && (r.resource.spec as ServiceSpec).workspace === workspace)
    .map((r) => r.resource as ServiceResource);
  const desiredSiblings = [...input.set.desired.services.values()].filter((s) => s.spec.workspace === workspace);
  return [
    ...specChanges(previous.spec, svc.spec),
    ...envChanges(discoveryEnv(appliedSiblings), discoveryEnv(desiredSiblings), 'env'),
  ];
}

function hasSecretEnv(set: LoadedSet, id: ResourceId): boolean {
  return Object.values(set.env.get(id) ?? {}).some((v) => v.secret);
}

// ---------------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------------

/**
 * Unreachable nodes, once each, by name. A node a desired workspace uses but that was not
 * observed at all counts as unreachable too: planning as if it were empty would recreate things.
 */
function unreachableNodes(observed: ObservedSet, desiredNodes: string[]): Plan['unreachable'] {
  const out = new Map<string, string>();
  for (const n of observed.values()) if (!n.reachable) out.set(n.name, n.error ?? 'unreachable');
  for (const node of desiredNodes) if (!observed.has(node)) out.set(node, 'node was not observed');
  return [...out.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([node, error]) => ({ node, error }));
}

/** Adds plan.unavailable (by node, then provider) when a reachable node has providers it could not observe. */
function withUnavailable(p: Plan, observed: ObservedSet): Plan {
  const unavailable = [...observed.values()]
    .filter((n) => n.reachable)
    .flatMap((n) => (n.unavailable ?? []).map((u) => ({ node: n.name, provider: u.provider, error: u.error })))
    .sort((a, b) => compareStrings(a.node, b.node) || compareStrings(a.provider, b.provider));
  return unavailable.length > 0 ? { ...p, unavailable } : p;
}

function findWorkspace(node: ObservedNode | undefined, name: string): ObservedWorkspace | undefined {
  return node?.workspaces.find((w) => w.name === name);
}

function workspaceNode(name: string, set: LoadedSet | undefined, applied: Map<ResourceId, AppliedRecord>): string | undefined {
  return (
    set?.desired.workspaces.get(name)?.spec.node ??
    (applied.get(resourceId('Workspace', name))?.resource.spec as WorkspaceSpec | undefined)?.node
  );
}

/**
 * Where a workspace is observed, among the places it may be: its record's node and previous
 * nodes, else the node the manifests give. Never "anywhere": what no record or manifest places
 * is not ours to look for.
 */
function locateWorkspace(
  name: string,
  set: LoadedSet | undefined,
  applied: Map<ResourceId, AppliedRecord>,
  observed: ObservedSet,
): { node: string; ws: ObservedWorkspace; suffix?: string }[] {
  const out: { node: string; ws: ObservedWorkspace; suffix?: string }[] = [];
  for (const { node, suffix } of workspacePlacements(name, set, applied)) {
    const n = observed.get(node);
    if (!n?.reachable) continue;
    const ws = findWorkspace(n, name);
    if (ws) out.push({ node, ws, suffix });
  }
  return out;
}

/** Nodes a workspace may be on: the manifests' or record's node first, then earlier nodes. */
export function workspacePlacements(
  name: string,
  set: LoadedSet | undefined,
  applied: Map<ResourceId, AppliedRecord>,
): { node: string; provider: ProviderName; suffix?: string }[] {
  const record = applied.get(resourceId('Workspace', name));
  const declared = set?.desired.workspaces.get(name);
  const out: { node: string; provider: ProviderName; suffix?: string }[] = [];
  if (declared) out.push({ node: declared.spec.node, provider: declared.spec.provider });
  for (const p of record ? recordPlacements(record) : []) {
    if (!out.some((o) => o.node === p.node)) out.push(out.length === 0 ? { ...p, suffix: undefined } : { ...p, suffix: `@${p.node}` });
  }
  return out;
}

/** A workspace record's node, then the nodes it moved away from (op ids get "@node" for those). */
export function recordPlacements(r: AppliedRecord): { node: string; provider: ProviderName; suffix?: string }[] {
  const spec = r.resource.spec as WorkspaceSpec;
  const out: { node: string; provider: ProviderName; suffix?: string }[] = [{ node: spec.node, provider: spec.provider }];
  for (const p of r.previousNodes ?? []) if (!out.some((o) => o.node === p.node)) out.push({ ...p, suffix: `@${p.node}` });
  return out;
}

/** Nodes other than `node` where a workspace record says the workspace may still be. */
function oldPlacements(record: AppliedRecord | undefined, node: string): string[] {
  if (!record) return [];
  return [...new Set(recordPlacements(record).map((p) => p.node))].filter((n) => n !== node).sort(compareStrings);
}

/** Workspaces other than `workspace` where a service record says the service may still run. */
export function oldWorkspaces(record: AppliedRecord | undefined, workspace: string): string[] {
  if (!record) return [];
  const all = [(record.resource.spec as ServiceSpec).workspace, ...(record.previousWorkspaces ?? [])];
  return [...new Set(all)].filter((w) => w !== workspace).sort(compareStrings);
}

function splitId(id: ResourceId): [string, string] {
  const slash = id.indexOf('/');
  return slash < 0 ? ['', id] : [id.slice(0, slash), id.slice(slash + 1)];
}

function sortedByName<T extends { metadata: { name: string } } | { name: string }>(items: Iterable<T>): T[] {
  const key = (t: T) => ('metadata' in t ? t.metadata.name : t.name);
  return [...items].sort((a, b) => compareStrings(key(a), key(b)));
}

// ---------------------------------------------------------------------------------------------
// Building and ordering
// ---------------------------------------------------------------------------------------------

const WORKSPACE_VERB_ORDER: OperationType[] = [
  'delete-workspace',
  'stop-workspace',
  'recreate-workspace',
  'update-workspace',
  'create-workspace',
  'start-workspace',
];

class PlanBuilder {
  private readonly workspaceOps: Operation[] = [];
  private readonly serviceOps: Operation[] = [];
  /** Workspaces whose current object goes away (deleted or recreated): their services with it. */
  readonly gone = new Set<string>();
  readonly conflicts: Conflict[] = [];

  conflict(workspace: string, node: string, ws: ObservedWorkspace, what?: string): void {
    const owner = ws.owner!;
    this.conflicts.push({ resource: resourceId('Workspace', workspace), node, provider: ws.provider, owner, message: conflictMessage(workspace, node, owner, what) });
  }

  /** `dependsOnOf(service)`: names of the services it dependsOn (desired). */
  constructor(private readonly dependsOnOf: (service: string) => string[] = () => []) {}

  workspace(type: OperationType, place: Placement, cause: string, extra: { changes?: FieldChange[]; idSuffix?: string; dataLoss?: string } = {}): Operation {
    const op = makeOp(type, 'Workspace', place.workspace, place, cause, extra.changes);
    if (extra.idSuffix) op.id += extra.idSuffix;
    if (extra.dataLoss) op.dataLoss = extra.dataLoss;
    this.workspaceOps.push(op);
    return op;
  }

  /**
   * Replaces whatever is planned for a desired workspace and its services (an update, a start, a
   * restart) by a recreate that starts all its services again.
   */
  replaceWithRecreate(ws: WorkspaceResource, cause: string, dataLoss: string, set: LoadedSet): Operation {
    const name = ws.metadata.name;
    const place: Placement = { workspace: name, node: ws.spec.node, provider: ws.spec.provider };
    const drop = (o: Operation) => o.name === name && o.kind === 'Workspace' && o.type !== 'delete-workspace';
    for (let i = this.workspaceOps.length - 1; i >= 0; i--) if (drop(this.workspaceOps[i]!)) this.workspaceOps.splice(i, 1);
    for (let i = this.serviceOps.length - 1; i >= 0; i--) {
      const o = this.serviceOps[i]!;
      if (o.workspace === name && o.type !== 'delete-service') this.serviceOps.splice(i, 1);
    }
    const op = this.workspace('recreate-workspace', place, cause, { dataLoss });
    this.gone.add(name);
    for (const svc of sortedByName([...set.desired.services.values()].filter((s) => s.spec.workspace === name))) {
      this.service('start-service', svc.metadata.name, place, 'workspace is being recreated', { after: [op.id] });
    }
    return op;
  }

  /** The create/recreate/start/stop operation of a desired workspace, if any. */
  workspaceOp(name: string): Operation | undefined {
    return this.workspaceOps.find((o) => o.name === name && o.type !== 'delete-workspace');
  }

  service(
    type: OperationType,
    name: string,
    place: Placement,
    cause: string,
    extra: { changes?: FieldChange[]; after?: string[] } = {},
  ): Operation {
    const op = makeOp(type, 'Service', name, place, cause, extra.changes);
    op.dependsOn.push(...(extra.after ?? []));
    this.serviceOps.push(op);
    return op;
  }

  /**
   * Final order: workspace operations by node, deletions first (creates wait for them), then
   * name; then service operations in
   * dependency order (a service after the services it dependsOn), ties by name. Edges are added
   * here, once every operation is known.
   */
  ordered(): Operation[] {
    this.linkServiceDependencies();
    this.deletionsFirstPerNode();
    const workspaces = [...this.workspaceOps].sort(
      (a, b) =>
        compareStrings(a.node, b.node) ||
        Number(b.type === 'delete-workspace') - Number(a.type === 'delete-workspace') ||
        compareStrings(a.name, b.name) ||
        WORKSPACE_VERB_ORDER.indexOf(a.type) - WORKSPACE_VERB_ORDER.indexOf(b.type),
    );
    return [...workspaces, ...topological(this.serviceOps)];
  }

  /**
   * start/restart of S also waits for the start/restart of every service S dependsOn that has an
   * operation in this plan. The engine gates on health at run time; this only fixes the order.
   */
  private linkServiceDependencies(): void {
    const starts = new Map<string, Operation>();
    for (const op of this.serviceOps) if (op.type === 'start-service' || op.type === 'restart-service') starts.set(op.name, op);
    for (const op of starts.values()) {
      const deps = this.dependsOnOf(op.name);
      for (const dep of [...deps].sort(compareStrings)) {
        const target = starts.get(dep);
        if (target && !op.dependsOn.includes(target.id)) op.dependsOn.push(target.id);
      }
    }
  }

  /**
   * A workspace removed from a node frees its name, ports and resources there: creates, recreates
   * and starts on that node wait for the node's deletions.
   */
  private deletionsFirstPerNode(): void {
    const deletions = this.workspaceOps.filter((o) => o.type === 'delete-workspace');
    for (const op of this.workspaceOps) {
      if (op.type !== 'create-workspace' && op.type !== 'recreate-workspace' && op.type !== 'start-workspace') continue;
      for (const del of deletions) if (del.node === op.node) op.dependsOn.push(del.id);
    }
  }
}

function makeOp(
  type: OperationType,
  kind: 'Workspace' | 'Service',
  name: string,
  place: Placement,
  cause: string,
  changes: FieldChange[] | undefined,
): Operation {
  const op: Operation = {
    id: `${type}:${name}`,
    type,
    kind,
    name,
    resource: resourceId(kind, name),
    node: place.node,
    provider: place.provider,
    cause,
    dependsOn: [],
  };
  if (kind === 'Service') op.workspace = place.workspace;
  if (changes && changes.length > 0) op.changes = changes;
  return op;
}

/**
 * Kahn's algorithm over the operations' dependsOn edges that point at other operations of the
 * list; among operations ready at the same time the smallest name goes first. A cycle (rejected
 * by validation, so only defensive) falls back to name order for what remains.
 */
function topological(ops: Operation[]): Operation[] {
  const byId = new Map(ops.map((o) => [o.id, o]));
  const pending = new Map(ops.map((o) => [o.id, new Set(o.dependsOn.filter((d) => byId.has(d)))]));
  const byName = (a: Operation, b: Operation) => compareStrings(a.name, b.name) || compareStrings(a.id, b.id);
  const out: Operation[] = [];
  while (pending.size > 0) {
    const ready = [...pending.entries()].filter(([, deps]) => deps.size === 0).map(([id]) => byId.get(id)!);
    const next = (ready.length > 0 ? ready : [...pending.keys()].map((id) => byId.get(id)!)).sort(byName)[0]!;
    out.push(next);
    pending.delete(next.id);
    for (const deps of pending.values()) deps.delete(next.id);
  }
  return out;
}
