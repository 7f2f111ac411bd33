// Field-level differences between an applied spec and a desired one, for the `~`/`-/+` lines of
// a plan. Explains a hash change; never decides one (the hash on the node is the truth).
import { canonicalJson } from '../model/hash.js';
import { REDACTED } from '../model/env.js';
import type { EnvValue } from '../model/types.js';
import type { FieldChange } from './types.js';
import { compareStrings } from './desired.js';

/**
 * Leaf differences between two specs under `prefix` ("spec"). Objects are walked key by key,
 * arrays compared whole. Env maps are compared per variable, and a fromEnv/fromFile value renders
 * as "(secret)": its reference name is harmless but the rule "references are secret" is simpler.
 */
export function specChanges(from: unknown, to: unknown, prefix = 'spec', ignore: string[] = []): FieldChange[] {
  const out: FieldChange[] = [];
  const walker: Walker = { ignore: new Set(ignore.map((p) => `${prefix}.${p}`)), envPath: `${prefix}.env`, out };
  walk(walker, prefix, from, to);
  return out;
}

interface Walker {
  ignore: Set<string>;
  envPath: string;
  out: FieldChange[];
}

function walk(w: Walker, path: string, from: unknown, to: unknown): void {
  const out = w.out;
  if (w.ignore.has(path)) return;
  if (path === w.envPath) {
    const a = (from ?? {}) as Record<string, EnvValue>;
    const b = (to ?? {}) as Record<string, EnvValue>;
    for (const key of unionKeys(a, b)) {
      if (canonicalJson(a[key]) === canonicalJson(b[key])) continue;
      out.push(change(`${path}.${key}`, renderEnvValue(a[key]), renderEnvValue(b[key])));
    }
    return;
  }
  if (isPlainObject(from) && isPlainObject(to)) {
    for (const key of unionKeys(from, to)) walk(w, `${path}.${key}`, from[key], to[key]);
    return;
  }
  if (canonicalJson(from) === canonicalJson(to)) return;
  out.push(change(path, renderValue(from), renderValue(to)));
}

/** Differences between two plain string maps (computed env), each variable a leaf. */
export function envChanges(from: Record<string, string>, to: Record<string, string>, prefix: string): FieldChange[] {
  const out: FieldChange[] = [];
  for (const key of unionKeys(from, to)) {
    if (from[key] === to[key]) continue;
    out.push(change(`${prefix}.${key}`, renderValue(from[key]), renderValue(to[key])));
  }
  return out;
}

function change(path: string, from: string | undefined, to: string | undefined): FieldChange {
  const c: FieldChange = { path };
  if (from !== undefined) c.from = from;
  if (to !== undefined) c.to = to;
  return c;
}

function renderEnvValue(value: EnvValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? JSON.stringify(value) : REDACTED;
}

/** Strings quoted, numbers/booleans bare, objects and arrays as compact canonical JSON. */
export function renderValue(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return JSON.stringify(value);
  return canonicalJson(value);
}

/** "spec.resources.cpus" → "resources.cpus": how causes name a field. */
export function shortPath(path: string): string {
  return path.startsWith('spec.') ? path.slice('spec.'.length) : path;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function unionKeys(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareStrings);
}
