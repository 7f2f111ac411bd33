// The Docker provider: one container per workspace, found again only through our labels.
// Translation to/from the Engine API is pure (./spec.ts); this file does the calls, in order.
import type Docker from 'dockerode';
import type { ObservedService, ObservedVolume, ObservedWorkspace } from '../../model/types.js';
import { readServiceStatus } from '../../services/manager.js';
import { nodeStatusArgv, nodeStatusUnderArgv, parseNodeStatus, parseNodeStatusUnder } from '../../services/supervisor.js';
import type { ExecOptions, ExecResult } from '../../transport/types.js';
import { ProviderError, sourceDirOf, type CreatedWorkspace, type DesiredWorkspace, type DriverContext, type ProviderAvailability, type ProviderDriver, type WorkspaceRuntime } from '../types.js';
import { DEFAULT_DOCKER_SOCKET, dockerClient, dockerGet, dockerRequest, listContainersPath } from './client.js';
import { dockerExec, dockerSpawn, type ExecTarget } from './exec.js';
import { agentExec, MAKE_AGENT_FILES } from './agent.js';
import type { BuildIo } from './build.js';
import { fetchGitTar } from '../git-source.js';
import {
  LABEL_KIND,
  LABEL_MANAGED,
  LABEL_NAME,
  LABEL_NODE,
  LABEL_WORKSPACE,
  LABEL_NETWORK,
  LABEL_IMAGE_ENTRYPOINT,
  LABEL_IMAGE_CMD,
  LABEL_IMAGE_WORKDIR,
  MANAGED_SELECTOR,
  imageCommandLabels,
  networkLabels,
  networkName,
  isOurVolume,
  observedVolumes,
  volumeLabels,
  volumeName,
  STATE_DIR,
  WORKSPACE_DIR,
  LABEL_GIT_COMMIT,
  LABEL_USER,
  LABEL_AGENT,
  RELEASE_STATE_DIR_ARGV,
  isRootUser,
  prepareUserArgv,
  userVolumePaths,
  containerAddress,
  containerCreateOptions,
  containerName,
  creatingContainerName,
  describeDockerError,
  dockerStateRoot,
  labelledStateDir,
  workspaceStateDir,
  imageNotFoundMessage,
  isPortConflict,
  mergeObserved,
  observedFromContainer,
  portBindings,
  portConflictMessage,
  pullFailedMessage,
  statusCode,
} from './spec.js';

// Request counters for tests and benchmarks ("a second apply makes zero mutating Docker calls").
export { dockerApiCalls, resetDockerApiCalls, type DockerApiCalls } from './client.js';

/** Seconds `docker stop` waits before SIGKILL; with Init the keep-alive exits at once. */
const STOP_TIMEOUT_S = 5;

function socketOf(ctx: DriverContext): string {
  return ctx.node.spec.providers?.docker?.socket ?? DEFAULT_DOCKER_SOCKET;
}

function clientOf(ctx: DriverContext): Docker {
  return dockerClient(ctx.transport, socketOf(ctx));
}

function nodeName(ctx: DriverContext): string {
  return ctx.node.metadata.name;
}

function fail(ctx: DriverContext, what: string, err: unknown): Error {
  return new Error(`docker ${what} on node ${nodeName(ctx)} failed: ${describeDockerError(err)}`, { cause: err });
}

/** This node's directory of workspace state dirs (<stateRoot>/<node>). */
async function stateRootOf(ctx: DriverContext): Promise<string> {
  return dockerStateRoot(ctx.node, await ctx.transport.home(), process.env.VENDETTA_HOME);
}

function checkNode(res: ExecResult, what: string, ctx: DriverContext): void {
  if (res.code === 0) return;
  const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
  throw new Error(`${what} on node ${nodeName(ctx)} failed: ${detail}`);
}

/**
 * Remove state dirs on the node, one exec for all (NAME DIR pairs); name → why it failed. Run as
 * the SSH user, who made the dirs: the files the container's root wrote inside them go too.
 */
async function removeStateDirs(ctx: DriverContext, dirs: Array<{ name: string; dir: string }>): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  if (dirs.length === 0) return failed;
  const body = `while [ "$#" -ge 2 ]; do
  if ! e=$(rm -rf -- "$2" 2>&1); then printf 'failed\t%s\t%s\n' "$1" "$(printf '%s' "$e" | tr '\n' ' ')"; fi
  shift 2
done`;
  const res = await ctx.transport.exec(['/bin/sh', '-c', body, 'sh', ...dirs.flatMap((d) => [d.name, d.dir])]);
  checkNode(res, 'removing workspace state dirs', ctx);
  for (const line of res.stdout.split('\n')) {
    const [tag, name, why] = line.split('\t');
    if (tag === 'failed' && name) failed.set(name, `removing its state dir on node ${nodeName(ctx)} failed: ${(why ?? '').trim()}`);
  }
  return failed;
}

