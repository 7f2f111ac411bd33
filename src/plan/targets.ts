// Which nodes (and which providers on them) a command must observe. Pure. A node is observed
// only when the command may act on it: an unreachable node that holds only records of other
// apply sets or of resources the command does not touch never makes it fail.
//
//   apply/diff  the nodes of the declared workspaces; the nodes a declared workspace moved away
//               from (its record's node and previousNodes) and the old workspaces of a moved
//               service; with --prune, where the apply set's no-longer-declared records are.
//   delete      where each target may be: its record's node and previous nodes, or the node the
//               manifests (`delete -f`) give when the store has no record.
import type { ProviderName, ResourceId, ServiceSpec } from '../model/types.js';
import type { LoadedSet } from '../reconcile/api.js';
import type { AppliedRecord } from '../store/types.js';
import { oldWorkspaces, recordPlacements, workspacePlacements } from './plan.js';

/** node name → providers to observe there. */
export type ObservationTargets = Map<string, Set<ProviderName>>;

class Targets {
  readonly map: ObservationTargets = new Map();
  add(node: string, provider: ProviderName): void {
    this.map.set(node, (this.map.get(node) ?? new Set()).add(provider));
  }
  workspace(name: string, set: LoadedSet | undefined, applied: Map<ResourceId, AppliedRecord>): void {
    for (const p of workspacePlacements(name, set, applied)) this.add(p.node, p.provider);
  }
}

export function applyTargets(input: { set: LoadedSet; applied: AppliedRecord[]; applySet: string; prune: boolean }): ObservationTargets {
  const { set } = input;
  const applied = new Map(input.applied.map((r) => [r.id, r]));
  const t = new Targets();
  for (const ws of set.desired.workspaces.values()) {
    t.add(ws.spec.node, ws.spec.provider);
    // Its record's placements: an old provider on the same node (a provider change deletes
    // there), and nodes it moved away from.
    const record = applied.get(`workspace/${ws.metadata.name}`);
    if (record) for (const p of recordPlacements(record)) t.add(p.node, p.provider);
  }
  for (const svc of set.desired.services.values()) {
    for (const old of oldWorkspaces(applied.get(`service/${svc.metadata.name}`), svc.spec.workspace)) t.workspace(old, set, applied);
  }
  if (input.prune) {
    for (const r of input.applied) {
      if (r.applySet !== input.applySet) continue;
      if (r.kind === 'Workspace' && !set.desired.workspaces.has(r.name)) {
        for (const p of recordPlacements(r)) t.add(p.node, p.provider);
      }
      if (r.kind === 'Service' && !set.desired.services.has(r.name)) {
        for (const w of [(r.resource.spec as ServiceSpec).workspace, ...(r.previousWorkspaces ?? [])]) t.workspace(w, set, applied);
      }
    }
  }
  return t.map;
}

export function deleteTargets(input: { ids: ResourceId[]; applied: AppliedRecord[]; set?: LoadedSet }): ObservationTargets {
  const applied = new Map(input.applied.map((r) => [r.id, r]));
  const t = new Targets();
  for (const id of input.ids) {
    const slash = id.indexOf('/');
    const kind = id.slice(0, slash);
    const name = id.slice(slash + 1);
    if (kind === 'workspace') t.workspace(name, input.set, applied);
    if (kind === 'service') {
      const record = applied.get(id);
      const workspaces = [
        input.set?.desired.services.get(name)?.spec.workspace ?? (record?.resource.spec as ServiceSpec | undefined)?.workspace,
        ...(record?.previousWorkspaces ?? []),
      ];
      for (const w of new Set(workspaces)) if (w) t.workspace(w, input.set, applied);
    }
  }
  return t.map;
}
