// What crosses the HTTP boundary between the CLI client and `vendetta serve`, and the pure
// conversions on both sides. Maps become plain objects on the wire.
//
// A manifest set travels as a *bundle*: the resources the client loaded (each with its
// source file:line) plus the env values the client resolved. The client resolves fromEnv/fromFile
// references (they name the user's environment and files, not the server's); the values cross
// only the token-authenticated loopback connection and the server keeps them in memory only.
// The server validates the bundle again (schema and references) before it touches anything.
import type { ResolvedEnv } from '../model/env.js';
import { resourceId, type NodeResource, type Resource, type ResourceId, type ResourceStatus } from '../model/types.js';
import { checkReferences, type Declared } from '../manifest/references.js';
import { validateDocument } from '../manifest/schema.js';
import { withDefaults } from '../manifest/defaults.js';
import type { ManifestError } from '../manifest/errors.js';
import type { ApplyResult, LoadedSet } from '../reconcile/api.js';

export const API_PREFIX = '/api/v1';

export interface SetBundle {
  resources: Resource[];
  env: Record<ResourceId, ResolvedEnv>;
}

export interface ApplyRequest {
  set: SetBundle;
  applySet: string;
  prune: boolean;
  timeoutMs: number;
  noWait?: boolean;
  adopt?: boolean;
  pruneVolumes?: boolean;
}

export interface PlanRequest {
  set: SetBundle;
  applySet: string;
  prune: boolean;
  adopt?: boolean;
}

export interface WireResult extends Omit<ApplyResult, 'statuses' | 'endpoints'> {
  statuses: Record<ResourceId, ResourceStatus>;
  endpoints: Record<ResourceId, string>;
}

/** One line of a streamed apply/delete response (NDJSON). */
export type StreamMessage =
  | { type: 'plan'; plan: ApplyResult['plan']; pass: number }
  | { type: 'event'; event: import('../model/types.js').EventRecord }
  | { type: 'progress'; resource: ResourceId; message: string }
  | { type: 'result'; result: WireResult }
  | { type: 'error'; status: number; error: string; hint?: string; errors?: ManifestError[] };

export function toBundle(set: LoadedSet): SetBundle {
  const { nodes, workspaces, services } = set.desired;
  return {
    resources: [...nodes.values(), ...workspaces.values(), ...services.values()],
    env: Object.fromEntries(set.env),
  };
}

export function toWireResult(r: ApplyResult): WireResult {
  return { ...r, statuses: Object.fromEntries(r.statuses), endpoints: Object.fromEntries(r.endpoints) };
}

export function fromWireResult(r: WireResult): ApplyResult {
  return { ...r, statuses: new Map(Object.entries(r.statuses)), endpoints: new Map(Object.entries(r.endpoints)) };
}

/**
 * Validates a bundle the way the loader validates files (schema per document, then names and
 * references across them) and builds the LoadedSet. Errors point at each document's file:line
 * as the client loaded it. `knownNodes` are the nodes the server's store knows.
 */
export function setFromBundle(
  bundle: SetBundle,
  knownNodes: NodeResource[],
): { ok: true; set: LoadedSet } | { ok: false; errors: ManifestError[] } {
  const errors: ManifestError[] = [];
  const declared: Declared[] = [];
  if (!bundle || !Array.isArray(bundle.resources)) {
    return { ok: false, errors: [{ file: '<request>', line: 0, col: 0, message: 'body.set.resources must be a list of manifests' }] };
  }
  bundle.resources.forEach((resource, i) => {
    const pos = resource?.source ?? { file: `<request resource ${i + 1}>`, line: 0, col: 0 };
    const at = () => pos;
    const { source: _source, ...document } = (resource ?? {}) as Resource;
    const { kind, issues } = validateDocument(document);
    for (const issue of issues) errors.push({ ...pos, message: issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message });
    if (!kind || issues.length > 0) return;
    // Defaults as the loader applies them (idempotent for what the client already defaulted).
    declared.push({ kind, name: resource.metadata.name, at, resource: withDefaults({ ...document, source: pos } as Resource) });
  });
  const references = checkReferences(declared, process.cwd(), knownNodes);
  errors.push(...references.errors);
  if (errors.length > 0) return { ok: false, errors };
  const env = new Map<ResourceId, ResolvedEnv>();
  const { workspaces, services } = references.desired;
  for (const r of [...workspaces.values(), ...services.values()]) {
    const id = resourceId(r.kind, r.metadata.name);
    env.set(id, bundle.env?.[id] ?? literalEnv(r.spec.env));
  }
  return { ok: true, set: { desired: references.desired, env } };
}

/** The literal values of an env map; references need resolving (they are secrets). */
function literalEnv(env: Record<string, unknown> | undefined): ResolvedEnv {
  const out: ResolvedEnv = {};
  for (const [k, v] of Object.entries(env ?? {})) if (typeof v === 'string') out[k] = { value: v, secret: false };
  return out;
}

/** The union of several apply sets (their names are disjoint: a resource belongs to one set). */
export function mergeSets(sets: Iterable<LoadedSet>): LoadedSet {
  const merged: LoadedSet = { desired: { nodes: new Map(), workspaces: new Map(), services: new Map() }, env: new Map() };
  const sources = new Map<string, string>();
  for (const s of sets) {
    for (const [k, v] of s.sources ?? []) sources.set(k, v);
    for (const [k, v] of s.desired.nodes) merged.desired.nodes.set(k, v);
    for (const [k, v] of s.desired.workspaces) merged.desired.workspaces.set(k, v);
    for (const [k, v] of s.desired.services) merged.desired.services.set(k, v);
    for (const [k, v] of s.env) merged.env.set(k, v);
  }
  if (sources.size > 0) merged.sources = sources;
  return merged;
}

/** A set without the given resources (after `delete`); a workspace takes its services along. */
export function withoutResources(set: LoadedSet, ids: ResourceId[]): LoadedSet {
  const gone = new Set(ids);
  const { nodes, workspaces, services } = set.desired;
  const keptWorkspaces = new Map([...workspaces].filter(([n]) => !gone.has(resourceId('Workspace', n))));
  const keptServices = new Map(
    [...services].filter(([n, s]) => !gone.has(resourceId('Service', n)) && keptWorkspaces.has(s.spec.workspace)),
  );
  const keptNodes = new Map([...nodes].filter(([n]) => !gone.has(resourceId('Node', n))));
  const keep = new Set([...keptWorkspaces.keys()].map((n) => resourceId('Workspace', n)).concat([...keptServices.keys()].map((n) => resourceId('Service', n))));
  return {
    desired: { nodes: keptNodes, workspaces: keptWorkspaces, services: keptServices },
    env: new Map([...set.env].filter(([id]) => keep.has(id))),
    ...(set.sources ? { sources: new Map([...set.sources].filter(([n]) => keptWorkspaces.has(n))) } : {}),
  };
}

export function isEmptySet(set: LoadedSet): boolean {
  return set.desired.workspaces.size === 0 && set.desired.services.size === 0;
}
