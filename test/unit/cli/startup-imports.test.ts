// Start-up cost is module loading: the CLI entry and what it imports statically must not pull in
// the heavy dependencies. Commands load them in their action (await import), so `--version`,
// `--help`, `completion`, `get`… start with commander alone. Built with the real build options.
import { build, type Metafile } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { options } from '../../../scripts/build.mjs';

/** Packages (bundled into the reached chunks, or left external) reached from `entry` through the given import kinds. */
function packagesFrom(meta: Metafile, entry: string, kinds: string[]): Set<string> {
  const seen = new Set<string>();
  const found = new Set<string>();
  const name = (path: string) => path.split('/').slice(0, path.startsWith('@') ? 2 : 1).join('/');
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const input of Object.keys(meta.outputs[file]?.inputs ?? {})) {
      const at = input.lastIndexOf('node_modules/');
      if (at >= 0) found.add(name(input.slice(at + 'node_modules/'.length)));
    }
    for (const imp of meta.outputs[file]?.imports ?? []) {
      if (!kinds.includes(imp.kind)) continue;
      if (imp.external) found.add(imp.path.startsWith('node:') ? 'node:' : name(imp.path));
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

  it('the entry chunk loads only commander and node builtins statically', () => {
    const statics = packagesFrom(meta, entry, ['import-statement']);
    expect([...statics].filter((p) => p !== 'node:').sort()).toEqual(['commander']);
  });

  it('the heavy dependencies are still there, behind dynamic imports', () => {
    // Guards the walk above: if these were unreachable, the first test would prove nothing.
    const all = packagesFrom(meta, entry, ['import-statement', 'dynamic-import']);
    for (const pkg of ['ssh2', 'xstate', 'ajv', 'yaml', 'chokidar', 'dockerode']) expect(all).toContain(pkg);
  });
});
