// LXC workspaces keep their supervisor state in a node directory of the SSH user, attached as a
// disk device: one exec on the node reads every workspace's services. Against the real LXD
// (test/infra/lxd.sh) and Incus (test/infra/incus.sh) on node n1, as the non-root node user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { API_VERSION, type ServiceResource, type WorkspaceResource } from '../../src/model/types.js';
import { SshTransport } from '../../src/transport/ssh.js';
import type { Transport } from '../../src/transport/types.js';
import type { DesiredWorkspace, DriverContext } from '../../src/providers/types.js';
import { createLxcDriver, lxcApiCalls, resetLxcApiCalls } from '../../src/providers/lxc/driver.js';
import { createServiceManager } from '../../src/services/manager.js';
import { infraNode, loadInfra, makeKnownHosts, nodeResource, type TempDir } from './helpers/infra.js';
import { daemonCli, lxcDaemons, type LxcInfra } from './helpers/lxc.js';

const infra = loadInfra();
const nodeInfo = infraNode(infra, 'n1');
const PREFIX = 'lst-';
const NAMES = [0, 1, 2, 3, 4].map((i) => `${PREFIX}w${i}`);

function service(name: string, ws: string, command: string): ServiceResource {
  return { apiVersion: API_VERSION, kind: 'Service', metadata: { name }, spec: { workspace: ws, command } } as ServiceResource;
}

/** Counts the SSH session channels (exec/spawn) opened through a transport. */
function counting(inner: Transport): Transport & { channels: number } {
  const t = Object.create(inner) as Transport & { channels: number };
  t.channels = 0;
  t.exec = (argv, opts) => {
    t.channels++;
    return inner.exec(argv, opts);
  };
  t.spawn = (argv, opts) => {
    t.channels++;
    return inner.spawn(argv, opts);
  };
  t.connectUnix = (path) => inner.connectUnix(path);
  return t;
}

