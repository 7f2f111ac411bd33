// Pure translation for the LXC provider: instance bodies, proxy devices, observed state, CLI argv.
import { describe, expect, it } from 'vitest';
import { API_VERSION, type WorkspaceResource } from '../../../../src/model/types.js';
import type { DesiredWorkspace } from '../../../../src/providers/types.js';
import { parentChain } from '../../../../src/providers/lxc/files.js';
import {
  customVolumeBody,
  observedCustomVolumes,
  cliEnv,
  cliExecArgv,
  imageSource,
  instanceAddress,
  instanceCreateBody,
  isManaged,
  observedFromInstance,
  portDevices,
  resourceConfig,
  rootDiskDevice,
} from '../../../../src/providers/lxc/spec.js';

function ws(name: string, spec: Partial<WorkspaceResource['spec']> = {}, env: Record<string, string> = {}): DesiredWorkspace {
  return {
    resource: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node: 'a', provider: 'lxc', image: 'debian-12', ...spec } },
    specHash: 'h1',
    owner: { id: '0123456789abcdef', name: 'test@host:/home/test/.vendetta' },
    env,
  };
}

describe('instanceCreateBody', () => {
  it('labels the instance with user.vendetta.* keys and carries env, limits, ports and disk', () => {
    const body = instanceCreateBody(
      ws('api', { ports: ['127.0.0.1:8080:3000', '9000/udp'], resources: { cpus: 2, memory: '512Mi', disk: '1Gi' } }, { A: 'x y', MULTI: 'a\nb' }),
      'set-1',
      'lxd',
      'default',
    );
    expect(body).toEqual({
      name: 'vendetta-api',
      type: 'container',
      source: { type: 'image', alias: 'debian-12' },
      config: {
        'environment.A': 'x y', // MULTI is left out: LXD refuses line breaks there
        'limits.cpu': '2',
        'limits.memory': `${512 * 1024 * 1024}B`,
        'user.vendetta.managed': 'true',
        'user.vendetta.kind': 'Workspace',
        'user.vendetta.name': 'api',
        'user.vendetta.spec-hash': 'h1',
        'user.vendetta.applyset': 'set-1',
        'user.vendetta.owner': '0123456789abcdef',
        'user.vendetta.owner-name': 'test@host:/home/test/.vendetta',
      },
      devices: {
        'vd-port-8080-tcp': { type: 'proxy', listen: 'tcp:127.0.0.1:8080', connect: 'tcp:127.0.0.1:3000', bind: 'host' },
        'vd-port-9000-udp': { type: 'proxy', listen: 'udp:127.0.0.1:9000', connect: 'udp:127.0.0.1:9000', bind: 'host' },
        root: { type: 'disk', path: '/', pool: 'default', size: `${1024 ** 3}B` },
      },
      profiles: ['default'],
    });
  });

  it('source.onNode: the node directory as disk device vd-source at /workspace, shifted only when the daemon can', () => {
    const onNode = ws('api', { source: { path: '/srv/app', onNode: true } });
    expect(instanceCreateBody(onNode, 's', 'lxd', undefined).devices['vd-source']).toEqual({ type: 'disk', source: '/srv/app', path: '/workspace' });
    expect(instanceCreateBody(onNode, 's', 'incus', undefined, undefined, { shiftSource: true }).devices['vd-source']).toEqual({
      type: 'disk',
      source: '/srv/app',
      path: '/workspace',
      shift: 'true',
    });
    // a copied source has no device
    expect(instanceCreateBody(ws('api', { source: { path: '/srv/app' } }), 's', 'incus', undefined, undefined, { shiftSource: true }).devices).not.toHaveProperty('vd-source');
  });

  it('requires an image and a short enough name', () => {
    expect(() => instanceCreateBody(ws('x', { image: undefined }), 's', 'lxd', undefined)).toThrow(/spec.image is required for the lxc provider/);
    expect(() => instanceCreateBody(ws('a'.repeat(60)), 's', 'lxd', undefined)).toThrow(/longer than 63 characters.*at most 54/);
  });

  it('rejects bad ports and duplicate host ports with the offending text', () => {
    expect(() => portDevices(['80:80:80:80'])).toThrow(/not a valid port mapping/);
    expect(() => portDevices(['8080:1', '127.0.0.1:8080:2'])).toThrow(/host port 8080\/tcp is published twice/);
  });

  it('brackets IPv6 listen addresses', () => {
    expect(portDevices(['[::1]:8080:80'])['vd-port-8080-tcp']!.listen).toBe('tcp:[::1]:8080');
  });
});

