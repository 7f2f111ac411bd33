// Pure translation between vendetta's model and the LXD/Incus REST API: instance bodies, our
// `user.vendetta.*` config keys, proxy devices for ports, observed workspaces, image sources and
// the argv of `lxc exec` / `incus exec`. No I/O here.
import type { ObservedVolume, ObservedWorkspace, VolumeSpec } from '../../model/types.js';
import { volumeMountPath } from '../../model/volumes.js';
import { parsePortSpec, type PortSpec } from '../../model/ports.js';
import { parseQuantity } from '../../model/quantity.js';
import type { DesiredWorkspace } from '../types.js';

export type LxcFlavor = 'lxd' | 'incus';

export const KEY_MANAGED = 'user.vendetta.managed';
export const KEY_KIND = 'user.vendetta.kind';
export const KEY_NAME = 'user.vendetta.name';
export const KEY_SPEC_HASH = 'user.vendetta.spec-hash';
export const KEY_APPLY_SET = 'user.vendetta.applyset';
/** The vendetta store that made it (StoreIdentity.id) and its human name. */
export const KEY_OWNER = 'user.vendetta.owner';
export const KEY_OWNER_NAME = 'user.vendetta.owner-name';
/**
 * Set (PATCHed) as the very last step of create: an instance with an owner but without it is a
 * create that never finished, seen in the same listing call.
 */
export const KEY_COMPLETE = 'user.vendetta.complete';
/** The commit source.git resolved to when the workspace was made. */
export const KEY_GIT_COMMIT = 'user.vendetta.git-commit';
/**
 * The node directory attached at STATE_DIR (./state.ts): where the node reads the workspace's
 * service state. Absent on instances made before node state dirs (read from inside instead).
 */
export const KEY_STATE_DIR = 'user.vendetta.state-dir';
/** Our disk device for it. */
export const STATE_DEVICE = 'vd-state';
/** Disk device of a source that lives on the node (source.onNode). */
export const SOURCE_DEVICE = 'vd-source';

export const WORKSPACE_DIR = '/workspace';
export const STATE_DIR = '/var/lib/vendetta';
/** Our proxy devices are named so; anything else on the instance is the user's or a profile's. */
export const PORT_DEVICE_PREFIX = 'vd-port-';

/** Where the daemon's socket usually is, in the order we try them. */
export const DEFAULT_SOCKETS: ReadonlyArray<{ path: string; flavor: LxcFlavor }> = [
  { path: '/var/lib/lxd/unix.socket', flavor: 'lxd' },
  { path: '/var/snap/lxd/common/lxd/unix.socket', flavor: 'lxd' },
  { path: '/var/lib/incus/unix.socket', flavor: 'incus' },
];

const MAX_INSTANCE_NAME = 63;

export function instanceName(workspace: string): string {
  return `vendetta-${workspace}`;
}

