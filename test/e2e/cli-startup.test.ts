// What the built CLI loads at start-up, counted by a module loader hook (no timing): a command
// loads the packages it uses and no others. Complements test/unit/cli/startup-imports.test.ts
// (the static import graph) by running the real bundle, as `npm install -g` ships it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, requireBuiltCli, runCli, tempHome } from './support/cli.js';

const HEAVY = ['ssh2', 'xstate', 'ajv', 'ajv-formats', 'yaml', 'chokidar', 'dockerode', 'tar-fs', 'tar-stream'];

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
    writeFileSync(hook, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(home, 'loader.mjs')).href)});\n`);
  });
  afterAll(cleanup);

  /** The npm packages a CLI run loaded, by name. */
  async function packagesLoadedBy(args: string[]): Promise<Set<string>> {
    rmSync(log, { force: true });
    const r = await runCli(args, { home, env: { NODE_OPTIONS: `--import ${pathToFileURL(hook).href}` } });
    expect(r.code, r.stderr).toBe(0);
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    return new Set(urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []));
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

  it('validate loads the manifest checker (ajv, yaml) but no SSH or reconcile engine', async () => {
    // Also proves the hook sees the heavy packages when they do load.
    const loaded = await packagesLoadedBy(['validate', '-f', join(REPO, 'manifests/quickstart')]);
    expect(loaded).toContain('ajv');
    expect(loaded).toContain('yaml');
    for (const p of ['ssh2', 'xstate', 'dockerode', 'chokidar']) expect(loaded).not.toContain(p);
  });

  it('apply --dry-run on the local node loads the engine but not ssh2 or the Docker client', async () => {
    const loaded = await packagesLoadedBy(['apply', '--dry-run', '-f', join(REPO, 'manifests/quickstart')]);
    expect(loaded).toContain('xstate');
    for (const p of ['ssh2', 'dockerode', 'chokidar']) expect(loaded).not.toContain(p);
  });
});
