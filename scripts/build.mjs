// Bundles the CLI into one ESM file so `vendetta` starts without a TypeScript loader.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/vendetta.js',
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
