// The CLI as a user installs it: `npm pack` → `npm install -g` into a temp prefix → the installed
// `vendetta` converges the quickstart shipped in the package, its endpoint answers, delete cleans up.
// Dependencies come from the npm registry (a temp cache; --prefer-offline).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, freePort, httpGet, requireBuiltCli } from './support/cli.js';

const execFileP = promisify(execFile);

describe('npm pack + npm install -g', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'vendetta-npm-'));
  const prefix = join(tmp, 'prefix');
  const home = join(tmp, 'home');
  const bin = join(prefix, 'bin', 'vendetta');
  const npmEnv = { ...process.env, npm_config_cache: join(tmp, 'npm-cache'), npm_config_update_notifier: 'false' };
  // The installed CLI runs outside the repo, with its own VENDETTA_HOME.
  const vendetta = (...args: string[]) =>
    execFileP(bin, args, { cwd: tmp, env: { ...process.env, VENDETTA_HOME: home, NO_COLOR: '1' }, timeout: 170_000 });
  let tarball = '';
  let manifests = '';
  let port = 0;

  beforeAll(() => requireBuiltCli());

  afterAll(async () => {
    if (manifests && existsSync(bin)) await vendetta('delete', '-f', manifests).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('npm pack ships the bundle, its chunks, schemas and the quickstart', async () => {
    // dist/ is already built (requireBuiltCli): pack it as is.
    const { stdout } = await execFileP('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO, env: npmEnv });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const files = packed!.files.map((f) => f.path);
    expect(files).toContain('dist/vendetta.js');
    expect(files.some((f) => /^dist\/chunks\/.+\.js$/.test(f))).toBe(true);
    expect(files).toContain('manifests/quickstart/quickstart.yaml');
    expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);
    expect(readFileSync(join(REPO, 'dist/vendetta.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    tarball = join(tmp, packed!.filename);
  });

  it('npm install -g puts a working vendetta on the prefix bin', async () => {
    await execFileP('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: tmp, env: npmEnv, timeout: 170_000 });
    expect(realpathSync(bin)).toBe(join(prefix, 'lib/node_modules/vendetta/dist/vendetta.js'));
    const { stdout } = await vendetta('version');
    expect(stdout).toMatch(/^vendetta 0\.1\.0 \(node v\d+/);
  });

  it('the installed vendetta converges the quickstart, the endpoint answers, delete removes it', async () => {
    port = await freePort();
    const apiPort = await freePort();
    manifests = join(tmp, 'quickstart');
    cpSync(join(prefix, 'lib/node_modules/vendetta/manifests/quickstart'), manifests, { recursive: true });
    const file = join(manifests, 'quickstart.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll('18081', String(apiPort)).replaceAll('18080', String(port)));
    const applied = await vendetta('apply', '-f', manifests);
    expect(applied.stdout).toContain(`http://127.0.0.1:${port}`);
    const page = await httpGet(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('hello from vendetta');
    await vendetta('delete', '-f', manifests);
    await expect(httpGet(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    expect((await vendetta('get', 'ws', '-o', 'name')).stdout).toBe('');
    manifests = '';
  });
});
