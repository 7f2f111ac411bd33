// What the engine hands to drivers and the supervisor: resources plus the values computed from
// them (resolved env, discovery variables, working directory, spec hash). Pure.
import { posix } from 'node:path';
import type { ResolvedEnv } from '../model/env.js';
import { plainEnv } from '../model/env.js';
import { buildTag } from '../model/build.js';
import { serviceSpecHash, workspaceShapeHash, workspaceSpecHash, type HashKey } from '../model/hash.js';
import type { EnvMap, ResourceId, ServiceResource } from '../model/types.js';
import { resourceId } from '../model/types.js';
import type { DesiredWorkspace } from '../providers/types.js';
import type { LoadedSet } from '../reconcile/api.js';
import type { DesiredService } from '../services/types.js';
import type { StoreIdentity } from '../store/types.js';

/** Where services of a container-like workspace see their source tree. */
export const CONTAINER_WORKSPACE_DIR = '/workspace';

/** Loopback: services of one workspace share its network, so siblings answer here. */
const DISCOVERY_HOST = '127.0.0.1';

/**
 * The resolved env of a workspace/service. The loader resolves every id; when an entry is
 * missing (resources built in code), literal values are enough, and a reference is a bug upstream.
 */
export function resolvedEnvOf(set: LoadedSet, id: ResourceId, specEnv: EnvMap | undefined): ResolvedEnv {
  const resolved = set.env.get(id);
  if (resolved) return resolved;
  const out: ResolvedEnv = {};
  for (const [key, value] of Object.entries(specEnv ?? {})) {
    if (typeof value !== 'string') {
      throw new Error(
        `env ${key} of ${id} references ${'fromEnv' in value ? `fromEnv ${value.fromEnv}` : `fromFile ${value.fromFile}`} ` +
          `but was not resolved: load manifests through src/manifest so references are resolved before planning`,
      );
    }
    out[key] = { value, secret: false };
  }
  return out;
}

/**
 * `identity`: the applying store. Its key keys the spec hash (model/hash.ts), its id/name become
 * the object's owner.
 */
export function desiredWorkspace(set: LoadedSet, name: string, identity: StoreIdentity): DesiredWorkspace {
  const resource = set.desired.workspaces.get(name);
  if (!resource) throw new Error(`workspace ${name} is not in the desired set`);
  const env = resolvedEnvOf(set, resourceId('Workspace', name), resource.spec.env);
  const buildHash = resource.spec.build ? set.builds?.get(name) : undefined;
  const sourceDir = set.sources?.get(name);
  if (resource.spec.build && buildHash === undefined) {
    throw new Error(`workspace ${name} has spec.build but no build hash: plan through the engine, which hashes build contexts first (src/build/context.ts withBuildHashes)`);
  }
  const { specHash, shapeHash } = memo(set, `ws\0${name}\0${identity.key}`, () => ({
    specHash: workspaceSpecHash(resource, env, identity.key, buildHash),
    shapeHash: workspaceShapeHash(resource, identity.key, buildHash),
  }));
  return {
    resource,
    specHash,
    shapeHash,
    env: plainEnv(env),
    owner: { id: identity.id, name: identity.name },
    ...(buildHash !== undefined ? { build: { hash: buildHash, tag: buildTag(name, buildHash) } } : {}),
    ...(sourceDir !== undefined ? { sourceDir } : {}),
    services: (servicesByWorkspace(set).get(name) ?? []).map((s) => s.metadata.name),
  };
}

/**
 * What a loaded set hashes to, kept with the set: a set is not changed once loaded (a reload or a
 * build makes a new one), and hashing a thousand specs (canonical JSON, HMAC) costs ~0.1 s, which
 * a plan and the pass that carries it out would each pay.
 */
const memos = new WeakMap<LoadedSet, Map<string, unknown>>();
function memo<T>(set: LoadedSet, key: string, compute: () => T): T {
  let m = memos.get(set);
  if (!m) memos.set(set, (m = new Map()));
  if (m.has(key)) return m.get(key) as T;
  const value = compute();
  m.set(key, value);
  return value;
}

/** The services of each workspace, in the set's order. */
function servicesByWorkspace(set: LoadedSet): Map<string, ServiceResource[]> {
  return memo(set, 'services-by-workspace', () => {
    const by = new Map<string, ServiceResource[]>();
    for (const s of set.desired.services.values()) {
      const list = by.get(s.spec.workspace);
      if (list) list.push(s);
      else by.set(s.spec.workspace, [s]);
    }
    return by;
  });
}