describe.each(lxcDaemons())('on $flavor', (lxd: LxcInfra) => {
  async function lxcQuery<T>(path: string): Promise<T | undefined> {
    try {
      return JSON.parse(await daemonCli(lxd, ['query', path])) as T;
    } catch (err) {
      if (/not found/i.test(String((err as { stderr?: string }).stderr ?? err))) return undefined;
      throw err;
    }
  }

  function workspace(name: string): DesiredWorkspace {
    const resource: WorkspaceResource = {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name },
      spec: { node: nodeInfo.name, provider: 'lxc', image: lxd.image },
    };
    return { resource, specHash: `hash-of-${name}`, owner: { id: '0123456789abcdef', name: 'test' }, env: {} };
  }

  let transport: Transport & { channels: number };
  let ctx: DriverContext;
  let knownHosts: (TempDir & { path: string }) | undefined;
  let home: string;
  const driver = createLxcDriver();

  async function cleanup(): Promise<void> {
    const errors = await driver.deleteMany!(ctx, NAMES);
    expect([...errors.values()].map((e) => e.message)).toEqual([]);
  }

  beforeAll(async () => {
    knownHosts = await makeKnownHosts(infra, [nodeInfo.name]);
    const node = nodeResource(infra, nodeInfo.name, { hostKey: nodeInfo.hostKeyPub, providers: { lxc: { socket: lxd.socket } } });
    transport = counting(new SshTransport(node, { knownHostsPath: knownHosts.path, strictHostKeys: true }));
    ctx = { node, transport, applySet: 'lxc-state-e2e' };
    home = await transport.home();
    await cleanup();
  });

  afterAll(async () => {
    await cleanup().catch(() => undefined);
    await (transport as Transport | undefined)?.close();
    await knownHosts?.cleanup();
  });

  describe('lxc: supervisor state in a node directory', () => {
    const first = NAMES[0]!;
    const dir = () => `${home}/.vendetta/lxc/${nodeInfo.name}/${first}`;

    it('attaches the node user\'s directory at /var/lib/vendetta and records where it is', async () => {
      await driver.create(ctx, workspace(first));
      const inst = await lxcQuery<{ config: Record<string, string>; devices: Record<string, Record<string, string>> }>(`/1.0/instances/vendetta-${first}`);
      expect(inst?.config['user.vendetta.state-dir']).toBe(dir());
      expect(inst?.devices['vd-state']).toEqual({ type: 'disk', source: dir(), path: '/var/lib/vendetta' });
      const owner = await transport.exec(['stat', '-c', '%U %a', dir(), `${home}/.vendetta/lxc`]);
      expect(owner.stdout).toBe(`${infra.user} 1777\n${infra.user} 700\n`);
    });

    it('container root writes state there; the non-root node user reads it', async () => {
      const rt = await driver.runtime(ctx, first);
      const w = await rt.exec(['/bin/sh', '-c', 'mkdir -p /var/lib/vendetta/mine/deep && echo from-root > /var/lib/vendetta/mine/deep/f && id -u']);
      expect(w).toMatchObject({ code: 0, stdout: '0\n' });
      const r = await transport.exec(['cat', `${dir()}/mine/deep/f`]);
      expect(r).toMatchObject({ code: 0, stdout: 'from-root\n' });
      expect((await transport.exec(['id', '-u'])).stdout.trim()).not.toBe('0');
    });

    it('a running service is read from the node; after a restart of the instance it is not running', async () => {
      const rt = await driver.runtime(ctx, first);
      const services = createServiceManager(rt);
      await services.start({ resource: service('lst-svc', first, 'sleep 1000'), specHash: 'svc-hash', env: { SECRET: 's' }, workdir: '/workspace' });
      // installed from inside: the env file is the container root's alone, the node user cannot read it
      const env = await transport.exec(['cat', `${dir()}/services/lst-svc/env`]);
      expect(env.code).not.toBe(0);
      expect(env.stderr).toMatch(/Permission denied/);
      const read = await driver.observeServices!(ctx, [first]);
      expect(read.get(first)).toEqual([expect.objectContaining({ name: 'lst-svc', state: 'running', specHash: 'svc-hash' })]);
      // the same verdict as reading from inside the container (pid identity in its own namespace)
      expect(await services.observe()).toEqual(read.get(first));
      // restarted: the files still say "running", but that supervisor is gone
      await driver.stop(ctx, first);
      await driver.start(ctx, first);
      const after = (await driver.observe(ctx)).find((w) => w.name === first);
      expect(after?.services).toHaveLength(1);
      expect(after?.services[0]!.state).not.toBe('running');
      expect(after?.services[0]!.state).toBe((await createServiceManager(await driver.runtime(ctx, first)).observe())[0]!.state);
    });

    it('a no-op observation costs the same API requests and SSH channels for 1 and for 5 workspaces', async () => {
      const count = async () => {
        transport.channels = 0;
        resetLxcApiCalls();
        const seen = await driver.observe(ctx);
        return { api: lxcApiCalls.total, mutating: lxcApiCalls.mutating, channels: transport.channels, seen: seen.filter((w) => w.name.startsWith(PREFIX)).length };
      };
      const one = await count();
      expect(one).toEqual({ api: 1, mutating: 0, channels: 1, seen: 1 });
      for (const name of NAMES.slice(1)) await driver.create(ctx, workspace(name));
      const five = await count();
      expect(five).toEqual({ ...one, seen: 5 });
    });

    it('deleteMany deletes the instances and, as the node user, their directories', async () => {
      const dirs = NAMES.map((n) => `${home}/.vendetta/lxc/${nodeInfo.name}/${n}`);
      expect((await transport.exec(['ls', '-d', ...dirs])).code).toBe(0);
      const errors = await driver.deleteMany!(ctx, [...NAMES, `${PREFIX}missing`]);
      expect([...errors.entries()]).toEqual([]);
      for (const n of NAMES) expect(await lxcQuery(`/1.0/instances/vendetta-${n}`)).toBeUndefined();
      const ls = await transport.exec(['ls', '-d', ...dirs]);
      expect(ls.code).not.toBe(0);
      expect(ls.stdout).toBe('');
      expect(existsSync(dirs[0]!)).toBe(false);
    });
  });
});
