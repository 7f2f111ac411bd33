import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { API_VERSION, type WorkspaceResource } from '../../../../src/model/types.js';
import type { DesiredWorkspace } from '../../../../src/providers/types.js';
import { sourceEntryName } from '../../../../src/providers/docker/archive.js';
import { classifyRequest, dockerClient } from '../../../../src/providers/docker/client.js';
import type { Transport } from '../../../../src/transport/types.js';
import { inspect } from 'node:util';
import {
  observedVolumes,
  volumeLabels,
  AGENT_SCRIPT,
  conflictingPorts,
  containerCreateOptions,
  dockerStateRoot,
  labelledStateDir,
  workspaceStateDir,
  imageNotFoundMessage,
  isPortConflict,
  mergeObserved,
  observedFromContainer,
  portBindings,
  portConflictMessage,
  LABEL_USER,
  RELEASE_STATE_DIR_ARGV,
  isRootUser,
  prepareUserArgv,
  userVolumePaths,
} from '../../../../src/providers/docker/spec.js';

function desired(spec: Partial<WorkspaceResource['spec']> = {}, env: Record<string, string> = {}): DesiredWorkspace {
  return {
    resource: {
      apiVersion: API_VERSION,
      kind: 'Workspace',
      metadata: { name: 'api' },
      spec: { node: 'n1', provider: 'docker', image: 'busybox:1', ...spec },
    },
    specHash: 'abc123',
    owner: { id: '0123456789abcdef', name: 'test@host:/home/test/.vendetta' },
    env,
  };
}

describe('containerCreateOptions', () => {
  it('labels, names and keeps the container alive with an init', () => {
    const opts = containerCreateOptions(desired({}, { A: 'x y', B: '$`;"\n' }), 'set-1', 'busybox:1');
    expect(opts).toMatchObject({
      // Made under a temporary name; the driver renames it to vendetta-api as its last step.
      name: 'vendetta-api.creating',
      Image: 'busybox:1',
      Entrypoint: ['/bin/sh', '-c', AGENT_SCRIPT],
      Cmd: [],
      WorkingDir: '/workspace',
      Env: ['A=x y', 'B=$`;"\n'],
      Labels: {
        'vendetta.dev/managed': 'true',
        'vendetta.dev/kind': 'Workspace',
        'vendetta.dev/name': 'api',
        'vendetta.dev/spec-hash': 'abc123',
        'vendetta.dev/applyset': 'set-1',
        'vendetta.dev/owner': '0123456789abcdef',
        'vendetta.dev/owner-name': 'test@host:/home/test/.vendetta',
      },
      HostConfig: { Init: true },
    });
  });

  it('spec.user: the container\'s Config.User and a label; nothing of either without it', () => {
    const opts = containerCreateOptions(desired({ user: '1000:1000' }), 's', 'i', '/home/u/.vendetta/docker/n1/api');
    expect(opts.User).toBe('1000:1000');
    expect(opts.Labels?.[LABEL_USER]).toBe('1000:1000');
    const plain = containerCreateOptions(desired(), 's', 'i');
    expect(plain).not.toHaveProperty('User');
    expect(plain.Labels).not.toHaveProperty(LABEL_USER);
  });

  it('translates resources to NanoCpus and Memory bytes', () => {
    const opts = containerCreateOptions(desired({ resources: { cpus: 1.5, memory: '512Mi' } }), 's', 'i');
    expect(opts.HostConfig?.NanoCpus).toBe(1_500_000_000);
    expect(opts.HostConfig?.Memory).toBe(512 * 1024 * 1024);
  });

  it('leaves resources unset when not asked for', () => {
    const opts = containerCreateOptions(desired(), 's', 'i');
    expect(opts.HostConfig).not.toHaveProperty('NanoCpus');
    expect(opts.HostConfig).not.toHaveProperty('Memory');
  });

  it('rejects an invalid memory quantity with the field value in the message', () => {
    expect(() => containerCreateOptions(desired({ resources: { memory: 'lots' } }), 's', 'i')).toThrow(/"lots"/);
  });
});

