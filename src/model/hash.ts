// Spec hashes: the value stored in our labels (`vendetta.dev/spec-hash`) and compared by the
// planner. Equal hash = the object on the node was made from this spec; anything else differs.
import { createHash } from 'node:crypto';
import type { ResolvedEnv } from './env.js';
import { plainEnv } from './env.js';
import type { ServiceResource, WorkspaceResource } from './types.js';

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

function sha256Short(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * Hash of what a workspace is made from. `state` is left out: starting or stopping a workspace is
 * not a recreate. Env enters with its resolved values (a changed secret must recreate), in place
 * of the fromEnv/fromFile references; only the digest leaves this function, never a value.
 */
export function workspaceSpecHash(ws: WorkspaceResource, env: ResolvedEnv): string {
  const { state: _state, env: _envRefs, ...spec } = ws.spec;
  return sha256Short(canonicalJson({ kind: 'Workspace', spec, env: plainEnv(env) }));
}

/**
 * Hash of how a service runs: its spec plus the full environment the process gets (workspace
 * env, service env, discovery variables), so a sibling's port change restarts it too.
 */
export function serviceSpecHash(svc: ServiceResource, env: Record<string, string>): string {
  const { env: _envRefs, ...spec } = svc.spec;
  return sha256Short(canonicalJson({ kind: 'Service', spec, env }));
}
