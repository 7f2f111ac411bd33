// Docker workspaces on three remote SSH nodes, through the built CLI as a user runs it.
// Infra: test/infra/up.sh (sshd n1..n3 on 127.0.0.11-13:2222, each with its own dockerd).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, nodeCtl, type Infra, type TempHome } from './helpers/infra.js';
import { dockerEvents, dockerOn, dockerTime, managedContainers, mutatingEvents, nodeYaml } from './helpers/remote.js';
import { CLI, eventually, httpGet, requireBuiltCli, runCli } from './support/cli.js';

const NODES = ['n1', 'n2', 'n3'];
const PORT_BASE = 18470; // published ports 18471..18473 on the node addresses
const NASTY = `it's "quoted" $HOME \`id\` ; echo pwned\nsecond line`;
const IMAGE_V2 = 'vendetta-test/busybox:2';

function workspaceYaml(infra: Infra, node: string, image = infra.image): string {
  const i = NODES.indexOf(node) + 1;
  const addr = infra.nodes.find((n) => n.name === node)!.address;
  return `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: web-${node}}
spec:
  node: ${node}
  provider: docker
  image: ${image}
  pull: never
  ports: ["${addr}:${PORT_BASE + i}:80"]
  env:
    NASTY: ${JSON.stringify(NASTY)}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: httpd-${node}}
spec:
  workspace: web-${node}
  command: echo started httpd-${node}; exec httpd -f -p 80 -h /var/www
  ports: [80]
  healthcheck: {http: {port: 80, path: /}, interval: 500ms, timeout: 2s, retries: 10}
`;
}

/** A run-once service whose command and env are full of shell metacharacters. */
const LITERAL_SERVICE = `apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: literal}
spec:
  workspace: web-n1
  restart: never
  env:
    SVC_NASTY: ${JSON.stringify(NASTY)}
  command: |
    printf '%s' "$SVC_NASTY" > /tmp/env.out; printf '%s' 'a;b $c \`d\` "e"' > /tmp/cmd.out
`;