describe('node-side state dirs', () => {
  const node = (name: string, address: string, stateRoot?: string) =>
    ({ apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { address, ...(stateRoot ? { providers: { docker: { stateRoot } } } : {}) } }) as never;

  it('defaults under the SSH home (VENDETTA_HOME on the local node), always per node name', () => {
    expect(dockerStateRoot(node('n1', '10.0.0.1'), '/home/u', '/vh')).toBe('/home/u/.vendetta/docker/n1');
    // Two Nodes on one machine (same user, same home) never share a dir.
    expect(dockerStateRoot(node('n2', '10.0.0.1'), '/home/u', '/vh')).toBe('/home/u/.vendetta/docker/n2');
    expect(dockerStateRoot(node('local', 'local'), '/home/u', '/vh')).toBe('/vh/docker/local');
    expect(dockerStateRoot(node('n1', '10.0.0.1', '~/st'), '/home/u', undefined)).toBe('/home/u/st/n1');
    expect(dockerStateRoot(node('n1', '10.0.0.1', '/srv/v/'), '/home/u', undefined)).toBe('/srv/v/n1');
    expect(() => dockerStateRoot(node('n1', '10.0.0.1', 'rel/dir'), '/home/u', undefined)).toThrow(/node n1: spec.providers.docker.stateRoot must be an absolute path/);
    // Without the home, for a node-side script to resolve: "~/…".
    expect(dockerStateRoot(node('n1', '10.0.0.1'), undefined, '/vh')).toBe('~/.vendetta/docker/n1');
    expect(dockerStateRoot(node('n1', '10.0.0.1', '~'), undefined, undefined)).toBe('~/n1');
    expect(dockerStateRoot(node('local', 'local'), undefined, '/vh')).toBe('/vh/docker/local');
    expect(() => dockerStateRoot(node('n1', '10.0.0.1', 'rel/dir'), undefined, undefined)).toThrow(/must be an absolute path/);
  });

  it('keeps workspace dirs inside the root and trusts a label only for its own workspace and node', () => {
    expect(workspaceStateDir('/r/n1', 'api')).toBe('/r/n1/api');
    expect(() => workspaceStateDir('/r/n1', '../x')).toThrow(/invalid workspace name/);
    const labels = (dir: string) => ({ 'vendetta.dev/state-dir': dir });
    expect(labelledStateDir(labels('/r/n1/api'), 'n1', 'api')).toBe('/r/n1/api');
    expect(labelledStateDir(labels('/r/n1/api'), 'n2', 'api')).toBeUndefined();
    expect(labelledStateDir(labels('/r/n1/other'), 'n1', 'api')).toBeUndefined();
    expect(labelledStateDir(labels('/r/../n1/api'), 'n1', 'api')).toBeUndefined();
    expect(labelledStateDir(labels('r/n1/api'), 'n1', 'api')).toBeUndefined();
    expect(labelledStateDir({}, 'n1', 'api')).toBeUndefined();
  });

  it('bind-mounts the state dir at /var/lib/vendetta and records it in a label', () => {
    const opts = containerCreateOptions(desired(), 's', 'i', '/r/n1/api');
    expect(opts.HostConfig?.Mounts).toEqual([{ Type: 'bind', Source: '/r/n1/api', Target: '/var/lib/vendetta' }]);
    expect(opts.Labels?.['vendetta.dev/state-dir']).toBe('/r/n1/api');
    expect(containerCreateOptions(desired(), 's', 'i').HostConfig?.Mounts).toBeUndefined();
  });
});

describe('portBindings', () => {
  it('maps compose syntax to ExposedPorts and PortBindings, several host ports per container port', () => {
    const { exposed, bindings } = portBindings(['127.0.0.1:8080:3000', '8081:3000', '53:53/udp', '9000']);
    expect(exposed).toEqual({ '3000/tcp': {}, '53/udp': {}, '9000/tcp': {} });
    expect(bindings).toEqual({
      '3000/tcp': [
        { HostIp: '127.0.0.1', HostPort: '8080' },
        { HostIp: '', HostPort: '8081' },
      ],
      '53/udp': [{ HostIp: '', HostPort: '53' }],
      '9000/tcp': [{ HostIp: '', HostPort: '9000' }],
    });
  });

  it('throws on invalid syntax', () => {
    expect(() => portBindings(['80:x'])).toThrow(/not a valid port mapping/);
  });
});