/** The services of every workspace state dir under this node's state root, in one exec. */
async function readStateRoot(ctx: DriverContext): Promise<ReturnType<typeof parseNodeStatusUnder>> {
  const res = await ctx.transport.exec(nodeStatusUnderArgv(dockerStateRoot(ctx.node, undefined, process.env.VENDETTA_HOME), 'lock'));
  checkNode(res, 'reading the services of docker workspaces', ctx);
  return parseNodeStatusUnder(res.stdout);
}

/** Every container of ours on this node (running or not, half-made included). */
async function listOurs(ctx: DriverContext): Promise<Docker.ContainerInfo[]> {
  try {
    const path = listContainersPath({ all: true, filters: { label: [MANAGED_SELECTOR, `${LABEL_KIND}=Workspace`, `${LABEL_NODE}=${nodeName(ctx)}`] } });
    return await dockerGet<Docker.ContainerInfo[]>(ctx.transport, socketOf(ctx), path);
  } catch (err) {
    // Over SSH every socket failure reads "open failed": say what is wrong with the socket.
    const { detail, hint } = await diagnoseSocket(ctx, err);
    throw new ProviderError(detail, hint, false, { cause: err });
  }
}

/**
 * The services of these listed containers (running, complete ones only), keyed by workspace: ONE
 * node exec reads every node-side state dir (the supervisor's flock tells liveness across the
 * container's pid namespace). Containers of an older vendetta, without a state-dir label, keep
 * their state inside: one docker exec each.
 */
async function servicesOf(
  ctx: DriverContext,
  containers: Docker.ContainerInfo[],
  underRoot?: ReturnType<typeof parseNodeStatusUnder>,
): Promise<Map<string, ObservedService[]>> {
  const out = new Map<string, ObservedService[]>();
  const onNode: Array<{ name: string; dir: string }> = [];
  const inside: Docker.ContainerInfo[] = [];
  for (const info of containers) {
    const ws = observedFromContainer(info);
    // A half-made container is recreated, never used: nothing to read inside it.
    if (!ws.running || ws.incomplete) continue;
    const dir = labelledStateDir(info.Labels, nodeName(ctx), ws.name);
    const read = underRoot?.workspaces.get(ws.name);
    // Read already, alongside the listing (the usual case); otherwise (a state root configured
    // differently when it was made, a dir made since) in a second exec.
    if (dir && read && dir === `${underRoot?.root}/${ws.name}`) out.set(ws.name, read);
    else if (dir) onNode.push({ name: ws.name, dir });
    else inside.push(info);
  }
  await Promise.all([
    (async () => {
      if (onNode.length === 0) return;
      const res = await ctx.transport.exec(nodeStatusArgv(onNode, 'lock'));
      checkNode(res, 'reading the services of docker workspaces', ctx);
      const read = parseNodeStatus(res.stdout);
      for (const { name } of onNode) out.set(name, read.get(name) ?? []);
    })(),
    ...inside.map(async (info) => {
      const name = observedFromContainer(info).name;
      const target = execTarget(ctx, info.Id, name);
      out.set(name, await readServiceStatus((argv) => dockerExec(target, argv), STATE_DIR, target.where));
    }),
  ]);
  return out;
}

/**
 * The Engine API requests of a workspace's own lifecycle, as plain HTTP (dockerRequest): a cold
 * create, start or delete never loads dockerode, which is kept for streams (pull, build, exec,
 * archives) and for networks and volumes.
 */
const engine = {
  inspect: (ctx: DriverContext, container: string) =>
    dockerRequest<Docker.ContainerInspectInfo>(ctx.transport, socketOf(ctx), 'GET', `/containers/${encodeURIComponent(container)}/json`),
  image: (ctx: DriverContext, image: string) =>
    dockerRequest<Docker.ImageInspectInfo>(ctx.transport, socketOf(ctx), 'GET', `/images/${encodeURIComponent(image)}/json`),
  create: (ctx: DriverContext, { name, ...options }: Docker.ContainerCreateOptions & { name: string }) =>
    dockerRequest<{ Id: string }>(ctx.transport, socketOf(ctx), 'POST', `/containers/create?name=${encodeURIComponent(name)}`, options),
  start: (ctx: DriverContext, id: string) => dockerRequest<void>(ctx.transport, socketOf(ctx), 'POST', `/containers/${id}/start`),
  rename: (ctx: DriverContext, id: string, name: string) =>
    dockerRequest<void>(ctx.transport, socketOf(ctx), 'POST', `/containers/${id}/rename?name=${encodeURIComponent(name)}`),
  remove: (ctx: DriverContext, id: string) => dockerRequest<void>(ctx.transport, socketOf(ctx), 'DELETE', `/containers/${id}?force=true&v=true`),
};

