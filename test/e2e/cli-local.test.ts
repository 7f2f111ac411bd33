// The quickstart path on the local node with the process provider, through the built CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, eventually, freePort, httpGet, requireBuiltCli, runCli, tempHome } from './support/cli.js';

let API_PORT = 0;
let FRONT_PORT = 0;

/** A copy of manifests/quickstart on test-only ports, so a user's own quickstart is untouched. */
function quickstartCopy(dir: string): string {
  const target = join(dir, 'quickstart');
  cpSync(join(REPO, 'manifests/quickstart'), target, { recursive: true });
  const file = join(target, 'quickstart.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll('18081', String(API_PORT)).replaceAll('18080', String(FRONT_PORT)));
  return target;
}

function serviceFile(home: string, ws: string, svc: string, file: string): string {
  return readFileSync(join(home, 'workspaces', ws, 'state', 'services', svc, file), 'utf8').trim();
}

/** Running and not a zombie: daemons re-parented to a slow-reaping PID 1 linger as zombies. */
function pidAlive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('quickstart on the local node (process provider)', () => {
  const { home, cleanup } = tempHome();
  const work = mkdtempSync(join(tmpdir(), 'vendetta-qs-'));
  let manifests: string;
  const cli = (...args: string[]) => runCli(args, { home });

  beforeAll(async () => {
    requireBuiltCli();
    API_PORT = await freePort();
    FRONT_PORT = await freePort();
    manifests = quickstartCopy(work);
  });

  afterAll(async () => {
    await cli('delete', '-f', manifests);
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('converges and prints where to reach the services', async () => {
    const r = await cli('apply', '-f', manifests);
    expect(r.stderr + r.stdout).toContain('converged');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`service/front`);
    expect(r.stdout).toContain(`http://127.0.0.1:${FRONT_PORT}`);
    const page = await httpGet(`http://127.0.0.1:${FRONT_PORT}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('hello from vendetta');
  });

  it('records dependsOn order in events: api healthy before front starts', async () => {
    const events = readFileSync(join(home, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const apiHealthy = events.findIndex((e) => e.object === 'service/api' && e.reason === 'Healthy');
    const frontStarted = events.findIndex((e) => e.object === 'service/front' && e.reason === 'Started');
    const frontWaiting = events.findIndex((e) => e.object === 'service/front' && e.reason === 'WaitingForDependency');
    expect(apiHealthy).toBeGreaterThanOrEqual(0);
    expect(frontWaiting).toBeGreaterThanOrEqual(0);
    expect(frontStarted).toBeGreaterThan(apiHealthy);
    const described = await cli('describe', 'service', 'front');
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/WaitingForDependency/);
  });

  it('a second apply is a no-op and diff exits 0', async () => {
    const eventLines = () => readFileSync(join(home, 'events.jsonl'), 'utf8').trim().split('\n').length;
    const before = eventLines();
    // The store skips writes that change nothing: every record and the inventory keep their
    // inode (a real write renames a new file into place).
    const storeFiles = () => ['resources/workspace', 'resources/service', 'inventory'].flatMap((d) => readdirSync(join(home, d)).map((f) => join(home, d, f)));
    const inodes = () => Object.fromEntries(storeFiles().map((f) => [f, statSync(f).ino]));
    const inodesBefore = inodes();
    const again = await cli('apply', '-f', manifests, '-o', 'json');
    // Nothing changed, so nothing is recorded (front's dependency on api was met all along).
    expect(eventLines()).toBe(before);
    expect(inodes()).toEqual(inodesBefore);
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout);
    expect(result.converged).toBe(true);
    expect(result.operationsRun).toBe(0);
    expect(result.plan.operations).toEqual([]);
    const diff = await cli('diff', '-f', manifests);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/No changes/);
  });

  it('get lists resources as a table and as Kubernetes-style JSON', async () => {
    const table = await cli('get');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/WORKSPACE\s+NODE\s+PROVIDER\s+STATUS/);
    expect(table.stdout).toMatch(/quickstart\s+local\s+process\s+Ready/);
    const json = JSON.parse((await cli('get', 'services', '-o', 'json')).stdout);
    expect(json.kind).toBe('List');
    expect(json.items.map((i: { metadata: { name: string } }) => i.metadata.name).sort()).toEqual(['api', 'front']);
    expect(json.items[0].status.phase).toBe('Ready');
    const one = JSON.parse((await cli('get', 'service', 'api', '-o', 'json')).stdout);
    expect(one.kind).toBe('Service');
  });

  it('changing one service command: diff shows only it, apply restarts only it', async () => {
    const apiPid = Number(serviceFile(home, 'quickstart', 'api', 'pid'));
    const frontPid = Number(serviceFile(home, 'quickstart', 'front', 'pid'));
    const file = join(manifests, 'quickstart.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('command: node front.mjs', 'command: node front.mjs --changed'));
    const diff = await cli('diff', '-f', manifests);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/~ service\/front\s+restart/);
    expect(diff.stdout).not.toMatch(/service\/api/);
    expect(diff.stdout).not.toMatch(/workspace\/quickstart/);
    const apply = await cli('apply', '-f', manifests, '-o', 'json');
    expect(apply.code).toBe(0);
    expect(JSON.parse(apply.stdout).operationsRun).toBe(1);
    expect(Number(serviceFile(home, 'quickstart', 'api', 'pid'))).toBe(apiPid);
    expect(Number(serviceFile(home, 'quickstart', 'front', 'pid'))).not.toBe(frontPid);
  });

  it('a killed service process is restarted by its supervisor', async () => {
    const pid = Number(serviceFile(home, 'quickstart', 'api', 'pid'));
    process.kill(pid, 'SIGKILL');
    const newPid = await eventually(() => {
      const p = Number(serviceFile(home, 'quickstart', 'api', 'pid'));
      return p !== pid && pidAlive(p) ? p : undefined;
    }, 20_000, 'api to be restarted');
    expect(newPid).not.toBe(pid);
    expect(Number(serviceFile(home, 'quickstart', 'api', 'restarts'))).toBeGreaterThanOrEqual(1);
    await eventually(async () => (await httpGet(`http://127.0.0.1:${API_PORT}/health`)).status === 200, 20_000, 'api healthy again');
  });

  it('delete -f leaves no process, directory or store entry', async () => {
    const pids = ['api', 'front'].map((s) => Number(serviceFile(home, 'quickstart', s, 'pid')));
    const sup = ['api', 'front'].map((s) => Number(serviceFile(home, 'quickstart', s, 'supervisor.pid')));
    const r = await cli('delete', '-f', manifests);
    expect(r.code).toBe(0);
    for (const pid of [...pids, ...sup]) expect(pidAlive(pid)).toBe(false);
    expect(existsSync(join(home, 'workspaces', 'quickstart'))).toBe(false);
    const left = existsSync(join(home, 'resources'))
      ? readdirSync(join(home, 'resources'), { recursive: true }).filter((f) => String(f).endsWith('.json'))
      : [];
    expect(left).toEqual([]);
    const get = await cli('get', '-o', 'json');
    // Only the built-in node is left: it was never applied, so it is never deleted.
    expect(JSON.parse(get.stdout).items.map((i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`)).toEqual(['Node/local']);
  });
});

describe('failures and literal values', () => {
  const { home, cleanup } = tempHome();
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-fail-'));
  const cli = (...args: string[]) => runCli(args, { home });
  afterAll(async () => {
    await cli('delete', 'workspace', 'unhealthy', 'literal', 'svcfail-missing', 'svcfail-port', 'svcfail-env');
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a failing health check makes apply exit 1 with the reason', async () => {
    const file = join(dir, 'unhealthy.yaml');
    writeFileSync(file, `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: unhealthy}
spec: {node: local, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: never-healthy}
spec:
  workspace: unhealthy
  command: sleep 300
  healthcheck: {tcp: {port: 28199}, interval: 200ms, timeout: 200ms, retries: 2}
`);
    const r = await cli('apply', '-f', file, '--timeout', '60s');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/service\/never-healthy/);
    expect(r.stdout + r.stderr).toMatch(/28199/);
  });

  it('commands, env values and paths with quotes, $, backticks, ; and newlines run literally', async () => {
    const nasty = `it's "quoted" $HOME \`id\` ; echo pwned\nsecond line`;
    const file = join(dir, 'literal.yaml');
    writeFileSync(file, `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: literal}
spec: {node: local, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: printer}
spec:
  workspace: literal
  restart: never
  env:
    NASTY: ${JSON.stringify(nasty)}
  command: |
    printf '%s' "$NASTY" > env.out; printf '%s' 'a;b $c \`d\`' > cmd.out
`);
    const r = await cli('apply', '-f', file, '--timeout', '60s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const wsDir = join(home, 'workspaces', 'literal', 'workspace');
    expect(readFileSync(join(wsDir, 'env.out'), 'utf8')).toBe(nasty);
    expect(readFileSync(join(wsDir, 'cmd.out'), 'utf8')).toBe('a;b $c `d`');
  });

  const oneService = (ws: string, svc: string, spec: string) => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${ws}}
spec: {node: local, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${svc}}
spec:
  workspace: ${ws}
${spec}`;

  it('a command that does not exist fails apply with exit 1, saying so with the log line', async () => {
    const file = join(dir, 'missing.yaml');
    writeFileSync(file, oneService('svcfail-missing', 'svcfail-missing-cmd', '  command: nosuchcmd-vendetta --serve\n'));
    const r = await cli('apply', '-f', file, '--timeout', '120s');
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/service\/svcfail-missing-cmd.*command not found \(exit 127\); last log lines:/);
    expect(out).toMatch(/nosuchcmd-vendetta: .*not found/);
    expect(out).toContain('vendetta logs svcfail-missing-cmd');
  });

  it('a port already in use fails apply at once and names the port', async () => {
    const port = await freePort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const file = join(dir, 'port.yaml');
      const server = `require('net').createServer().listen(${port}, '127.0.0.1')`;
      // The holder accepts connections and never answers: the http check fails, and the
      // service's own log says why.
      const spec = `  command: node -e "${server}"\n  ports: [${port}]\n  healthcheck: {http: {port: ${port}}, interval: 500ms, timeout: 500ms, retries: 20}\n`;
      writeFileSync(file, oneService('svcfail-port', 'svcfail-port-web', spec));
      const r = await cli('apply', '-f', file, '--timeout', '120s');
      expect(r.code).toBe(1);
      const out = r.stdout + r.stderr;
      expect(out).toContain(`port ${port} already in use; last log lines:`);
      expect(out).toMatch(/EADDRINUSE/);
    } finally {
      holder.close();
    }
  });

  it("a process service gets its declared env, not the controller's", async () => {
    const file = join(dir, 'env.yaml');
    writeFileSync(file, oneService('svcfail-env', 'svcfail-env-print', '  restart: never\n  env: {DECLARED_VAR: here}\n  command: env > env.out\n'));
    const r = await runCli(['apply', '-f', file, '--timeout', '60s'], { home, env: { FOO_SECRET: 'hunter2-e2e' } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const env = readFileSync(join(home, 'workspaces', 'svcfail-env', 'workspace', 'env.out'), 'utf8');
    expect(env).toMatch(/^DECLARED_VAR=here$/m);
    expect(env).toMatch(/^PATH=/m);
    expect(env).not.toContain('FOO_SECRET');
    expect(env).not.toContain('hunter2-e2e');
    expect(env).not.toMatch(/^VENDETTA_HOME=/m);
  });
});
