// The built CLI, locally: out-of-range duration flags are refused before anything happens, and
// `serve` starts on a VENDETTA_HOME that does not exist yet.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CLI, freePort, requireBuiltCli, runCli } from '../e2e/support/cli.js';
import { until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vendetta-durflags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('duration flags through the CLI', () => {
  const manifest = join(dir, 'ws.yaml');
  writeFileSync(manifest, 'apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: durflags-ws}\nspec: {provider: process}\n');

  test.each([
    [['apply', '--timeout', '1000h'], '--timeout 1000h is too long: the maximum is 24h'],
    [['apply', '--lock-timeout', '1000h'], '--lock-timeout 1000h is too long: the maximum is 24h'],
    [['apply', '--watch', '--resync', '1000h'], '--resync 1000h is too long: the maximum is 24h'],
    [['apply', '--watch', '--debounce', '25h'], '--debounce 25h is too long: the maximum is 24h'],
    [['delete', '--timeout', '1000h'], '--timeout 1000h is too long: the maximum is 24h'],
  ])('%j is refused, naming the flag and the maximum, and changes nothing', async (args, message) => {
    requireBuiltCli();
    const home = join(dir, `home-${args.join('')}`);
    const r = await runCli([...args, '-f', manifest], { home, timeoutMs: 60_000 });
    expect(r.stderr).toContain(message);
    expect(r.code).not.toBe(0);
    // Nothing was applied: no workspace record in the home.
    expect(existsSync(join(home, 'resources'))).toBe(false);
    expect(existsSync(join(home, 'workspaces', 'durflags-ws'))).toBe(false);
  }, 60_000);
});

test('serve creates a fresh VENDETTA_HOME (0700) and its token (0600), then answers', async () => {
  requireBuiltCli();
  const home = join(dir, 'fresh', 'home'); // neither directory exists
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, VENDETTA_HOME: home, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await until(`serve to listen (output so far: ${out})`, () => out.includes('listening on') || child.exitCode !== null, 30_000);
    expect(child.exitCode, out).toBeNull();
    expect(statSync(home).mode & 0o777).toBe(0o700);
    const tokenFile = join(home, 'server.token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/healthz`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
  } finally {
    if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
    await exited;
  }
}, 60_000);
