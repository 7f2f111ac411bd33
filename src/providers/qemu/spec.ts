// Pure parts of the QEMU provider: state-dir layout, metadata, the qemu argv, the node-side shell
// scripts (observe, accel probe) and their parsers, address/port choice. No I/O here.
//
// Layout on the node (per login user):
//   ~/.vendetta/qemu/guest_key                  private key vendetta uses to SSH into guests
//   ~/.vendetta/qemu/<node>/<vm>/meta.json      our labels + spec hash + how to relaunch the VM
//   ~/.vendetta/qemu/<node>/<vm>/{qemu.pid, qmp.sock, serial.log, disk.qcow2, seed.img, authorized_keys}
//   ~/.vendetta/qemu/<node>/.volumes/<vm>/<volume>.qcow2   volumes: outside <vm>/, which a recreate
//                                               replaces ("*" never lists ".volumes")
// VMs sit under the Node resource's name because several Node resources may reach the same
// machine and user: each must see only its own VMs.
import { posix } from 'node:path';
import { createHash } from 'node:crypto';
import type { ObservedWorkspace, Owner, VolumeSpec } from '../../model/types.js';
import { volumeMountPath } from '../../model/volumes.js';
import { parsePortSpec } from '../../model/ports.js';
import { parseQuantity } from '../../model/quantity.js';
import { parseServiceStatus } from '../../services/supervisor.js';
import type { DesiredWorkspace } from '../types.js';

export const WORKSPACE_DIR = '/workspace';
export const STATE_DIR = '/var/lib/vendetta';
export const DEFAULT_BINARY = 'qemu-system-x86_64';
export const DEFAULT_CPUS = 1;
export const DEFAULT_MEMORY_MIB = 512;
export const DEFAULT_GUEST_USER = 'root';
export const DEFAULT_GUEST_SSH_PORT = 22;
/** Per-VM loopback addresses on the node: 127.86.x.y (all of 127/8 is local on Linux). */
const ADDRESS_PREFIX = '127.86';
/** Unix sockets paths longer than this do not fit in sockaddr_un. */
const MAX_SOCKET_PATH = 107;

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type Accel = 'kvm' | 'tcg';

export interface PortForward {
  protocol: 'tcp' | 'udp';
  /** "" = every address of the node (compose semantics). */
  hostIp: string;
  hostPort: number;
  guestPort: number;
}

/** Everything needed to (re)launch a VM: start() only gets a name, so this lives in meta.json. */
export interface VmConfig {
  cpus: number;
  memoryMiB: number;
  /** Direct kernel boot. */
  kernel?: string;
  initrd?: string;
  append?: string;
  /** Base disk image the overlay points at (never written). */
  image?: string;
  /** An overlay / blank disk exists in the state dir. */
  disk: boolean;
  /** A cloud-init NoCloud seed exists in the state dir. */
  seed: boolean;
  guestUser: string;
  guestSshPort: number;
  /** No outbound network: QEMU user-net restrict=on. */
  isolated?: boolean;
  ports: PortForward[];
  /** Volume disks: file <volumesDir>/<name>.qcow2, seen in the guest by serial, mounted at mount. */
  volumes?: { name: string; serial: string; mount: string }[];
}

export interface QemuMeta {
  managed: true;
  kind: 'Workspace';
  name: string;
  node: string;
  specHash: string;
  /** Spec hash without env and ports (model/hash.ts): a change of only those is an update in place. */
  shapeHash?: string;
  applySet: string;
  /** The store that made it; absent in metadata written before ownership. */
  owner?: Owner;
  /**
   * false from the first meta.json (written before the first boot, which start() needs) until the
   * first boot restored the source; then true. Owned metadata without it is a half-made VM.
   */
  complete?: boolean;
  /** Desired: running unless stopped on purpose. */
  running: boolean;
  createdAt: string;
  /** The VM's own loopback address on the node: SSH and service ports answer there. */
  address: string;
  /** Node-side port forwarded to the guest's SSH server (chosen at each launch). */
  sshPort?: number;
  accel?: Accel;
  vm: VmConfig;
  /** The commit source.git resolved to when it was made. */
  gitCommit?: string;
}

export interface VmPaths {
  dir: string;
  meta: string;
  pid: string;
  qmp: string;
  serial: string;
  disk: string;
  seed: string;
  seedDir: string;
  authorizedKeys: string;
  /** The workspace source as a tar, extracted into an empty /workspace after each boot. */
  sourceTar: string;
  /** Serial log of the last failed first boot, kept after the VM is removed. */
  failedSerial: string;
  /** This VM's volume disks: beside its directory, not in it (a recreate replaces that). */
  volumesDir: string;
}