describe('resources', () => {
  it('whole CPUs → limits.cpu, fractions → a CFS allowance', () => {
    expect(resourceConfig({ cpus: 1 })).toEqual({ 'limits.cpu': '1' });
    expect(resourceConfig({ cpus: 0.5 })).toEqual({ 'limits.cpu.allowance': '50ms/100ms' });
    expect(resourceConfig({ cpus: 1.5 })).toEqual({ 'limits.cpu.allowance': '150ms/100ms' });
    expect(() => resourceConfig({ cpus: 0 })).toThrow(/greater than 0/);
    expect(() => resourceConfig({ memory: 'lots' })).toThrow(/not a valid quantity/);
  });

  it('a disk size needs the profile pool', () => {
    expect(rootDiskDevice(undefined, undefined)).toEqual({});
    expect(() => rootDiskDevice('1Gi', undefined)).toThrow(/storage pool in the default profile/);
  });
});

describe('imageSource', () => {
  it('plain names are local aliases; remote:alias names the simplestreams server', () => {
    expect(imageSource('vendetta-busybox', 'lxd')).toEqual({ type: 'image', alias: 'vendetta-busybox' });
    expect(imageSource('images:debian/12', 'incus')).toEqual({
      type: 'image',
      alias: 'debian/12',
      server: 'https://images.linuxcontainers.org',
      protocol: 'simplestreams',
    });
    expect(imageSource('images:debian/12', 'lxd').server).toBe('https://images.lxd.canonical.com');
    expect(imageSource('ubuntu:24.04', 'lxd').server).toBe('https://cloud-images.ubuntu.com/releases');
    expect(() => imageSource('mine:debian/12', 'lxd')).toThrow(/unknown remote "mine".*lxc image import/);
  });
});

describe('observed state', () => {
  const running = {
    name: 'vendetta-api',
    status: 'Running',
    config: { 'user.vendetta.managed': 'true', 'user.vendetta.name': 'api', 'user.vendetta.spec-hash': 'h1', 'user.vendetta.applyset': 's' },
    state: {
      network: {
        lo: { addresses: [{ family: 'inet', address: '127.0.0.1', scope: 'local' }] },
        eth0: {
          addresses: [
            { family: 'inet6', address: 'fe80::1', scope: 'link' },
            { family: 'inet6', address: 'fd42::5', scope: 'global' },
            { family: 'inet', address: '10.0.0.5', scope: 'global' },
          ],
        },
      },
    },
  };

  it('reads name, hash, apply set and the first global IPv4 address', () => {
    expect(observedFromInstance(running)).toEqual({ name: 'api', provider: 'lxc', specHash: 'h1', applySet: 's', running: true, address: '10.0.0.5', services: [] });
    expect(instanceAddress({ ...running, state: { network: { eth0: { addresses: [{ family: 'inet6', address: 'fd42::5', scope: 'global' }] } } } })).toBe('fd42::5');
    expect(instanceAddress({ ...running, state: null })).toBeUndefined();
  });

  it('a stopped instance has no address; only our instances count', () => {
    expect(observedFromInstance({ ...running, status: 'Stopped' })).toMatchObject({ running: false });
    expect(observedFromInstance({ ...running, status: 'Stopped' }).address).toBeUndefined();
    expect(isManaged(running)).toBe(true);
    expect(isManaged({ ...running, config: {} })).toBe(false);
    expect(isManaged({ ...running, config: { 'user.vendetta.managed': 'true', 'user.vendetta.kind': 'Service' } })).toBe(false);
  });
  it('owner from user.vendetta.owner*; owned without user.vendetta.complete=true is a half-made instance', () => {
    const owned = { ...running.config, 'user.vendetta.owner': 'ab12', 'user.vendetta.owner-name': 'dev@laptop-2:/h' };
    expect(observedFromInstance({ ...running, config: owned })).toMatchObject({ owner: { id: 'ab12', name: 'dev@laptop-2:/h' }, incomplete: true });
    expect(observedFromInstance({ ...running, config: { ...owned, 'user.vendetta.complete': 'true' } })).not.toHaveProperty('incomplete');
    // Made before ownership existed: neither key, complete (it predates the marker).
    expect(observedFromInstance(running)).not.toHaveProperty('incomplete');
    expect(observedFromInstance(running)).not.toHaveProperty('owner');
  });
});

