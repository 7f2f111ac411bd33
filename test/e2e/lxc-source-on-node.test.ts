// `source: {path, onNode: true}` on LXD and Incus: the node's directory is the workspace's
// /workspace (disk device vd-source), not a copy. Driver over SSH as the node user on n1, like
// lxc-provider.test.ts; the directory is made by that user in its home on the node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { API_VERSION } from '../../src/model/types.js';
import { SshTransport } from '../../src/transport/ssh.js';
import type { Transport } from '../../src/transport/types.js';
import type { DesiredWorkspace, DriverContext } from '../../src/providers/types.js';
import { createLxcDriver } from '../../src/providers/lxc/driver.js';
import { infraNode, loadInfra, makeKnownHosts, nodeResource, type TempDir } from './helpers/infra.js';
import { daemonCli, lxcDaemons, type LxcInfra } from './helpers/lxc.js';

const infra = loadInfra();
const nodeInfo = infraNode(infra, 'n1');
const WS = 'inc-src';

describe.each(lxcDaemons())('lxc source on the node, $flavor', (lxd: LxcInfra) => {
  const driver = createLxcDriver();
  let transport: Transport;
  let ctx: DriverContext;
  let knownHosts: (TempDir & { path: string }) | undefined;
  let dir: string;

  function workspace(): DesiredWorkspace {
    return {
      resource: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: WS }, spec: { node: nodeInfo.name, provider: 'lxc', image: lxd.image, source: { path: dir, onNode: true } } },
      specHash: 'hash-of-inc-src',
      owner: { id: '0123456789abcdef', name: 'test' },
      env: {},
    };
  }

  beforeAll(async () => {
    knownHosts = await makeKnownHosts(infra, [nodeInfo.name]);
    const node = nodeResource(infra, nodeInfo.name, { hostKey: nodeInfo.hostKeyPub, providers: { lxc: { socket: lxd.socket } } });
    transport = new SshTransport(node, { knownHostsPath: knownHosts.path, strictHostKeys: true });
    ctx = { node, transport, applySet: 'inc-source-e2e' };
    dir = `${await transport.home()}/inc-src-${lxd.flavor}`;
    await driver.delete(ctx, WS);
    const made = await transport.exec(['/bin/sh', '-c', 'rm -rf "$1" && mkdir -p "$1" && echo from-the-node > "$1/hello.txt"', 'sh', dir]);
    expect(made.code, made.stderr).toBe(0);
  });

  afterAll(async () => {
    await driver.delete(ctx, WS).catch(() => undefined);
    await transport?.close();
    if (dir) rmSync(dir, { recursive: true, force: true }); // as root: the container may have left root's files
    await knownHosts?.cleanup();
  });

  it('mounts the node directory at /workspace (shifted on Incus only) instead of copying it', async () => {
    await driver.create(ctx, workspace());
    const inst = JSON.parse(await daemonCli(lxd, ['query', `/1.0/instances/vendetta-${WS}`])) as { devices: Record<string, Record<string, string>> };
    expect(inst.devices['vd-source']).toEqual({
      type: 'disk',
      source: dir,
      path: '/workspace',
      ...(lxd.flavor === 'incus' ? { shift: 'true' } : {}),
    });
    const rt = await driver.runtime(ctx, WS);
    expect(await rt.exec(['cat', '/workspace/hello.txt'])).toMatchObject({ code: 0, stdout: 'from-the-node\n' });
    // a change on the node is there at once: no sync
    await transport.exec(['/bin/sh', '-c', 'echo changed > "$1/hello.txt"', 'sh', dir]);
    expect((await rt.exec(['cat', '/workspace/hello.txt'])).stdout).toBe('changed\n');
  });

  it('ownership: Incus shows the node user as itself and lets root write; LXD 5.0 shows nobody and root cannot write', async () => {
    const rt = await driver.runtime(ctx, WS);
    const uid = (await transport.exec(['id', '-u'])).stdout.trim();
    const owner = (await rt.exec(['stat', '-c', '%u', '/workspace/hello.txt'])).stdout.trim();
    const write = await rt.exec(['/bin/sh', '-c', 'echo from-inside > /workspace/inside.txt']);
    if (lxd.flavor === 'incus') {
      expect(owner).toBe(uid);
      expect(write.code).toBe(0);
      expect((await transport.exec(['stat', '-c', '%u', `${dir}/inside.txt`])).stdout.trim()).toBe('0'); // root in the container is root on the node
    } else {
      expect(owner).toBe('65534');
      expect(write.code).not.toBe(0);
      expect(write.stderr).toMatch(/Permission denied/);
    }
  });

  it('delete removes the workspace but never the node directory', async () => {
    await driver.delete(ctx, WS);
    expect((await transport.exec(['cat', `${dir}/hello.txt`])).stdout).toBe('changed\n');
  });
});
