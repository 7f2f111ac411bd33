// The Docker driver against a real dockerd on a real sshd node (test/infra/up.sh), through
// SshTransport: dockerode rides ssh2 stream-local forwarding to the node's Docker socket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { API_VERSION, type NodeResource, type ServiceResource, type WorkspaceResource } from '../../src/model/types.js';
import { createServiceManager } from '../../src/services/manager.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { TransportError, type Transport } from '../../src/transport/types.js';
import type { DesiredWorkspace, DriverContext } from '../../src/providers/types.js';
import { createDockerDriver } from '../../src/providers/docker/driver.js';
import { dockerApiCalls, resetDockerApiCalls } from '../../src/providers/docker/client.js';
import { eventually, freePort } from './support/cli.js';
import { infraNode, loadInfra, makeKnownHosts, nodeResource, type TempDir } from './helpers/infra.js';

const infra = loadInfra();
const nodeInfo = infraNode(infra, 'n1');
const APPLY_SET = 'docker-provider-e2e';
// Names unique to this suite: other suites share the nodes.
const WS = 'dpt-main';
const OWNER = { id: '0123456789abcdef', name: 'e2e@docker-provider:/tmp/home' };

function dockerNode(socket: string): NodeResource {
  return nodeResource(infra, nodeInfo.name, { hostKey: nodeInfo.hostKeyPub, providers: { docker: { socket } } });
}

function workspace(name: string, spec: Partial<WorkspaceResource['spec']>, env: Record<string, string> = {}): DesiredWorkspace {
  return {
    resource: {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name },
      spec: { node: nodeInfo.name, provider: 'docker', image: infra.image, pull: 'never', ...spec },
    },
    specHash: `hash-of-${name}`,
    env,
    owner: OWNER,
  };
}

/** A port nobody listens on at the node's address right now. */

