// Start-up cost is module loading: the CLI entry and what it imports statically must not pull in
// the heavy dependencies. Commands load them in their action (await import), so `--version`,
// `--help`, `completion`, `get`… start with commander alone. Built with the real build options.
import { build, type Metafile } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { options } from '../../../scripts/build.mjs';

/**
 * Packages reached from `entry` through the given import kinds: external ones, and those bundled
 * into a chunk on the way (yaml is bundled, see scripts/build.mjs).
 */
function externalsFrom(meta: Metafile, entry: string, kinds: string[]): Set<string> {
  const seen = new Set<string>();
  const found = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const input of Object.keys(meta.outputs[file]?.inputs ?? {})) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (m) found.add(m[1]!);
    }
    for (const imp of meta.outputs[file]?.imports ?? []) {
      if (!kinds.includes(imp.kind)) continue;
      if (imp.external) found.add(imp.path.startsWith('node:') ? 'node:' : imp.path.split('/').slice(0, imp.path.startsWith('@') ? 2 : 1).join('/'));
      else walk(imp.path);
    }
  };
  walk(entry);
  return found;
}

describe('CLI start-up imports', () => {
  const out = mkdtempSync(join(tmpdir(), 'vendetta-startup-'));
  let meta: Metafile;
  let entry: string;

  beforeAll(async () => {
    const result = await build({ ...options, outdir: out, write: false, metafile: true, sourcemap: false, logLevel: 'silent' });
    meta = result.metafile!;
    entry = Object.keys(meta.outputs).find((f) => meta.outputs[f]!.entryPoint === 'src/cli/main.ts')!;
    expect(entry).toBeDefined();
  }, 60_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('the entry chunk imports only commander and node builtins statically', () => {
    const statics = externalsFrom(meta, entry, ['import-statement']);
    expect([...statics].sort()).toEqual(['commander', 'node:']);
  });

  it('the heavy dependencies are still there, behind dynamic imports', () => {
    // Guards the walk above: if these were unreachable, the first test would prove nothing.
    const all = externalsFrom(meta, entry, ['import-statement', 'dynamic-import']);
    // ajv and dockerode are not among them: schema.ts, the generated validators and the docker
    // client require() them on first need (a no-op apply loads neither).
    for (const pkg of ['ssh2', 'xstate', 'yaml', 'chokidar', 'etcd3']) expect(all).toContain(pkg);
  });
});