/** What ./build.ts works with; dockerode only once it removes or builds an image. */
function buildIo(ctx: DriverContext): BuildIo {
  return {
    get docker() {
      return clientOf(ctx);
    },
    socket: socketOf(ctx),
    node: nodeName(ctx),
  };
}

/** Inspect our container for a workspace; undefined when missing; refuses foreign containers. */
async function inspectManaged(ctx: DriverContext, name: string, container = containerName(name)): Promise<Docker.ContainerInspectInfo | undefined> {
  let info: Docker.ContainerInspectInfo;
  try {
    info = await engine.inspect(ctx, container);
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw fail(ctx, `inspect of workspace ${name}`, err);
  }
  if (info.Config.Labels?.[LABEL_MANAGED] !== 'true') {
    throw new Error(
      `container ${container} on node ${nodeName(ctx)} is not managed by vendetta (no ${MANAGED_SELECTOR} label); ` +
        `vendetta never touches it: rename or remove it yourself, or rename workspace ${name}`,
    );
  }
  return info;
}

type ImageConfig = Docker.ImageInspectInfo['Config'] | undefined;

/** Makes sure the image is on the node; resolves with its config (what it runs by itself). */
async function ensureImage(ctx: DriverContext, image: string, pull: 'never' | 'missing' | 'always'): Promise<ImageConfig> {
  const inspect = () =>
    engine
      .image(ctx, image)
      .then(
        (info) => info,
        (err) => {
          if (statusCode(err) === 404) return undefined;
          throw fail(ctx, `inspect of image ${image}`, err);
        },
      );
  const found = await inspect();
  const present = found !== undefined;
  if (present && pull !== 'always') return found.Config;
  if (!present && pull === 'never') throw new ProviderError(imageNotFoundMessage(image, nodeName(ctx)), undefined, true);

  ctx.progress?.(`pulling image ${image} on node ${nodeName(ctx)}`);
  const docker = clientOf(ctx);
  try {
    const stream = await docker.pull(image);
    // Pull errors (unknown image, registry unreachable) arrive inside the progress stream.
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    throw new Error(pullFailedMessage(image, nodeName(ctx), err), { cause: err });
  }
  return (await inspect())?.Config;
}

/** Our networks named `network` on this node, by label (docker may hold two of one name: see ensureNetwork). */
async function ourNetworks(ctx: DriverContext, network: string): Promise<Array<{ Id: string; Name: string; Created?: string }>> {
  const filters = { label: [MANAGED_SELECTOR, `${LABEL_KIND}=Network`, `${LABEL_NODE}=${nodeName(ctx)}`, `${LABEL_NETWORK}=${network}`] };
  try {
    return await dockerGet(ctx.transport, socketOf(ctx), `/networks?filters=${encodeURIComponent(JSON.stringify(filters))}`);
  } catch (err) {
    throw fail(ctx, `listing of networks`, err);
  }
}

// One ensureNetwork per (node socket, network) at a time in this process: the workspaces of one
// project are created concurrently, and dockerd 20.10 may make two networks of one name when two
// creates race (CheckDuplicate is best effort), after which the name is ambiguous.
const networkInFlight = new Map<string, Promise<void>>();

/**
 * The workspace's spec.network.name network on the node: used when it exists and is ours, made
 * when it does not. A network of that name that is not ours is never used.
 */
async function ensureNetwork(ctx: DriverContext, ws: DesiredWorkspace): Promise<void> {
  const network = ws.resource.spec.network?.mode === undefined ? ws.resource.spec.network?.name : undefined;
  if (network === undefined) return;
  const name = networkName(nodeName(ctx), network);
  const key = `${nodeName(ctx)}\u0000${socketOf(ctx)}\u0000${name}`;
  const running = networkInFlight.get(key);
  if (running) return running;
  const work = (async () => {
    const ours = await ourNetworks(ctx, network);
    if (ours.length > 0) return;
    try {
      await clientOf(ctx).createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: networkLabels(ws, network, ctx.applySet) });
    } catch (err) {
      if (statusCode(err) === 409 && (await ourNetworks(ctx, network)).length > 0) return;
      if (statusCode(err) === 409) {
        throw new ProviderError(
          `docker network ${name} on node ${nodeName(ctx)} exists but is not vendetta's network ${network} of this node`,
          'vendetta never uses it: remove or rename that docker network, or change spec.network.name',
          true,
          { cause: err },
        );
      }
      throw fail(ctx, `create of network ${name}`, err);
    }
  })().finally(() => networkInFlight.delete(key));
  networkInFlight.set(key, work);
  return work;
}

/**
 * Removes these spec.network.name networks of the node when no container of ours is left on
 * them (their last workspace was deleted). Only our own networks, by label.
 */