/** Plain HTTP/1.0 GET over a stream opened from the node (direct-tcpip). */
async function httpGetVia(stream: Duplex, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('close', resolve);
    stream.on('end', resolve);
    stream.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`);
  });
  return Buffer.concat(chunks).toString('utf8');
}

// Everything a shell would interpret, and a newline.
const NASTY = `it's "quoted" $HOME \`id\` ; echo pwned\nline2 \\ * ? | & > <`;

let transport: Transport;
let ctx: DriverContext;
let docker: Docker; // direct local client for assertions, independent of the driver
const driver = createDockerDriver();
let sourceDir: string;
let tmp: string;
let publishedPort: number;
let knownHosts: (TempDir & { path: string }) | undefined;

beforeAll(async () => {
  knownHosts = await makeKnownHosts(infra, [nodeInfo.name]);
  transport = new SshTransport(dockerNode(nodeInfo.dockerSocket), { knownHostsPath: knownHosts.path, strictHostKeys: true });
  ctx = { node: dockerNode(nodeInfo.dockerSocket), transport, applySet: APPLY_SET };
  docker = new Docker({ socketPath: nodeInfo.dockerSocket });
  tmp = mkdtempSync(join(tmpdir(), 'vd-dpt-'));
  sourceDir = join(tmp, 'src');
  mkdirSync(join(sourceDir, 'sub dir'), { recursive: true });
  writeFileSync(join(sourceDir, 'index.html'), 'hello from the workspace source\n');
  writeFileSync(join(sourceDir, 'sub dir', 'a file.txt'), 'nested\n');
  publishedPort = await freePort(nodeInfo.address);
  for (const name of [WS, 'dpt-stopped', 'dpt-conflict', 'dpt-noimage', 'dpt-pullfail']) await driver.delete(ctx, name);
});

afterAll(async () => {
  for (const name of [WS, 'dpt-stopped', 'dpt-conflict', 'dpt-noimage', 'dpt-pullfail', 'dpt-legacy']) {
    await driver.delete(ctx, name).catch(() => undefined);
  }
  await docker?.getContainer('vendetta-dpt-foreign').remove({ force: true }).catch(() => undefined);
  await transport?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  await knownHosts?.cleanup();
});

describe('docker driver over SSH stream-local forwarding', () => {
  it('reports the engine as available with its version', async () => {
    const a = await driver.availability(ctx);
    expect(a.available).toBe(true);
    expect(a.version).toMatch(/^\d+\.\d+.* \(API 1\.\d+\)$/);
  });

  it('creates a labelled workspace with source, env, resources and ports; observe sees it', async () => {
    resetDockerApiCalls();
    await driver.create(
      ctx,
      workspace(
        WS,
        { source: { path: sourceDir }, ports: [`${nodeInfo.address}:${publishedPort}:80`], resources: { cpus: 0.5, memory: '64Mi' } },
        { NASTY, PLAIN: 'x' },
      ),
    );
    expect(dockerApiCalls.mutations).toEqual([
      'POST /containers/create',
      expect.stringMatching(/^PUT \/containers\/[0-9a-f]+\/archive$/),
      expect.stringMatching(/^POST \/containers\/[0-9a-f]+\/start$/),
      // Renamed to its final name last: only then is the workspace made.
      expect.stringMatching(/^POST \/containers\/[0-9a-f]+\/rename$/),
    ]);

    const info = await docker.getContainer(`vendetta-${WS}`).inspect();
    expect(info.Config.Labels).toMatchObject({
      'vendetta.dev/managed': 'true',
      'vendetta.dev/kind': 'Workspace',
      'vendetta.dev/name': WS,
      'vendetta.dev/spec-hash': `hash-of-${WS}`,
      'vendetta.dev/applyset': APPLY_SET,
      'vendetta.dev/owner': OWNER.id,
      'vendetta.dev/owner-name': OWNER.name,
    });
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(info.HostConfig.Init).toBe(true);

    resetDockerApiCalls();
    const observed = (await driver.observe(ctx)).find((w) => w.name === WS);
    expect(dockerApiCalls.mutating).toBe(0);
    expect(observed).toMatchObject({
      name: WS,
      provider: 'docker',
      specHash: `hash-of-${WS}`,
      applySet: APPLY_SET,
      running: true,
      services: [],
    });
    expect(observed!.address).toBe(info.NetworkSettings.Networks.bridge!.IPAddress);
  });

  it('uploaded the source tree to /workspace and made the state dir', async () => {
    const rt = await driver.runtime(ctx, WS);
    expect(rt.workspaceDir).toBe('/workspace');
    expect(rt.stateDir).toBe('/var/lib/vendetta');
    const r = await rt.exec(['sh', '-c', 'cat "/workspace/sub dir/a file.txt" /workspace/index.html; test -d /var/lib/vendetta && echo state-ok']);
    expect(r).toEqual({ code: 0, stdout: 'nested\nhello from the workspace source\nstate-ok\n', stderr: '' });
  });

  it('exec passes argv, stdin, env and cwd literally and reports exit code and stderr apart', async () => {
    const rt = await driver.runtime(ctx, WS);
    const argv = await rt.exec(['printf', '%s|', NASTY, '', 'two']);
    expect(argv.stdout).toBe(`${NASTY}||two|`);

    const stdin = await rt.exec(['cat'], { stdin: NASTY });
    expect(stdin.stdout).toBe(NASTY);

    const envCwd = await rt.exec(['sh', '-c', 'printf "%s" "$V"; pwd >&2; exit 7'], { env: { V: NASTY }, cwd: '/tmp' });
    expect(envCwd).toEqual({ code: 7, stdout: NASTY, stderr: '/tmp\n' });
  });

  it('the workspace env reaches the container literally', async () => {
    const rt = await driver.runtime(ctx, WS);
    const r = await rt.exec(['sh', '-c', 'printf "%s" "$NASTY"']);
    expect(r.stdout).toBe(NASTY);
  });

  it('exec with a timeout rejects with a TransportError', async () => {
    const rt = await driver.runtime(ctx, WS);
    await expect(rt.exec(['sleep', '30'], { timeoutMs: 300 })).rejects.toThrow(TransportError);
  });

  it('a service (busybox httpd) answers on the published node port and on the container address', async () => {
    const rt = await driver.runtime(ctx, WS);
    const web: ServiceResource = {
      apiVersion: API_VERSION,
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { workspace: WS, command: 'exec httpd -f -p 80 -h /workspace', ports: [80] },
    };
    await createServiceManager(rt).start({ resource: web, specHash: 'web-hash', env: {}, workdir: '/workspace' });

    const observed = (await driver.observe(ctx)).find((w) => w.name === WS);
    expect(observed!.services).toEqual([expect.objectContaining({ name: 'web', specHash: 'web-hash', state: 'running' })]);

    // The service's files live on the node, belong to the SSH user, and the supervisor (root in
    // the container) holds a FIFO open there (this busybox has no flock): the node tells it alive
    // without entering the container.
    const nodeDir = `/home/${infra.user}/.vendetta/docker/${nodeInfo.name}/${WS}`;
    expect(rt.nodeState?.dir).toBe(nodeDir);
    const owner = await transport.exec(['stat', '-c', '%U', `${nodeDir}/services/web`, `${nodeDir}/services/web/env`]);
    expect(owner.stdout).toBe(`${infra.user}\n${infra.user}\n`);
    const alive = ['dd', 'if=/dev/null', `of=${nodeDir}/services/web/alive`, 'oflag=nonblock', 'count=0'];
    expect((await transport.exec(alive)).code).toBe(0);
    const sup = (await rt.exec(['cat', '/var/lib/vendetta/services/web/supervisor.pid'])).stdout.trim();
    await rt.exec(['kill', '-9', sup]);
    await eventually(async () => (await transport.exec(alive)).code !== 0, 10_000, 'the FIFO loses its reader');
    expect((await driver.observe(ctx)).find((w) => w.name === WS)!.services).toEqual([expect.objectContaining({ name: 'web', state: 'exited' })]);
    await createServiceManager(rt).start({ resource: web, specHash: 'web-hash', env: {}, workdir: '/workspace' });

    const published = await eventually(
      async () => httpGetVia(await transport.connectTcp(nodeInfo.address, publishedPort), '/index.html').then((b) => b.includes(' 200 ') && b),
      15_000,
      `http on published port ${nodeInfo.address}:${publishedPort}`,
    );
    expect(published).toContain('hello from the workspace source');
    const direct = await httpGetVia(await transport.connectTcp(rt.address, 80), '/index.html');
    expect(direct).toContain('hello from the workspace source');
  });

  it('spawn streams stdin/stdout/stderr and returns the exit code; a pty works too', async () => {
    const rt = await driver.runtime(ctx, WS);
    const p = await rt.spawn(['sh', '-c', 'read line; echo "got:$line"; echo oops >&2; exit 3']);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.stdin.write('hello there\n');
    expect(await p.wait()).toBe(3);
    expect(Buffer.concat(out).toString()).toBe('got:hello there\n');
    expect(Buffer.concat(err).toString()).toBe('oops\n');

    const tty = await rt.spawn(['sh'], { pty: { rows: 24, cols: 80 } });
    const screen: Buffer[] = [];
    tty.stdout.on('data', (b: Buffer) => screen.push(b));
    tty.stdin.write('[ -t 0 ] && echo "is-a-tty $(stty size)"\n');
    await eventually(() => Buffer.concat(screen).toString().includes('is-a-tty 24 80'), 10_000, 'initial pty size');
    // A resize lands asynchronously: the shell waits for it.
    tty.resize!(40, 120);
    tty.stdin.write('while [ "$(stty size)" != "40 120" ]; do sleep 0.1; done; echo resized; exit 5\n');
    expect(await tty.wait()).toBe(5);
    expect(Buffer.concat(screen).toString()).toContain('resized');
  });

  it('stop and start', async () => {
    await driver.stop(ctx, WS);
    expect((await driver.observe(ctx)).find((w) => w.name === WS)).toMatchObject({ running: false });
    await expect(driver.runtime(ctx, WS)).rejects.toThrow(/is stopped/);
    await driver.stop(ctx, WS); // already stopped: fine

    await driver.start(ctx, WS);
    const observed = (await driver.observe(ctx)).find((w) => w.name === WS);
    expect(observed).toMatchObject({ running: true });
    expect(observed!.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const rt = await driver.runtime(ctx, WS);
    expect((await rt.exec(['cat', '/workspace/index.html'])).stdout).toBe('hello from the workspace source\n');
  });

  it('state: stopped creates the workspace without starting it', async () => {
    await driver.create(ctx, workspace('dpt-stopped', { state: 'stopped' }));
    expect((await driver.observe(ctx)).find((w) => w.name === 'dpt-stopped')).toMatchObject({ running: false, services: [] });
    await driver.start(ctx, 'dpt-stopped');
    const rt = await driver.runtime(ctx, 'dpt-stopped');
    expect((await rt.exec(['sh', '-c', 'test -d /workspace && test -d /var/lib/vendetta && pwd'])).stdout).toBe('/workspace\n');
    await driver.delete(ctx, 'dpt-stopped');
  });

  it('delete leaves no labelled container and no state dir, and deleting again is fine', async () => {
    const nodeDir = `/home/${infra.user}/.vendetta/docker/${nodeInfo.name}/${WS}`;
    expect((await transport.exec(['test', '-d', nodeDir])).code).toBe(0);
    await driver.delete(ctx, WS);
    // Files the container's root wrote in it went too: the SSH user owns the dirs.
    expect((await transport.exec(['test', '-e', nodeDir])).code).toBe(1);
    const left = await docker.listContainers({ all: true, filters: { label: [`vendetta.dev/name=${WS}`] } });
    expect(left).toEqual([]);
    expect((await driver.observe(ctx)).find((w) => w.name === WS)).toBeUndefined();
    await driver.delete(ctx, WS);
  });

  it('a container of an older vendetta (no state-dir label) keeps its state inside, read with a docker exec', async () => {
    const legacy = await docker.createContainer({
      name: 'vendetta-dpt-legacy',
      Image: infra.image,
      Entrypoint: ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
      Labels: {
        'vendetta.dev/managed': 'true',
        'vendetta.dev/kind': 'Workspace',
        'vendetta.dev/name': 'dpt-legacy',
        'vendetta.dev/node': nodeInfo.name,
        'vendetta.dev/spec-hash': 'old',
      },
      HostConfig: { Init: true },
    });
    await legacy.start();
    const rt = await driver.runtime(ctx, 'dpt-legacy');
    expect(rt.nodeState).toBeUndefined();
    const sleeper: ServiceResource = { apiVersion: API_VERSION, kind: 'Service', metadata: { name: 'old' }, spec: { workspace: 'dpt-legacy', command: 'exec sleep 300' } };
    await createServiceManager(rt).start({ resource: sleeper, specHash: 'old-hash', env: {}, workdir: '/' });
    resetDockerApiCalls();
    const observed = (await driver.observe(ctx)).find((w) => w.name === 'dpt-legacy');
    expect(observed!.services).toEqual([expect.objectContaining({ name: 'old', specHash: 'old-hash', state: 'running' })]);
    expect(dockerApiCalls.execs).toBeGreaterThan(0);
    const read = await driver.observeServices!(ctx, ['dpt-legacy']);
    expect(read.get('dpt-legacy')).toEqual([expect.objectContaining({ name: 'old', state: 'running' })]);
    await driver.delete(ctx, 'dpt-legacy');
    expect((await docker.listContainers({ all: true, filters: { label: ['vendetta.dev/name=dpt-legacy'] } }))).toEqual([]);
  });

  it('never touches a container without our label', async () => {
    await docker.createContainer({ name: 'vendetta-dpt-foreign', Image: infra.image, Cmd: ['true'] });
    expect((await driver.observe(ctx)).find((w) => w.name === 'dpt-foreign')).toBeUndefined();
    await expect(driver.delete(ctx, 'dpt-foreign')).rejects.toThrow(/not managed by vendetta/);
    await expect(driver.create(ctx, workspace('dpt-foreign', {}))).rejects.toThrow(/already exists on node/);
    expect((await docker.getContainer('vendetta-dpt-foreign').inspect()).Config.Labels).toEqual({});
  });

  it('missing image with pull: never is a clear error and creates nothing', async () => {
    await expect(driver.create(ctx, workspace('dpt-noimage', { image: 'vendetta-test/absent:9' }))).rejects.toThrow(
      `image vendetta-test/absent:9 not found on node ${nodeInfo.name}; build or load it there (docker load / docker import)`,
    );
    expect(await docker.listContainers({ all: true, filters: { label: ['vendetta.dev/name=dpt-noimage'] } })).toEqual([]);
  });

  it('a failing pull is reported clearly', async () => {
    // A registry on a closed loopback port: fails fast and stays on this machine.
    const closed = await freePort('127.0.0.1');
    const image = `127.0.0.1:${closed}/nothing:1`;
    await expect(driver.create(ctx, workspace('dpt-pullfail', { image, pull: 'always' }))).rejects.toThrow(
      new RegExp(`^pulling image ${image.replace(/[.]/g, '\\.')} on node ${nodeInfo.name} failed: .*load the image there`),
    );
  });

  it('a port conflict names the port and the node, and leaves no container behind', async () => {
    const port = await freePort(nodeInfo.address);
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, nodeInfo.address, resolve));
    try {
      await expect(driver.create(ctx, workspace('dpt-conflict', { ports: [`${nodeInfo.address}:${port}:80`] }))).rejects.toThrow(
        `workspace dpt-conflict: port ${nodeInfo.address}:${port} is already in use on node ${nodeInfo.name}`,
      );
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    expect(await docker.listContainers({ all: true, filters: { label: ['vendetta.dev/name=dpt-conflict'] } })).toEqual([]);
  });

  it('availability on a missing socket says to install and start dockerd', async () => {
    const bad: DriverContext = { ...ctx, node: dockerNode('/nonexistent/docker.sock') };
    const a = await driver.availability(bad);
    expect(a.available).toBe(false);
    expect(a.hint).toMatch(new RegExp(`install docker.io on node ${nodeInfo.name} and start dockerd`));
  });

  it('availability on a socket the user may not open says to join the docker group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vd-dpt-sock-'));
    chmodSync(dir, 0o755);
    const path = join(dir, 'docker.sock');
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    chmodSync(path, 0o600); // root only; the node user is not root
    try {
      const a = await driver.availability({ ...ctx, node: dockerNode(path) });
      expect(a.available).toBe(false);
      expect(a.hint).toBe(`add user ${infra.user} to the docker group on node ${nodeInfo.name} (sudo usermod -aG docker ${infra.user}), then reconnect`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
