// Runs the built CLI (dist/vendetta.js) the way a user would, with an isolated VENDETTA_HOME.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../../..');
export const CLI = join(REPO, 'dist/vendetta.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does it)`);
}

export function tempHome(prefix = 'vendetta-e2e-'): { home: string; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** A running `vendetta serve` of the built CLI: its URL once it listens, its output, its exit. */
export interface ServeProcess {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/**
 * Starts `vendetta serve ARGS` and resolves once it prints where it listens (rejects if it exits
 * first, with its stderr). `wrap`: a command to run it under (e.g. setpriv, to change its user).
 */
export function startServe(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; wrap?: string[] } = {}): Promise<ServeProcess> {
  const argv = [...(opts.wrap ?? []), process.execPath, CLI, 'serve', ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: { ...process.env, ...opts.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (https?:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]!, stdout: () => out, stderr: () => err, exit });
    });
    void exit.then((code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
}

export function runCli(args: string[], opts: { home: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, VENDETTA_HOME: opts.home, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 170_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Polls until fn returns a truthy value (or throws after timeoutMs). No fixed sleeps in tests. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: await res.text() };
}

/** A TCP port that was free on `host` a moment ago (tests must not collide with each other or a user's services). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolvePromise) => server.listen(0, host, resolvePromise));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolvePromise) => server.close(resolvePromise));
  return port;
}