async function removeUnusedNetworks(ctx: DriverContext, networks: Iterable<string>): Promise<void> {
  const wanted = [...new Set(networks)];
  if (wanted.length === 0) return;
  const left = new Set((await listOurs(ctx)).map((c) => c.Labels?.[LABEL_NETWORK]).filter((n): n is string => !!n));
  await Promise.all(
    wanted
      .filter((n) => !left.has(n))
      .map(async (network) => {
        // By id: every one of ours of that name (an older dockerd may hold two).
        for (const net of await ourNetworks(ctx, network)) {
          try {
            await clientOf(ctx).getNetwork(net.Id).remove();
          } catch (err) {
            // Gone already, or a workspace being created joined it meanwhile (it stays).
            if (statusCode(err) === 404 || statusCode(err) === 403 || statusCode(err) === 409) continue;
            throw fail(ctx, `removal of network ${net.Name}`, err);
          }
        }
      }),
  );
}

async function startContainer(ctx: DriverContext, id: string, name: string, ports: string[] | undefined): Promise<void> {
  try {
    await engine.start(ctx, id);
  } catch (err) {
    if (statusCode(err) === 304) return; // already running
    if (isPortConflict(err)) {
      throw new ProviderError(portConflictMessage(err, name, nodeName(ctx), portBindings(ports).specs), undefined, true, { cause: err });
    }
    throw fail(ctx, `start of workspace ${name}`, err);
  }
}

function execTarget(ctx: DriverContext, containerId: string, name: string): ExecTarget {
  return {
    // dockerode on the first exec only: a runtime whose services start through the agent never loads it.
    get docker() {
      return clientOf(ctx);
    },
    containerId,
    node: nodeName(ctx),
    where: `workspace ${name} on node ${nodeName(ctx)}`,
  };
}

/** The non-root spec.user a container of ours was made with (its label), else undefined. */
function userOf(labels: Record<string, string> | undefined): string | undefined {
  const user = labels?.[LABEL_USER];
  return isRootUser(user) ? undefined : user;
}

/** An exec as the container's root: only for preparing and releasing a spec.user workspace. */
function rootTarget(ctx: DriverContext, containerId: string, name: string): ExecTarget {
  return { ...execTarget(ctx, containerId, name), user: '0' };
}

/**
 * spec.user: hands /workspace to that user (once per container, see prepareUserArgv), as root
 * inside. Without it the user could write neither its source nor what a sync brings.
 */
async function prepareUser(ctx: DriverContext, containerId: string, ws: { name: string; user: string; volumePaths: string[] }): Promise<void> {
  const res = await dockerExec(rootTarget(ctx, containerId, ws.name), prepareUserArgv(ws.user, ws.volumePaths), { timeoutMs: 300_000 });
  if (res.code !== 0) {
    const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
    throw new ProviderError(
      `workspace ${ws.name} on node ${nodeName(ctx)}: handing ${WORKSPACE_DIR} to user ${ws.user} failed: ${detail}`,
      'the image needs find and chown (busybox has both), and a user name must exist in its /etc/passwd (or give a numeric uid:gid)',
      true,
    );
  }
}

/**
 * Before a spec.user container stops or goes: opens up the directories its user made in the state
 * dir, so the node's SSH user can delete them (best effort; a container that is not running has
 * none made since it was last released).
 */
async function releaseStateDir(ctx: DriverContext, info: { Id: string; labels: Record<string, string> | undefined; running: boolean }, name: string): Promise<void> {
  if (!info.running || userOf(info.labels) === undefined) return;
  await dockerExec(rootTarget(ctx, info.Id, name), RELEASE_STATE_DIR_ARGV, { timeoutMs: 30_000 }).catch(() => undefined);
}

function alreadyExists(ctx: DriverContext, name: string, cause?: unknown): ProviderError {
  return new ProviderError(
    `workspace ${name}: a container named ${containerName(name)} already exists on node ${nodeName(ctx)}; ` +
      `delete the workspace first (vendetta delete workspace ${name}) or remove that container`,
    undefined,
    true,
    { cause },
  );
}

/**
 * Removes our container of that name (with its anonymous volumes); missing is fine. Resolves with
 * the node state dir its label names, if any.
 */
async function removeContainer(ctx: DriverContext, workspace: string, container: string, networks?: Set<string>): Promise<string | undefined> {
  const info = await inspectManaged(ctx, workspace, container);
  if (!info) return undefined;
  const dir = labelledStateDir(info.Config.Labels, nodeName(ctx), workspace);
  const network = info.Config.Labels?.[LABEL_NETWORK];
  if (network) networks?.add(network);
  await releaseStateDir(ctx, { Id: info.Id, labels: info.Config.Labels, running: info.State.Running }, workspace);
  try {
    await engine.remove(ctx, info.Id);
  } catch (err) {
    // 404: gone meanwhile; 409: a removal is already in progress.
    if (statusCode(err) === 404 || statusCode(err) === 409) return dir;
    throw fail(ctx, `delete of workspace ${workspace}`, err);
  }
  return dir;
}

