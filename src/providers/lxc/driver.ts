// The LXC provider: one LXD or Incus system container per workspace, found again only through
// our `user.vendetta.*` config keys. Lifecycle, listing and file upload go through the daemon's
// REST API over its unix socket (./client.ts); commands inside run through the CLI (./exec.ts).
// Translation to/from the API is pure (./spec.ts); this file does the calls, in order.
import type { ObservedService, ObservedVolume, ObservedWorkspace } from '../../model/types.js';
import { readServiceStatus } from '../../services/manager.js';
import { TransportError, type ExecOptions } from '../../transport/types.js';
import { ProviderError, sourceDirOf, type CreatedWorkspace, type DesiredWorkspace, type DriverContext, type ProviderAvailability, type ProviderDriver, type WorkspaceRuntime } from '../types.js';
import { LxcApiError, lxcClient, statusOf, type LxcClient } from './client.js';
import { fetchGitTar } from '../git-source.js';
import { lxcExec, lxcSpawn, type ExecTarget } from './exec.js';
import { tarEntries, uploadWorkspace } from './files.js';
import { nodeStateDir, nodeStatusArgv, parseLeftDirs, parseNodeStatus, prepareStateDirArgv, removeStateDirsArgv } from './state.js';
import {
  customVolumeBody,
  customVolumeName,
  isOurCustomVolume,
  observedCustomVolumes,
  DEFAULT_SOCKETS,
  KEY_COMPLETE,
  KEY_GIT_COMMIT,
  KEY_MANAGED,
  KEY_STATE_DIR,
  STATE_DIR,
  WORKSPACE_DIR,
  imageNotFoundMessage,
  installHint,
  instanceAddress,
  instanceCreateBody,
  instanceName,
  isManaged,
  observedFromInstance,
  type InstanceInfo,
  type LxcFlavor,
} from './spec.js';

export { lxcApiCalls, resetLxcApiCalls, type LxcApiCalls } from './client.js';

/** Seconds a clean stop may take before we force it. */
const STOP_TIMEOUT_S = 10;
/** How long a started container may take before `true` runs in it. */
const READY_TIMEOUT_MS = 15_000;
/** How long runtime() waits for a NIC to get its address (DHCP) after start. */
const ADDRESS_TIMEOUT_MS = 10_000;

export interface LxcDaemon {
  client: LxcClient;
  socket: string;
  flavor: LxcFlavor;
  version: string;
  /** Disk devices may be shifted (idmapped): Incus on a kernel with idmapped mounts. LXD 5.0 claims it but fails. */
  canShift: boolean;
}

const daemons = new WeakMap<object, Map<string, Promise<LxcDaemon>>>();

