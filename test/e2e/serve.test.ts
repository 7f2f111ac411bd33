// `vendetta serve` with the built CLI as its client: a docker workspace on the infra node n1 and a
// local process workspace. Drift made by hand is repaired by the resync loop with an event; a
// restart of the server duplicates nothing; requests without the token get 401.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, requireBuiltCli, runCli, startServe, tempHome, type ServeProcess } from './support/cli.js';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, managedContainers, nodeYaml } from './helpers/remote.js';

const RESYNC = '2s';

function manifests(infra: Infra): string {
  return `${nodeYaml(infra, 'n1')}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: srv-dock}
spec: {node: n1, provider: docker, image: ${infra.image}, pull: never}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: srv-dock-loop}
spec: {workspace: srv-dock, command: exec sleep 600}
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: srv-proc}
spec: {node: local, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: srv-proc-loop}
spec: {workspace: srv-proc, command: exec sleep 600}
`;
}

describe('vendetta serve (built CLI client, docker on n1 + local process)', () => {
  let infra: Infra;
  let serverHome: TempHome;
  const clientHome = tempHome('vendetta-serve-client-');
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-serve-m-'));
  let server: ServeProcess;

  const startServer = () => startServe(['--listen', '127.0.0.1:0', '--resync', RESYNC], { env: serverHome.env });

  async function stopServer(): Promise<number | null> {
    server.child.kill('SIGTERM');
    return server.exit;
  }
  const token = () => readFileSync(join(serverHome.dir, 'server.token'), 'utf8').trim();
  // The client has its own empty home: everything it sees comes from the server.
  const client = (...args: string[]) =>
    runCli(['--server', server.url, '--token-file', join(serverHome.dir, 'server.token'), ...args], { home: clientHome.home, timeoutMs: 60_000 });
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${token()}` } });
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  const eventsOf = async (object: string) => {
    const res = await fetch(`${server.url}/api/v1/events?object=${object}&limit=100`, { headers: { authorization: `Bearer ${token()}` } });
    return (await res.text()).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string; message: string });
  };
  const dockContainers = async () => [...(await managedContainers(infra, 'n1'))].filter(([name]) => name.includes('srv-dock'));
  const stateFile = (file: string) => join(serverHome.dir, 'workspaces', 'srv-proc', 'state', 'services', 'srv-proc-loop', file);
  const procPid = () => Number(readFileSync(stateFile('pid'), 'utf8').trim());

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    serverHome = await makeTempHome(infra);
    writeFileSync(join(dir, 'set.yaml'), manifests(infra));
    server = await startServer();
  }, 60_000);

  afterAll(async () => {
    if (server?.child.exitCode === null) await stopServer();
    // Clean up with an embedded delete against the server's home (the server is stopped: no lock).
    await runCli(['delete', '-f', dir, '--timeout', '90s'], { home: serverHome.dir, env: serverHome.env });
    await serverHome.cleanup();
    clientHome.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('refuses requests without the token (401)', async () => {
    expect((await fetch(`${server.url}/api/v1/healthz`)).status).toBe(401);
    expect((await fetch(`${server.url}/api/v1/resources`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const r = await runCli(['--server', server.url, 'get'], { home: clientHome.home, env: { VENDETTA_TOKEN: 'wrong' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/401/);
  });

  it('applies through the client and returns when converged; get/diff/describe read the server', async () => {
    const r = await client('apply', '-f', dir, '--timeout', '120s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\+ workspace\/srv-dock\s+create/);
    expect(r.stdout).toMatch(/converged/);
    const diff = await client('diff', '-f', dir);
    expect(diff.code, diff.stdout + diff.stderr).toBe(0);
    const get = await client('get', 'services', '-o', 'json');
    const items = (JSON.parse(get.stdout) as { items: { metadata: { name: string }; status: { phase: string } }[] }).items;
    expect(items.map((i) => [i.metadata.name, i.status.phase]).sort()).toEqual([['srv-dock-loop', 'Ready'], ['srv-proc-loop', 'Ready']]);
    expect((await client('describe', 'workspace', 'srv-dock')).stdout).toMatch(/Created/);
    expect(await dockContainers()).toHaveLength(1);
  }, 150_000);

  it('an embedded apply on the server home waits for the lock the server holds', async () => {
    const r = await runCli(['apply', '-f', dir, '--lock-timeout', '1s'], { home: serverHome.dir, env: serverHome.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/serve .*holds the lock|holds the lock/);
  });

  it('repairs drift made by hand within a resync interval, each with an event', async () => {
    const [[, oldId]] = (await dockContainers()) as [[string, string]];
    // A crashed service: its supervisor and the process both gone.
    const oldPid = procPid();
    process.kill(Number(readFileSync(stateFile('supervisor.pid'), 'utf8').trim()), 'SIGKILL');
    process.kill(oldPid, 'SIGKILL');
    await dockerOn(infra, 'n1', ['rm', '-f', oldId]);

    const [[, newId]] = (await eventually(async () => {
      const c = await dockContainers();
      // Renamed from `….creating` only once complete: the half-made one is not the workspace yet.
      return c.length === 1 && c[0]![1] !== oldId && !c[0]![0].endsWith('.creating') ? c : undefined;
    }, 60_000, 'container re-created')) as [[string, string]];
    expect(newId).not.toBe(oldId);
    await eventually(() => {
      try {
        const pid = procPid();
        return pid !== oldPid && process.kill(pid, 0);
      } catch {
        return false;
      }
    }, 60_000, 'process service restarted');
    await eventually(async () => (await eventsOf('workspace/srv-dock')).some((e) => e.reason === 'DriftDetected'), 30_000, 'drift event (docker)');
    await eventually(async () => (await eventsOf('service/srv-proc-loop')).some((e) => e.reason === 'DriftDetected'), 30_000, 'drift event (process)');
    await eventually(async () => {
      const r = await client('get', 'services', '-o', 'json');
      return (JSON.parse(r.stdout) as { items: { status: { phase: string } }[] }).items.every((i) => i.status.phase === 'Ready');
    }, 60_000, 'everything Ready again');
  }, 150_000);

  it('a restart keeps every resource (no duplicates) and the loop resumes', async () => {
    const containers = await dockContainers();
    expect(containers.map(([name]) => name)).toEqual(['vendetta-srv-dock']);
    const pid = procPid();
    expect(await stopServer()).toBe(0);
    server = await startServer();
    await eventually(async () => (await api<{ passes: number }>('/healthz')).passes >= 2, 60_000, 'resync passes after restart');
    expect(await dockContainers()).toEqual(containers);
    expect(procPid()).toBe(pid);
    expect((await api<{ applySets: string[] }>('/healthz')).applySets).toEqual(['default']);
    // The loop is live: new drift is repaired again.
    await dockerOn(infra, 'n1', ['rm', '-f', containers[0]![1]]);
    await eventually(async () => {
      const c = await dockContainers();
      return c.length === 1 && c[0]![1] !== containers[0]![1] && !c[0]![0].endsWith('.creating');
    }, 60_000, 'container re-created after restart');
    expect(server.stderr()).toMatch(/desired state rebuilt from the store: 1 apply set/);
  }, 150_000);
});
