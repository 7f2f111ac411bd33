// The LXC driver against a real LXD (test/infra/lxd.sh, in netns vdlxd) and a real Incus
// (test/infra/incus.sh, in netns vdincus) on a real sshd node n1, through SshTransport as the node
// user: REST rides ssh2 stream-local forwarding to the daemon's socket, commands run through
// `lxc exec` / `incus exec` on the node. Every test runs once per daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { API_VERSION, type NodeResource, type WorkspaceResource } from '../../src/model/types.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { TransportError, type Transport } from '../../src/transport/types.js';
import type { DesiredWorkspace, DriverContext } from '../../src/providers/types.js';
import { createLxcDriver, lxcApiCalls, resetLxcApiCalls } from '../../src/providers/lxc/driver.js';
import { eventually } from './support/cli.js';
import { infraNode, loadInfra, makeKnownHosts, nodeResource, type TempDir } from './helpers/infra.js';
import { daemonCli, lxcDaemons, subnetPattern, type LxcInfra } from './helpers/lxc.js';

const infra = loadInfra();
const nodeInfo = infraNode(infra, 'n1');
const APPLY_SET = 'lxc-provider-e2e';
const WS = 'lpt-main';

async function httpGetVia(stream: Duplex, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('error', reject);
    stream.on('close', resolve);
    stream.on('end', resolve);
    stream.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`);
  });
  return Buffer.concat(chunks).toString('utf8');
}

const NASTY = `it's "quoted" $HOME \`id\` ; echo pwned\nline2 \\ * ? | & > <`;
// LXD keeps no line breaks in environment.* config (services get them through the env file).
const NASTY_LINE = NASTY.replace('\n', ' ');

describe.each(lxcDaemons())('on $flavor', (lxd: LxcInfra) => {
  /** Ground truth, independent of the driver: the daemon's own CLI as root. */
  async function lxcQuery<T>(path: string): Promise<T | undefined> {
    try {
      return JSON.parse(await daemonCli(lxd, ['query', path])) as T;
    } catch (err) {
      if (/not found/i.test(String((err as { stderr?: string }).stderr ?? err))) return undefined;
      throw err;
    }
  }

  function lxcNode(socket: string): NodeResource {
    return nodeResource(infra, nodeInfo.name, { hostKey: nodeInfo.hostKeyPub, providers: { lxc: { socket } } });
  }

  function workspace(name: string, spec: Partial<WorkspaceResource['spec']>, env: Record<string, string> = {}): DesiredWorkspace {
    return {
      resource: {
        apiVersion: API_VERSION,
        kind: 'Workspace',
        metadata: { name },
        spec: { node: nodeInfo.name, provider: 'lxc', image: lxd.image, ...spec },
      },
      specHash: `hash-of-${name}`,
      owner: { id: '0123456789abcdef', name: 'test@host:/home/test/.vendetta' },
      env,
    };
  }

  let transport: Transport;
  let ctx: DriverContext;
  let knownHosts: (TempDir & { path: string }) | undefined;
  let tmp: string;
  let sourceDir: string;
  const driver = createLxcDriver();
  // A port in the daemon's netns: nothing else listens there.
  const PUBLISHED = 18080;

  beforeAll(async () => {
    knownHosts = await makeKnownHosts(infra, [nodeInfo.name]);
    transport = new SshTransport(lxcNode(lxd.socket), { knownHostsPath: knownHosts.path, strictHostKeys: true });
    ctx = { node: lxcNode(lxd.socket), transport, applySet: APPLY_SET };
    tmp = mkdtempSync(join(tmpdir(), 'vd-lpt-'));
    sourceDir = join(tmp, 'src');
    mkdirSync(join(sourceDir, 'sub dir'), { recursive: true });
    writeFileSync(join(sourceDir, 'index.html'), 'hello from the lxc workspace source\n');
    writeFileSync(join(sourceDir, 'sub dir', 'a file.txt'), 'nested\n');
    writeFileSync(join(sourceDir, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    symlinkSync('index.html', join(sourceDir, 'link.html'));
    await driver.delete(ctx, WS);
  });

  afterAll(async () => {
    await driver.delete(ctx, WS).catch(() => undefined);
    await transport?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    await knownHosts?.cleanup();
  });

  describe('lxc driver: REST over SSH stream-local forwarding', () => {
    it('reports the daemon, its flavor and version', async () => {
      const a = await driver.availability(ctx);
      expect(a).toMatchObject({ available: true, version: `${lxd.flavor} ${lxd.version}`, detail: `socket ${lxd.socket}` });
    });

    it('creates a labelled container with source, env, limits and a proxy device; observe sees it', async () => {
      resetLxcApiCalls();
      await driver.create(
        ctx,
        workspace(WS, { source: { path: sourceDir }, ports: [`${lxd.listenAddress}:${PUBLISHED}:80`], resources: { cpus: 1, memory: '64Mi' } }, { NASTY: NASTY_LINE, MULTI: 'a\nb' }),
      );
      expect(lxcApiCalls.mutations[0]).toBe('POST /1.0/instances');
      // Started, then marked complete: the last step of create.
      expect(lxcApiCalls.mutations.slice(-2)).toEqual([`PUT /1.0/instances/vendetta-${WS}/state`, `PATCH /1.0/instances/vendetta-${WS}`]);

      const inst = await lxcQuery<{ status: string; config: Record<string, string>; devices: Record<string, Record<string, string>> }>(
        `/1.0/instances/vendetta-${WS}`,
      );
      expect(inst?.status).toBe('Running');
      expect(inst?.config).toMatchObject({
        'user.vendetta.managed': 'true',
        'user.vendetta.kind': 'Workspace',
        'user.vendetta.name': WS,
        'user.vendetta.spec-hash': `hash-of-${WS}`,
        'user.vendetta.applyset': APPLY_SET,
        'user.vendetta.owner': '0123456789abcdef',
        'user.vendetta.owner-name': 'test@host:/home/test/.vendetta',
        'user.vendetta.complete': 'true',
        'limits.cpu': '1',
        'limits.memory': `${64 * 1024 * 1024}B`,
      });
      expect(inst?.devices[`vd-port-${PUBLISHED}-tcp`]).toEqual({
        type: 'proxy',
        listen: `tcp:${lxd.listenAddress}:${PUBLISHED}`,
        connect: 'tcp:127.0.0.1:80',
        bind: 'host',
      });

      resetLxcApiCalls();
      const observed = (await driver.observe(ctx)).find((w) => w.name === WS);
      expect(lxcApiCalls.mutating).toBe(0);
      expect(lxcApiCalls.total).toBe(1); // one list call; service status is read from the node dir over SSH
      expect(observed).toMatchObject({ name: WS, provider: 'lxc', specHash: `hash-of-${WS}`, applySet: APPLY_SET, running: true, services: [] });
      expect(observed!.owner).toEqual({ id: '0123456789abcdef', name: 'test@host:/home/test/.vendetta' });
      expect(observed).not.toHaveProperty('incomplete');
      expect(observed!.address).toMatch(subnetPattern(lxd));
    });

    it('uploaded the source tree (modes, nested dirs, symlinks) and made the state dir; env reaches commands', async () => {
      const rt = await driver.runtime(ctx, WS);
      expect(rt.workspaceDir).toBe('/workspace');
      const ls = await rt.exec(['sh', '-c', 'cat "sub dir/a file.txt"; ./run.sh; readlink link.html; test -d /var/lib/vendetta && echo state-ok; pwd']);
      expect(ls).toMatchObject({ code: 0, stdout: 'nested\nran\nindex.html\nstate-ok\n/workspace\n' });
      const env = await rt.exec(['sh', '-c', 'printf %s "$NASTY"']);
      expect(env.stdout).toBe(NASTY_LINE);
      const withOpts = await rt.exec(['sh', '-c', 'pwd; printf %s "$X"; cat'], { cwd: '/tmp', env: { X: NASTY }, stdin: 'from stdin' });
      expect(withOpts).toMatchObject({ code: 0, stdout: `/tmp\n${NASTY}from stdin` });
      expect((await rt.exec(['sh', '-c', 'exit 7'])).code).toBe(7);
    });

    it('a published port answers from the node through the proxy device', async () => {
      const rt = await driver.runtime(ctx, WS);
      expect((await rt.exec(['httpd', '-p', '80', '-h', '/workspace'])).code).toBe(0); // busybox httpd daemonizes
      const page = await eventually(async () => {
        const text = await httpGetVia(await transport.connectTcp(lxd.listenAddress, PUBLISHED), '/index.html');
        return text.includes('200 OK') ? text : undefined;
      }, 10_000, 'the published port to answer');
      expect(page).toContain('hello from the lxc workspace source');
      // and the container's own address answers too (what health checks use)
      const direct = await httpGetVia(await transport.connectTcp(rt.address, 80), '/index.html');
      expect(direct).toContain('hello from the lxc workspace source');
    });

    it('stop and start: observe follows, start waits until commands run', async () => {
      await driver.stop(ctx, WS);
      expect((await driver.observe(ctx)).find((w) => w.name === WS)).toMatchObject({ running: false });
      await expect(driver.runtime(ctx, WS)).rejects.toThrow(/is stopped/);
      await driver.stop(ctx, WS); // idempotent
      await driver.start(ctx, WS);
      const rt = await driver.runtime(ctx, WS);
      expect((await rt.exec(['true'])).code).toBe(0);
      await driver.start(ctx, WS); // idempotent
    });

    it('refuses an instance without our config key', async () => {
      const foreign = 'lpt-foreign';
      await daemonCli(lxd, ['init', lxd.image, `vendetta-${foreign}`]);
      try {
        await expect(driver.delete(ctx, foreign)).rejects.toThrow(/not managed by vendetta/);
        expect((await driver.observe(ctx)).map((w) => w.name)).not.toContain(foreign);
      } finally {
        await daemonCli(lxd, ['delete', '-f', `vendetta-${foreign}`]);
      }
    });

    it('an instance whose create stopped before its last step is observed as incomplete, and delete removes it', async () => {
      // What the first step of create (POST /1.0/instances with our keys) leaves when the CLI dies.
      const half = 'lpt-half';
      const keys = { 'user.vendetta.managed': 'true', 'user.vendetta.kind': 'Workspace', 'user.vendetta.name': half, 'user.vendetta.owner': '0123456789abcdef' };
      await daemonCli(lxd, ['init', lxd.image, `vendetta-${half}`, ...Object.entries(keys).flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
      try {
        expect((await driver.observe(ctx)).find((w) => w.name === half)).toMatchObject({ running: false, incomplete: true });
        await driver.delete(ctx, half);
        expect(await lxcQuery(`/1.0/instances/vendetta-${half}`)).toBeUndefined();
      } finally {
        await daemonCli(lxd, ['delete', '-f', `vendetta-${half}`]).catch(() => undefined);
      }
    });

    it('a missing local image fails with what to do, and leaves nothing behind', async () => {
      await expect(driver.create(ctx, workspace('lpt-noimage', { image: 'no-such-alias' }))).rejects.toThrow(
        new RegExp(`image no-such-alias not found on node n1.*${lxd.flavor === 'incus' ? 'incus' : 'lxc'} image import`),
      );
      expect(await lxcQuery('/1.0/instances/vendetta-lpt-noimage')).toBeUndefined();
    });

    it('delete removes the instance and its proxy device; deleting again is a no-op', async () => {
      await driver.delete(ctx, WS);
      expect(await lxcQuery(`/1.0/instances/vendetta-${WS}`)).toBeUndefined();
      await expect(transport.connectTcp(lxd.listenAddress, PUBLISHED).then((s) => httpGetVia(s, '/'))).rejects.toThrow();
      expect(existsSync(join(lxd.socket, '..', 'containers', `vendetta-${WS}`))).toBe(false);
      await driver.delete(ctx, WS);
      expect((await driver.observe(ctx)).map((w) => w.name)).not.toContain(WS);
    });

    it('a socket that is not there: unavailable with an install hint; observe fails naming the node', async () => {
      const missing = '/nonexistent/lxd/unix.socket';
      const badCtx: DriverContext = { node: lxcNode(missing), transport, applySet: APPLY_SET };
      const a = await driver.availability(badCtx);
      expect(a.available).toBe(false);
      expect(a.hint).toMatch(/install LXD .* on node n1.*no LXD\/Incus socket at \/nonexistent\/lxd\/unix\.socket/);
      const err = await driver.observe(badCtx).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).message).toMatch(/no LXD or Incus daemon answers on node n1/);
    });
  });
});