function nodeName(ctx: DriverContext): string {
  return ctx.node.metadata.name;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fail(ctx: DriverContext, daemon: LxcDaemon, what: string, err: unknown): Error {
  return new Error(`${daemon.flavor} ${what} on node ${nodeName(ctx)} failed: ${describe(err)}`, { cause: err });
}

async function probe(client: LxcClient, flavorHint: LxcFlavor | undefined): Promise<LxcDaemon> {
  const info = await client.call<{ environment?: { server?: string; server_version?: string; kernel_features?: Record<string, string> } }>('GET', '/1.0');
  const server = info.environment?.server;
  const flavor: LxcFlavor = flavorHint ?? (server === 'incus' ? 'incus' : 'lxd');
  const canShift = flavor === 'incus' && info.environment?.kernel_features?.idmapped_mounts === 'true';
  return { client, socket: client.socket, flavor, version: info.environment?.server_version ?? 'unknown', canShift };
}

/**
 * The daemon of a node: the configured socket, else the first default socket that answers.
 * Throws a TransportError naming the node and what to install when none does.
 */
async function findDaemon(ctx: DriverContext): Promise<LxcDaemon> {
  const settings = ctx.node.spec.providers?.lxc;
  const key = `${settings?.socket ?? ''}|${settings?.flavor ?? ''}`;
  let byKey = daemons.get(ctx.transport);
  if (!byKey) daemons.set(ctx.transport, (byKey = new Map()));
  const cached = byKey.get(key);
  if (cached) return cached;

  const found = (async () => {
    const candidates = settings?.socket
      ? [{ path: settings.socket, flavor: settings.flavor }]
      : DEFAULT_SOCKETS.map((s) => ({ path: s.path, flavor: settings?.flavor ?? s.flavor }));
    const errors: string[] = [];
    for (const c of candidates) {
      try {
        return await probe(lxcClient(ctx.transport, c.path), c.flavor);
      } catch (err) {
        errors.push(`${c.path}: ${describe(err)}`);
      }
    }
    throw new TransportError(
      nodeName(ctx),
      `no LXD or Incus daemon answers on node ${nodeName(ctx)} (${errors.join('; ')})`,
      await diagnose(ctx, candidates.map((c) => c.path)),
    );
  })();
  byKey.set(key, found);
  // Only a found daemon is remembered: a later call may find one that was started meanwhile.
  found.catch(() => byKey.delete(key));
  return found;
}

/** Why no socket answered, in words a user can act on: missing vs. permission denied. */
async function diagnose(ctx: DriverContext, sockets: string[]): Promise<string> {
  const node = nodeName(ctx);
  let probeOut = '';
  try {
    const script = 'for s in "$@"; do if [ -S "$s" ]; then if [ -r "$s" ] && [ -w "$s" ]; then echo "ok $s"; else echo "denied $s"; fi; fi; done; id -un';
    probeOut = (await ctx.transport.exec(['/bin/sh', '-c', script, 'sh', ...sockets], { timeoutMs: 10_000 })).stdout;
  } catch {
    // Node unreachable: the connection error already says so.
  }
  const lines = probeOut.trim().split('\n');
  const user = lines.pop() || 'the SSH user';
  const denied = lines.find((l) => l.startsWith('denied '));
  if (denied) {
    const socket = denied.slice('denied '.length);
    const group = socket.includes('incus') ? 'incus-admin' : 'lxd';
    return `user ${user} may not use ${socket} on node ${node}: add it to the ${group} group (sudo usermod -aG ${group} ${user}), then reconnect`;
  }
  const present = lines.find((l) => l.startsWith('ok '));
  if (present) return `a socket exists at ${present.slice(3)} on node ${node} but the daemon does not answer: start LXD/Incus there`;
  return installHint(node, ctx.node.spec.providers?.lxc?.socket);
}

async function getInstance(ctx: DriverContext, daemon: LxcDaemon, name: string): Promise<InstanceInfo | undefined> {
  try {
    return await daemon.client.call<InstanceInfo>('GET', `/1.0/instances/${encodeURIComponent(instanceName(name))}`);
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw fail(ctx, daemon, `inspect of workspace ${name}`, err);
  }
}

/** Our instance for a workspace; undefined when missing; refuses instances we did not make. */
async function getManaged(ctx: DriverContext, daemon: LxcDaemon, name: string): Promise<InstanceInfo | undefined> {
  const info = await getInstance(ctx, daemon, name);
  if (info && info.config?.[KEY_MANAGED] !== 'true') {
    throw new Error(
      `instance ${instanceName(name)} on node ${nodeName(ctx)} is not managed by vendetta (no ${KEY_MANAGED}=true); ` +
        `vendetta never touches it: rename or remove it yourself, or rename workspace ${name}`,
    );
  }
  return info;
}

function stateUrl(name: string): string {
  return `/1.0/instances/${encodeURIComponent(instanceName(name))}/state`;
}

function execTarget(ctx: DriverContext, daemon: LxcDaemon, name: string): ExecTarget {
  return { transport: ctx.transport, flavor: daemon.flavor, socket: daemon.socket, instance: instanceName(name) };
}

/** Ready = running and a command runs in it (init may take a moment to let exec in). */
async function waitReady(ctx: DriverContext, daemon: LxcDaemon, name: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const r = await lxcExec(execTarget(ctx, daemon, name), ['true'], { timeoutMs: 10_000 });
    if (r.code === 0) return;
    last = (r.stderr || r.stdout).trim() || `exit ${r.code}`;
    if (Date.now() > deadline) {
      throw new Error(
        `workspace ${name} on node ${nodeName(ctx)} started but commands cannot run in it after ${READY_TIMEOUT_MS / 1000} s: ${last}; ` +
          `check that the ${daemon.flavor === 'incus' ? 'incus' : 'lxc'} CLI is installed on the node and the image has /bin/true`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function startInstance(ctx: DriverContext, daemon: LxcDaemon, name: string): Promise<void> {
  try {
    await daemon.client.call('PUT', stateUrl(name), { body: { action: 'start', timeout: 30 } });
  } catch (err) {
    if (/already running/i.test(describe(err))) return;
    const msg = describe(err);
    if (/address already in use|bind/i.test(msg)) {
      throw new Error(
        `workspace ${name}: a published port is already in use on node ${nodeName(ctx)}; stop whatever listens there or change spec.ports (${daemon.flavor}: ${msg})`,
        { cause: err },
      );
    }
    throw fail(ctx, daemon, `start of workspace ${name}`, err);
  }
  await waitReady(ctx, daemon, name);
}

/** Clean stop first (init gets a halt signal); force it when that does not finish in time. */
async function stopInstance(ctx: DriverContext, daemon: LxcDaemon, name: string): Promise<void> {
  try {
    await daemon.client.call('PUT', stateUrl(name), { body: { action: 'stop', timeout: STOP_TIMEOUT_S } });
  } catch (err) {
    if (/not running|already stopped/i.test(describe(err))) return;
    try {
      await daemon.client.call('PUT', stateUrl(name), { body: { action: 'stop', force: true } });
    } catch (err2) {
      if (/not running|already stopped/i.test(describe(err2))) return;
      throw fail(ctx, daemon, `stop of workspace ${name}`, err2);
    }
  }
}

/** The storage pool of the default profile's root disk (for a root disk with a size). */
async function rootPool(daemon: LxcDaemon): Promise<string | undefined> {
  const profile = await daemon.client.call<{ devices?: Record<string, Record<string, string>> }>('GET', '/1.0/profiles/default');
  return Object.values(profile.devices ?? {}).find((d) => d.type === 'disk' && d.path === '/')?.pool;
}

async function ensureLocalImage(ctx: DriverContext, daemon: LxcDaemon, alias: string): Promise<void> {
  try {
    await daemon.client.call('GET', `/1.0/images/aliases/${encodeURIComponent(alias)}`);
  } catch (err) {
    if (statusOf(err) === 404) throw new Error(imageNotFoundMessage(alias, nodeName(ctx), daemon.flavor));
    throw fail(ctx, daemon, `lookup of image ${alias}`, err);
  }
}

export function createLxcDriver(): ProviderDriver {
  return {
    name: 'lxc',

    async availability(ctx): Promise<ProviderAvailability> {
      try {
        const d = await findDaemon(ctx);
        return { available: true, version: `${d.flavor} ${d.version}`, detail: `socket ${d.socket}` };
      } catch (err) {
        return { available: false, detail: describe(err), hint: err instanceof TransportError ? err.hint : installHint(nodeName(ctx), undefined) };
      }
    },

    async observe(ctx): Promise<ObservedWorkspace[]> {
      const daemon = await findDaemon(ctx);
      let instances: InstanceInfo[];
      try {
        // recursion=2: config and state (addresses) of every instance in one call
        instances = await daemon.client.call<InstanceInfo[]>('GET', '/1.0/instances?recursion=2');
      } catch (err) {
        throw fail(ctx, daemon, 'listing of workspaces', err);
      }
      const observed = instances.filter(isManaged).map((info) => ({ info, ws: observedFromInstance(info) }));
      // A half-made instance is recreated, never used: nothing to read inside it.
      const readable = observed.filter((o) => o.ws.running && !o.ws.incomplete);
      const services = await readServices(
        ctx,
        daemon,
        readable.map((o) => ({ name: o.ws.name, dir: o.info.config?.[KEY_STATE_DIR] })),
      );
      return observed.map((o) => ({ ...o.ws, services: services.get(o.ws.name) ?? o.ws.services }));
    },

    async observeServices(ctx, workspaces): Promise<Map<string, ObservedService[]>> {
      const daemon = await findDaemon(ctx);
      // The directory is where create put it; one that is not there is read from inside.
      return readServices(ctx, daemon, workspaces.map((name) => ({ name, dir: nodeStateDir(nodeName(ctx), name) })));
    },

    async create(ctx, ws: DesiredWorkspace): Promise<CreatedWorkspace | undefined> {
      const { spec, metadata } = ws.resource;
      const name = metadata.name;
      const daemon = await findDaemon(ctx);
      const pool = spec.resources?.disk !== undefined || spec.volumes?.length ? await rootPool(daemon) : undefined;
      const checked = instanceCreateBody(ws, ctx.applySet, daemon.flavor, pool); // validates image, ports, quantities
      if (!checked.source.server) await ensureLocalImage(ctx, daemon, checked.source.alias);
      else ctx.progress?.(`${daemon.flavor} on node ${nodeName(ctx)} fetches image ${spec.image} (first use downloads it)`);
      // Nothing is made before the checks pass; the node dir goes first (the device needs it), and
      // is emptied: an instance of that name must not exist, or its state would be lost.
      if (await getInstance(ctx, daemon, name)) throw alreadyExists(ctx, name);
      // source.git: fetched on the node first (a bad ref makes nothing), then put in like source.path.
      const running = (spec.state ?? 'running') === 'running';
      const git = spec.source?.git ? await fetchGitTar(ctx.transport, spec.source.git, `${WORKSPACE_DIR.replace(/^\/+/, '')}/`, ctx.progress) : undefined;
      await ensureVolumes(ctx, daemon, ws, pool);
      const stateDir = await prepareStateDir(ctx, name);
      const body = instanceCreateBody(ws, ctx.applySet, daemon.flavor, pool, stateDir, { shiftSource: daemon.canShift });
      // A source on the node is mounted (the vd-source device), never copied.
      const copySource = sourceDirOf(ws);

      try {
        await daemon.client.call('POST', '/1.0/instances', { body });
      } catch (err) {
        if (!(statusOf(err) === 409 || /already exists/i.test(describe(err)))) await removeStateDirs(ctx, [stateDir]).catch(() => undefined);
        if (statusOf(err) === 409 || /already exists/i.test(describe(err))) throw alreadyExists(ctx, name, err);
        throw fail(ctx, daemon, `create of workspace ${name}`, err);
      }
      // A half-made workspace would look "created" to the next observation: undo on failure.
      try {
        // A workspace that starts gets its source as one tar over one exec once it runs, as every
        // later sync (needs tar in the image: busybox's will do); a stopped one through the files
        // API, which works on a stopped instance and needs nothing inside.
        const viaFiles = running ? undefined : (copySource ?? (git ? await tarEntries(git.tar) : undefined));
        const what = typeof viaFiles === 'string' ? viaFiles : viaFiles ? `commit ${git!.commit.slice(0, 12)}` : 'workspace directories';
        ctx.progress?.(`uploading ${what} to ${name}:${WORKSPACE_DIR}`);
        await uploadWorkspace(daemon.client, body.name, [WORKSPACE_DIR, STATE_DIR], WORKSPACE_DIR, viaFiles).catch((err: unknown) => {
          throw fail(ctx, daemon, `upload of ${what} to workspace ${name}`, err);
        });
        if (running) {
          await startInstance(ctx, daemon, name);
          if (copySource !== undefined) {
            ctx.progress?.(`copying ${copySource} to ${name}:${WORKSPACE_DIR}`);
            const { SourceSync } = await import('../../sync/push.js');
            const target = execTarget(ctx, daemon, name);
            const where = `workspace ${name} on node ${nodeName(ctx)}`;
            const runtime = { workspaceDir: WORKSPACE_DIR, stateDir: STATE_DIR, exec: (argv: string[], opts?: ExecOptions) => lxcExec(target, argv, opts) };
            await new SourceSync(copySource, runtime, undefined, where).run({ fresh: true });
          } else if (git) {
            ctx.progress?.(`copying commit ${git.commit.slice(0, 12)} to ${name}:${WORKSPACE_DIR}`);
            const res = await lxcExec(execTarget(ctx, daemon, name), ['tar', '-x', '-f', '-', '-C', '/'], { stdin: git.tar, timeoutMs: 300_000 });
            if (res.code !== 0) throw new Error(`extracting commit ${git.commit} into workspace ${name} failed: ${res.stderr.trim() || `tar exit ${res.code}`}`);
          }
        }
        // Last step: from here on the instance is the workspace (PATCH merges config keys).
        const config = { [KEY_COMPLETE]: 'true', ...(git ? { [KEY_GIT_COMMIT]: git.commit } : {}) };
        await daemon.client.call('PATCH', `/1.0/instances/${encodeURIComponent(body.name)}`, { body: { config } }).catch((err: unknown) => {
          throw fail(ctx, daemon, `completion of workspace ${name}`, err);
        });
      } catch (err) {
        await forceDelete(daemon, name).catch(() => undefined);
        await removeStateDirs(ctx, [stateDir]).catch(() => undefined);
        throw err;
      }
      return git ? { gitCommit: git.commit } : undefined;
    },

    async listVolumes(ctx, workspaces): Promise<ObservedVolume[]> {
      if (workspaces?.length === 0) return [];
      const daemon = await findDaemon(ctx);
      const pool = await rootPool(daemon);
      if (!pool) return [];
      let list: Array<{ name: string; config?: Record<string, string> }>;
      try {
        list = await daemon.client.call('GET', `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom?recursion=1`);
      } catch (err) {
        throw fail(ctx, daemon, 'listing of volumes', err);
      }
      const ours = observedCustomVolumes(list ?? [], pool, nodeName(ctx));
      return workspaces ? ours.filter((v) => workspaces.includes(v.workspace)) : ours;
    },

    async deleteVolumes(ctx, volumes): Promise<void> {
      if (volumes.length === 0) return;
      const daemon = await findDaemon(ctx);
      const pool = await rootPool(daemon);
      if (!pool) return;
      await Promise.all(
        volumes.map(async (v) => {
          // By the name we give it, after checking its keys: only our own volume is ever removed.
          const url = `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom/${encodeURIComponent(customVolumeName(v.workspace, v.name))}`;
          try {
            const info = await daemon.client.call<{ config?: Record<string, string> }>('GET', url);
            if (!isOurCustomVolume(info?.config, nodeName(ctx), v.workspace, v.name)) return;
            await daemon.client.call('DELETE', url);
          } catch (err) {
            if (statusOf(err) === 404) return;
            throw fail(ctx, daemon, `removal of volume ${customVolumeName(v.workspace, v.name)}`, err);
          }
        }),
      );
    },

    async start(ctx, name): Promise<void> {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName(ctx)}; apply it to create it`);
      if (info.status !== 'Running') await startInstance(ctx, daemon, name);
    },

    async stop(ctx, name): Promise<void> {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info || info.status === 'Stopped') return;
      if (info.status === 'Running') await releaseStateDir(ctx, daemon, info);
      await stopInstance(ctx, daemon, name);
    },

    async delete(ctx, name): Promise<void> {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info) return;
      const errors = await deleteInstances(ctx, daemon, [info]);
      const err = errors.get(name);
      if (err) throw err;
    },

    async deleteMany(ctx, names): Promise<Map<string, Error>> {
      const daemon = await findDaemon(ctx);
      let instances: InstanceInfo[];
      try {
        // recursion=1: the config (ownership, state dir) and status of every instance, one call
        instances = await daemon.client.call<InstanceInfo[]>('GET', '/1.0/instances?recursion=1');
      } catch (err) {
        const e = fail(ctx, daemon, 'listing of workspaces', err);
        return new Map(names.map((n) => [n, e]));
      }
      const errors = new Map<string, Error>();
      const byName = new Map(instances.map((i) => [i.name, i]));
      const doomed: InstanceInfo[] = [];
      for (const name of new Set(names)) {
        const info = byName.get(instanceName(name));
        if (!info) continue; // missing is not an error
        if (info.config?.[KEY_MANAGED] !== 'true') errors.set(name, notManaged(ctx, name));
        else doomed.push(info);
      }
      for (const [name, err] of await deleteInstances(ctx, daemon, doomed)) errors.set(name, err);
      return errors;
    },

    async runtime(ctx, name): Promise<WorkspaceRuntime> {
      const daemon = await findDaemon(ctx);
      const info = await getManaged(ctx, daemon, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName(ctx)}; apply it to create it`);
      if (info.status !== 'Running') {
        throw new Error(`workspace ${name} on node ${nodeName(ctx)} is stopped; set state: running and apply to start it`);
      }
      const target = execTarget(ctx, daemon, name);
      const hasNic = Object.values(info.expanded_devices ?? {}).some((d) => d.type === 'nic');
      // Without a NIC, services are reachable only through proxy devices: 127.0.0.1 inside.
      const address = hasNic ? await waitForAddress(ctx, daemon, name) : '127.0.0.1';
      return {
        workspaceDir: WORKSPACE_DIR,
        stateDir: STATE_DIR,
        address,
        exec: (argv, opts) => lxcExec(target, argv, opts),
        spawn: (argv, opts) => lxcSpawn(target, argv, opts),
      };
    },
  };
}

/**
 * The workspace's custom volumes: kept when they exist (that is the point), made when they do not.
 * A volume of that name that is not ours for this workspace is never used.
 */
async function ensureVolumes(ctx: DriverContext, daemon: LxcDaemon, ws: DesiredWorkspace, pool: string | undefined): Promise<void> {
  const volumes = ws.resource.spec.volumes ?? [];
  if (volumes.length === 0) return;
  if (!pool) throw new Error(`workspace ${ws.resource.metadata.name}: volumes need a root disk with a storage pool in the default profile of node ${nodeName(ctx)}`);
  const workspace = ws.resource.metadata.name;
  const base = `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom`;
  await Promise.all(
    volumes.map(async (v) => {
      const body = customVolumeBody(nodeName(ctx), workspace, v);
      let info: { config?: Record<string, string> } | undefined;
      try {
        info = await daemon.client.call('GET', `${base}/${encodeURIComponent(body.name)}`);
      } catch (err) {
        if (statusOf(err) !== 404) throw fail(ctx, daemon, `inspect of volume ${body.name}`, err);
        ctx.progress?.(`making volume ${v.name} (${body.name} in pool ${pool})`);
        await daemon.client.call('POST', base, { body }).catch((e: unknown) => {
          throw fail(ctx, daemon, `create of volume ${body.name}`, e);
        });
        return;
      }
      if (!isOurCustomVolume(info?.config, nodeName(ctx), workspace, v.name)) {
        throw new ProviderError(
          `storage volume ${body.name} in pool ${pool} on node ${nodeName(ctx)} exists but is not vendetta's volume ${v.name} of workspace ${workspace} on this node`,
          'vendetta never uses it: remove or rename that volume, or rename the volume in spec.volumes',
          true,
        );
      }
    }),
  );
}

/** Stop (forced) when running, then delete; the instance's proxy devices and rootfs go with it. */
async function forceDelete(daemon: LxcDaemon, name: string, status?: string): Promise<void> {
  if (status !== 'Stopped') {
    await daemon.client.call('PUT', stateUrl(name), { body: { action: 'stop', force: true } }).catch((err: unknown) => {
      if (!(err instanceof LxcApiError) || !/not running|already stopped/i.test(err.message)) throw err;
    });
  }
  await daemon.client.call('DELETE', `/1.0/instances/${encodeURIComponent(instanceName(name))}`);
}

/** The workspace name of one of our instances. */
function workspaceOf(info: InstanceInfo): string {
  return observedFromInstance(info).name;
}

function alreadyExists(ctx: DriverContext, name: string, cause?: unknown): Error {
  return new Error(
    `workspace ${name}: an instance named ${instanceName(name)} already exists on node ${nodeName(ctx)}; ` +
      `delete the workspace first (vendetta delete workspace/${name}) or remove that instance`,
    cause === undefined ? undefined : { cause },
  );
}

function notManaged(ctx: DriverContext, name: string): Error {
  return new Error(
    `instance ${instanceName(name)} on node ${nodeName(ctx)} is not managed by vendetta (no ${KEY_MANAGED}=true); ` +
      `vendetta never touches it: rename or remove it yourself, or rename workspace ${name}`,
  );
}

/** Makes the workspace's node directory (fresh) over SSH; its absolute path. */
async function prepareStateDir(ctx: DriverContext, name: string): Promise<string> {
  const res = await ctx.transport.exec(prepareStateDirArgv(nodeStateDir(nodeName(ctx), name)), { timeoutMs: 30_000 });
  const dir = res.stdout.trim();
  if (res.code !== 0 || !dir.startsWith('/')) {
    throw new Error(
      `workspace ${name}: cannot make its state directory on node ${nodeName(ctx)}: ${(res.stderr || res.stdout).trim() || `exit ${res.code}`}`,
    );
  }
  return dir;
}

/** Removes node directories in one exec; the ones that could not be removed. */
async function removeStateDirs(ctx: DriverContext, dirs: string[]): Promise<string[]> {
  if (dirs.length === 0) return [];
  const res = await ctx.transport.exec(removeStateDirsArgv(dirs), { timeoutMs: 60_000 });
  if (res.code !== 0) throw new Error(`removing state directories on node ${nodeName(ctx)} failed: ${(res.stderr || res.stdout).trim() || `exit ${res.code}`}`);
  return parseLeftDirs(res.stdout);
}

/**
 * Directories the container made in its state dir belong to the container's root, which maps to
 * no user on the node: opened up (a+rwx) while it runs, so the node user can delete them later.
 * Best effort: a workspace whose services were installed from the node side has none.
 */
async function releaseStateDir(ctx: DriverContext, daemon: LxcDaemon, info: InstanceInfo): Promise<void> {
  if (!info.config?.[KEY_STATE_DIR]) return;
  await lxcExec(execTarget(ctx, daemon, workspaceOf(info)), ['/bin/sh', '-c', `find ${STATE_DIR} -mindepth 1 -type d -exec chmod a+rwx {} \\; 2>/dev/null; exit 0`], { timeoutMs: 30_000 }).catch(
    () => undefined,
  );
}

/**
 * Deletes instances concurrently over the one connection, then their node state dirs in one
 * exec. Resolves with an error per workspace that could not be deleted.
 */
async function deleteInstances(ctx: DriverContext, daemon: LxcDaemon, infos: InstanceInfo[]): Promise<Map<string, Error>> {
  const errors = new Map<string, Error>();
  const dirs = new Map<string, string>();
  await Promise.all(
    infos.map(async (info) => {
      const name = workspaceOf(info);
      try {
        if (info.status === 'Running') await releaseStateDir(ctx, daemon, info);
        await forceDelete(daemon, name, info.status);
      } catch (err) {
        if (statusOf(err) !== 404) {
          errors.set(name, fail(ctx, daemon, `delete of workspace ${name}`, err));
          return;
        }
      }
      const dir = info.config?.[KEY_STATE_DIR];
      if (dir) dirs.set(dir, name);
    }),
  );
  try {
    for (const left of await removeStateDirs(ctx, [...dirs.keys()])) {
      const name = dirs.get(left);
      if (name) {
        errors.set(
          name,
          new Error(`workspace ${name} was deleted but its state directory ${left} on node ${nodeName(ctx)} was not: files written by the container; remove it as root`),
        );
      }
    }
  } catch (err) {
    for (const name of dirs.values()) errors.set(name, err instanceof Error ? err : new Error(String(err)));
  }
  return errors;
}

/**
 * The services of running workspaces: ONE exec on the node reads every node state dir; a
 * workspace without one (made before them) is read from inside, one exec each.
 */
async function readServices(
  ctx: DriverContext,
  daemon: LxcDaemon,
  workspaces: Array<{ name: string; dir: string | undefined }>,
): Promise<Map<string, ObservedService[]>> {
  const out = new Map<string, ObservedService[]>();
  const withDir = workspaces.filter((w): w is { name: string; dir: string } => w.dir !== undefined);
  const inside = workspaces.filter((w) => w.dir === undefined).map((w) => w.name);
  if (withDir.length > 0) {
    const res = await ctx.transport.exec(nodeStatusArgv(withDir), { timeoutMs: 30_000 });
    if (res.code !== 0) {
      throw new Error(`reading service status on node ${nodeName(ctx)} failed (exit ${res.code}): ${(res.stderr || res.stdout).trim()}`);
    }
    for (const [name, services] of parseNodeStatus(res.stdout)) {
      if (services) out.set(name, services);
      else inside.push(name);
    }
  }
  await Promise.all(
    inside.map(async (name) => {
      const target = execTarget(ctx, daemon, name);
      out.set(name, await readServiceStatus((argv) => lxcExec(target, argv, { timeoutMs: 30_000 }), STATE_DIR, `workspace ${name} on node ${nodeName(ctx)}`));
    }),
  );
  return out;
}

/** The NIC's address, once DHCP gave it one; the container's loopback address otherwise. */
async function waitForAddress(ctx: DriverContext, daemon: LxcDaemon, name: string): Promise<string> {
  const deadline = Date.now() + ADDRESS_TIMEOUT_MS;
  for (;;) {
    const state = await daemon.client.call<InstanceInfo['state']>('GET', stateUrl(name)).catch((err: unknown) => {
      throw fail(ctx, daemon, `state of workspace ${name}`, err);
    });
    const address = instanceAddress({ name, status: 'Running', state });
    if (address) return address;
    if (Date.now() > deadline) {
      throw new Error(
        `workspace ${name} on node ${nodeName(ctx)} has a network interface but no address after ${ADDRESS_TIMEOUT_MS / 1000} s; ` +
          `check the network of the default profile (DHCP on its bridge) or that the image runs a DHCP client`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
