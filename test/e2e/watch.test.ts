// `vendetta apply --watch` with the built CLI on a local process workspace: edits are applied,
// an invalid edit leaves everything running, SIGINT exits cleanly and releases the lock.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, eventually, REPO, requireBuiltCli, runCli, tempHome } from './support/cli.js';

const manifest = (greeting: string) => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: wt-ws}
spec: {node: local, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: wt-svc}
spec:
  workspace: wt-ws
  env: {GREETING: ${greeting}}
  command: echo "$GREETING" > greeting.out; exec sleep 600
`;

describe('apply --watch (built CLI, local process workspace)', () => {
  const home = tempHome('vendetta-watch-');
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-watch-m-'));
  const cli = (...args: string[]) => runCli(args, { home: home.home });
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let exit: Promise<number | null>;

  const greeting = () => {
    const file = join(home.home, 'workspaces', 'wt-ws', 'workspace', 'greeting.out');
    return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
  };
  const servicePid = async (name = 'wt-svc') => {
    const r = await cli('get', 'service', name, '-o', 'json');
    if (r.code !== 0) return undefined;
    const obj = JSON.parse(r.stdout) as { status?: { phase?: string; details?: { pid?: number } } };
    return obj.status?.phase === 'Ready' ? obj.status.details?.pid : undefined;
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(() => {
    requireBuiltCli();
    writeFileSync(join(dir, 'a.yaml'), manifest('one'));
    child = spawn(process.execPath, [CLI, 'apply', '--watch', '-f', dir, '--resync', '3s'], {
      env: { ...process.env, VENDETTA_HOME: home.home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  });

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await cli('delete', 'workspace', 'wt-ws', '--timeout', '60s');
    home.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies the set at start and prints its plan and result', async () => {
    await eventually(() => greeting() === 'one', 60_000, 'first apply');
    await eventually(() => /converged/.test(stdout), 30_000, 'result line');
    expect(stdout).toMatch(/\+ workspace\/wt-ws\s+create/);
  });

  it('a second apply waits for the watcher holding the lock', async () => {
    const r = await cli('apply', '-f', dir, '--lock-timeout', '1s');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/apply --watch/);
    expect(r.stdout + r.stderr).toMatch(/holds the lock/);
  });

  it('an edit is applied: the service restarts with the new env', async () => {
    const before = await eventually(() => servicePid(), 30_000, 'service pid');
    writeFileSync(join(dir, 'a.yaml'), manifest('two'));
    await eventually(() => greeting() === 'two', 60_000, 'the edit applied');
    // The new process writes greeting.out before the pass that started it records its status:
    // wait for the recorded pid to change (the old one stays Ready until then).
    const after = await eventually(async () => {
      const pid = await servicePid();
      return pid !== before ? pid : undefined;
    }, 30_000, 'the restarted service recorded');
    expect(after).not.toBe(before);
    expect(stdout).toMatch(/~ service\/wt-svc\s+restart/);
  });

  it('an invalid edit is reported with file:line and nothing running is touched; fixing it applies', async () => {
    const pid = await eventually(() => servicePid(), 30_000, 'service pid');
    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: wt-extra}\nspec:\n  workspace: wt-ws\n  comand: true\n');
    await eventually(() => /b\.yaml:\d+:\d+: .*comand/.test(stderr), 30_000, 'the error');
    expect(stderr).toMatch(/last good set stays in force/);
    expect(await servicePid()).toBe(pid);
    expect(alive(pid)).toBe(true);

    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: wt-extra}\nspec:\n  workspace: wt-ws\n  command: exec sleep 600\n');
    await eventually(() => servicePid('wt-extra'), 60_000, 'the fixed set applied');
    expect(await servicePid()).toBe(pid);
    unlinkSync(join(dir, 'b.yaml'));
  });

  it('a file saved in two writes: the first change acts at once, but never on the half-written file', async () => {
    // The first change of a burst is acted on without waiting for the debounce (leading edge); a
    // set that does not parse yet is neither applied nor reported: the rest of the burst decides.
    const mark = stderr.length;
    const file = join(dir, 'c.yaml');
    const full = 'apiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: wt-half}\nspec: {workspace: wt-ws, command: exec sleep 600}\n';
    writeFileSync(file, full.slice(0, full.indexOf('spec:') - 3)); // cut inside the flow mapping: a parse error
    await new Promise((r) => setTimeout(r, 100)); // the second write of the same save, within the debounce
    writeFileSync(file, full);
    await eventually(() => servicePid('wt-half'), 60_000, 'the complete file applied');
    expect(stderr.slice(mark)).not.toMatch(/c\.yaml:\d+|error in manifests|errors in manifests/);
    unlinkSync(file);
  });

  it('SIGINT exits 0, releases the lock, and leaves the services running', async () => {
    const pid = await eventually(() => servicePid(), 30_000, 'service pid');
    child.kill('SIGINT');
    expect(await exit).toBe(0);
    expect(stderr).toMatch(/stopped/);
    expect(alive(pid)).toBe(true);
    // The next apply takes the lock at once and finishes anything left (b.yaml is gone: no prune, no change).
    const r = await cli('apply', '-f', dir, '--lock-timeout', '5s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

describe('examples/gitops/pre-push hook (built CLI, no TTY)', () => {
  const home = tempHome('vendetta-gitops-');
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-gitops-m-'));
  const hook = (cwd: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('sh', [join(REPO, 'examples/gitops/pre-push')], {
        cwd,
        env: { ...process.env, VENDETTA_HOME: home.home, VENDETTA: `${process.execPath} ${CLI}`, VENDETTA_MANIFESTS: 'manifests/', NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code, out }));
    });
  const two = manifest('one').replace(/wt-/g, 'go-') + `---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: go-extra}
spec: {workspace: go-ws, command: exec sleep 600}
`;

  afterAll(async () => {
    await runCli(['delete', 'workspace', 'go-ws', '--timeout', '60s'], { home: home.home });
    home.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies changes, does nothing when up to date, and prunes what the manifests dropped', async () => {
    mkdirSync(join(dir, 'manifests'));
    writeFileSync(join(dir, 'manifests', 'set.yaml'), two);
    let r = await hook(dir);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/applied and converged/);
    const result = JSON.parse(readFileSync(join(dir, 'vendetta-result.json'), 'utf8')) as { converged: boolean; operationsRun: number };
    expect(result.converged).toBe(true);
    expect(result.operationsRun).toBeGreaterThanOrEqual(3); // a create and two starts (a retry may add one)

    r = await hook(dir);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/already match/);

    writeFileSync(join(dir, 'manifests', 'set.yaml'), manifest('one').replace(/wt-/g, 'go-'));
    r = await hook(dir);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/- service\/go-extra\s+delete/);
    expect((await runCli(['get', 'service', 'go-extra'], { home: home.home })).code).toBe(1);

    writeFileSync(join(dir, 'manifests', 'set.yaml'), 'kind: Service\n');
    r = await hook(dir);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/set\.yaml:1:1/);
    expect(r.out).toMatch(/diff failed/);
  });
});