/** The spec hash of a declared service (serviceSpecHash of its resource and serviceEnv), kept with the set. */
export function desiredServiceHash(set: LoadedSet, name: string, key: HashKey): string {
  const resource = set.desired.services.get(name);
  if (!resource) throw new Error(`service ${name} is not in the desired set`);
  return memo(set, `svc\0${name}\0${key}`, () => serviceSpecHash(resource, serviceEnv(set, name), key));
}

/**
 * Hashes every declared workspace and service now: called while the nodes are being observed,
 * so the plan that follows finds them done (CPU work overlapping the wait on the network).
 */
export function hashDesired(set: LoadedSet, identity: StoreIdentity): void {
  for (const name of set.desired.workspaces.keys()) {
    const ws = set.desired.workspaces.get(name)!;
    if (ws.spec.build && set.builds?.get(name) === undefined) continue; // planned (and refused) by the planner
    desiredWorkspace(set, name, identity);
  }
  for (const name of set.desired.services.keys()) desiredServiceHash(set, name, identity.key);
}

/** "db-main" → "VENDETTA_SERVICE_DB_MAIN" (names are DNS labels: [a-z0-9-]). */
export function discoveryPrefix(serviceName: string): string {
  return `VENDETTA_SERVICE_${serviceName.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Discovery variables for every service (of one workspace) that has ports, in name order. The
 * first port is the service's address; services of a workspace share its network namespace.
 */
export function discoveryEnv(services: Iterable<ServiceResource>): Record<string, string> {
  const withPorts = [...services]
    .filter((s) => (s.spec.ports?.length ?? 0) > 0)
    .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const env: Record<string, string> = {};
  for (const svc of withPorts) {
    const prefix = discoveryPrefix(svc.metadata.name);
    const port = String(svc.spec.ports![0]);
    env[`${prefix}_HOST`] = DISCOVERY_HOST;
    env[`${prefix}_PORT`] = port;
    env[`${prefix}_URL`] = `http://${DISCOVERY_HOST}:${port}`;
  }
  return env;
}

/** Workspace env, then service env, then discovery variables (later entries win). */
export function serviceEnv(set: LoadedSet, name: string): Record<string, string> {
  const svc = set.desired.services.get(name);
  if (!svc) throw new Error(`service ${name} is not in the desired set`);
  const ws = set.desired.workspaces.get(svc.spec.workspace);
  const workspaceEnv = ws ? plainEnv(resolvedEnvOf(set, resourceId('Workspace', ws.metadata.name), ws.spec.env)) : {};
  const ownEnv = plainEnv(resolvedEnvOf(set, resourceId('Service', name), svc.spec.env));
  return { ...workspaceEnv, ...ownEnv, ...discoveryEnv(servicesByWorkspace(set).get(svc.spec.workspace) ?? []) };
}

/**
 * The service's working directory inside a workspace whose tree is at `workspaceDir`. Manifests
 * are written for containers ("/workspace/app"); process workspaces live in a host directory, so
 * paths under /workspace are re-rooted there, and relative paths are taken from it.
 */
export function serviceWorkdir(workdir: string | undefined, workspaceDir: string): string {
  if (workdir === undefined || workdir === '') return withoutTrailingSlash(workspaceDir);
  if (workdir === CONTAINER_WORKSPACE_DIR || workdir.startsWith(`${CONTAINER_WORKSPACE_DIR}/`)) {
    return withoutTrailingSlash(posix.join(workspaceDir, workdir.slice(CONTAINER_WORKSPACE_DIR.length)));
  }
  if (!workdir.startsWith('/')) return withoutTrailingSlash(posix.join(workspaceDir, workdir));
  return withoutTrailingSlash(posix.normalize(workdir));
}

function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function desiredService(set: LoadedSet, name: string, workspaceDir: string, key: HashKey): DesiredService {
  const resource = set.desired.services.get(name);
  if (!resource) throw new Error(`service ${name} is not in the desired set`);
  const env = serviceEnv(set, name);
  return {
    resource,
    specHash: desiredServiceHash(set, name, key),
    env,
    workdir: serviceWorkdir(resource.spec.workdir, workspaceDir),
  };
}

/** Code-point order, independent of locale: plans must render the same everywhere. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