export function qemuRoot(home: string): string {
  return posix.join(home, '.vendetta', 'qemu');
}

export function guestKeyPath(root: string): string {
  return `${root}/guest_key`;
}

export function nodeDir(root: string, node: string): string {
  if (!NAME.test(node)) throw new Error(`invalid node name ${JSON.stringify(node)}: use a DNS-1123 label`);
  return `${root}/${node}`;
}

export function vmPaths(root: string, node: string, name: string): VmPaths {
  if (!NAME.test(name)) {
    throw new Error(`invalid workspace name ${JSON.stringify(name)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
  const base = nodeDir(root, node);
  const dir = `${base}/${name}`;
  const paths: VmPaths = {
    dir,
    meta: `${dir}/meta.json`,
    pid: `${dir}/qemu.pid`,
    qmp: `${dir}/qmp.sock`,
    serial: `${dir}/serial.log`,
    disk: `${dir}/disk.qcow2`,
    seed: `${dir}/seed.img`,
    seedDir: `${dir}/seed`,
    authorizedKeys: `${dir}/authorized_keys`,
    sourceTar: `${dir}/source.tar`,
    failedSerial: `${base}/${name}.failed-serial.log`,
    volumesDir: `${base}/.volumes/${name}`,
  };
  if (paths.qmp.length > MAX_SOCKET_PATH) {
    throw new Error(
      `QMP socket path ${paths.qmp} is longer than ${MAX_SOCKET_PATH} characters (a unix socket limit); use a shorter workspace or node name`,
    );
  }
  return paths;
}

export function mebibytes(quantity: string): number {
  return Math.max(1, Math.ceil(parseQuantity(quantity) / 2 ** 20));
}

/** Compose-syntax ports → QEMU user-net forwards. Throws on invalid syntax. */
export function portForwards(ports: string[] | undefined): PortForward[] {
  return (ports ?? []).map((text) => {
    const p = parsePortSpec(text);
    return { protocol: p.protocol, hostIp: p.hostIp ?? '', hostPort: p.hostPort, guestPort: p.containerPort };
  });
}

/** The VM configuration a desired workspace asks for. Throws when it cannot boot at all. */
export function vmConfig(ws: DesiredWorkspace): VmConfig {
  const { spec, metadata } = ws.resource;
  const vm = spec.vm ?? {};
  if (!vm.kernel && !spec.image) {
    throw new Error(
      `workspace ${metadata.name}: the qemu provider needs spec.image (a disk image path on the node, e.g. a cloud image) ` +
        `or spec.vm.kernel (direct kernel boot)`,
    );
  }
  const res = spec.resources ?? {};
  return {
    cpus: Math.max(1, Math.ceil(res.cpus ?? DEFAULT_CPUS)),
    memoryMiB: res.memory ? mebibytes(res.memory) : DEFAULT_MEMORY_MIB,
    ...(vm.kernel ? { kernel: vm.kernel } : {}),
    ...(vm.initrd ? { initrd: vm.initrd } : {}),
    ...(vm.append ? { append: vm.append } : {}),
    ...(spec.image ? { image: spec.image } : {}),
    disk: Boolean(spec.image || res.disk),
    // A disk image without a kernel boots its own bootloader: a cloud image configured by cloud-init.
    seed: Boolean(spec.image && !vm.kernel),
    guestUser: vm.user ?? DEFAULT_GUEST_USER,
    guestSshPort: vm.sshPort ?? DEFAULT_GUEST_SSH_PORT,
    ...(vm.network === 'isolated' ? { isolated: true } : {}),
    ports: portForwards(spec.ports),
    ...(spec.volumes?.length
      ? { volumes: spec.volumes.map((v) => ({ name: v.name, serial: volumeSerial(v.name), mount: volumeMountPath(v.path, WORKSPACE_DIR) })) }
      : {}),
  };
}

/** Size of a volume disk without spec size. */
export const DEFAULT_VOLUME_SIZE = '1Gi';
/** virtio-blk serials hold at most 20 bytes. */
const MAX_SERIAL = 20;

/** The serial the guest finds a volume's disk by: its name, or (too long) a prefix and a digest. */
export function volumeSerial(name: string): string {
  if (name.length <= MAX_SERIAL) return name;
  return `${name.slice(0, MAX_SERIAL - 9)}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

export function volumeFile(paths: Pick<VmPaths, 'volumesDir'>, volume: string): string {
  if (!NAME.test(volume)) throw new Error(`invalid volume name ${JSON.stringify(volume)}: use a DNS-1123 label`);
  return `${paths.volumesDir}/${volume}.qcow2`;
}

/** Makes the volume disks that do not exist yet (qcow2, sized); existing ones are kept as they are. */
export function volumeCreateArgv(paths: Pick<VmPaths, 'volumesDir'>, volumes: VolumeSpec[]): string[] {
  const body = `mkdir -p -m 700 -- "$1" || exit 1
shift
while [ "$#" -ge 2 ]; do
  if [ ! -e "$1" ]; then qemu-img create -q -f qcow2 "$1.tmp" "$2" && mv -f -- "$1.tmp" "$1" || exit 1; fi
  shift 2
done`;
  return ['/bin/sh', '-c', body, 'sh', paths.volumesDir, ...volumes.flatMap((v) => [volumeFile(paths, v.name), String(parseQuantity(v.size ?? DEFAULT_VOLUME_SIZE))])];
}

/**
 * The guest side of volumes, after each boot: find each disk by its serial (the serial file of
 * /sys/block/vd*, else /dev/disk/by-id/virtio-<serial>), format it only when it is blank (its first MiB all zeros:
 * a new qcow2; a disk holding anything is never formatted), mount it at its path. A mounted path
 * is left alone. `owner` gets the root of a freshly formatted volume (a non-root guest user).
 */
export function mountVolumesArgv(volumes: NonNullable<VmConfig['volumes']>, owner: string): string[] {
  const body = `owner=$1
shift
while [ "$#" -ge 2 ]; do
  serial=$1 mnt=$2
  shift 2
  dev=
  for b in /sys/block/vd*; do
    [ -r "$b/serial" ] && [ "$(cat "$b/serial")" = "$serial" ] && dev=/dev/\${b##*/}
  done
  [ -z "$dev" ] && [ -e "/dev/disk/by-id/virtio-$serial" ] && dev=/dev/disk/by-id/virtio-$serial
  [ -n "$dev" ] || { echo "volume disk with serial $serial (for $mnt) not found in the guest" >&2; exit 1; }
  mkdir -p -- "$mnt" || exit 1
  grep -qs " $mnt " /proc/mounts && continue
  fresh=
  if [ -z "$(dd if="$dev" bs=65536 count=16 2>/dev/null | tr -d '\\000' | head -c 1)" ]; then
    if command -v mkfs.ext4 >/dev/null 2>&1; then mkfs.ext4 -q -F "$dev" >/dev/null || exit 1
    elif command -v mke2fs >/dev/null 2>&1; then mke2fs -F "$dev" >/dev/null || exit 1
    else echo "no mkfs.ext4 or mke2fs in the guest to format volume disk $serial" >&2; exit 1
    fi
    fresh=1
  fi
  mount "$dev" "$mnt" || { echo "mounting volume disk $serial ($dev) at $mnt failed: does the guest kernel have ext4?" >&2; exit 1; }
  [ -n "$fresh" ] && chown "$owner" "$mnt"
done
exit 0`;
  return ['/bin/sh', '-c', body, 'sh', owner, ...volumes.flatMap((v) => [v.serial, v.mount])];
}

/** FNV-1a: a stable small hash for address choice. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The VM's loopback address: stable for (node, name) so it survives restarts, moved along when
 * another VM already holds it.
 */
export function chooseVmAddress(node: string, name: string, used: Iterable<string>): string {
  const taken = new Set(used);
  const slots = 256 * 254;
  const start = fnv1a(`${node}/${name}`) % slots;
  for (let i = 0; i < slots; i++) {
    const slot = (start + i) % slots;
    const address = `${ADDRESS_PREFIX}.${Math.floor(slot / 254)}.${(slot % 254) + 1}`;
    if (!taken.has(address)) return address;
  }
  throw new Error(`no free VM address left in ${ADDRESS_PREFIX}.0.0/16`);
}

/** Listening TCP ports from /proc/net/tcp and /proc/net/tcp6 (state 0A = LISTEN). */
export function parseListeningPorts(procNetTcp: string): Set<number> {
  const ports = new Set<number>();
  for (const line of procNetTcp.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== '0A') continue;
    const port = parseInt(cols[1]!.split(':').pop() ?? '', 16);
    if (Number.isFinite(port)) ports.add(port);
  }
  return ports;
}

/** A port for the guest SSH forward: random in [20000, 60000) and not listening on the node. */
export function pickFreePort(listening: Set<number>, random: () => number = Math.random): number {
  for (let i = 0; i < 1000; i++) {
    const port = 20000 + Math.floor(random() * 40000);
    if (!listening.has(port)) return port;
  }
  throw new Error('no free port found between 20000 and 60000 on the node');
}

/** `vendetta.ssh_key=<base64>`: how direct-boot guests learn the key (docs/qemu.md). */
export function sshKeyKernelArg(publicKey: string): string {
  return `vendetta.ssh_key=${Buffer.from(`${publicKey.trim()}\n`).toString('base64')}`;
}

export function kernelAppend(name: string, userAppend: string | undefined, publicKey: string): string {
  const base = userAppend?.trim() || 'console=ttyS0';
  // Without a serial console the log we show in boot errors would stay empty.
  const console = /(^|\s)console=/.test(base) ? '' : ' console=ttyS0';
  return `${base}${console} vendetta.hostname=${name} ${sshKeyKernelArg(publicKey)}`;
}

/** One user-net forward rule as QEMU spells it: `tcp:127.86.1.2:8080-:8080`. */
function forwardRule(f: { protocol: string; hostIp: string; hostPort: number; guestPort: number }): string {
  return `${f.protocol}:${f.hostIp}:${f.hostPort}-:${f.guestPort}`;
}

/**
 * The forwards of the published ports (not guest SSH): every published container port twice — as
 * the user asked (ip:hostPort) and under the same number on the VM's own address, which is where
 * tcp/http health checks (made from the node to runtime.address:port) arrive.
 */
export function publishedForwardRules(meta: Pick<QemuMeta, 'address' | 'vm'>, sshPort: number): string[] {
  const rules: string[] = [];
  const seen = new Set<string>();
  for (const p of meta.vm.ports) {
    const identity = `${p.protocol}/${p.guestPort}`;
    // A wildcard bind of the same number already covers the VM address (and would clash with it).
    const covered = (p.hostIp === '' || p.hostIp === '0.0.0.0') && p.hostPort === p.guestPort;
    if (!covered && !seen.has(identity) && !(p.protocol === 'tcp' && p.guestPort === sshPort)) {
      seen.add(identity);
      rules.push(forwardRule({ protocol: p.protocol, hostIp: meta.address, hostPort: p.guestPort, guestPort: p.guestPort }));
    }
    rules.push(forwardRule(p));
  }
  return [...new Set(rules)];
}

/** User-net forwards: guest SSH on the VM's address, then the published ports. */
export function netdevArg(meta: Pick<QemuMeta, 'address' | 'vm'>, sshPort: number): string {
  const forwards = [
    forwardRule({ protocol: 'tcp', hostIp: meta.address, hostPort: sshPort, guestPort: meta.vm.guestSshPort }),
    ...publishedForwardRules(meta, sshPort),
  ].map((rule) => `hostfwd=${rule}`);
  // restrict=on: the guest reaches nothing but what is forwarded to it (no outbound NAT).
  return ['user', 'id=n0', ...(meta.vm.isolated ? ['restrict=on'] : []), ...forwards].join(',');
}

/** A monitor command and the one that takes it back. */
export interface HostfwdStep {
  run: string;
  undo: string;
}

/**
 * The monitor commands that turn a running VM's published forwards into those of `ports`: removals
 * first (a host port may move to another forward), then additions. Unchanged forwards stay.
 */
export function hostfwdChanges(meta: Pick<QemuMeta, 'address' | 'vm'>, ports: PortForward[], sshPort: number): HostfwdStep[] {
  const before = publishedForwardRules(meta, sshPort);
  const after = publishedForwardRules({ address: meta.address, vm: { ...meta.vm, ports } }, sshPort);
  // hostfwd_remove names the host side only: `tcp:127.86.1.2:8080`
  const add = (rule: string) => `hostfwd_add n0 ${rule}`;
  const remove = (rule: string) => `hostfwd_remove n0 ${rule.slice(0, rule.lastIndexOf('-'))}`;
  return [
    ...before.filter((r) => !after.includes(r)).map((r) => ({ run: remove(r), undo: add(r) })),
    ...after.filter((r) => !before.includes(r)).map((r) => ({ run: add(r), undo: remove(r) })),
  ];
}

/**
 * The reply of `human-monitor-command` to a hostfwd_add/remove, as a failure message or undefined
 * (QMP itself reports success either way). hostfwd_add says nothing when it worked; hostfwd_remove
 * says "host forwarding rule for … removed" (or "… not found").
 */
export function hostfwdFailure(commandLine: string, reply: unknown): string | undefined {
  const text = typeof reply === 'string' ? reply.trim() : '';
  if (commandLine.startsWith('hostfwd_remove')) return /\bremoved$/.test(text) ? undefined : text || 'no reply';
  return text === '' ? undefined : text;
}

export function cpuFor(accel: Accel): string {
  return accel === 'kvm' ? 'host' : 'max';
}

/** The full qemu command line for a launch. The process daemonizes once the VM is set up. */
export function qemuArgv(binary: string, accel: Accel, meta: QemuMeta, paths: VmPaths, sshPort: number, publicKey: string): string[] {
  const { vm } = meta;
  const argv = [
    binary,
    '-name', `vendetta-${meta.name}`,
    '-accel', accel,
    '-cpu', cpuFor(accel),
    '-machine', 'q35',
    '-smp', String(vm.cpus),
    '-m', String(vm.memoryMiB),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-netdev', netdevArg(meta, sshPort),
    '-device', 'virtio-net-pci,netdev=n0',
    '-chardev', `file,id=ser0,path=${paths.serial}`,
    '-serial', 'chardev:ser0',
    '-qmp', `unix:${paths.qmp},server=on,wait=off`,
    '-pidfile', paths.pid,
    '-daemonize',
  ];
  if (vm.disk) argv.push('-drive', `file=${paths.disk},if=virtio,format=qcow2`);
  if (vm.seed) argv.push('-drive', `file=${paths.seed},if=virtio,format=raw,readonly=on`);
  (vm.volumes ?? []).forEach((v, i) => {
    argv.push('-drive', `file=${volumeFile(paths, v.name)},if=none,id=vol${i},format=qcow2`, '-device', `virtio-blk-pci,drive=vol${i},serial=${v.serial}`);
  });
  if (vm.kernel) {
    argv.push('-kernel', vm.kernel);
    if (vm.initrd) argv.push('-initrd', vm.initrd);
    argv.push('-append', kernelAppend(meta.name, vm.append, publicKey));
    argv.push('-fw_cfg', `name=opt/vendetta/authorized_keys,file=${paths.authorizedKeys}`);
  }
  return argv;
}

/** `qemu-img create` for the VM's disk: an overlay on the base image, or a blank disk. */
export function diskCreateArgv(paths: VmPaths, base: { path: string; format: string } | undefined, size: string | undefined): string[] {
  const argv = ['qemu-img', 'create', '-q', '-f', 'qcow2'];
  if (base) argv.push('-b', base.path, '-F', base.format);
  argv.push(paths.disk);
  if (size) argv.push(String(parseQuantity(size)));
  else if (!base) throw new Error('a blank disk needs a size (spec.resources.disk)');
  return argv;
}

/**
 * Decides the accelerator on the node. "auto" really tries KVM: /dev/kvm must be usable by the
 * login user AND a throwaway VM with the same CPU/machine as ours must run its firmware to the
 * end (some hosts open /dev/kvm fine and then fail on the first vCPU run). Prints
 * "missing" | "kvm" | "tcg <reason>".
 */
export function accelProbeArgv(binary: string, wanted: 'auto' | 'kvm' | 'tcg'): string[] {
  const script = `B=$1
command -v "$B" >/dev/null 2>&1 || { echo missing; exit 0; }
[ "$2" = tcg ] && { echo "tcg forced by spec.providers.qemu.accel"; exit 0; }
[ "$2" = kvm ] && { echo kvm; exit 0; }
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "tcg /dev/kvm is missing or not usable by user $(id -un)"; exit 0; fi
if out=$(timeout 30 "$B" -accel kvm -cpu host -machine q35 -m 32 -nodefaults -no-user-config -display none -serial none -no-reboot -boot reboot-timeout=0 2>&1); then
  echo kvm
else
  echo "tcg KVM probe failed: $(printf '%s' "$out" | grep -v '^$' | head -n 1)"
fi`;
  return ['/bin/sh', '-c', script, 'sh', binary, wanted];
}

export function parseAccelProbe(stdout: string): { accel?: Accel; missing: boolean; reason: string } {
  const line = stdout.trim().split('\n').pop() ?? '';
  if (line === 'missing') return { missing: true, reason: 'binary not found' };
  if (line === 'kvm') return { accel: 'kvm', missing: false, reason: 'KVM usable' };
  if (line.startsWith('tcg')) return { accel: 'tcg', missing: false, reason: line.slice(3).trim() };
  return { missing: false, reason: `unexpected probe output: ${line || '(none)'}` };
}

/** One exec listing every VM of this node: its meta.json and whether its qemu process lives. */
export function observeArgv(nodeRoot: string): string[] {
  const script = `[ -d "$1" ] || exit 0
for d in "$1"/*/; do
  d=\${d%/}
  [ -f "$d/meta.json" ] || continue
  printf 'vm\\t%s\\n' "\${d##*/}"
  printf 'meta\\t'; tr -d '\\n' < "$d/meta.json"; printf '\\n'
  p=$(cat "$d/qemu.pid" 2>/dev/null)
  if [ -n "$p" ] && tr '\\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$d/qemu.pid"; then
    echo "alive	$p"
  else
    echo "alive	0"
  fi
done`;
  return ['/bin/sh', '-c', script, 'sh', nodeRoot];
}

export interface ObservedVm {
  meta: QemuMeta;
  /** PID of the live qemu process, 0 when none. */
  pid: number;
}

export function isOurMeta(value: unknown): value is QemuMeta {
  const m = value as Partial<QemuMeta> | null;
  return !!m && m.managed === true && m.kind === 'Workspace' && typeof m.name === 'string' && typeof m.address === 'string' && !!m.vm;
}

/** Parse observeArgv output; directories without our meta.json are not ours and are skipped. */
export function parseObserveOutput(text: string): ObservedVm[] {
  const out: ObservedVm[] = [];
  for (const block of text.split(/^vm\t/m).slice(1)) {
    const metaLine = /^meta\t(.*)$/m.exec(block)?.[1];
    let meta: unknown;
    try {
      meta = metaLine ? JSON.parse(metaLine) : undefined;
    } catch {
      continue;
    }
    if (!isOurMeta(meta)) continue;
    const pid = Number(/^alive\t(\d+)$/m.exec(block)?.[1] ?? 0);
    out.push({ meta, pid });
  }
  return out;
}

export function observedWorkspace(vm: ObservedVm, serviceStatus: string | undefined): ObservedWorkspace {
  return {
    name: vm.meta.name,
    provider: 'qemu',
    specHash: vm.meta.specHash,
    ...(vm.meta.shapeHash ? { shapeHash: vm.meta.shapeHash } : {}),
    applySet: vm.meta.applySet,
    ...(vm.meta.owner ? { owner: { id: vm.meta.owner.id, name: vm.meta.owner.name } } : {}),
    // Metadata from before ownership has neither field: those VMs predate the marker.
    ...(vm.meta.owner && vm.meta.complete !== true ? { incomplete: true } : {}),
    running: vm.pid > 0,
    ...(vm.meta.gitCommit ? { gitCommit: vm.meta.gitCommit } : {}),
    address: vm.meta.address,
    services: serviceStatus === undefined ? [] : parseServiceStatus(serviceStatus),
  };
}

/** Last lines of a serial log, without the carriage returns and escape codes consoles emit. */
export function serialTail(log: string, lines = 20): string {
  const clean = log
    .replace(/\r/g, '')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '');
  return clean.slice(-lines).join('\n');
}

export type BootStage = 'qemu process started' | 'guest SSH reachable' | 'exec in the guest works';

/** The error a user sees when a VM does not come up: what stage, where, the console, what to check. */
export function bootFailureMessage(opts: {
  name: string;
  node: string;
  stage: BootStage;
  reason: string;
  serial: string;
  serialPath: string;
  kernelBoot: boolean;
}): string {
  const check = opts.kernelBoot
    ? 'check spec.vm.kernel/initrd/append; the guest must bring up eth0 (user-net 10.0.2.15/24), start an SSH server ' +
      'and authorize the key passed as vendetta.ssh_key=<base64> or fw_cfg opt/vendetta/authorized_keys (docs/qemu.md)'
    : 'check that spec.image is a cloud image with cloud-init (NoCloud) and an SSH server enabled at boot (docs/qemu.md)';
  const tail = opts.serial.trim() ? opts.serial : '(empty: the guest wrote nothing to ttyS0)';
  return (
    `workspace ${opts.name} on node ${opts.node}: VM did not become ready (stage "${opts.stage}" failed: ${opts.reason}); ${check}. ` +
    `Serial console (${opts.serialPath}), last lines:\n${tail}`
  );
}
