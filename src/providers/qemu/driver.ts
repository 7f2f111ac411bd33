// The QEMU provider: one VM per workspace on the node, a qemu process we find again through its
// state dir (./spec.ts has the layout). Lifecycle through QMP on the VM's unix socket; exec,
// services and health checks reach the guest over SSH tunnelled through the node's connection.
import ssh2, { type Client } from 'ssh2';
import type { ObservedVolume, ObservedWorkspace } from '../../model/types.js';
import { fetchGitTree } from '../git-source.js';
import { parseDuration } from '../../model/quantity.js';
import { TerminalError } from '../../reconcile/retry.js';
import { serviceStatusArgv } from '../../services/supervisor.js';
import { generateEd25519 } from '../../transport/keys.js';
import type { ExecResult, Transport } from '../../transport/types.js';
import { sourceDirOf, type CreatedWorkspace, type DesiredWorkspace, type DriverContext, type ProviderAvailability, type ProviderDriver, type WorkspaceRuntime } from '../types.js';
import { listVolumesArgv, parseVolumeList } from '../volume-dirs.js';
import { guestReadyArgv, metaData, seedBuildArgv, userData } from './cloudinit.js';
import { connectGuest, guestConnect, guestExec, guestSpawn, type GuestTarget } from './guest.js';
import { qmpCommand } from './qmp.js';
import {
  DEFAULT_BINARY,
  STATE_DIR,
  WORKSPACE_DIR,
  accelProbeArgv,
  bootFailureMessage,
  chooseVmAddress,
  diskCreateArgv,
  guestKeyPath,
  hostfwdChanges,
  hostfwdFailure,
  isOurMeta,
  mountVolumesArgv,
  volumeCreateArgv,
  volumeFile,
  nodeDir,
  observedWorkspace,
  observeArgv,
  parseAccelProbe,
  parseListeningPorts,
  parseObserveOutput,
  pickFreePort,
  qemuArgv,
  qemuRoot,
  serialTail,
  vmConfig,
  vmPaths,
  type Accel,
  type BootStage,
  type HostfwdStep,
  type QemuMeta,
  type VmPaths,
} from './spec.js';

