// Spec hashes: the value stored in our labels (`vendetta.dev/spec-hash`) and compared by the
// planner. Equal hash = the object on the node was made from this spec; anything else differs.
//
// Keyed (HMAC-SHA256 with the store's key, from identity.json): the spec includes resolved env,
// secrets too, and labels are readable by anyone who can `docker inspect`. An unkeyed digest of
// a 4-digit PIN is brute-forced in a fraction of a second; without the key it cannot be tested.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { ResolvedEnv } from './env.js';
import { plainEnv } from './env.js';
import type { ServiceResource, WorkspaceResource } from './types.js';
import { volumesHashPart } from './volumes.js';

/** JSON with object keys sorted at every level, so equal values always serialize the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** The store's hash key: StoreIdentity.key (base64 of 32 random bytes). */
export type HashKey = string;

// The key of the last call, decoded and prepared once: a plan hashes every resource with the same
// one (a raw Buffer is prepared again by every createHmac: ~35 µs each, 70 ms at 10 × 100).
let lastKey: { key: HashKey; secret: KeyObject } | undefined;

function hmacShort(key: HashKey, text: string): string {
  if (lastKey?.key !== key) {
    const raw = Buffer.from(key, 'base64');
    if (raw.length < 16) throw new Error('spec hash key must be at least 16 bytes (base64): use the store identity key');
    lastKey = { key, secret: createSecretKey(raw) };
  }
  return createHmac('sha256', lastKey.secret).update(text).digest('hex').slice(0, 16);
}

/**
 * Hash of what a workspace is made from. `state` is left out: starting or stopping a workspace is
 * not a recreate. Env enters with its resolved values (a changed secret must recreate), in place
 * of the fromEnv/fromFile references; only the digest leaves this function, never a value.
 */
export function workspaceSpecHash(ws: WorkspaceResource, env: ResolvedEnv, key: HashKey, buildHash?: string): string {
  return hmacShort(key, canonicalJson({ kind: 'Workspace', spec: hashedSpec(ws), env: plainEnv(env), ...buildPart(buildHash) }));
}

/**
 * With spec.build, the build hash (context contents, dockerfile, args, target) stands for the
 * whole of spec.build: a changed file recreates, a moved project directory does not. Absent
 * otherwise, so workspaces without a build keep their hash.
 */
function buildPart(buildHash: string | undefined): { build?: string } {
  return buildHash === undefined ? {} : { build: buildHash };
}

/** The spec as hashes see it: no `state`, no env references, volumes by name and path only. */
function hashedSpec(ws: WorkspaceResource): object {
  const { state: _state, env: _envRefs, volumes, build: _build, lifecycle, devcontainer: _file, ...rest } = ws.spec;
  // A size change alone recreates nothing (see volumesHashPart). The devcontainer.json's path is
  // not part of what the workspace is: its content already is, merged into the spec.
  return { ...rest, volumes: volumesHashPart(volumes), lifecycle: creationHooks(lifecycle) };
}

/**
 * The hooks that shape what a create makes (onCreate, postCreate): a change recreates the
 * workspace, which runs them. postStart and postAttach run later anyway and change nothing made.
 * Absent when there are none, so a workspace without hooks keeps the hash it had before them.
 */
function creationHooks(lifecycle: WorkspaceResource['spec']['lifecycle']): object | undefined {
  const part = { onCreate: lifecycle?.onCreate?.length ? lifecycle.onCreate : undefined, postCreate: lifecycle?.postCreate?.length ? lifecycle.postCreate : undefined };
  return part.onCreate || part.postCreate ? part : undefined;
}

/**
 * Spec fields a provider changes on a running workspace (besides env), so they stay out of its
 * shape hash: qemu adds and removes user-net port forwards through QMP without a reboot.
 */
const LIVE_FIELDS: Partial<Record<WorkspaceResource['spec']['provider'], ReadonlyArray<'ports'>>> = { qemu: ['ports'] };

/**
 * Hash of a workspace's shape: its spec without `state`, without env and without what its provider
 * changes live (LIVE_FIELDS). A provider that can change those in place (process: services read
 * env when they start; qemu: env likewise, and port forwards) records it beside the spec hash;
 * when only the spec hash differs, the planner updates the workspace instead of replacing it.
 */
export function workspaceShapeHash(ws: WorkspaceResource, key: HashKey, buildHash?: string): string {
  const spec: Record<string, unknown> = { ...hashedSpec(ws) };
  for (const field of LIVE_FIELDS[ws.spec.provider] ?? []) delete spec[field];
  return hmacShort(key, canonicalJson({ kind: 'WorkspaceShape', spec, ...buildPart(buildHash) }));
}

/**
 * Hash of how a service runs: its spec plus the full environment the process gets (workspace
 * env, service env, discovery variables), so a sibling's port change restarts it too.
 */
export function serviceSpecHash(svc: ServiceResource, env: Record<string, string>, key: HashKey): string {
  // onSync says what a sync does, not how the service runs: changing it restarts nothing.
  const { env: _envRefs, onSync: _onSync, ...spec } = svc.spec;
  return hmacShort(key, canonicalJson({ kind: 'Service', spec, env }));
}
