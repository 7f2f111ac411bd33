// fromEnv/fromFile references are resolved on the applying machine, at load time, so a missing
// secret is reported with the manifest's file:line before anything changes on a node.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { EnvMap } from '../model/types.js';
import type { ResolvedEnv } from '../model/env.js';
import { errorAt, type ManifestError } from './errors.js';
import type { Locate } from './locate.js';

export interface EnvContext {
  /** `Service "web"`, for messages. */
  subject: string;
  /** Directory of the manifest file: fromFile paths are relative to it. */
  manifestDir: string;
  environ: NodeJS.ProcessEnv;
  at: Locate;
}

/** Literal values are not secret; referenced ones are. Returns every problem, not the first. */
export async function resolveEnv(env: EnvMap | undefined, ctx: EnvContext): Promise<{ env: ResolvedEnv; errors: ManifestError[] }> {
  const resolved: ResolvedEnv = {};
  const errors: ManifestError[] = [];
  for (const [name, value] of Object.entries(env ?? {})) {
    const fail = (message: string) => errors.push(errorAt(ctx.at(['spec', 'env', name], 'key'), `${ctx.subject} spec.env.${name}: ${message}`));
    if (typeof value === 'string') {
      resolved[name] = { value, secret: false };
    } else if ('fromEnv' in value) {
      const found = ctx.environ[value.fromEnv];
      if (found === undefined) fail(`environment variable ${value.fromEnv} is not set; export it before running vendetta`);
      else resolved[name] = { value: found, secret: true };
    } else {
      const file = resolve(ctx.manifestDir, value.fromFile);
      try {
        const content = await readFile(file, 'utf8');
        resolved[name] = { value: content.replace(/\r?\n$/, ''), secret: true };
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message;
        fail(`cannot read ${JSON.stringify(value.fromFile)} (${file}): ${reason}; create it or fix the path`);
      }
    }
  }
  return { env: resolved, errors };
}