/** Knobs for slow hosts and tests (durations like "300s"). */
function bootTimeoutMs(): number {
  return parseDuration(process.env.VENDETTA_QEMU_BOOT_TIMEOUT ?? '300s');
}
function powerdownTimeoutMs(): number {
  return parseDuration(process.env.VENDETTA_QEMU_POWERDOWN_TIMEOUT ?? '30s');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface GuestKey {
  privateKey: string;
  publicKey: string;
}

interface GuestSession {
  client: Client;
  meta: QemuMeta;
}

const sshUtils = ssh2.utils;

function nodeName(ctx: DriverContext): string {
  return ctx.node.metadata.name;
}

function binaryOf(ctx: DriverContext): string {
  return ctx.node.spec.providers?.qemu?.binary ?? DEFAULT_BINARY;
}

function check(res: ExecResult, what: string, ctx: DriverContext, hint?: string): ExecResult {
  if (res.code === 0) return res;
  const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
  throw new Error(`${what} on node ${nodeName(ctx)} failed: ${detail}${hint ? ` (${hint})` : ''}`);
}

function installHint(ctx: DriverContext): string {
  const binary = binaryOf(ctx);
  return binary === DEFAULT_BINARY
    ? `install qemu-system-x86 (and qemu-utils for disk images) on node ${nodeName(ctx)}: sudo apt-get install qemu-system-x86 qemu-utils`
    : `install qemu-system-x86 on node ${nodeName(ctx)}, or fix spec.providers.qemu.binary (${binary} was not found)`;
}

function notInstalled(ctx: DriverContext): TerminalError {
  const hint = installHint(ctx);
  return new TerminalError(`qemu (${binaryOf(ctx)}) is not installed on node ${nodeName(ctx)}: ${hint}`, hint);
}

export function createQemuDriver(): ProviderDriver {
  // Per node connection: the accel decision, the guest key and open guest SSH sessions.
  const accels = new WeakMap<Transport, Promise<ReturnType<typeof parseAccelProbe>>>();
  const keys = new WeakMap<Transport, Promise<GuestKey>>();
  const sessions = new WeakMap<Transport, Map<string, Promise<GuestSession>>>();

  async function rootOf(ctx: DriverContext): Promise<string> {
    return qemuRoot(await ctx.transport.home());
  }

  async function pathsOf(ctx: DriverContext, name: string): Promise<VmPaths> {
    return vmPaths(await rootOf(ctx), nodeName(ctx), name);
  }

  function probeAccel(ctx: DriverContext): Promise<ReturnType<typeof parseAccelProbe>> {
    let p = accels.get(ctx.transport);
    if (!p) {
      const wanted = ctx.node.spec.providers?.qemu?.accel ?? 'auto';
      p = ctx.transport.exec(accelProbeArgv(binaryOf(ctx), wanted), { timeoutMs: 60_000 }).then((r) => parseAccelProbe(r.stdout));
      p.catch(() => accels.delete(ctx.transport));
      accels.set(ctx.transport, p);
    }
    return p;
  }

  async function accelFor(ctx: DriverContext): Promise<Accel> {
    const probe = await probeAccel(ctx);
    if (probe.missing) throw notInstalled(ctx);
    if (!probe.accel) throw new Error(`deciding the accelerator on node ${nodeName(ctx)} failed: ${probe.reason}`);
    return probe.accel;
  }

  /** The node's guest key: read, or generated once. `ln` makes concurrent creators agree on one. */
  function guestKey(ctx: DriverContext): Promise<GuestKey> {
    let p = keys.get(ctx.transport);
    if (!p) {
      p = (async () => {
        const root = await rootOf(ctx);
        const path = guestKeyPath(root);
        let text = await ctx.transport.readFile(path).then((b) => b.toString('utf8'), () => undefined);
        if (text === undefined) {
          // Checked to parse (ssh2's generator emits an unreadable key about once in 300 tries).
          const pair = generateEd25519(`vendetta-guests@${nodeName(ctx)}`);
          check(await ctx.transport.exec(['mkdir', '-p', '-m', '700', root]), `creating ${root}`, ctx);
          const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
          await ctx.transport.writeFile(tmp, pair.private, 0o600);
          const res = await ctx.transport.exec(['/bin/sh', '-c', 'ln "$1" "$2" 2>/dev/null; rm -f "$1"; cat "$2"', 'sh', tmp, path]);
          text = check(res, `storing the guest key ${path}`, ctx).stdout;
        }
        const parsed = sshUtils.parseKey(text);
        if (parsed instanceof Error || Array.isArray(parsed)) {
          throw new Error(`the guest key ${path} on node ${nodeName(ctx)} is unreadable; remove it to have a new one generated`);
        }
        return { privateKey: text, publicKey: `${parsed.type} ${parsed.getPublicSSH().toString('base64')} vendetta-guests` };
      })();
      p.catch(() => keys.delete(ctx.transport));
      keys.set(ctx.transport, p);
    }
    return p;
  }

  async function readMeta(ctx: DriverContext, paths: VmPaths): Promise<QemuMeta | undefined> {
    let text: string;
    try {
      text = (await ctx.transport.readFile(paths.meta)).toString('utf8');
    } catch {
      return undefined;
    }
    const meta: unknown = JSON.parse(text);
    if (!isOurMeta(meta)) throw new Error(`${paths.meta} on node ${nodeName(ctx)} is not managed by vendetta`);
    return meta;
  }

  async function writeMeta(ctx: DriverContext, paths: VmPaths, meta: QemuMeta): Promise<void> {
    await ctx.transport.writeFile(paths.meta, `${JSON.stringify(meta)}\n`, 0o644);
  }

  /** PID of the VM's live qemu process, 0 when none (the cmdline check guards against PID reuse). */
  async function livePid(ctx: DriverContext, paths: VmPaths): Promise<number> {
    const res = await ctx.transport.exec([
      '/bin/sh',
      '-c',
      `p=$(cat "$1" 2>/dev/null); if [ -n "$p" ] && tr '\\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$1"; then echo "$p"; else echo 0; fi`,
      'sh',
      paths.pid,
    ]);
    return Number(res.stdout.trim()) || 0;
  }

  async function consoleTail(ctx: DriverContext, paths: VmPaths, file = paths.serial): Promise<string> {
    const res = await ctx.transport.exec(['tail', '-n', '60', file]).catch(() => undefined);
    return serialTail(res?.stdout ?? '', 20);
  }

  function guestTarget(ctx: DriverContext, meta: QemuMeta, key: GuestKey): GuestTarget {
    return {
      where: `workspace ${meta.name} on node ${nodeName(ctx)}`,
      user: meta.vm.guestUser,
      privateKey: key.privateKey,
      open: () => ctx.transport.connectTcp(meta.address, meta.sshPort ?? 0),
    };
  }

  function sessionMap(ctx: DriverContext): Map<string, Promise<GuestSession>> {
    let m = sessions.get(ctx.transport);
    if (!m) sessions.set(ctx.transport, (m = new Map()));
    return m;
  }

  /** Cache a session (pending or open) until its SSH connection closes. */
  function remember(ctx: DriverContext, name: string, pending: Promise<GuestSession>): Promise<GuestSession> {
    const map = sessionMap(ctx);
    map.set(name, pending);
    const drop = () => {
      if (map.get(name) === pending) map.delete(name);
    };
    pending.then((s) => s.client.once('close', drop), drop);
    return pending;
  }

  function forget(ctx: DriverContext, name: string): void {
    const map = sessionMap(ctx);
    const p = map.get(name);
    map.delete(name);
    p?.then((s) => s.client.end(), () => {});
  }

  async function qmp(ctx: DriverContext, paths: VmPaths, command: string, closeIsSuccess = false, args?: Record<string, unknown>): Promise<unknown> {
    const stream = await ctx.transport.connectUnix(paths.qmp);
    return qmpCommand(stream, command, args, { timeoutMs: 10_000, closeIsSuccess });
  }

  /** One monitor command (hostfwd_add/remove have no QMP equivalent); throws with its message when it failed. */
  async function monitor(ctx: DriverContext, paths: VmPaths, commandLine: string): Promise<void> {
    const failure = hostfwdFailure(commandLine, await qmp(ctx, paths, 'human-monitor-command', false, { 'command-line': commandLine }));
    if (failure) throw new Error(`${commandLine}: ${failure}`);
  }

  async function waitGone(ctx: DriverContext, paths: VmPaths, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if ((await livePid(ctx, paths)) === 0) return true;
      if (Date.now() >= deadline) return false;
      await sleep(250);
    }
  }

  /** Graceful (ACPI powerdown, when asked), then QMP quit, then SIGKILL by PID. */
  /** flush: a VM that booted fine is stopped or deleted; its guest writes its volumes out first. */
  async function halt(ctx: DriverContext, name: string, paths: VmPaths, graceful: boolean, flush = false): Promise<void> {
    const pid = await livePid(ctx, paths);
    if (pid > 0 && flush) await flushVolumes(ctx, name, paths);
    forget(ctx, name);
    if (pid === 0) return;
    if (graceful) {
      ctx.progress?.(`powering down VM ${name} (ACPI, up to ${powerdownTimeoutMs() / 1000}s)`);
      const sent = await qmp(ctx, paths, 'system_powerdown').then(() => true, () => false);
      if (sent && (await waitGone(ctx, paths, powerdownTimeoutMs()))) return;
    }
    await qmp(ctx, paths, 'quit', true).catch(() => undefined);
    if (await waitGone(ctx, paths, 5_000)) return;
    await ctx.transport.exec(['kill', '-9', String(pid)]);
    if (!(await waitGone(ctx, paths, 5_000))) {
      throw new Error(`qemu (pid ${pid}) of workspace ${name} on node ${nodeName(ctx)} did not exit after SIGKILL`);
    }
  }

  /**
   * A VM about to be killed (QMP quit, SIGKILL) loses what its guest has not written out: its
   * volumes' data first of all. So the guest syncs first. Best effort and bounded: a guest that
   * does not answer is stopped anyway.
   */
  async function flushVolumes(ctx: DriverContext, name: string, paths: VmPaths): Promise<void> {
    const meta = await readMeta(ctx, paths).catch(() => undefined);
    if (!meta?.vm.volumes?.length) return;
    const sync = (async () => {
      const s = await session(ctx, name);
      await guestExec(s.client, `workspace ${name} on node ${nodeName(ctx)}`, meta.vm.guestUser === 'root' ? ['sync'] : ['sudo', '-n', 'sync'], { timeoutMs: 15_000 });
    })();
    await Promise.race([sync.catch(() => undefined), sleep(20_000)]);
  }

  /** firstBoot: a failed create is undone and its console kept at failedSerial, so point there. */
  function bootError(ctx: DriverContext, meta: QemuMeta, paths: VmPaths, stage: BootStage, reason: string, serial: string, firstBoot: boolean): TerminalError {
    const serialPath = firstBoot ? paths.failedSerial : paths.serial;
    return new TerminalError(
      bootFailureMessage({ name: meta.name, node: nodeName(ctx), stage, reason, serial, serialPath, kernelBoot: !!meta.vm.kernel }),
      `the VM is ${meta.vm.kernel ? 'a direct kernel boot' : 'a disk image boot'}; \`vendetta describe workspace/${meta.name}\` shows this error`,
    );
  }

  /** Staged readiness: qemu up → guest SSH login → exec works. Returns the open guest session. */
  async function waitReady(ctx: DriverContext, paths: VmPaths, meta: QemuMeta, key: GuestKey, firstBoot: boolean): Promise<GuestSession> {
    const started = Date.now();
    const deadline = started + bootTimeoutMs();
    const target = guestTarget(ctx, meta, key);
    let client: Client | undefined;
    let lastError = '';
    while (!client) {
      try {
        client = await connectGuest(target, Math.max(1_000, Math.min(10_000, deadline - Date.now())));
      } catch (err) {
        lastError = (err as Error).message;
        if ((await livePid(ctx, paths)) === 0) {
          throw bootError(ctx, meta, paths, 'qemu process started', 'the qemu process exited during boot', await consoleTail(ctx, paths), firstBoot);
        }
        if (Date.now() >= deadline) {
          const reason = `no SSH login as ${meta.vm.guestUser} within ${Math.round(bootTimeoutMs() / 1000)}s (last error: ${lastError})`;
          const serial = await consoleTail(ctx, paths);
          await halt(ctx, meta.name, paths, false).catch(() => undefined);
          throw bootError(ctx, meta, paths, 'guest SSH reachable', reason, serial, firstBoot);
        }
        await sleep(1_000);
      }
    }
    ctx.progress?.(`VM ${meta.name}: guest SSH reachable after ${((Date.now() - started) / 1000).toFixed(1)}s`);
    // A cloud-init guest may still be running its final stage: give it what is left of the boot timeout.
    const readyTimeoutMs = meta.vm.seed ? Math.max(30_000, deadline - Date.now()) : 30_000;
    const res = await guestExec(client, target.where, guestReadyArgv(meta.vm.seed), { timeoutMs: readyTimeoutMs }).catch(
      (err: Error) => ({ code: -1, stdout: '', stderr: err.message }),
    );
    if (res.code !== 0) {
      client.end();
      throw bootError(ctx, meta, paths, 'exec in the guest works', `mkdir -p ${WORKSPACE_DIR} ${STATE_DIR}: ${res.stderr.trim() || `exit ${res.code}`}`, await consoleTail(ctx, paths), firstBoot);
    }
    return { client, meta };
  }

  /** Start qemu for an existing state dir and wait until the guest answers. */
  async function launch(ctx: DriverContext, paths: VmPaths, meta: QemuMeta, firstBoot = false): Promise<GuestSession> {
    const accel = await accelFor(ctx);
    const key = await guestKey(ctx);
    const binary = binaryOf(ctx);
    let launched: QemuMeta | undefined;
    for (let attempt = 1; !launched; attempt++) {
      const procNet = await ctx.transport.exec(['cat', '/proc/net/tcp', '/proc/net/tcp6']);
      const sshPort = pickFreePort(parseListeningPorts(procNet.stdout));
      check(await ctx.transport.exec(['rm', '-f', '--', paths.serial, paths.qmp, paths.pid]), `clearing ${paths.dir}`, ctx);
      ctx.progress?.(`booting VM ${meta.name} on node ${nodeName(ctx)} (${accel}, ${meta.vm.cpus} cpu, ${meta.vm.memoryMiB} MiB)`);
      const res = await ctx.transport.exec(qemuArgv(binary, accel, meta, paths, sshPort, key.publicKey), { timeoutMs: 60_000 });
      if (res.code === 0) {
        launched = { ...meta, sshPort, accel, running: true };
        break;
      }
      const stderr = res.stderr.trim() || `exit code ${res.code}`;
      // Another process took the SSH forward port between our look and qemu's bind: pick again.
      if (stderr.includes(`:${sshPort}-:`) && attempt < 3) continue;
      if (res.code === 127) throw notInstalled(ctx);
      const portHint = /host forwarding rule/i.test(stderr) ? ': a published port (spec.ports) is already in use on the node' : '';
      throw new TerminalError(`qemu failed to start workspace ${meta.name} on node ${nodeName(ctx)}${portHint}: ${stderr}`);
    }
    await writeMeta(ctx, paths, launched);
    const ready = waitReady(ctx, paths, launched, key, firstBoot).then(async (s) => {
      await restoreSource(ctx, paths, s);
      // After the source: a volume under /workspace must not make it look already restored.
      await mountVolumes(ctx, s);
      return s;
    });
    return remember(ctx, meta.name, ready);
  }

  /**
   * The source tree is kept on the node (source.tar) and extracted into an empty /workspace after
   * each boot: guests whose root is an initramfs start empty every time; disk guests keep theirs.
   */
  async function restoreSource(ctx: DriverContext, paths: VmPaths, s: GuestSession): Promise<void> {
    const tar = await ctx.transport.readFile(paths.sourceTar).catch(() => undefined);
    if (!tar) return;
    const where = `workspace ${s.meta.name} on node ${nodeName(ctx)}`;
    const empty = await guestExec(s.client, where, ['/bin/sh', '-c', '[ -z "$(ls -A "$1" 2>/dev/null)" ]', 'sh', WORKSPACE_DIR]);
    if (empty.code !== 0) return;
    ctx.progress?.(`copying the source into ${s.meta.name}:${WORKSPACE_DIR}`);
    const res = await guestExec(s.client, where, ['tar', '-x', '-f', '-', '-C', '/'], { stdin: tar, timeoutMs: 300_000 });
    if (res.code !== 0) throw new Error(`extracting the source into ${where} failed: ${res.stderr.trim() || `tar exit ${res.code}`}`);
  }

  /** Formats (first use only) and mounts the volume disks in the guest, after every boot. */
  async function mountVolumes(ctx: DriverContext, s: GuestSession): Promise<void> {
    const volumes = s.meta.vm.volumes ?? [];
    if (volumes.length === 0) return;
    const where = `workspace ${s.meta.name} on node ${nodeName(ctx)}`;
    const user = s.meta.vm.guestUser;
    // Mounting needs root: a cloud image's own user has passwordless sudo (see cloudinit.ts).
    const argv = [...(user === 'root' ? [] : ['sudo', '-n']), ...mountVolumesArgv(volumes, user)];
    const res = await guestExec(s.client, where, argv, { timeoutMs: 120_000 });
    if (res.code !== 0) throw new TerminalError(`mounting the volumes of ${where} failed: ${res.stderr.trim() || `exit ${res.code}`}`);
  }

  /** The source tree as one tar (paths under /workspace), stored on the node for every boot. */
  async function storeSource(ctx: DriverContext, paths: VmPaths, sourcePath: string): Promise<void> {
    const chunks: Buffer[] = [];
    const { workspaceArchive } = await import('../docker/archive.js');
    for await (const chunk of workspaceArchive(sourcePath)) chunks.push(chunk as Buffer);
    await ctx.transport.writeFile(paths.sourceTar, Buffer.concat(chunks), 0o600);
  }

  /** Build disk overlay, cloud-init seed and the fw_cfg key file for a new VM. */
  async function prepareDisks(ctx: DriverContext, ws: DesiredWorkspace, paths: VmPaths, meta: QemuMeta, key: GuestKey): Promise<void> {
    const { vm } = meta;
    const name = meta.name;
    const size = ws.resource.spec.resources?.disk;
    if (vm.image) {
      const info = await ctx.transport.exec(['qemu-img', 'info', '--output=json', '--', vm.image]);
      if (info.code === 127) throw new TerminalError(`qemu-img is not installed on node ${nodeName(ctx)}: ${installHint(ctx)}`, installHint(ctx));
      check(info, `reading the disk image ${vm.image} for workspace ${name}`, ctx, 'spec.image must be a disk image path on the node');
      const format = (JSON.parse(info.stdout) as { format?: string }).format ?? 'raw';
      ctx.progress?.(`creating a qcow2 overlay on ${vm.image} (${format})`);
      check(await ctx.transport.exec(diskCreateArgv(paths, { path: vm.image, format }, size)), `creating the disk overlay of workspace ${name}`, ctx);
    } else if (vm.disk && size) {
      check(await ctx.transport.exec(diskCreateArgv(paths, undefined, size)), `creating the disk of workspace ${name}`, ctx);
    }
    const volumes = ws.resource.spec.volumes ?? [];
    if (volumes.length > 0) {
      ctx.progress?.(`making volume disks (kept ones are reused) in ${paths.volumesDir}`);
      check(await ctx.transport.exec(volumeCreateArgv(paths, volumes)), `creating the volume disks of workspace ${name}`, ctx);
    }
    if (vm.seed) {
      const seed = { name, user: vm.guestUser, publicKey: key.publicKey };
      check(await ctx.transport.exec(['mkdir', '-p', paths.seedDir]), `creating ${paths.seedDir}`, ctx);
      await ctx.transport.writeFile(`${paths.seedDir}/user-data`, userData(seed), 0o644);
      await ctx.transport.writeFile(`${paths.seedDir}/meta-data`, metaData(seed), 0o644);
      check(await ctx.transport.exec(seedBuildArgv(paths.seedDir, paths.seed)), `building the cloud-init seed of workspace ${name}`, ctx);
    }
    await ctx.transport.writeFile(paths.authorizedKeys, `${key.publicKey}\n`, 0o644);
  }

  async function requireMeta(ctx: DriverContext, name: string): Promise<{ paths: VmPaths; meta: QemuMeta }> {
    const paths = await pathsOf(ctx, name);
    const meta = await readMeta(ctx, paths);
    if (!meta) throw new Error(`workspace ${name} does not exist on node ${nodeName(ctx)} (no ${paths.meta}); apply it to create it`);
    return { paths, meta };
  }

  /** The open guest session of a running VM; one per VM and node connection, opened on demand. */
  function session(ctx: DriverContext, name: string): Promise<GuestSession> {
    return sessionMap(ctx).get(name) ?? remember(ctx, name, openSession(ctx, name));
  }

  async function openSession(ctx: DriverContext, name: string): Promise<GuestSession> {
    const { paths, meta } = await requireMeta(ctx, name);
    if ((await livePid(ctx, paths)) === 0) {
      throw new Error(`workspace ${name} on node ${nodeName(ctx)} is stopped (no qemu process); set state: running and apply to start it`);
    }
    const key = await guestKey(ctx);
    try {
      return { client: await connectGuest(guestTarget(ctx, meta, key)), meta };
    } catch (err) {
      throw new Error(
        `${(err as Error).message}. Serial console (${paths.serial}), last lines:\n${(await consoleTail(ctx, paths)) || '(empty)'}`,
        { cause: err },
      );
    }
  }

  return {
    name: 'qemu',

    async diagnostics(ctx, name): Promise<Record<string, string>> {
      const tail = await consoleTail(ctx, await pathsOf(ctx, name));
      return { 'Serial console (last lines)': tail || '<empty>' };
    },

    async availability(ctx): Promise<ProviderAvailability> {
      const binary = binaryOf(ctx);
      const res = await ctx.transport.exec([
        '/bin/sh',
        '-c',
        'command -v "$1" >/dev/null 2>&1 || { echo missing; exit 0; }; "$1" --version 2>/dev/null | head -n 1; command -v qemu-img >/dev/null 2>&1 || echo no-qemu-img',
        'sh',
        binary,
      ]);
      const lines = res.stdout.trim().split('\n');
      if (lines[0] === 'missing') {
        return { available: false, detail: `${binary} not found on node ${nodeName(ctx)}`, hint: installHint(ctx) };
      }
      const probe = await probeAccel(ctx);
      const version = /version ([0-9.]+)/.exec(lines[0] ?? '')?.[1] ?? lines[0];
      const noImg = lines.includes('no-qemu-img') ? '; qemu-img missing: disk images unusable (install qemu-utils)' : '';
      return { available: true, ...(version ? { version } : {}), detail: `${probe.accel ?? 'unknown'}: ${probe.reason}${noImg}` };
    },

    async observe(ctx): Promise<ObservedWorkspace[]> {
      const root = await rootOf(ctx);
      const res = await ctx.transport.exec(observeArgv(nodeDir(root, nodeName(ctx))));
      check(res, 'listing qemu workspaces', ctx);
      const vms = parseObserveOutput(res.stdout);
      // Service status needs the guest; a guest that does not answer shows no services.
      return Promise.all(
        vms.map(async (vm) => {
          if (vm.pid === 0) return observedWorkspace(vm, undefined);
          const status = await session(ctx, vm.meta.name)
            .then((s) => guestExec(s.client, `workspace ${vm.meta.name}`, serviceStatusArgv(STATE_DIR), { timeoutMs: 15_000 }))
            .then((r) => (r.code === 0 ? r.stdout : undefined))
            .catch(() => undefined);
          return observedWorkspace(vm, status);
        }),
      );
    },

    async create(ctx, ws: DesiredWorkspace): Promise<CreatedWorkspace | undefined> {
      const name = ws.resource.metadata.name;
      const node = nodeName(ctx);
      const vm = vmConfig(ws); // validates image/kernel, ports, quantities
      await accelFor(ctx); // qemu missing: say so before leaving anything on the node
      const paths = await pathsOf(ctx, name);
      if (await readMeta(ctx, paths)) {
        throw new Error(`workspace ${name}: a VM with that name already exists on node ${node} (${paths.dir}); delete it first`);
      }
      // A directory without meta.json is a half-made VM from an interrupted create: clear it.
      await halt(ctx, name, paths, false);
      const root = await rootOf(ctx);
      const used = await ctx.transport.exec(['/bin/sh', '-c', 'cat "$1"/*/*/meta.json 2>/dev/null; true', 'sh', root]);
      const addresses = [...used.stdout.matchAll(/"address":"([0-9.]+)"/g)].map((m) => m[1]!);
      check(
        await ctx.transport.exec(['/bin/sh', '-c', 'rm -rf -- "$1" "$2" && mkdir -p -m 700 "$1"', 'sh', paths.dir, paths.failedSerial]),
        `creating ${paths.dir}`,
        ctx,
      );
      const key = await guestKey(ctx);
      const meta: QemuMeta = {
        managed: true,
        kind: 'Workspace',
        name,
        node,
        specHash: ws.specHash,
        ...(ws.shapeHash ? { shapeHash: ws.shapeHash } : {}),
        applySet: ctx.applySet,
        owner: ws.owner,
        complete: false,
        running: ws.resource.spec.state !== 'stopped',
        createdAt: new Date().toISOString(),
        address: chooseVmAddress(node, name, addresses),
        vm,
      };
      try {
        const source = ws.resource.spec.source;
        await prepareDisks(ctx, ws, paths, meta, key);
        const sourceDir = sourceDirOf(ws);
        if (source?.path && sourceDir) {
          ctx.progress?.(`copying ${source.path} to node ${node}`);
          await storeSource(ctx, paths, sourceDir);
        } else if (source?.git) {
          // Fetched on the node straight into the stored source.tar every boot restores.
          meta.gitCommit = await fetchGitTree(ctx.transport, source.git, { file: paths.sourceTar, prefix: `${WORKSPACE_DIR.replace(/^\/+/, '')}/` }, ctx.progress);
        }
        // meta.json before the boot: start() needs it; an undone create removes the directory.
        await writeMeta(ctx, paths, meta);
        if (meta.running) await launch(ctx, paths, meta, true);
        // Last step: the VM is made (launch rewrote meta.json with its port; keep that).
        const made = (await readMeta(ctx, paths)) ?? meta;
        await writeMeta(ctx, paths, { ...made, complete: true });
        return meta.gitCommit ? { gitCommit: meta.gitCommit } : undefined;
      } catch (err) {
        // Undo, so the next observation does not see a half-made VM; keep the console for debugging.
        await halt(ctx, name, paths, false).catch(() => undefined);
        await ctx.transport
          .exec(['/bin/sh', '-c', '[ -s "$1" ] && cp "$1" "$2"; rm -rf -- "$3"', 'sh', paths.serial, paths.failedSerial, paths.dir])
          .catch(() => undefined);
        throw err;
      }
    },

    /**
     * Only env or ports changed (the shape hash says so). Env needs nothing here: services get it
     * through their env file and the planner restarts those whose env changed. Ports: a running
     * VM's user-net forwards are changed through the monitor, without a reboot; a stopped VM gets
     * them at its next launch from meta.json. A forward that cannot be added (host port in use)
     * puts back the ones already changed and fails, leaving meta.json as it was.
     */
    async update(ctx, ws: DesiredWorkspace): Promise<void> {
      const name = ws.resource.metadata.name;
      const { paths, meta } = await requireMeta(ctx, name);
      const ports = vmConfig(ws).ports; // validates the new ports
      if ((await livePid(ctx, paths)) > 0 && meta.sshPort !== undefined) {
        const done: HostfwdStep[] = [];
        try {
          for (const step of hostfwdChanges(meta, ports, meta.sshPort)) {
            ctx.progress?.(`VM ${name}: ${step.run}`);
            await monitor(ctx, paths, step.run);
            done.push(step);
          }
        } catch (err) {
          // Back to the forwards meta.json describes, newest change first.
          for (const step of done.reverse()) await monitor(ctx, paths, step.undo).catch(() => undefined);
          const detail = (err as Error).message;
          throw new TerminalError(
            `workspace ${name}: cannot change its published ports on node ${nodeName(ctx)} (${detail})` +
              (/could not set up/i.test(detail) ? ': a published port (spec.ports) is already in use on the node; free it or pick another' : ''),
          );
        }
      }
      await writeMeta(ctx, paths, { ...meta, specHash: ws.specHash, ...(ws.shapeHash ? { shapeHash: ws.shapeHash } : {}), vm: { ...meta.vm, ports } });
    },

    async start(ctx, name): Promise<void> {
      const { paths, meta } = await requireMeta(ctx, name);
      if ((await livePid(ctx, paths)) > 0) {
        if (!meta.running) await writeMeta(ctx, paths, { ...meta, running: true });
        return;
      }
      try {
        await launch(ctx, paths, meta);
      } catch (err) {
        await halt(ctx, name, paths, false).catch(() => undefined);
        throw err;
      }
    },

    async stop(ctx, name): Promise<void> {
      const paths = await pathsOf(ctx, name);
      const meta = await readMeta(ctx, paths);
      if (!meta) return;
      await halt(ctx, name, paths, true, true);
      if (meta.running) await writeMeta(ctx, paths, { ...meta, running: false });
    },

    async delete(ctx, name): Promise<void> {
      const paths = await pathsOf(ctx, name);
      const meta = await readMeta(ctx, paths);
      const exists = await ctx.transport.exec(['test', '-d', paths.dir]);
      if (!meta && exists.code !== 0) return;
      await halt(ctx, name, paths, false, true);
      const res = await ctx.transport.exec([
        '/bin/sh',
        '-c',
        'rm -rf -- "$1" "$2" && { rmdir "$3" 2>/dev/null; true; }',
        'sh',
        paths.dir,
        paths.failedSerial,
        nodeDir(await rootOf(ctx), nodeName(ctx)),
      ]);
      check(res, `removing ${paths.dir}`, ctx);
    },

    async listVolumes(ctx, workspaces): Promise<ObservedVolume[]> {
      if (workspaces?.length === 0) return [];
      const res = await ctx.transport.exec(listVolumesArgv(nodeDir(await rootOf(ctx), nodeName(ctx)), 'qcow2', workspaces));
      check(res, 'listing qemu volume disks', ctx);
      return parseVolumeList(res.stdout, 'qcow2');
    },

    async deleteVolumes(ctx, volumes): Promise<void> {
      if (volumes.length === 0) return;
      const root = await rootOf(ctx);
      // Only the files we make: a handle is never trusted as a path to remove.
      const files = volumes.map((v) => volumeFile(vmPaths(root, nodeName(ctx), v.workspace), v.name));
      const dirs = [...new Set(volumes.map((v) => vmPaths(root, nodeName(ctx), v.workspace).volumesDir))];
      const res = await ctx.transport.exec(['/bin/sh', '-c', 'n=$1; shift; while [ "$n" -gt 0 ]; do rm -f -- "$1" || exit 1; shift; n=$((n - 1)); done; rmdir -- "$@" 2>/dev/null; exit 0', 'sh', String(files.length), ...files, ...dirs]);
      check(res, 'removing qemu volume disks', ctx);
    },

    async runtime(ctx, name): Promise<WorkspaceRuntime> {
      const s = await session(ctx, name);
      const where = `workspace ${name} on node ${nodeName(ctx)}`;
      return {
        workspaceDir: WORKSPACE_DIR,
        stateDir: STATE_DIR,
        address: s.meta.address,
        exec: (argv, opts) => guestExec(s.client, where, argv, { ...opts, cwd: opts?.cwd ?? WORKSPACE_DIR }),
        spawn: (argv, opts) => guestSpawn(s.client, where, argv, { ...opts, cwd: opts?.cwd ?? WORKSPACE_DIR }),
        // Through the guest's own SSH server: any port, not only those forwarded to `address`.
        connectLoopback: (port) => guestConnect(s.client, where, port),
      };
    },
  };
}