describe('observedFromContainer', () => {
  const info = (state: string, labels: Record<string, string>, name = '/vendetta-api'): Docker.ContainerInfo =>
    ({
      Id: 'c1',
      Names: [name],
      State: state,
      Labels: labels,
      HostConfig: { NetworkMode: 'default' },
      NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2' } } },
    }) as unknown as Docker.ContainerInfo;

  it('reads name, hash, applyset, running and address from labels and network settings', () => {
    const labels = { 'vendetta.dev/name': 'api', 'vendetta.dev/spec-hash': 'h1', 'vendetta.dev/applyset': 'set' };
    expect(observedFromContainer(info('running', labels))).toEqual({
      name: 'api',
      provider: 'docker',
      specHash: 'h1',
      applySet: 'set',
      running: true,
      address: '172.17.0.2',
      services: [],
    });
  });

  it('a stopped container has no address', () => {
    const observed = observedFromContainer(info('exited', { 'vendetta.dev/name': 'api', 'vendetta.dev/spec-hash': 'h1' }));
    expect(observed.running).toBe(false);
    expect(observed).not.toHaveProperty('address');
    expect(observed).not.toHaveProperty('applySet');
  });

  it('reads the owner from its labels; none on containers made before ownership', () => {
    const owned = { 'vendetta.dev/name': 'api', 'vendetta.dev/owner': 'ab12', 'vendetta.dev/owner-name': 'dev@laptop-2:/home/dev/.vendetta' };
    expect(observedFromContainer(info('running', owned)).owner).toEqual({ id: 'ab12', name: 'dev@laptop-2:/home/dev/.vendetta' });
    expect(observedFromContainer(info('running', { 'vendetta.dev/name': 'api' }))).not.toHaveProperty('owner');
  });

  it('a container still under its temporary name is incomplete; renamed, it is complete', () => {
    const labels = { 'vendetta.dev/name': 'api', 'vendetta.dev/owner': 'ab12' };
    expect(observedFromContainer(info('created', labels, '/vendetta-api.creating')).incomplete).toBe(true);
    expect(observedFromContainer(info('created', labels))).not.toHaveProperty('incomplete');
  });

  it('a half-made leftover beside the complete container makes the workspace incomplete (one entry)', () => {
    const labels = { 'vendetta.dev/name': 'api', 'vendetta.dev/owner': 'ab12' };
    const merged = mergeObserved([observedFromContainer(info('running', labels)), observedFromContainer(info('created', labels, '/vendetta-api.creating'))]);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ name: 'api', running: true, incomplete: true });
  });
});

describe('error messages', () => {
  const specs = portBindings(['127.0.0.1:8080:80', '127.0.0.1:9090:90']).specs;

  it('recognises both forms of a port conflict', () => {
    expect(isPortConflict({ json: { message: 'Bind for 127.0.0.1:8080 failed: port is already allocated' } })).toBe(true);
    expect(isPortConflict(new Error('listen tcp4 127.0.0.1:8080: bind: address already in use'))).toBe(true);
    expect(isPortConflict(new Error('no such image'))).toBe(false);
  });

  it('names the conflicting port when Docker says which, all ports otherwise', () => {
    expect(conflictingPorts(new Error('listen tcp4 127.0.0.1:9090: bind: address already in use'), specs)).toEqual(['127.0.0.1:9090']);
    expect(conflictingPorts(new Error('address already in use'), specs)).toEqual(['127.0.0.1:8080', '127.0.0.1:9090']);
  });

  it('port conflict message says workspace, port, node and what to do', () => {
    const msg = portConflictMessage(new Error('Bind for 127.0.0.1:8080 failed: port is already allocated'), 'api', 'n1', specs);
    expect(msg).toMatch(/^workspace api: port 127\.0\.0\.1:8080 is already in use on node n1; .*change spec\.ports/);
  });

  it('missing image message says how to get it there', () => {
    expect(imageNotFoundMessage('x:1', 'n2')).toMatch(/^image x:1 not found on node n2; build or load it there \(docker load \/ docker import\)/);
  });
});

describe('classifyRequest', () => {
  it('separates reads, exec sessions and mutations, with or without an API version prefix', () => {
    expect(classifyRequest('GET', '/containers/json?all=1')).toBe('read');
    expect(classifyRequest('POST', '/v1.41/containers/abc/exec')).toBe('exec');
    expect(classifyRequest('POST', '/exec/abc/start')).toBe('exec');
    expect(classifyRequest('POST', '/containers/create?name=vendetta-api')).toBe('mutating');
    expect(classifyRequest('PUT', '/containers/abc/archive?path=%2F')).toBe('mutating');
    expect(classifyRequest('DELETE', '/v1.41/containers/abc?force=true')).toBe('mutating');
  });
});