/**
 * The workspace's docker volumes: kept when they exist (that is the point), made when they do
 * not. A volume of that name that is not ours for this workspace is never used.
 */
async function ensureVolumes(ctx: DriverContext, ws: DesiredWorkspace): Promise<void> {
  if (!ws.resource.spec.volumes?.length) return;
  const docker = clientOf(ctx);
  const workspace = ws.resource.metadata.name;
  await Promise.all(
    (ws.resource.spec.volumes ?? []).map(async (v) => {
      const name = volumeName(workspace, v.name);
      let labels: Record<string, string> | null | undefined;
      try {
        labels = (await dockerGet<{ Labels?: Record<string, string> | null }>(ctx.transport, socketOf(ctx), `/volumes/${encodeURIComponent(name)}`)).Labels;
      } catch (err) {
        if (statusCode(err) !== 404) throw fail(ctx, `inspect of volume ${name}`, err);
        await docker.createVolume({ Name: name, Labels: volumeLabels(ws, v, ctx.applySet) }).catch((e: unknown) => {
          throw fail(ctx, `create of volume ${name}`, e);
        });
        return;
      }
      if (!isOurVolume(labels, nodeName(ctx), workspace, v.name)) {
        throw new ProviderError(
          `volume ${name} on node ${nodeName(ctx)} exists but is not vendetta's volume ${v.name} of workspace ${workspace} on this node`,
          'vendetta never uses it: remove or rename that docker volume, or rename the volume in spec.volumes',
          true,
        );
      }
    }),
  );
}