/** Instance names are hostnames (≤ 63 chars): say so before LXD does, with the fix. */
export function checkInstanceName(workspace: string): void {
  const name = instanceName(workspace);
  if (name.length > MAX_INSTANCE_NAME) {
    throw new Error(
      `workspace ${workspace}: instance name ${name} is longer than ${MAX_INSTANCE_NAME} characters (an LXD/Incus limit); ` +
        `use a workspace name of at most ${MAX_INSTANCE_NAME - 'vendetta-'.length} characters`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Image source: "alias" (local on the node) or "remote:alias" (pulled by the daemon).
// ---------------------------------------------------------------------------------------------

export interface ImageSource {
  type: 'image';
  alias: string;
  server?: string;
  protocol?: 'simplestreams' | 'lxd' | 'incus';
}

/** The remotes every `lxc`/`incus` client knows by default, as simplestreams servers. */
export function knownRemotes(flavor: LxcFlavor): Record<string, string> {
  return {
    images: flavor === 'incus' ? 'https://images.linuxcontainers.org' : 'https://images.lxd.canonical.com',
    ubuntu: 'https://cloud-images.ubuntu.com/releases',
    'ubuntu-daily': 'https://cloud-images.ubuntu.com/daily',
  };
}

/** "debian/12" → local alias; "images:debian/12" → that alias on the `images` remote. */
export function imageSource(image: string, flavor: LxcFlavor): ImageSource {
  const colon = image.indexOf(':');
  if (colon < 0) return { type: 'image', alias: image };
  const remote = image.slice(0, colon);
  const alias = image.slice(colon + 1);
  const server = knownRemotes(flavor)[remote];
  if (!server || alias === '') {
    throw new Error(
      `image ${JSON.stringify(image)}: unknown remote "${remote}" (known: ${Object.keys(knownRemotes(flavor)).join(', ')}); ` +
        `import the image on the node and use its local alias instead (${flavor === 'incus' ? 'incus' : 'lxc'} image import … --alias NAME)`,
    );
  }
  return { type: 'image', alias, server, protocol: 'simplestreams' };
}

// ---------------------------------------------------------------------------------------------
// Instance create body.
// ---------------------------------------------------------------------------------------------

export type Device = Record<string, string>;

export function workspaceConfigKeys(ws: DesiredWorkspace, applySet: string): Record<string, string> {
  return {
    [KEY_MANAGED]: 'true',
    [KEY_KIND]: 'Workspace',
    [KEY_NAME]: ws.resource.metadata.name,
    [KEY_SPEC_HASH]: ws.specHash,
    [KEY_APPLY_SET]: applySet,
    [KEY_OWNER]: ws.owner.id,
    [KEY_OWNER_NAME]: ws.owner.name,
  };
}

/** cpus → limits.cpu (whole CPUs) or a CFS allowance (fractions); memory → limits.memory in bytes. */
export function resourceConfig(resources: DesiredWorkspace['resource']['spec']['resources']): Record<string, string> {
  const config: Record<string, string> = {};
  const cpus = resources?.cpus;
  if (cpus !== undefined) {
    if (!(cpus > 0)) throw new Error(`resources.cpus must be greater than 0, got ${cpus}`);
    if (Number.isInteger(cpus)) config['limits.cpu'] = String(cpus);
    else config['limits.cpu.allowance'] = `${Math.round(cpus * 100)}ms/100ms`;
  }
  if (resources?.memory !== undefined) config['limits.memory'] = `${parseQuantity(resources.memory)}B`;
  return config;
}

export function portDeviceName(p: PortSpec): string {
  return `${PORT_DEVICE_PREFIX}${p.hostPort}-${p.protocol}`;
}

/** Compose-syntax ports → proxy devices: listen on the node, connect to the container's loopback. */
export function portDevices(ports: string[] | undefined): Record<string, Device> {
  const devices: Record<string, Device> = {};
  for (const p of (ports ?? []).map(parsePortSpec)) {
    const host = p.hostIp ?? '127.0.0.1';
    const listenHost = host.includes(':') ? `[${host}]` : host;
    const name = portDeviceName(p);
    if (devices[name]) throw new Error(`ports: host port ${p.hostPort}/${p.protocol} is published twice`);
    devices[name] = {
      type: 'proxy',
      listen: `${p.protocol}:${listenHost}:${p.hostPort}`,
      connect: `${p.protocol}:127.0.0.1:${p.containerPort}`,
      bind: 'host',
    };
  }
  return devices;
}

/**
 * The root disk with a size: an instance-level device replaces the profile's one entirely, so it
 * repeats the profile's pool.
 */
export function rootDiskDevice(disk: string | undefined, pool: string | undefined): Record<string, Device> {
  if (disk === undefined) return {};
  if (!pool) throw new Error('resources.disk needs a root disk with a storage pool in the default profile of the node');
  return { root: { type: 'disk', path: '/', pool, size: `${parseQuantity(disk)}B` } };
}

// ----- volumes: custom storage volumes in the instance's pool, attached as disk devices ----------
export const KEY_NODE = 'user.vendetta.node';
export const KEY_WORKSPACE = 'user.vendetta.workspace';
export const KEY_VOLUME = 'user.vendetta.volume';
/** Our volume devices are named so. */
export const VOLUME_DEVICE_PREFIX = 'vd-vol-';

/** "." never occurs in workspace or volume names (DNS labels): no two pairs share a name. */
export function customVolumeName(workspace: string, volume: string): string {
  return `vendetta-${workspace}.${volume}`;
}

/** POST /1.0/storage-pools/<pool>/volumes/custom: our keys say whose it is; size where given. */
export function customVolumeBody(node: string, workspace: string, v: VolumeSpec): { name: string; config: Record<string, string> } {
  return {
    name: customVolumeName(workspace, v.name),
    config: {
      [KEY_MANAGED]: 'true',
      [KEY_KIND]: 'Volume',
      [KEY_NODE]: node,
      [KEY_WORKSPACE]: workspace,
      [KEY_VOLUME]: v.name,
      ...(v.size !== undefined ? { size: `${parseQuantity(v.size)}B` } : {}),
    },
  };
}

/** Is this custom volume the one we make for (node, workspace, volume)? Never touch another. */
export function isOurCustomVolume(config: Record<string, string> | undefined, node: string, workspace: string, volume: string): boolean {
  return config?.[KEY_MANAGED] === 'true' && config[KEY_KIND] === 'Volume' && config[KEY_NODE] === node && config[KEY_WORKSPACE] === workspace && config[KEY_VOLUME] === volume;
}

/** GET …/volumes/custom?recursion=1 entries → ours on this node. */
export function observedCustomVolumes(list: Array<{ name: string; config?: Record<string, string> }>, pool: string, node: string): ObservedVolume[] {
  const out: ObservedVolume[] = [];
  for (const v of list) {
    const workspace = v.config?.[KEY_WORKSPACE];
    const name = v.config?.[KEY_VOLUME];
    if (!workspace || !name || !isOurCustomVolume(v.config, node, workspace, name) || v.name !== customVolumeName(workspace, name)) continue;
    out.push({ workspace, name, handle: `${pool}/${v.name}`, ...(v.config?.size ? { size: v.config.size } : {}) });
  }
  return out;
}

/** Each volume as a disk device of the instance. */
export function volumeDevices(workspace: string, volumes: VolumeSpec[] | undefined, pool: string | undefined): Record<string, Device> {
  if (!volumes?.length) return {};
  if (!pool) throw new Error('volumes need a root disk with a storage pool in the default profile of the node');
  return Object.fromEntries(
    volumes.map((v) => [`${VOLUME_DEVICE_PREFIX}${v.name}`, { type: 'disk', pool, source: customVolumeName(workspace, v.name), path: volumeMountPath(v.path, WORKSPACE_DIR) }]),
  );
}

/** The node directory as a (plain bind) disk device at STATE_DIR; see ./state.ts for why not shifted. */
export function stateDevice(dir: string): Record<string, Device> {
  return { [STATE_DEVICE]: { type: 'disk', source: dir, path: STATE_DIR } };
}

/**
 * `source: {path, onNode: true}`: the node directory itself at WORKSPACE_DIR, not a copy. Shifted
 * (idmapped, so the container sees the node's owners) only where the daemon can: Incus on a kernel
 * with idmapped mounts. LXD 5.0 cannot (see docs/providers.md): there the container sees the
 * files as nobody and its root writes only where "other" may.
 */
export function sourceDevice(source: { path?: string; onNode?: boolean } | undefined, shift: boolean): Record<string, Device> {
  if (!source?.onNode || source.path === undefined) return {};
  return { [SOURCE_DEVICE]: { type: 'disk', source: source.path, path: WORKSPACE_DIR, ...(shift ? { shift: 'true' } : {}) } };
}

export interface InstanceCreateBody {
  name: string;
  type: 'container';
  source: ImageSource;
  config: Record<string, string>;
  devices: Record<string, Device>;
  profiles: string[];
}

export function instanceCreateBody(
  ws: DesiredWorkspace,
  applySet: string,
  flavor: LxcFlavor,
  rootPool: string | undefined,
  stateDir?: string,
  opts: { shiftSource?: boolean } = {},
): InstanceCreateBody {
  const { spec, metadata } = ws.resource;
  if (!spec.image) throw new Error(`workspace ${metadata.name}: spec.image is required for the lxc provider (a local alias on the node, or e.g. images:debian/12)`);
  checkInstanceName(metadata.name);
  // LXD refuses line breaks in environment.*; such values still reach services (the supervisor's
  // env file carries the workspace env), only interactive `exec`/`shell` sessions miss them.
  const env = Object.fromEntries(
    Object.entries(ws.env)
      .filter(([, v]) => !/[\r\n]/.test(v))
      .map(([k, v]) => [`environment.${k}`, v]),
  );
  return {
    name: instanceName(metadata.name),
    type: 'container',
    source: imageSource(spec.image, flavor),
    // environment.* reaches every exec'd command, i.e. every service.
    config: {
      ...env,
      ...resourceConfig(spec.resources),
      ...workspaceConfigKeys(ws, applySet),
      ...(stateDir !== undefined ? { [KEY_STATE_DIR]: stateDir } : {}),
    },
    devices: {
      ...portDevices(spec.ports),
      ...rootDiskDevice(spec.resources?.disk, rootPool),
      ...volumeDevices(metadata.name, spec.volumes, rootPool),
      ...(stateDir !== undefined ? stateDevice(stateDir) : {}),
      ...sourceDevice(spec.source, opts.shiftSource ?? false),
    },
    profiles: ['default'],
  };
}

// ---------------------------------------------------------------------------------------------
// Observed state.
// ---------------------------------------------------------------------------------------------

/** The parts of GET /1.0/instances?recursion=2 we read. */
export interface InstanceInfo {
  name: string;
  status: string;
  config?: Record<string, string>;
  devices?: Record<string, Device>;
  expanded_devices?: Record<string, Device>;
  state?: {
    network?: Record<string, { addresses?: Array<{ family: string; address: string; scope: string }> }> | null;
  } | null;
}

export function isManaged(info: InstanceInfo): boolean {
  return info.config?.[KEY_MANAGED] === 'true' && (info.config?.[KEY_KIND] ?? 'Workspace') === 'Workspace';
}

/** First global IPv4 (else IPv6) address of a NIC other than loopback. */
export function instanceAddress(info: InstanceInfo): string | undefined {
  const nets = Object.entries(info.state?.network ?? {}).filter(([nic]) => nic !== 'lo');
  for (const family of ['inet', 'inet6']) {
    for (const [, net] of nets) {
      const hit = (net.addresses ?? []).find((a) => a.family === family && a.scope === 'global');
      if (hit) return hit.address;
    }
  }
  return undefined;
}

export function observedFromInstance(info: InstanceInfo): ObservedWorkspace {
  const config = info.config ?? {};
  const running = info.status === 'Running';
  const address = running ? instanceAddress(info) : undefined;
  return {
    name: config[KEY_NAME] ?? info.name.replace(/^vendetta-/, ''),
    provider: 'lxc',
    specHash: config[KEY_SPEC_HASH] ?? '',
    ...(config[KEY_APPLY_SET] ? { applySet: config[KEY_APPLY_SET] } : {}),
    ...(config[KEY_OWNER] ? { owner: { id: config[KEY_OWNER], name: config[KEY_OWNER_NAME] ?? config[KEY_OWNER] } } : {}),
    // Instances made before ownership have neither key: complete (they predate the marker).
    ...(config[KEY_OWNER] && config[KEY_COMPLETE] !== 'true' ? { incomplete: true } : {}),
    running,
    ...(config[KEY_GIT_COMMIT] ? { gitCommit: config[KEY_GIT_COMMIT] } : {}),
    ...(address ? { address } : {}),
    services: [],
  };
}

// ---------------------------------------------------------------------------------------------
// `lxc exec` / `incus exec` on the node (see exec.ts for why the CLI and not the exec API).
// ---------------------------------------------------------------------------------------------

export function cliName(flavor: LxcFlavor): string {
  return flavor === 'incus' ? 'incus' : 'lxc';
}

/** Env that points the CLI at the daemon's socket, whatever its default remote is. */
export function cliEnv(flavor: LxcFlavor, socket: string): Record<string, string> {
  const dir = socket.replace(/\/[^/]*$/, '') || '/';
  return flavor === 'incus' ? { INCUS_SOCKET: socket, INCUS_DIR: dir } : { LXD_SOCKET: socket, LXD_DIR: dir };
}

export interface CliExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Pass our stdin through (otherwise the command reads /dev/null). */
  stdin?: boolean;
  /** Allocate a pseudo-terminal inside the container. */
  tty?: boolean;
}

/** argv for running `argv` inside the instance, argument by argument (no shell in between). */
export function cliExecArgv(flavor: LxcFlavor, instance: string, argv: string[], opts: CliExecOptions = {}): string[] {
  const out = [cliName(flavor), 'exec', '--force-local', instance];
  out.push(opts.tty ? '--force-interactive' : '--force-noninteractive');
  if (!opts.stdin && !opts.tty) out.push('--disable-stdin');
  out.push('--cwd', opts.cwd ?? WORKSPACE_DIR);
  for (const [k, v] of Object.entries(opts.env ?? {})) out.push('--env', `${k}=${v}`);
  out.push('--', ...argv);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------

export function installHint(node: string, socket: string | undefined): string {
  const where = socket ? `no LXD/Incus socket at ${socket}` : `no LXD/Incus socket at ${DEFAULT_SOCKETS.map((s) => s.path).join(', ')}`;
  return (
    `install LXD (apt install lxd, or snap install lxd) or Incus (apt install incus) on node ${node}, start it and run "lxd init" / "incus admin init" ` +
    `(${where}); or set spec.providers.lxc.socket on Node ${node}`
  );
}

export function imageNotFoundMessage(image: string, node: string, flavor: LxcFlavor): string {
  const cli = cliName(flavor);
  return (
    `image ${image} not found on node ${node}: no local image alias ${JSON.stringify(image)}; ` +
    `import it there (${cli} image import META ROOTFS --alias ${image}, or ${cli} image copy REMOTE:${image} local: --alias ${image}), ` +
    `or name a remote image such as images:debian/12`
  );
}
