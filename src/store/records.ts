// What a write does to an applied record, shared by every store backend (file-store.ts,
// etcd-store.ts): pure functions of the record before and the request, no I/O. A backend only
// decides how the read-modify-write is made safe (a per-file queue and the store lock, or an
// etcd transaction on the key's revision).
import type { EventRecord, Resource, ResourceId, ResourceStatus, ServiceResource, WorkspaceResource } from '../model/types.js';
import { resourceId } from '../model/types.js';
import type { AppliedRecord, PreviousPlacement } from './types.js';

/** Canonical JSON (sorted keys) of a resource without `source`: what "the spec changed" compares. */
export function canonicalResource(resource: Resource): string {
  const { source: _source, ...rest } = resource;
  return canonicalJson(rest);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** "workspace/api" → kind "workspace", name "api" (the id's own spelling, lower-case kind). */
export function parseId(id: ResourceId): { kind: string; name: string } {
  const slash = id.indexOf('/');
  if (slash <= 0) throw new Error(`invalid resource id "${id}": expected kind/name`);
  return { kind: id.slice(0, slash), name: id.slice(slash + 1) };
}

/** Apply set names become file names and key segments: no separators, no dot-dot. */
export function checkApplySetName(applySet: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(applySet)) {
    throw new Error(`invalid apply set name "${applySet}": use letters, digits, ".", "_" and "-"`);
  }
}

/** An inventory as stored: each id once, sorted. */
export function normalizedInventory(ids: ResourceId[]): ResourceId[] {
  return [...new Set(ids)].sort();
}

/**
 * What a new apply of `resource` keeps of where the existing record put it: a workspace whose
 * node changed remembers the old node (and provider), a service whose workspace changed the old
 * workspace, until the engine confirms the old object gone (Store.setPrevious). Moving back
 * drops the entry for the place it returns to.
 */
export function previousPlacements(existing: AppliedRecord | undefined, resource: Resource): Pick<AppliedRecord, 'previousNodes' | 'previousWorkspaces'> {
  if (!existing || existing.kind !== resource.kind) return {};
  if (resource.kind === 'Workspace') {
    const now = (resource as WorkspaceResource).spec;
    const before = (existing.resource as WorkspaceResource).spec;
    const all: PreviousPlacement[] = [...(existing.previousNodes ?? [])];
    if (before.node !== now.node) all.push({ node: before.node, provider: before.provider });
    const kept = all.filter((p, i) => p.node !== now.node && all.findIndex((q) => q.node === p.node && q.provider === p.provider) === i);
    return kept.length > 0 ? { previousNodes: kept } : {};
  }
  if (resource.kind === 'Service') {
    const now = (resource as ServiceResource).spec.workspace;
    const before = (existing.resource as ServiceResource).spec.workspace;
    const all = [...(existing.previousWorkspaces ?? []), ...(before !== now ? [before] : [])];
    const kept = [...new Set(all)].filter((w) => w !== now);
    return kept.length > 0 ? { previousWorkspaces: kept } : {};
  }
  return {};
}

/** The record putApplied writes: generation bumped (and appliedAt renewed) only when the spec changed. */
export function appliedRecord(existing: AppliedRecord | undefined, resource: Resource, applySet: string, now: Date = new Date()): AppliedRecord {
  const changed = !existing || canonicalResource(existing.resource) !== canonicalResource(resource);
  return {
    id: resourceId(resource.kind, resource.metadata.name),
    kind: resource.kind,
    name: resource.metadata.name,
    resource,
    generation: existing ? existing.generation + (changed ? 1 : 0) : 1,
    applySet,
    appliedAt: changed || !existing ? now.toISOString() : existing.appliedAt,
    ...(existing?.status ? { status: existing.status } : {}),
    ...previousPlacements(existing, resource),
  };
}

/** The record with its previous placements replaced (absent or empty lists: removed). */
export function withPrevious(existing: AppliedRecord, previous: Pick<AppliedRecord, 'previousNodes' | 'previousWorkspaces'>): AppliedRecord {
  const { previousNodes: _n, previousWorkspaces: _w, ...rest } = existing;
  return {
    ...rest,
    ...(previous.previousNodes?.length ? { previousNodes: previous.previousNodes } : {}),
    ...(previous.previousWorkspaces?.length ? { previousWorkspaces: previous.previousWorkspaces } : {}),
  };
}

/**
 * What Store.events returns from the history (oldest first): the events of `object` when given,
 * the newest `limit` of them (0 or less: none; not a number: no limit), oldest first.
 */
export function selectEvents(history: EventRecord[], opts: { object?: ResourceId; limit?: number }): EventRecord[] {
  const matching = opts.object ? history.filter((e) => e.object === opts.object) : history;
  if (opts.limit === undefined || Number.isNaN(opts.limit)) return matching;
  return opts.limit > 0 ? matching.slice(-opts.limit) : [];
}

/**
 * The record writes of the Store interface, the same for every backend once it has a safe
 * read-modify-write (`updateRecord`).
 */
export abstract class RecordWrites {
  /** One read-modify-write of a record; `update` returning undefined leaves it alone. */
  protected abstract updateRecord<T>(
    id: ResourceId,
    update: (existing: AppliedRecord | undefined) => { record: AppliedRecord; result: T } | undefined,
  ): Promise<T | undefined>;

  async putApplied(resource: Resource, applySet: string): Promise<AppliedRecord> {
    const id = resourceId(resource.kind, resource.metadata.name);
    const applied = await this.updateRecord(id, (existing) => {
      const record = appliedRecord(existing, resource, applySet);
      return { record, result: record };
    });
    return applied!;
  }

  /** Status of a resource that was never applied (e.g. the implicit local node) is not kept. */
  async setStatus(id: ResourceId, status: ResourceStatus): Promise<void> {
    await this.updateRecord(id, (existing) => (existing ? { record: { ...existing, status }, result: undefined } : undefined));
  }

  async setPrevious(id: ResourceId, previous: Pick<AppliedRecord, 'previousNodes' | 'previousWorkspaces'>): Promise<void> {
    await this.updateRecord(id, (existing) => (existing ? { record: withPrevious(existing, previous), result: undefined } : undefined));
  }
}