describe('dockerClient', () => {
  it('keeps the node connection out of the request options docker-modem inspects on every call', () => {
    // docker-modem runs util.inspect(options, { showHidden: true, depth: null }) per request,
    // debug output on or off; options.agent must not drag the SSH connection's state along.
    const connection = { secret: 'session state that must not be walked' };
    const transport = { node: 'n1', describe: 'dev@n1', connection } as unknown as Transport;
    const docker = dockerClient(transport, '/run/docker.sock');
    const agent = (docker.modem as unknown as { agent: unknown }).agent;
    expect(agent).toBeDefined();
    const text = inspect({ path: '/containers/json', agent }, { showHidden: true, depth: null });
    expect(text).toContain('TransportAgent');
    expect(text).not.toContain('session state');
  });
});

describe('sourceEntryName', () => {
  it('puts the source root and its entries under workspace/', () => {
    expect(sourceEntryName('.')).toBe('workspace');
    expect(sourceEntryName('src/a b.txt')).toBe('workspace/src/a b.txt');
  });
});

describe('volumes', () => {
  it('mounts each named volume at its path (relative: under /workspace) beside the state bind mount', () => {
    const ws = desired({ volumes: [{ name: 'data', path: '/data' }, { name: 'cache', path: '.cache', size: '1Gi' }] });
    expect(containerCreateOptions(ws, 's', 'busybox:1', '/st/n1/api').HostConfig?.Mounts).toEqual([
      { Type: 'bind', Source: '/st/n1/api', Target: '/var/lib/vendetta' },
      { Type: 'volume', Source: 'vendetta-api.data', Target: '/data' },
      { Type: 'volume', Source: 'vendetta-api.cache', Target: '/workspace/.cache' },
    ]);
    expect(containerCreateOptions(desired(), 's', 'busybox:1').HostConfig?.Mounts).toBeUndefined();
    expect(volumeLabels(ws, ws.resource.spec.volumes![1]!, 's')).toMatchObject({ 'vendetta.dev/node': 'n1', 'vendetta.dev/workspace': 'api', 'vendetta.dev/volume': 'cache', 'vendetta.dev/size': '1Gi', 'vendetta.dev/kind': 'Volume' });
  });

  it('lists only our volumes of this node, under the name we give them', () => {
    const ours = { 'vendetta.dev/managed': 'true', 'vendetta.dev/kind': 'Volume', 'vendetta.dev/node': 'n1', 'vendetta.dev/workspace': 'api', 'vendetta.dev/volume': 'data' };
    expect(
      observedVolumes(
        [
          { Name: 'vendetta-api.data', Labels: ours },
          { Name: 'vendetta-api.data', Labels: { ...ours, 'vendetta.dev/node': 'n2' } },
          { Name: 'renamed', Labels: ours },
          { Name: 'other', Labels: null },
        ],
        'n1',
      ),
    ).toEqual([{ workspace: 'api', name: 'data', handle: 'vendetta-api.data' }]);
  });
});

describe('spec.user preparing', () => {
  it('knows root by name or uid', () => {
    expect(isRootUser(undefined)).toBe(true);
    expect(isRootUser('root')).toBe(true);
    expect(isRootUser('0:0')).toBe(true);
    expect(isRootUser('root:staff')).toBe(true);
    expect(isRootUser('1000')).toBe(false);
    expect(isRootUser('node')).toBe(false);
    expect(isRootUser('1000:0')).toBe(false);
  });

  it('hands /workspace to the user with find and chown as words, once, leaving volumes be', () => {
    const argv = prepareUserArgv('1000:1000', userVolumePaths([{ name: 'data', path: 'data' }, { name: 'cache', path: '/cache' }]));
    expect(argv.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(argv[2]).toContain('.user-prepared');
    expect(argv.slice(3)).toEqual([
      'sh', '/var/lib/vendetta',
      'find', '/workspace', '-xdev', '(', '-path', '/workspace/data', '-o', '-path', '/cache', ')', '-prune', '-o',
      '-exec', 'chown', '-h', '1000:1000', '{}', '+',
    ]);
    expect(prepareUserArgv('node').slice(3)).toEqual(['sh', '/var/lib/vendetta', 'find', '/workspace', '-xdev', '-exec', 'chown', '-h', 'node', '{}', '+']);
    // The schema refuses these first; the driver never passes one on.
    expect(() => prepareUserArgv('x; rm -rf /')).toThrow(/invalid spec.user/);
  });

  it('opens up the state dir for the node user before a stop or delete, best effort', () => {
    expect(RELEASE_STATE_DIR_ARGV[2]).toContain('find /var/lib/vendetta -mindepth 1 -type d -exec chmod a+rwx');
    expect(RELEASE_STATE_DIR_ARGV[2]).toMatch(/exit 0$/);
  });
});
