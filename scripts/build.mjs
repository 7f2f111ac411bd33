// Bundles the CLI into ESM (an entry plus lazily loaded chunks) so `vendetta` starts without a TypeScript loader.
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true }); // no stale chunks

await build({
  entryPoints: { vendetta: 'src/cli/main.ts' },
  outdir: 'dist',
  // Drivers are imported on first use (src/providers/lazy.ts): chunks keep their dependencies
  // (dockerode…) out of the CLI's start-up.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  // Runtime dependencies stay in node_modules (ssh2 has optional native parts).
  packages: 'external',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
chmodSync('dist/vendetta.js', 0o755);
