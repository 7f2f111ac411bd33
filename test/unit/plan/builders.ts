// Small builders for planner tests: resources with the loader's defaults applied, a LoadedSet
// with env resolved, and the observation/applied records a converged apply of a set leaves.
import { serviceSpecHash } from '../../../src/model/hash.js';
import type { ResolvedEnv } from '../../../src/model/env.js';
import type {
  EnvMap,
  ObservedNode,
  ObservedService,
  ObservedSet,
  ObservedWorkspace,
  Resource,
  ServiceResource,
  ServiceSpec,
  WorkspaceResource,
  WorkspaceSpec,
} from '../../../src/model/types.js';
import { API_VERSION, resourceId } from '../../../src/model/types.js';
import { desiredWorkspace, serviceEnv } from '../../../src/plan/desired.js';
import type { LoadedSet } from '../../../src/reconcile/api.js';
import type { AppliedRecord, StoreIdentity } from '../../../src/store/types.js';

/** The applying store in planner tests: what owns the converged objects, and the hash key. */
export const TEST_IDENTITY: StoreIdentity = {
  id: 'aaaaaaaaaaaaaaaa',
  name: 'test@laptop:/home/test/.vendetta',
  key: Buffer.alloc(32, 7).toString('base64'),
};

export function workspace(name: string, spec: Partial<WorkspaceSpec> = {}): WorkspaceResource {
  return {
    apiVersion: API_VERSION,
    kind: 'Workspace',
    metadata: { name },
    spec: { node: 'local', provider: 'process', state: 'running', ...spec },
  };
}

export function service(name: string, ws: string, spec: Partial<ServiceSpec> = {}): ServiceResource {
  return {
    apiVersion: API_VERSION,
    kind: 'Service',
    metadata: { name },
    spec: { workspace: ws, command: `run-${name}`, restart: 'on-failure', ...spec },
  };
}

/**
 * A LoadedSet as the loader makes it. `secrets` plays the applying machine: fromEnv NAME and
 * fromFile PATH resolve to secrets[NAME] / secrets[PATH].
 */
export function loaded(resources: Resource[], secrets: Record<string, string> = {}): LoadedSet {
  const set: LoadedSet = {
    desired: { nodes: new Map(), workspaces: new Map(), services: new Map() },
    env: new Map(),
  };
  for (const r of resources) {
    if (r.kind === 'Node') set.desired.nodes.set(r.metadata.name, r);
    if (r.kind === 'Workspace') set.desired.workspaces.set(r.metadata.name, r);
    if (r.kind === 'Service') set.desired.services.set(r.metadata.name, r);
    if (r.kind !== 'Node') set.env.set(resourceId(r.kind, r.metadata.name), resolve(r.spec.env ?? {}, secrets));
  }
  return set;
}

function resolve(env: EnvMap, secrets: Record<string, string>): ResolvedEnv {
  const out: ResolvedEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (typeof value === 'string') out[key] = { value, secret: false };
    else {
      const ref = 'fromEnv' in value ? value.fromEnv : value.fromFile;
      const resolved = secrets[ref];
      if (resolved === undefined) throw new Error(`test set: no secret for ${ref}`);
      out[key] = { value: resolved, secret: true };
    }
  }
  return out;
}

/** What the nodes look like right after `set` converged: everything running, hashes matching. */
export function converged(set: LoadedSet, applySet = 'default'): ObservedSet {
  const observed: ObservedSet = new Map();
  for (const ws of set.desired.workspaces.values()) {
    const node = nodeOf(observed, ws.spec.node);
    const services: ObservedService[] = [...set.desired.services.values()]
      .filter((s) => s.spec.workspace === ws.metadata.name)
      .map((s, i) => ({
        name: s.metadata.name,
        specHash: serviceSpecHash(s, serviceEnv(set, s.metadata.name), TEST_IDENTITY.key),
        state: 'running',
        pid: 1000 + i,
        restarts: 0,
      }));
    node.workspaces.push({
      name: ws.metadata.name,
      provider: ws.spec.provider,
      specHash: desiredWorkspace(set, ws.metadata.name, TEST_IDENTITY).specHash,
      owner: { id: TEST_IDENTITY.id, name: TEST_IDENTITY.name },
      applySet,
      running: ws.spec.state !== 'stopped',
      services: ws.spec.state === 'stopped' ? services.map((s) => ({ ...s, state: 'stopped', pid: undefined })) : services,
    });
  }
  return observed;
}

/** Nodes that answered but hold nothing of ours. */
export function emptyNodes(...names: string[]): ObservedSet {
  const observed: ObservedSet = new Map();
  for (const n of names) nodeOf(observed, n);
  return observed;
}

function nodeOf(observed: ObservedSet, name: string): ObservedNode {
  let node = observed.get(name);
  if (!node) {
    node = { name, reachable: true, workspaces: [] };
    observed.set(name, node);
  }
  return node;
}

/** The store records an apply of `set` leaves (env references unresolved, as stored). */
export function appliedRecords(set: LoadedSet, applySet = 'default'): AppliedRecord[] {
  const resources: Resource[] = [...set.desired.workspaces.values(), ...set.desired.services.values()];
  return resources.map((r) => ({
    id: resourceId(r.kind, r.metadata.name),
    kind: r.kind,
    name: r.metadata.name,
    resource: r,
    generation: 1,
    applySet,
    appliedAt: '2025-01-01T00:00:00.000Z',
  }));
}

export function observedWorkspace(observed: ObservedSet, name: string): ObservedWorkspace {
  for (const n of observed.values()) {
    const ws = n.workspaces.find((w) => w.name === name);
    if (ws) return ws;
  }
  throw new Error(`test: workspace ${name} not observed`);
}

export function observedService(observed: ObservedSet, name: string): ObservedService {
  for (const n of observed.values()) {
    for (const ws of n.workspaces) {
      const svc = ws.services.find((s) => s.name === name);
      if (svc) return svc;
    }
  }
  throw new Error(`test: service ${name} not observed`);
}
