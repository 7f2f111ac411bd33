// Bundles the CLI into ESM (an entry plus lazily loaded chunks) so `vendetta` starts without a TypeScript loader.
import { build } from 'esbuild';
import { chmodSync, cpSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/** The build, shared with test/unit/cli/startup-imports.test.ts (which checks what the entry loads). */
export const options = {
  absWorkingDir: fileURLToPath(new URL('..', import.meta.url)),
  entryPoints: { vendetta: 'src/cli/main.ts' },
  outdir: 'dist',
  // Commands import what they use in their action (src/cli/main.ts), drivers on first use
  // (src/providers/lazy.ts): chunks keep ajv, xstate, ssh2, dockerode… out of the CLI's start-up.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  // Runtime dependencies stay in node_modules (ssh2 has optional native parts), except yaml: it is
  // 72 small CommonJS files that take ~70 ms to load one by one and ~25 ms as part of a chunk, on
  // the path of every command that reads a manifest. Its ES module build bundles cleanly.
  external: Object.keys(pkg.dependencies).filter((name) => name !== 'yaml'),
  alias: { yaml: './node_modules/yaml/browser/dist/index.js' }, // past the exports map: its ES module build
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dist = fileURLToPath(new URL('../dist', import.meta.url));
  rmSync(dist, { recursive: true, force: true }); // no stale chunks
  await build(options);
  chmodSync(`${dist}/vendetta.js`, 0o755);
  // The serve dashboard's static files (src/server/dashboard.ts reads them from dist/ui).
  cpSync(fileURLToPath(new URL('../src/server/ui', import.meta.url)), `${dist}/ui`, { recursive: true });
}