describe('docker workspaces on remote SSH nodes (built CLI)', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-remote-docker-'));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });

  function writeManifests(images: Partial<Record<string, string>> = {}): void {
    const docs = [...NODES.map((n) => nodeYaml(infra, n)), ...NODES.map((n) => workspaceYaml(infra, n, images[n])), LITERAL_SERVICE];
    writeFileSync(join(dir, 'remote.yaml'), docs.join('---\n'));
  }

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    writeManifests();
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir);
      await home.cleanup();
    }
    if (infra) await dockerOn(infra, 'n2', ['rmi', IMAGE_V2]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply converges every node: all resources Ready, published ports answer on the node address', async () => {
    const since = dockerTime();
    const r = await cli('apply', '-f', dir, '-o', 'json');
    const until = dockerTime();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Services start through each workspace's agent (one SSH exec on the node), never a docker exec.
    for (const n of NODES) {
      const execs = (await dockerEvents(infra, n, since, until)).filter((e) => e.Type === 'container' && e.Action.startsWith('exec_create'));
      expect(execs.map((e) => e.Action), `node ${n}`).toEqual([]);
    }
    const result = JSON.parse(r.stdout);
    expect(result.converged).toBe(true);
    const phases = Object.fromEntries(Object.entries(result.statuses as Record<string, { phase: string }>).map(([id, s]) => [id, s.phase]));
    for (const n of NODES) {
      expect(phases[`node/${n}`]).toBe('Ready');
      expect(phases[`workspace/web-${n}`]).toBe('Ready');
      expect(phases[`service/httpd-${n}`]).toBe('Ready');
    }
    expect(phases['service/literal']).toMatch(/Completed|Ready/);
    for (const [i, n] of NODES.entries()) {
      const addr = infra.nodes.find((x) => x.name === n)!.address;
      const page = await httpGet(`http://${addr}:${PORT_BASE + i + 1}/`);
      expect(page.status).toBe(200);
      expect(page.body).toContain('hello from busybox httpd');
      expect((await managedContainers(infra, n)).size).toBe(1);
    }
  });

  it('the health check is made on the node, by the supervisor, in an image without curl', async () => {
    // busybox httpd answered the http check although the image has no curl: the supervisor's
    // prober spoke HTTP inside the workspace (127.0.0.1) and recorded the verdict the controller read.
    const which = await cli('exec', 'web-n1', '--', 'sh', '-c', 'command -v curl || echo no-curl');
    expect(which.stdout.trim()).toBe('no-curl');
    const described = await cli('describe', 'service', 'httpd-n1');
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/Healthy/);
    expect(described.stdout).toMatch(/http:\/\/127\.0\.0\.1:80\/ → 200/);
  });

  it('a second apply runs 0 operations and makes no mutating Docker API call on any node', async () => {
    const since = dockerTime();
    const r = await cli('apply', '-f', dir, '-o', 'json');
    const until = dockerTime();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.operationsRun).toBe(0);
    expect(result.plan.operations).toEqual([]);
    for (const n of NODES) {
      const events = await dockerEvents(infra, n, since, until);
      expect(mutatingEvents(events), `node ${n}`).toEqual([]);
    }
    const diff = await cli('diff', '-f', dir);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/No changes/);
  });

  it('commands and env values with quotes, $, backticks, ; and newlines reach the container literally', async () => {
    const env = await cli('exec', 'web-n1', '--', 'cat', '/tmp/env.out');
    expect(env.code, env.stderr).toBe(0);
    expect(env.stdout).toBe(NASTY);
    const cmd = await cli('exec', 'web-n1', '--', 'cat', '/tmp/cmd.out');
    expect(cmd.stdout).toBe('a;b $c `d` "e"');
    // Workspace env (container env) and exec argv are literal too.
    const wsEnv = await cli('exec', 'web-n3', '--', 'sh', '-c', 'printf %s "$NASTY"');
    expect(wsEnv.stdout).toBe(NASTY);
    const argv = await cli('exec', 'web-n2', '--', 'printf', '%s', NASTY);
    expect(argv.stdout).toBe(NASTY);
    // And seen from outside vendetta, with the docker CLI on the node's own dockerd.
    const [id] = [...(await managedContainers(infra, 'n1')).values()];
    expect(await dockerOn(infra, 'n1', ['exec', id!, 'cat', '/tmp/env.out'])).toBe(NASTY);
  });

  it('logs, exec, get -o json and describe work against remote workspaces', async () => {
    const logs = await cli('logs', 'httpd-n2');
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('started httpd-n2');

    const exec = await cli('exec', 'web-n3', '--', 'sh', '-c', 'echo from-$(hostname) >&2; exit 7');
    expect(exec.code).toBe(7);
    expect(exec.stderr).toMatch(/from-/);

    const get = JSON.parse((await cli('get', 'workspaces', '-o', 'json')).stdout);
    expect(get.kind).toBe('List');
    const byName = new Map(get.items.map((i: { metadata: { name: string } }) => [i.metadata.name, i]));
    for (const n of NODES) {
      const ws = byName.get(`web-${n}`) as { spec: { node: string; provider: string }; status: { phase: string } };
      expect(ws.spec.node).toBe(n);
      expect(ws.spec.provider).toBe('docker');
      expect(ws.status.phase).toBe('Ready');
    }

    const described = await cli('describe', 'workspace', 'web-n2');
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/Node:\s+n2/);
    expect(described.stdout).toMatch(/Phase:\s+Ready/);
    expect(described.stdout).toMatch(/127\.0\.0\.12:18472:80/);
  });

  it('port-forward tunnels a local port to the workspace through SSH', async () => {
    const child = spawn(process.execPath, [CLI, 'port-forward', 'web-n3', '0:80'], {
      env: { ...process.env, NO_COLOR: '1', ...home.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const local = await eventually(() => /Forwarding (127\.0\.0\.1:\d+)/.exec(out)?.[1], 30_000, `port-forward to print its address (output: ${out})`);
      const page = await httpGet(`http://${local}/`);
      expect(page.status).toBe(200);
      expect(page.body).toContain('hello from busybox httpd');
      // The node's SSH connection drops: the next forwarded connection reconnects by itself.
      await nodeCtl('kill-sessions', 'n3');
      const again = await eventually(async () => (await httpGet(`http://${local}/`)).status === 200, 30_000, 'the forward to work after the SSH connection dropped');
      expect(again).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('shell runs an interactive shell in the workspace (commands from stdin when not a TTY)', async () => {
    const child = spawn(process.execPath, [CLI, 'shell', 'web-n1'], { env: { ...process.env, NO_COLOR: '1', ...home.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.stdin.end('echo "in-shell-$((40 + 2))"; pwd; exit 3\n');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(out).toContain('in-shell-42');
    expect(out).toContain('/workspace');
    expect(code).toBe(3);
  });

  it('changing one workspace image: diff shows only that workspace -/+, apply recreates only it', async () => {
    await dockerOn(infra, 'n2', ['tag', infra.image, IMAGE_V2]);
    const before = new Map(await Promise.all(NODES.map(async (n) => [n, await managedContainers(infra, n)] as const)));
    writeManifests({ n2: IMAGE_V2 });

    const diff = await cli('diff', '-f', dir);
    expect(diff.code, diff.stdout + diff.stderr).toBe(1);
    expect(diff.stdout).toMatch(/-\/\+ workspace\/web-n2\s+recreate/);
    expect(diff.stdout).toMatch(/image/);
    expect(diff.stdout).not.toMatch(/workspace\/web-n1|workspace\/web-n3|service\/httpd-n1|service\/httpd-n3|service\/literal/);

    const r = await cli('apply', '-f', dir, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const ran = (JSON.parse(r.stdout).plan.operations as { resource?: string; id?: string }[]).map((o) => JSON.stringify(o));
    expect(ran.join('\n')).not.toMatch(/web-n1|web-n3|httpd-n1|httpd-n3|literal/);

    for (const n of ['n1', 'n3']) expect(await managedContainers(infra, n)).toEqual(before.get(n));
    const n2 = await managedContainers(infra, 'n2');
    expect(n2.size).toBe(1);
    expect([...n2.values()][0]).not.toBe([...before.get('n2')!.values()][0]);
    const image = await dockerOn(infra, 'n2', ['inspect', '--format', '{{.Config.Image}}', [...n2.values()][0]!]);
    expect(image.trim()).toBe(IMAGE_V2);
    expect((await httpGet(`http://127.0.0.12:${PORT_BASE + 2}/`)).status).toBe(200);
  });

  it('delete removes every managed container on every node', async () => {
    const r = await cli('delete', '-f', dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const n of NODES) expect([...(await managedContainers(infra, n)).keys()], `node ${n}`).toEqual([]);
    const get = JSON.parse((await cli('get', 'workspaces', '-o', 'json')).stdout);
    expect(get.items).toEqual([]);
  });
});
