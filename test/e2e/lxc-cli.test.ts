// LXC workspaces on a remote SSH node, through the built CLI as a user runs it. Infra:
// test/infra/up.sh (sshd n1..n3) + test/infra/lxd.sh (LXD in netns vdlxd) and test/infra/incus.sh
// (Incus in netns vdincus), sockets usable by vdtest. Runs once per daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { daemonCli, lxcDaemons, type LxcInfra } from './helpers/lxc.js';
import { nodeYaml } from './helpers/remote.js';
import { eventually, httpGet, requireBuiltCli, runCli } from './support/cli.js';

const PORT = 18090; // published in the daemon's netns, at lxd.listenAddress

interface Instance {
  name: string;
  status: string;
  created_at: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
}

describe.each(lxcDaemons())('lxc workspaces on a remote SSH node (built CLI), $flavor', (lxd: LxcInfra) => {
  let infra: Infra;
  let home: TempHome;
  // The broken set gets its own client state: its unreachable node must not fail other commands.
  let brokenHome: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-lxc-cli-'));
  const main = join(dir, 'main');
  const broken = join(dir, 'broken');
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });

  async function instances(): Promise<Map<string, Instance>> {
    const list = JSON.parse(await daemonCli(lxd, ['query', '/1.0/instances?recursion=1'])) as Instance[];
    // Only this suite's (lxc-*): other suites may have their own instances on the shared daemon meanwhile.
    return new Map(list.filter((i) => i.config['user.vendetta.managed'] === 'true' && i.name.startsWith('vendetta-lxc-')).map((i) => [i.name, i]));
  }


  function writeMain(memory = '64Mi', otherImage = lxd.image): void {
    writeFileSync(
      join(main, 'lxc.yaml'),
      [
        nodeYaml(infra, 'n1', { providers: `{lxc: {socket: ${lxd.socket}}}` }),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: lxc-web}
spec:
  node: n1
  provider: lxc
  image: ${lxd.image}
  source: {path: ./site}
  ports: ["${lxd.listenAddress}:${PORT}:8080"]
  resources: {cpus: 1, memory: ${memory}}
  env: {GREETING: "hello env"}
`,
        `apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: lxc-httpd}
spec:
  workspace: lxc-web
  command: exec httpd -f -p 8080 -h /workspace
  ports: [8080]
  healthcheck: {http: {port: 8080, path: /index.html}, interval: 500ms, timeout: 2s, retries: 10}
`,
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: lxc-other}
spec:
  node: n1
  provider: lxc
  image: ${otherImage}
`,
      ].join('---\n'),
    );
  }

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    brokenHome = await makeTempHome(infra);
    mkdirSync(join(main, 'site'), { recursive: true });
    writeFileSync(join(main, 'site', 'index.html'), 'hello from the lxc source\n');
    writeMain();
    // n2 points at a socket that is not there; process workspaces on n3 and on n2 itself must
    // converge anyway (a missing provider fails only its own workspaces)
    mkdirSync(broken);
    writeFileSync(
      join(broken, 'broken.yaml'),
      [
        nodeYaml(infra, 'n2', { providers: '{lxc: {socket: /nonexistent/lxd/unix.socket}}' }),
        nodeYaml(infra, 'n3', { providers: `{lxc: {socket: ${lxd.socket}}}` }),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: lxc-nodaemon}
spec: {node: n2, provider: lxc, image: ${lxd.image}}
`,
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: lxc-proc-ok}
spec: {node: n3, provider: process}
`,
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: lxc-proc-same-node}
spec: {node: n2, provider: process}
`,
      ].join('---\n'),
    );
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', main);
      await home.cleanup();
    }
    if (brokenHome) {
      await runCli(['delete', '-f', broken], { home: brokenHome.dir, env: brokenHome.env });
      await brokenHome.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply: containers and the service become Ready, the health check passes, the published port answers', async () => {
    const r = await cli('apply', '-f', main, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.converged).toBe(true);
    const phase = (id: string) => (result.statuses as Record<string, { phase: string }>)[id]?.phase;
    expect(phase('workspace/lxc-web')).toBe('Ready');
    expect(phase('workspace/lxc-other')).toBe('Ready');
    expect(phase('service/lxc-httpd')).toBe('Ready');
    const page = await httpGet(`http://${lxd.listenAddress}:${PORT}/index.html`);
    expect(page).toEqual({ status: 200, body: 'hello from the lxc source\n' });
    const described = await cli('describe', 'service', 'lxc-httpd');
    expect(described.stdout).toMatch(/http:\/\/127\.0\.0\.1:8080\/index\.html → 200/);
    expect([...(await instances()).keys()].sort()).toEqual(['vendetta-lxc-other', 'vendetta-lxc-web']);
    const env = await cli('exec', 'lxc-web', '--', 'sh', '-c', 'printf %s "$GREETING"');
    expect(env.stdout).toBe('hello env');
  });

  it('a second apply runs 0 operations', async () => {
    const r = await cli('apply', '-f', main, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ converged: true, operationsRun: 0 });
  });

  it('changing resources recreates that workspace only', async () => {
    const before = await instances();
    writeMain('96Mi');
    const diff = await cli('diff', '-f', main);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/workspace\/lxc-web/);
    expect(diff.stdout).not.toMatch(/workspace\/lxc-other/);
    const r = await cli('apply', '-f', main, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await instances();
    expect(after.get('vendetta-lxc-web')!.config['limits.memory']).toBe(`${96 * 1024 * 1024}B`);
    expect(after.get('vendetta-lxc-web')!.created_at).not.toBe(before.get('vendetta-lxc-web')!.created_at);
    expect(after.get('vendetta-lxc-other')!.created_at).toBe(before.get('vendetta-lxc-other')!.created_at);
    expect((await httpGet(`http://${lxd.listenAddress}:${PORT}/index.html`)).status).toBe(200);
  });

  it('changing the image recreates that workspace only', async () => {
    const before = await instances();
    writeMain('96Mi', lxd.image2);
    const r = await cli('apply', '-f', main, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await instances();
    expect(after.get('vendetta-lxc-other')!.created_at).not.toBe(before.get('vendetta-lxc-other')!.created_at);
    expect(after.get('vendetta-lxc-web')!.created_at).toBe(before.get('vendetta-lxc-web')!.created_at);
    expect(JSON.parse(r.stdout).statuses['service/lxc-httpd'].phase).toBe('Ready');
  });

  it('a container stopped by hand is started again by the next apply', async () => {
    await daemonCli(lxd, ['stop', '--force', 'vendetta-lxc-other']);
    expect((await instances()).get('vendetta-lxc-other')!.status).toBe('Stopped');
    const r = await cli('apply', '-f', main, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).operationsRun).toBeGreaterThanOrEqual(1);
    expect((await instances()).get('vendetta-lxc-other')!.status).toBe('Running');
  });

  it('a node without a reachable daemon fails with what to install; its other workspaces and another node still converge', async () => {
    const r = await runCli(['apply', '-f', broken, '-o', 'json', '--timeout', '60s'], { home: brokenHome.dir, env: brokenHome.env });
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/no LXD or Incus daemon answers on node n2/);
    expect(out).toMatch(/install LXD .*on node n2/);
    const result = JSON.parse(r.stdout);
    expect(result.statuses['workspace/lxc-proc-ok'].phase).toBe('Ready');
    expect(result.statuses['workspace/lxc-proc-same-node'].phase).toBe('Ready');
    expect(result.statuses['node/n2'].phase).toBe('Ready');
    expect(result.statuses['workspace/lxc-nodaemon'].phase).toBe('Failed');
    expect(result.failures.map((f: { resource: string }) => f.resource)).toEqual(['workspace/lxc-nodaemon']);
  });

  it('delete leaves no instance, no proxy device listening, no container directory', async () => {
    const r = await cli('delete', '-f', main);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await instances()).size).toBe(0);
    await expect(httpGet(`http://${lxd.listenAddress}:${PORT}/`)).rejects.toThrow();
    const data = lxd.socket.replace(/\/unix\.socket$/, '');
    await eventually(() => !existsSync(join(data, 'containers', 'vendetta-lxc-web')) && !existsSync(join(data, 'storage-pools', 'default', 'containers', 'vendetta-lxc-web')), 5_000, 'container dirs to go');
  });
});