export function createDockerDriver(): ProviderDriver {
  return {
    name: 'docker',
    // create/start return once the container runs its /bin/sh agent (a missing shell fails the start).
    startedMeansRunning: true,

    async availability(ctx): Promise<ProviderAvailability> {
      try {
        const v = await dockerGet<{ Version: string; ApiVersion: string; Os: string; Arch: string }>(ctx.transport, socketOf(ctx), '/version');
        return { available: true, version: `${v.Version} (API ${v.ApiVersion})`, detail: `${v.Os}/${v.Arch}` };
      } catch (err) {
        return { available: false, ...(await diagnoseSocket(ctx, err)) };
      }
    },

    async observe(ctx): Promise<ObservedWorkspace[]> {
      // One round trip: the listing, and alongside it one node exec that reads the services of
      // every workspace state dir under the node's state root.
      const [containers, underRoot] = await Promise.all([listOurs(ctx), readStateRoot(ctx)]);
      const services = await servicesOf(ctx, containers, underRoot);
      return mergeObserved(
        containers.map((info) => {
          const ws = observedFromContainer(info);
          return !ws.running || ws.incomplete ? ws : { ...ws, services: services.get(ws.name) ?? [] };
        }),
      );
    },

    async observeServices(ctx, workspaces): Promise<Map<string, ObservedService[]>> {
      if (workspaces.length === 0) return new Map();
      const wanted = new Set(workspaces);
      // The listing says where each one's state lives (and which are running at all).
      const containers = (await listOurs(ctx)).filter((info) => wanted.has(observedFromContainer(info).name));
      // Only these: a read of the whole state root would grow with the workspaces not asked for.
      return servicesOf(ctx, containers);
    },

    async deleteMany(ctx, names): Promise<Map<string, Error>> {
      const errors = new Map<string, Error>();
      if (names.length === 0) return errors;
      const wanted = new Set(names);
      let containers: Docker.ContainerInfo[];
      let root: string;
      try {
        containers = (await listOurs(ctx)).filter((info) => wanted.has(info.Labels?.[LABEL_NAME] ?? ''));
        root = await stateRootOf(ctx);
      } catch (err) {
        for (const name of names) errors.set(name, err as Error);
        return errors;
      }
      // Concurrent requests on the node's one SSH connection (each rides its own forwarded stream).
      await Promise.all(
        containers.map(async (info) => {
          const name = info.Labels![LABEL_NAME]!;
          await releaseStateDir(ctx, { Id: info.Id, labels: info.Labels, running: info.State === 'running' }, name);
          try {
            await engine.remove(ctx, info.Id);
          } catch (err) {
            if (statusCode(err) === 404 || statusCode(err) === 409) return;
            errors.set(name, fail(ctx, `delete of workspace ${name}`, err));
          }
        }),
      );
      // Networks left without a workspace go with their last one.
      try {
        await removeUnusedNetworks(ctx, containers.map((c) => c.Labels?.[LABEL_NETWORK]).filter((n): n is string => !!n));
      } catch (err) {
        for (const info of containers) if (info.Labels?.[LABEL_NETWORK]) errors.set(info.Labels![LABEL_NAME]!, err as Error);
      }
      // Then their state dirs, one exec: the default place and wherever a label said.
      const dirs: Array<{ name: string; dir: string }> = [];
      for (const name of names) {
        if (errors.has(name)) continue; // the container is still there: keep what it uses
        dirs.push({ name, dir: workspaceStateDir(root, name) });
      }
      for (const info of containers) {
        const name = info.Labels![LABEL_NAME]!;
        const dir = labelledStateDir(info.Labels, nodeName(ctx), name);
        if (dir && !errors.has(name) && !dirs.some((d) => d.dir === dir)) dirs.push({ name, dir });
      }
      try {
        for (const [name, why] of await removeStateDirs(ctx, dirs)) errors.set(name, new Error(`workspace ${name}: ${why}`));
      } catch (err) {
        for (const { name } of dirs) errors.set(name, err as Error);
      }
      // Their built images (spec.build), best effort.
      const built = names.filter((n) => !errors.has(n));
      if (built.length > 0) {
        const { removeBuiltImages } = await import('./build.js');
        const io = buildIo(ctx);
        await Promise.all(built.map((n) => removeBuiltImages(ctx, io, n)));
      }
      return errors;
    },

    async create(ctx, ws: DesiredWorkspace): Promise<CreatedWorkspace | undefined> {
      const { spec, metadata } = ws.resource;
      const name = metadata.name;
      if (!spec.image && !ws.build) throw new Error(`workspace ${name}: spec.image or spec.build is required for the docker provider (e.g. image: debian:12)`);
      const image = ws.build?.tag ?? spec.image!;
      containerCreateOptions(ws, ctx.applySet, image); // validates ports and memory before anything is done
      // Independent checks, at the same time: the image, the names, the node's state root.
      const [stateRoot, imageConfig] = await Promise.all([
        stateRootOf(ctx),
        ws.build
          ? import('./build.js').then(async ({ ensureBuiltImage }) => {
              await ensureBuiltImage(ctx, buildIo(ctx), ws);
              return (await engine.image(ctx, image)).Config;
            })
          : ensureImage(ctx, image, spec.pull ?? 'missing'),
        ensureNetwork(ctx, ws),
        // A half-made container of an earlier, interrupted create (ours only: inspectManaged
        // refuses anything without our label).
        removeContainer(ctx, name, creatingContainerName(name)),
        engine
          .inspect(ctx, containerName(name))
          .then(
            () => Promise.reject(alreadyExists(ctx, name)),
            (err: unknown) => (statusCode(err) === 404 ? undefined : Promise.reject(fail(ctx, `inspect of workspace ${name}`, err))),
          ),
      ]);
      await ensureVolumes(ctx, ws);
      const stateDir = workspaceStateDir(stateRoot, name);
      const options = containerCreateOptions(ws, ctx.applySet, image, stateDir, imageCommandLabels(imageConfig));
      // source.git: fetched on the node, brought here as one tar, put in like source.path's.
      const git = spec.source?.git ? await fetchGitTar(ctx.transport, spec.source.git, `${WORKSPACE_DIR.replace(/^\/+/, '')}/`, ctx.progress) : undefined;
      if (git) options.Labels = { ...options.Labels, [LABEL_GIT_COMMIT]: git.commit };
      // The state dir, fresh and made by the SSH user (who can then remove what the container
      // writes into it): a leftover of an earlier workspace of this name must not show services.
      // spec.user: the container's user installs and runs the services in it, so it is open to
      // every user (1777, as lxc's) under a node dir only the SSH user enters (0700). Otherwise
      // the node starts services through the workspace's agent, which meets it there (./agent.ts).
      const user = isRootUser(spec.user) ? undefined : spec.user;
      const makeDir = user
        ? 'rm -rf -- "$1" && mkdir -p -- "$1" && chmod 700 -- "${1%/*}" && chmod 1777 -- "$1"'
        : `rm -rf -- "$1" && mkdir -p -- "$1" && ${MAKE_AGENT_FILES}`;
      checkNode(
        await ctx.transport.exec(['/bin/sh', '-c', makeDir, 'sh', stateDir]),
        `making the state dir ${stateDir} of workspace ${name}`,
        ctx,
      );

      // Made under a temporary name and renamed last: until the rename it is observed as
      // incomplete, so a create killed half-way is recreated, never mistaken for the workspace.
      let id: string;
      try {
        ({ Id: id } = await engine.create(ctx, { ...options, name: options.name! }));
      } catch (err) {
        throw fail(ctx, `create of workspace ${name}`, err);
      }
      // Undo on failure; a kill -9 leaves it incomplete for the next pass instead.
      try {
        // Without source there is nothing to upload: Docker makes the WorkingDir (/workspace) itself.
        const sourceDir = sourceDirOf(ws);
        if (spec.source?.path !== undefined && sourceDir !== undefined) {
          ctx.progress?.(`uploading ${spec.source.path} to ${name}:${WORKSPACE_DIR}`);
          const { workspaceArchive } = await import('./archive.js'); // tar-stream: only with a source
          await clientOf(ctx).getContainer(id).putArchive(workspaceArchive(sourceDir, true), { path: '/' }).catch((err: unknown) => {
            throw fail(ctx, `upload of ${spec.source?.path} to workspace ${name}`, err);
          });
        } else if (git) {
          ctx.progress?.(`uploading commit ${git.commit.slice(0, 12)} to ${name}:${WORKSPACE_DIR}`);
          await clientOf(ctx).getContainer(id).putArchive(git.tar, { path: '/' }).catch((err: unknown) => {
            throw fail(ctx, `upload of commit ${git.commit} to workspace ${name}`, err);
          });
        }
        if ((spec.state ?? 'running') === 'running') {
          await startContainer(ctx, id, name, spec.ports);
          if (user) await prepareUser(ctx, id, { name, user, volumePaths: userVolumePaths(spec.volumes) });
        }
        await engine.rename(ctx, id, containerName(name)).catch((err: unknown) => {
          if (statusCode(err) === 409) throw alreadyExists(ctx, name, err);
          throw fail(ctx, `rename of workspace ${name} to ${containerName(name)}`, err);
        });
      } catch (err) {
        await engine.remove(ctx, id).catch(() => undefined);
        await ctx.transport.exec(['rm', '-rf', '--', stateDir]).catch(() => undefined);
        throw err;
      }
      return git ? { gitCommit: git.commit } : undefined;
    },

    async listVolumes(ctx, workspaces): Promise<ObservedVolume[]> {
      if (workspaces?.length === 0) return [];
      const filters = { label: [MANAGED_SELECTOR, `${LABEL_KIND}=Volume`, `${LABEL_NODE}=${nodeName(ctx)}`, ...(workspaces?.length === 1 ? [`${LABEL_WORKSPACE}=${workspaces[0]}`] : [])] };
      let body: { Volumes?: Array<{ Name: string; Labels?: Record<string, string> | null }> | null };
      try {
        body = await dockerGet(ctx.transport, socketOf(ctx), `/volumes?filters=${encodeURIComponent(JSON.stringify(filters))}`);
      } catch (err) {
        throw fail(ctx, 'listing of volumes', err);
      }
      const all = observedVolumes(body.Volumes ?? [], nodeName(ctx));
      return workspaces ? all.filter((v) => workspaces.includes(v.workspace)) : all;
    },

    async deleteVolumes(ctx, volumes): Promise<void> {
      const docker = clientOf(ctx);
      await Promise.all(
        volumes.map(async (v) => {
          // By the name we give it, not the handle: only our own volume is ever removed.
          const name = volumeName(v.workspace, v.name);
          try {
            const info = await dockerGet<{ Labels?: Record<string, string> | null }>(ctx.transport, socketOf(ctx), `/volumes/${encodeURIComponent(name)}`);
            if (!isOurVolume(info.Labels, nodeName(ctx), v.workspace, v.name)) return;
            await docker.getVolume(name).remove();
          } catch (err) {
            if (statusCode(err) === 404) return;
            throw fail(ctx, `removal of volume ${name}`, err);
          }
        }),
      );
    },

    async start(ctx, name): Promise<void> {
      const info = await inspectManaged(ctx, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName(ctx)}; apply it to create it`);
      const ports = Object.entries(info.HostConfig.PortBindings ?? {}).flatMap(([key, binds]) =>
        ((binds as Array<{ HostIp?: string; HostPort?: string }> | null) ?? []).map(
          (b) => `${b.HostIp ? `${b.HostIp}:` : ''}${b.HostPort}:${key}`,
        ),
      );
      await startContainer(ctx, info.Id, name, ports);
      // A spec.user workspace created stopped: its /workspace is handed over at its first start.
      const user = userOf(info.Config.Labels);
      if (user) {
        const volumePaths = (info.Mounts ?? []).filter((m) => m.Type === 'volume').map((m) => m.Destination);
        await prepareUser(ctx, info.Id, { name, user, volumePaths });
      }
    },

    async stop(ctx, name): Promise<void> {
      const info = await inspectManaged(ctx, name);
      if (!info || !info.State.Running) return;
      await releaseStateDir(ctx, { Id: info.Id, labels: info.Config.Labels, running: true }, name);
      try {
        await clientOf(ctx).getContainer(info.Id).stop({ t: STOP_TIMEOUT_S });
      } catch (err) {
        if (statusCode(err) === 304 || statusCode(err) === 404) return;
        throw fail(ctx, `stop of workspace ${name}`, err);
      }
    },

    async delete(ctx, name, opts): Promise<void> {
      // The workspace, and a half-made one from an interrupted create; then their state dirs.
      const networks = new Set<string>();
      const labelled = [await removeContainer(ctx, name, containerName(name), networks), await removeContainer(ctx, name, creatingContainerName(name), networks)];
      await removeUnusedNetworks(ctx, networks);
      const dirs = new Set([workspaceStateDir(await stateRootOf(ctx), name), ...labelled.filter((d): d is string => !!d)]);
      const failed = await removeStateDirs(ctx, [...dirs].map((dir) => ({ name, dir })));
      const why = failed.get(name);
      if (why) throw new Error(`workspace ${name}: ${why}`);
      // Its built images (spec.build), best effort; a recreate keeps them for the create that
      // follows, which removes the older ones once it has built (see ./build.ts).
      if (!opts?.replacing) {
        const { removeBuiltImages } = await import('./build.js');
        await removeBuiltImages(ctx, buildIo(ctx), name);
      }
    },

    async runtime(ctx, name): Promise<WorkspaceRuntime> {
      const info = await inspectManaged(ctx, name);
      if (!info) throw new Error(`workspace ${name} does not exist on node ${nodeName(ctx)}; apply it to create it`);
      if (!info.State.Running) {
        throw new Error(`workspace ${name} on node ${nodeName(ctx)} is stopped; set state: running and apply to start it`);
      }
      const target = execTarget(ctx, info.Id, name);
      const address =
        containerAddress(info.NetworkSettings.Networks as Record<string, { IPAddress?: string }>, info.HostConfig.NetworkMode) ??
        '127.0.0.1';
      // spec.user: the service files are written from inside, by that user (its env file stays
      // 0600 and its own); the node's SSH user could not write where the user's supervisor does.
      const nodeDir = userOf(info.Config.Labels) ? undefined : labelledStateDir(info.Config.Labels, nodeName(ctx), name);
      const { transport } = ctx;
      const exec = (argv: string[], opts?: ExecOptions) => dockerExec(target, argv, opts);
      return {
        workspaceDir: WORKSPACE_DIR,
        stateDir: STATE_DIR,
        // Service files are written, and their state read, from the node (a bind mount).
        ...(nodeDir ? { nodeState: { dir: nodeDir, exec: (argv, opts) => transport.exec(argv, opts), liveness: 'lock' as const } } : {}),
        address,
        exec,
        // vendetta's own service commands: through the agent, one node exec instead of a docker
        // exec, where the workspace has one.
        ...(nodeDir && info.Config.Labels?.[LABEL_AGENT] ? { serviceExec: agentExec(transport, nodeDir, exec) } : {}),
        spawn: (argv, opts) => dockerSpawn(target, argv, opts),
        // docker exec gives the container's own environment (image ENV + workspace env), never
        // the controller's: services keep what the image declares.
        serviceEnv: 'inherit',
        image: {
          ...(info.Config.Labels?.[LABEL_IMAGE_ENTRYPOINT] ? { entrypoint: info.Config.Labels[LABEL_IMAGE_ENTRYPOINT] } : {}),
          ...(info.Config.Labels?.[LABEL_IMAGE_CMD] ? { cmd: info.Config.Labels[LABEL_IMAGE_CMD] } : {}),
          ...(info.Config.Labels?.[LABEL_IMAGE_WORKDIR] ? { workdir: info.Config.Labels[LABEL_IMAGE_WORKDIR] } : {}),
        },
      };
    },
  };
}

/**
 * Why the Docker socket did not answer, in words a user can act on. The connection error alone
 * cannot tell (over SSH every failure is "open failed"), so look at the socket on the node.
 */
async function diagnoseSocket(ctx: DriverContext, err: unknown): Promise<{ detail: string; hint: string }> {
  const socket = socketOf(ctx);
  const node = nodeName(ctx);
  const detail = `cannot reach the Docker Engine at ${socket} on node ${node}: ${describeDockerError(err)}`;
  let probe = '';
  try {
    const result = await ctx.transport.exec(
      ['/bin/sh', '-c', 'if [ ! -S "$1" ]; then echo missing; elif [ ! -r "$1" ] || [ ! -w "$1" ]; then echo denied; else echo ok; fi; id -un', 'sh', socket],
      { timeoutMs: 10_000 },
    );
    probe = result.stdout;
  } catch {
    // Node unreachable: the connection error already says so.
  }
  const [state, user] = probe.trim().split('\n');
  if (state === 'denied') {
    return { detail, hint: `add user ${user ?? 'the SSH user'} to the docker group on node ${node} (sudo usermod -aG docker ${user ?? '$USER'}), then reconnect` };
  }
  if (state === 'missing') {
    return { detail, hint: `install docker.io on node ${node} and start dockerd (no socket at ${socket}), or set spec.providers.docker.socket` };
  }
  return { detail, hint: `check that dockerd is running on node ${node} and listening on ${socket} (docker -H unix://${socket} version)` };
}
