// What the built CLI loads at start-up, counted by a module loader hook (no timing): a command
// loads the packages it uses and no others. Complements test/unit/cli/startup-imports.test.ts
// (the static import graph) by running the real bundle, as `npm install -g` ships it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, requireBuiltCli, runCli, tempHome } from './support/cli.js';
import { loadInfra, makeTempHome, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';

const HEAVY = ['ssh2', 'xstate', 'ajv', 'ajv-formats', 'yaml', 'chokidar', 'dockerode', 'tar-stream', 'ignore', 'ssh-config', 'etcd3', '@grpc/grpc-js'];

describe('CLI start-up: modules loaded per command', () => {
  const { home, cleanup } = tempHome('vendetta-startup-');
  const hook = join(home, 'hook.mjs');
  const log = join(home, 'loaded.txt');

  beforeAll(() => {
    requireBuiltCli();
    // Runs in the loader thread: append every module URL Node loads.
    const loader = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }`;
    writeFileSync(join(home, 'loader.mjs'), loader);
    // ESM loader hooks do not see require() (ajv and dockerode are required on first need): at
    // exit, the CommonJS cache lists every file require() loaded too.
    writeFileSync(
      hook,
      `import { createRequire, register } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(pathToFileURL(join(home, 'loader.mjs')).href)});
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(${JSON.stringify(log)}, Object.keys(cache).join('\\n') + '\\n'));
`,
    );
  });
  afterAll(cleanup);

  function bundledIn(chunkUrl: string): string[] {
    const text = readFileSync(new URL(chunkUrl), 'utf8');
    return [...new Set([...text.matchAll(/^\/\/ node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]!))];
  }

  /** The npm packages a CLI run loaded, by name. */
  async function packagesLoadedBy(args: string[], code = 0, as?: TempHome): Promise<Set<string>> {
    rmSync(log, { force: true });
    const r = await runCli(args, { home: as?.dir ?? home, env: { ...as?.env, NODE_OPTIONS: `--import ${pathToFileURL(hook).href}` } });
    expect(r.code, r.stderr).toBe(code);
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    // ajv's compiler counts as "ajv"; its small runtime helpers (the generated validators'
    // ajv/dist/runtime/*, with fast-deep-equal and fast-uri) as "ajv-runtime".
    return new Set(
      urls.flatMap((u) => {
        if (/\/node_modules\/ajv\/dist\/runtime\//.test(u) || /\/node_modules\/(fast-deep-equal|fast-uri)\//.test(u)) return ['ajv-runtime'];
        // A package bundled into a chunk of dist/ (yaml, see scripts/build.mjs) counts as loaded
        // with that chunk: esbuild marks each bundled file with a "// node_modules/…" comment.
        if (u.startsWith(pathToFileURL(join(REPO, 'dist')).href)) return bundledIn(u);
        return /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? [];
      }),
    );
  }

  it.each([
    [['--version'], []],
    [['--help'], []],
    [['version'], []],
    [['completion', 'bash'], []],
    [['get', 'workspaces'], []],
    [['describe', 'node', 'local'], ['yaml']],
  ])('%j loads commander and %j, nothing heavier', async (args, extra) => {
    const loaded = await packagesLoadedBy(args);
    expect(loaded).toContain('commander');
    expect(HEAVY.filter((p) => loaded.has(p)).sort()).toEqual(extra);
  });

  it('validate loads yaml but no SSH or reconcile engine, and ajv only to explain an invalid manifest', async () => {
    const loaded = await packagesLoadedBy(['validate', '-f', join(REPO, 'manifests/quickstart')]);
    expect(loaded).toContain('yaml');
    // A valid set is checked by the generated validators (src/manifest/validators.generated.js).
    for (const p of ['ajv', 'ssh2', 'xstate', 'dockerode', 'chokidar']) expect(loaded).not.toContain(p);
    // Also proves the hook sees a package loaded by require() when it is.
    const bad = join(home, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: w}\nspec: {provider: process, imagee: x}\n');
    const explaining = await packagesLoadedBy(['validate', '-f', bad], 1);
    expect(explaining).toContain('ajv');
    for (const p of ['ssh2', 'xstate', 'dockerode']) expect(explaining).not.toContain(p);
  });

  it('apply --dry-run on the local node plans without the executor: no xstate, ssh2 or Docker client', async () => {
    const loaded = await packagesLoadedBy(['apply', '--dry-run', '-f', join(REPO, 'manifests/quickstart')]);
    expect(loaded).toContain('yaml');
    // The executor and its XState machines load only for a pass that runs (src/reconcile/reconciler.ts).
    for (const p of ['xstate', 'ssh2', 'dockerode', 'chokidar']) expect(loaded).not.toContain(p);
  });

  it('a cold docker apply on a remote node, a restart and a delete never load dockerode: plain Engine API requests and the agent', async () => {
    const infra = loadInfra();
    const remote = await makeTempHome(infra);
    const file = join(home, 'docker.yaml');
    const ws = (env: string) => `${nodeYaml(infra, 'n1')}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: startup-dk}
spec: {node: n1, provider: docker, image: ${infra.image}, pull: never}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: startup-dk-sleep}
spec: {workspace: startup-dk, command: exec sleep 1000, env: {V: "${env}"}}
`;
    try {
      writeFileSync(file, ws('1'));
      const cold = await packagesLoadedBy(['apply', '-f', file, '--timeout', '120s'], 0, remote);
      expect(cold).toContain('ssh2');
      expect(cold).toContain('xstate');
      expect(cold).not.toContain('dockerode');
      writeFileSync(file, ws('2'));
      expect(await packagesLoadedBy(['apply', '-f', file, '--timeout', '120s'], 0, remote)).not.toContain('dockerode');
      expect(await packagesLoadedBy(['delete', '-f', file, '--timeout', '120s'], 0, remote)).not.toContain('dockerode');
    } finally {
      await runCli(['delete', '-f', file], { home: remote.dir, env: remote.env });
      await remote.cleanup();
    }
  });
});
