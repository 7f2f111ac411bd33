// Bundles the CLI into ESM (an entry plus lazily loaded chunks) so `vendetta` starts without a TypeScript loader.
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

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
  // Dependencies are bundled too: resolving and loading hundreds of files from node_modules was
  // most of a no-op apply's time (docs/benchmarks.md). ssh2's optional native parts stay out (it
  // falls back to JavaScript without them).
  external: ['cpu-features', '*.node'],
  // Bundled CommonJS packages call require() for node builtins, and one (ssh2's emscripten
  // poly1305) reads __dirname: give every ESM chunk both.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __vendettaRequire } from 'node:module';",
      "import { dirname as __vendettaDirname } from 'node:path';",
      "import { fileURLToPath as __vendettaPath } from 'node:url';",
      'const require = __vendettaRequire(import.meta.url);',
      'const __filename = __vendettaPath(import.meta.url);',
      'const __dirname = __vendettaDirname(__filename);',
    ].join('\n'),
  },
  logLevel: 'warning',
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dist = fileURLToPath(new URL('../dist', import.meta.url));
  rmSync(dist, { recursive: true, force: true }); // no stale chunks
  await build(options);
  chmodSync(`${dist}/vendetta.js`, 0o755);
}