describe('CLI exec argv', () => {
  it('passes argv after --, env and cwd as flags, no stdin unless asked', () => {
    expect(cliExecArgv('lxd', 'vendetta-api', ['sh', '-c', 'echo "$X"'], { env: { X: "a'b" }, cwd: '/tmp' })).toEqual([
      'lxc', 'exec', '--force-local', 'vendetta-api', '--force-noninteractive', '--disable-stdin', '--cwd', '/tmp', '--env', "X=a'b", '--', 'sh', '-c', 'echo "$X"',
    ]);
    expect(cliExecArgv('incus', 'vendetta-api', ['true'], { stdin: true })).toEqual([
      'incus', 'exec', '--force-local', 'vendetta-api', '--force-noninteractive', '--cwd', '/workspace', '--', 'true',
    ]);
    expect(cliExecArgv('lxd', 'i', ['sh'], { tty: true, stdin: true })).toContain('--force-interactive');
  });

  it('points the CLI at the socket', () => {
    expect(cliEnv('lxd', '/var/snap/lxd/common/lxd/unix.socket')).toEqual({ LXD_SOCKET: '/var/snap/lxd/common/lxd/unix.socket', LXD_DIR: '/var/snap/lxd/common/lxd' });
    expect(cliEnv('incus', '/var/lib/incus/unix.socket')).toEqual({ INCUS_SOCKET: '/var/lib/incus/unix.socket', INCUS_DIR: '/var/lib/incus' });
  });
});

describe('parentChain', () => {
  it('lists every directory to make, parents first', () => {
    expect(parentChain('/var/lib/vendetta')).toEqual(['/var', '/var/lib', '/var/lib/vendetta']);
    expect(parentChain('/workspace/')).toEqual(['/workspace']);
  });
});

describe('volumes', () => {
  it('a custom volume per volume in the root pool, attached as a disk device', () => {
    const body = instanceCreateBody(ws('api', { volumes: [{ name: 'data', path: '/srv/data', size: '64Mi' }] }), 's', 'lxd', 'default');
    expect(body.devices['vd-vol-data']).toEqual({ type: 'disk', pool: 'default', source: 'vendetta-api.data', path: '/srv/data' });
    expect(() => instanceCreateBody(ws('api', { volumes: [{ name: 'data', path: 'd' }] }), 's', 'lxd', undefined)).toThrow(/volumes need a root disk with a storage pool/);
    expect(customVolumeBody('a', 'api', { name: 'data', path: 'd', size: '64Mi' })).toEqual({
      name: 'vendetta-api.data',
      config: { 'user.vendetta.managed': 'true', 'user.vendetta.kind': 'Volume', 'user.vendetta.node': 'a', 'user.vendetta.workspace': 'api', 'user.vendetta.volume': 'data', size: `${64 * 2 ** 20}B` },
    });
  });

  it('lists only our volumes of this node', () => {
    const config = customVolumeBody('a', 'api', { name: 'data', path: 'd' }).config;
    expect(
      observedCustomVolumes(
        [
          { name: 'vendetta-api.data', config },
          { name: 'vendetta-api.data', config: { ...config, 'user.vendetta.node': 'b' } },
          { name: 'someone-elses', config: {} },
        ],
        'default',
        'a',
      ),
    ).toEqual([{ workspace: 'api', name: 'data', handle: 'default/vendetta-api.data' }]);
  });
});
