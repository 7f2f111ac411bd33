// Users and roles, the audit line and /metrics of `vendetta serve`, with the built CLI as both
// the token tool and the client: a docker workspace on the infra node n1. A view token gets 403
// on apply, a token revoked while the server runs gets 401, an edit token's apply and delete are
// named in the events, and /metrics parses with a Prometheus text-format parser.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheus, { type ParsedFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, requireBuiltCli, runCli, startServe, tempHome, type ServeProcess } from './support/cli.js';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, managedContainers, nodeYaml } from './helpers/remote.js';

function manifests(infra: Infra): string {
  return `${nodeYaml(infra, 'n1')}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: auth-dock}
spec: {node: n1, provider: docker, image: ${infra.image}, pull: never}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: auth-dock-loop}
spec: {workspace: auth-dock, command: exec sleep 600}
`;
}

describe('vendetta serve: tokens, roles, audit and /metrics (built CLI, docker on n1)', () => {
  let infra: Infra;
  let serverHome: TempHome;
  const clientHome = tempHome('vendetta-auth-client-');
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-auth-m-'));
  let server: ServeProcess;
  const tokens: Record<string, string> = {};

  const tokenCli = (...args: string[]) => runCli(['serve', 'token', ...args], { home: serverHome.dir, env: serverHome.env });
  // The client has its own empty home and only the token it is given.
  const client = (name: string, ...args: string[]) =>
    runCli(['--server', server.url, ...args], { home: clientHome.home, env: { VENDETTA_TOKEN: tokens[name]! }, timeoutMs: 150_000 });
  const get = (path: string, name: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${tokens[name]}` } });
  const eventsOf = async (object: string) => {
    const text = await (await get(`/api/v1/events?object=${object}&limit=200`, 'vera')).text();
    return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string; message: string; by?: string });
  };
  const dockContainers = async () => [...(await managedContainers(infra, 'n1'))].filter(([name]) => name.includes('auth-dock'));
  const metrics = async (): Promise<Map<string, ParsedFamily>> => {
    const res = await get('/metrics', 'vera');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return new Map(parsePrometheus(await res.text()).map((f) => [f.name, f]));
  };
  const sample = (f: ParsedFamily | undefined, labels: Record<string, string>) =>
    Number(f?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN);

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    serverHome = await makeTempHome(infra);
    writeFileSync(join(dir, 'set.yaml'), manifests(infra));
    // Tokens are made on the store before the server runs (no server needed), printed once on stdout.
    for (const [name, role] of [['vera', 'view'], ['ed', 'edit'], ['gone', 'edit']]) {
      const r = await tokenCli('create', name!, '--role', role!);
      expect(r.code, r.stderr).toBe(0);
      tokens[name!] = r.stdout.trim();
    }
    server = await startServe(['--listen', '127.0.0.1:0', '--resync', '2s'], { env: serverHome.env });
  }, 60_000);

  afterAll(async () => {
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exit;
    }
    await runCli(['delete', '-f', dir, '--timeout', '90s'], { home: serverHome.dir, env: serverHome.env });
    await serverHome.cleanup();
    clientHome.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('token list shows names, roles and no secrets; the store holds only hashes', async () => {
    const r = await tokenCli('list');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^owner\s+admin/m);
    expect(r.stdout).toMatch(/^vera\s+view/m);
    expect(r.stdout).toMatch(/^ed\s+edit/m);
    const json = await tokenCli('list', '-o', 'json');
    const stored = readFileSync(join(serverHome.dir, 'tokens.json'), 'utf8');
    for (const t of Object.values(tokens)) {
      expect(r.stdout + json.stdout + stored).not.toContain(t);
      expect(stored).toContain(createHash('sha256').update(t).digest('hex'));
    }
    expect(statSync(join(serverHome.dir, 'tokens.json')).mode & 0o777).toBe(0o600);
  });

  it('a view token reads but gets 403 on apply, naming the role needed; nothing is created', async () => {
    expect((await client('vera', 'get')).code).toBe(0);
    const r = await client('vera', 'apply', '-f', dir, '--timeout', '60s');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/403|token "vera" has role view; POST \/api\/v1\/apply needs role edit/);
    expect(r.stderr).toContain('needs role edit');
    expect(await dockContainers()).toEqual([]);
  }, 60_000);

  it('a token revoked while the server runs gets 401 at once', async () => {
    expect((await get('/api/v1/healthz', 'gone')).status).toBe(200);
    const revoke = await tokenCli('revoke', 'gone');
    expect(revoke.code, revoke.stderr).toBe(0);
    const res = await get('/api/v1/healthz', 'gone');
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'this token was revoked' });
    const r = await client('gone', 'get');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/revoked/);
    expect((await tokenCli('list')).stdout).toMatch(/^gone\s+edit\s+\S+\s+revoked /m);
  });

  it("an edit token's apply is named in describe's events", async () => {
    const r = await client('ed', 'apply', '-f', dir, '--timeout', '120s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await dockContainers()).toHaveLength(1);
    const d = await client('vera', 'describe', 'workspace', 'auth-dock');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/Applied\s+applied by ed \(generation 1\)/);
    expect(d.stdout).toMatch(/Created\s+.*\(by ed\)/);
    expect((await eventsOf('service/auth-dock-loop')).filter((e) => e.reason === 'Started').map((e) => e.by)).toEqual(['ed']);
  }, 150_000);

  it('/metrics parses as Prometheus text with sensible values after the apply, and counts a drift repair', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    let m = await metrics();
    expect(m.get('vendetta_build_info')?.metrics[0]).toMatchObject({ labels: { version: '0.1.0', node: process.version }, value: '1' });
    const duration = m.get('vendetta_pass_duration_seconds')!;
    expect(duration.type).toBe('HISTOGRAM');
    expect(Number(duration.metrics[0]!.count)).toBeGreaterThanOrEqual(1);
    expect(Number(duration.metrics[0]!.sum)).toBeGreaterThan(0);
    expect(Number(duration.metrics[0]!.buckets!['+Inf'])).toBe(Number(duration.metrics[0]!.count));
    expect(sample(m.get('vendetta_passes_total'), { trigger: 'apply' })).toBeGreaterThanOrEqual(1);
    expect(m.get('vendetta_operations_total')?.type).toBe('COUNTER');
    expect(sample(m.get('vendetta_operations_total'), { type: 'create-workspace', result: 'done' })).toBeGreaterThanOrEqual(1);
    expect(sample(m.get('vendetta_operations_total'), { type: 'start-service', result: 'done' })).toBeGreaterThanOrEqual(1);
    const latency = sample(m.get('vendetta_node_observation_latency_seconds'), { node: 'n1' });
    expect(latency).toBeGreaterThan(0);
    expect(latency).toBeLessThan(30);
    expect(m.get('vendetta_drift_repairs_total')?.type).toBe('COUNTER');

    // Drift by hand: the resync loop repairs it, and the repair is counted.
    const [[, id]] = (await dockContainers()) as [[string, string]];
    await dockerOn(infra, 'n1', ['rm', '-f', id]);
    await eventually(async () => {
      m = await metrics();
      return sample(m.get('vendetta_drift_repairs_total'), { kind: 'Workspace' }) >= 1;
    }, 60_000, 'a drift repair on /metrics');
    expect(sample(m.get('vendetta_passes_total'), { trigger: 'resync' })).toBeGreaterThanOrEqual(1);
    expect(sample(m.get('vendetta_node_ready'), { node: 'n1' })).toBe(1);
    await eventually(async () => {
      const c = await dockContainers();
      return c.length === 1 && c[0]![1] !== id && !c[0]![0].endsWith('.creating');
    }, 60_000, 'container re-created');
  }, 150_000);

  it("an edit token's delete is named in the events; a view token's delete is 403", async () => {
    const denied = await client('vera', 'delete', 'workspace', 'auth-dock');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('needs role edit');
    expect(await dockContainers()).toHaveLength(1);
    const r = await client('ed', 'delete', '-f', dir, '--timeout', '90s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await dockContainers()).toEqual([]);
    const events = await eventsOf('workspace/auth-dock');
    expect(events.filter((e) => e.reason === 'DeleteRequested').map((e) => [e.message, e.by])).toEqual([['delete requested by ed', 'ed']]);
  }, 120_000);
});
