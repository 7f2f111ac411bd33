// Pure translation between vendetta's model and the Docker Engine API: container create options,
// labels, observed workspaces, and error messages a user can act on. No I/O here.
import { posix } from 'node:path';
import type Docker from 'dockerode';
import { LOCAL_ADDRESS, LOCAL_NODE, type NodeResource, type ObservedService, type ObservedWorkspace } from '../../model/types.js';
import { parsePortSpec, type PortSpec } from '../../model/ports.js';
import { parseQuantity } from '../../model/quantity.js';
import { volumeMountPath } from '../../model/volumes.js';
import type { ObservedVolume, VolumeSpec } from '../../model/types.js';
import type { DesiredWorkspace } from '../types.js';
import { CONTAINER_USER } from '../../model/user.js';

export { isRootUser } from '../../model/user.js';

export const LABEL_MANAGED = 'vendetta.dev/managed';
export const LABEL_KIND = 'vendetta.dev/kind';
export const LABEL_NAME = 'vendetta.dev/name';
export const LABEL_SPEC_HASH = 'vendetta.dev/spec-hash';
export const LABEL_APPLY_SET = 'vendetta.dev/applyset';
/** The Node the workspace belongs to: nodes may share one dockerd, each sees only its own. */
export const LABEL_NODE = 'vendetta.dev/node';
/** The vendetta store that made it (StoreIdentity.id) and its human name, for conflicts. */
export const LABEL_OWNER = 'vendetta.dev/owner';
export const LABEL_OWNER_NAME = 'vendetta.dev/owner-name';
/**
 * Where, on the node, the workspace's service state lives (bind-mounted at STATE_DIR): a listing
 * alone tells where to read every workspace's services. Absent on containers of an older vendetta,
 * whose state lives only inside the container.
 */
export const LABEL_STATE_DIR = 'vendetta.dev/state-dir';
/** The commit source.git resolved to when the workspace was made. */
export const LABEL_GIT_COMMIT = 'vendetta.dev/git-commit';
/** On volumes: which workspace and which of its volumes (identity with LABEL_NODE), and the declared size. */
export const LABEL_WORKSPACE = 'vendetta.dev/workspace';
export const LABEL_VOLUME = 'vendetta.dev/volume';
/** Recorded only: docker's local driver does not limit a volume's size. */
export const LABEL_SIZE = 'vendetta.dev/size';

/** On networks: which spec.network.name (with LABEL_NODE); on containers: the network they joined. */
export const LABEL_NETWORK = 'vendetta.dev/network';
/** What the image runs by itself (ENTRYPOINT and CMD, each as a shell line) and its WORKDIR, read at create. */
export const LABEL_IMAGE_ENTRYPOINT = 'vendetta.dev/image-entrypoint';
export const LABEL_IMAGE_CMD = 'vendetta.dev/image-cmd';
export const LABEL_IMAGE_WORKDIR = 'vendetta.dev/image-workdir';
/**
 * On containers made with spec.user: that user. The listing alone then tells which state dirs
 * hold files of a user other than the node's SSH user (opened up before a stop or delete).
 */
export const LABEL_USER = 'vendetta.dev/user';
/** On containers: the build hash of the image it runs (spec.build). On built images: their build hash. */
export const LABEL_BUILD_HASH = 'vendetta.dev/build-hash';

/** The only selector used to list containers: anything without it is never touched. */
export const MANAGED_SELECTOR = `${LABEL_MANAGED}=true`;

export const WORKSPACE_DIR = '/workspace';
export const STATE_DIR = '/var/lib/vendetta';

/** Set on workspaces whose main process is the agent (./agent.ts): the node may ask it. */
export const LABEL_AGENT = 'vendetta.dev/agent';

/**
 * The main process of every workspace, under Docker's init (HostConfig.Init: a real init that
 * forwards signals and reaps the services' orphans). It sleeps until told to stop, and serves the
 * node's requests (./agent.ts) only when the node made its two FIFOs; otherwise,
 * or once serving fails, it only sleeps (as every workspace's did before the agent: those carry no
 * LABEL_AGENT and get docker execs).
 * - The serving loop is a background subshell the main shell waits on: a failed redirection there
 *   ends the subshell, never the container, and `wait` lets the TERM trap run at once, so
 *   `docker stop` stays quick.
 * - Each request runs in a process of its own, orphaned at once (the inner `&` in a subshell the
 *   loop waits for), so Docker's init reaps it and the loop never collects zombies.
 */
export const AGENT_SCRIPT = `a=''
trap '[ -z "$a" ] || kill "$a" 2>/dev/null; exit 0' TERM INT
d=${STATE_DIR}
if [ -p "$d/.agent" ] && [ -r "$d/.agent" ] && [ -w "$d/.agent" ] && [ -p "$d/.agent.alive" ] && [ -r "$d/.agent.alive" ]; then
  (
    exec 8<>"$d/.agent" 9<>"$d/.agent.alive" || exit 1
    while :; do
      r=''
      IFS= read -r r <&8 || exit 1
      case $r in '' | *[!A-Za-z0-9._-]*) continue ;; esac
      q="$d/.req/$r"
      ( (exec 8<&- 9>&-; { sh "$q.sh" 2>"$q.err"; echo $? > "$q.rc"; } > "$q.out") & )
    done
  ) &
  a=$!
  wait "$a"
  a=''
fi
while :; do sleep 3600 & wait $!; done`;


const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The node directory holding this node's workspace state dirs: <stateRoot>/<node>. The node name
 * keeps two Nodes on one machine (one login user, one home) from ever sharing a state dir. Pure:
 * the caller supplies the SSH user's home and VENDETTA_HOME. Without the home (`undefined`), a
 * root under it comes out as "~/…", for a node-side script to resolve (nodeStatusUnderArgv).
 */
export function dockerStateRoot(node: NodeResource, home: string | undefined, vendettaHome: string | undefined): string {
  const configured = node.spec.providers?.docker?.stateRoot;
  const underHome = (rest: string) => (home === undefined ? `~/${rest}` : posix.join(home, rest));
  let root: string;
  if (configured) {
    root = configured === '~' ? underHome('') : configured.startsWith('~/') ? underHome(configured.slice(2)) : configured;
  } else {
    const isLocal = node.metadata.name === LOCAL_NODE || node.spec.address === LOCAL_ADDRESS;
    root = isLocal && vendettaHome ? posix.join(vendettaHome, 'docker') : underHome('.vendetta/docker');
  }
  if (!posix.isAbsolute(root) && !(home === undefined && root.startsWith('~/'))) {
    throw new Error(`node ${node.metadata.name}: spec.providers.docker.stateRoot must be an absolute path or start with ~/ (got ${JSON.stringify(configured)})`);
  }
  return posix.join(posix.normalize(root), node.metadata.name);
}

/** The node-side state dir of one workspace; refuses names that could escape the root. */
export function workspaceStateDir(nodeRoot: string, workspace: string): string {
  if (!NAME.test(workspace)) {
    throw new Error(`invalid workspace name ${JSON.stringify(workspace)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
  return posix.join(nodeRoot, workspace);
}

/**
 * The state dir a container's label names, if it is one we would have made for this workspace on
 * this node (absolute, ending in /<node>/<workspace>): a label is never trusted as a path to
 * remove otherwise.
 */
export function labelledStateDir(labels: Record<string, string> | undefined, node: string, workspace: string): string | undefined {
  const dir = labels?.[LABEL_STATE_DIR];
  if (!dir || !posix.isAbsolute(dir) || posix.normalize(dir) !== dir) return undefined;
  return dir.endsWith(`/${node}/${workspace}`) ? dir : undefined;
}

export function containerName(workspace: string): string {
  return `vendetta-${workspace}`;
}

/**
 * The name a container has while it is being made. Renaming it to containerName() is the last
 * step of create: a container still under this name is a create that never finished (the CLI was
 * killed mid-upload, say), and listContainers shows it without an extra call. "." cannot occur
 * in a workspace name (DNS label), so it never collides with another workspace's container.
 */
export function creatingContainerName(workspace: string): string {
  return `${containerName(workspace)}.creating`;
}

export function workspaceLabels(ws: DesiredWorkspace, applySet: string): Record<string, string> {
  return {
    [LABEL_MANAGED]: 'true',
    [LABEL_KIND]: 'Workspace',
    [LABEL_NAME]: ws.resource.metadata.name,
    [LABEL_SPEC_HASH]: ws.specHash,
    [LABEL_APPLY_SET]: applySet,
    [LABEL_NODE]: ws.resource.spec.node,
    [LABEL_OWNER]: ws.owner.id,
    [LABEL_OWNER_NAME]: ws.owner.name,
  };
}

function portKey(p: PortSpec): string {
  return `${p.containerPort}/${p.protocol}`;
}

/**
 * A workspace volume's docker volume. "." never occurs in a workspace or volume name (DNS
 * labels), so no two (workspace, volume) pairs share a name.
 */
export function volumeName(workspace: string, volume: string): string {
  return `vendetta-${workspace}.${volume}`;
}

export function volumeLabels(ws: DesiredWorkspace, v: VolumeSpec, applySet: string): Record<string, string> {
  return {
    [LABEL_MANAGED]: 'true',
    [LABEL_KIND]: 'Volume',
    [LABEL_NODE]: ws.resource.spec.node,
    [LABEL_WORKSPACE]: ws.resource.metadata.name,
    [LABEL_VOLUME]: v.name,
    [LABEL_APPLY_SET]: applySet,
    [LABEL_OWNER]: ws.owner.id,
    [LABEL_OWNER_NAME]: ws.owner.name,
    ...(v.size !== undefined ? { [LABEL_SIZE]: v.size } : {}),
  };
}

/** Is this docker volume the one we make for (node, workspace, volume)? Never touch another. */
export function isOurVolume(labels: Record<string, string> | null | undefined, node: string, workspace: string, volume: string): boolean {
  return labels?.[LABEL_MANAGED] === 'true' && labels[LABEL_KIND] === 'Volume' && labels[LABEL_NODE] === node && labels[LABEL_WORKSPACE] === workspace && labels[LABEL_VOLUME] === volume;
}

/** GET /volumes entries (filtered by our labels) → ObservedVolume; anything else is skipped. */
export function observedVolumes(list: Array<{ Name: string; Labels?: Record<string, string> | null }>, node: string): ObservedVolume[] {
  const out: ObservedVolume[] = [];
  for (const v of list) {
    const labels = v.Labels ?? {};
    const workspace = labels[LABEL_WORKSPACE];
    const name = labels[LABEL_VOLUME];
    if (!workspace || !name || !isOurVolume(labels, node, workspace, name) || v.Name !== volumeName(workspace, name)) continue;
    out.push({ workspace, name, handle: v.Name, ...(labels[LABEL_SIZE] ? { size: labels[LABEL_SIZE] } : {}) });
  }
  return out;
}

/**
 * A spec.network.name's docker network on a node. Nodes may share one dockerd, so the node is in
 * the name ("." never occurs in a node or network name: DNS labels).
 */
export function networkName(node: string, network: string): string {
  return `vendetta-net.${node}.${network}`;
}

export function networkLabels(ws: DesiredWorkspace, network: string, applySet: string): Record<string, string> {
  return {
    [LABEL_MANAGED]: 'true',
    [LABEL_KIND]: 'Network',
    [LABEL_NODE]: ws.resource.spec.node,
    [LABEL_NETWORK]: network,
    [LABEL_APPLY_SET]: applySet,
    [LABEL_OWNER]: ws.owner.id,
    [LABEL_OWNER_NAME]: ws.owner.name,
  };
}

/** A POSIX shell line that runs exactly these words (image ENTRYPOINT + CMD). */
export function shellLine(words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The labels recording what an image runs by itself (from GET /images/<name>/json's Config). */
export function imageCommandLabels(config: { Entrypoint?: string[] | string | null; Cmd?: string[] | string | null; WorkingDir?: string | null } | undefined): Record<string, string> {
  const list = (v: string[] | string | null | undefined) => (v == null ? [] : Array.isArray(v) ? v : [v]);
  const entrypoint = list(config?.Entrypoint);
  const cmd = list(config?.Cmd);
  return {
    ...(entrypoint.length > 0 ? { [LABEL_IMAGE_ENTRYPOINT]: shellLine(entrypoint) } : {}),
    ...(cmd.length > 0 ? { [LABEL_IMAGE_CMD]: shellLine(cmd) } : {}),
    ...(config?.WorkingDir ? { [LABEL_IMAGE_WORKDIR]: config.WorkingDir } : {}),
  };
}

/** Compose-syntax port strings → ExposedPorts + PortBindings. Throws on invalid syntax. */
export function portBindings(ports: string[] | undefined): {
  exposed: Record<string, object>;
  bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  specs: PortSpec[];
} {
  const specs = (ports ?? []).map(parsePortSpec);
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of specs) {
    exposed[portKey(p)] = {};
    (bindings[portKey(p)] ??= []).push({ HostIp: p.hostIp ?? '', HostPort: String(p.hostPort) });
  }
  return { exposed, bindings, specs };
}

/** The full createContainer body for a desired workspace. */
export function containerCreateOptions(
  ws: DesiredWorkspace,
  applySet: string,
  image: string,
  stateDir?: string,
  imageLabels: Record<string, string> = {},
): Docker.ContainerCreateOptions {
  const { resource, env } = ws;
  const name = resource.metadata.name;
  const { exposed, bindings } = portBindings(resource.spec.ports);
  const resources = resource.spec.resources ?? {};
  const hostConfig: Docker.HostConfig = {
    Init: true,
    PortBindings: bindings,
  };
  // The supervisor's state on the node (made by the SSH user before create): one node exec reads
  // all workspaces' services. A Mount, not a Bind: a missing source fails instead of being made
  // by dockerd as root.
  const mounts: Docker.MountSettings[] = (resource.spec.volumes ?? []).map((v) => ({
    Type: 'volume',
    Source: volumeName(name, v.name),
    Target: volumeMountPath(v.path, WORKSPACE_DIR),
  }));
  if (stateDir) mounts.unshift({ Type: 'bind', Source: stateDir, Target: STATE_DIR });
  if (mounts.length > 0) hostConfig.Mounts = mounts;
  if (resources.cpus !== undefined) hostConfig.NanoCpus = Math.round(resources.cpus * 1e9);
  if (resources.memory !== undefined) hostConfig.Memory = parseQuantity(resources.memory);
  // spec.network: absent, docker's default bridge (and no key at all: the body stays as before).
  const network = resource.spec.network;
  const node = resource.spec.node;
  let networking: Pick<Docker.ContainerCreateOptions, 'NetworkingConfig'> = {};
  let networkLabel: Record<string, string> = {};
  if (network?.mode !== undefined) {
    hostConfig.NetworkMode = network.mode.startsWith('service:') ? `container:${containerName(network.mode.slice('service:'.length))}` : network.mode;
  } else if (network?.name !== undefined) {
    const net = networkName(node, network.name);
    hostConfig.NetworkMode = net;
    networking = { NetworkingConfig: { EndpointsConfig: { [net]: { Aliases: network.aliases ?? [] } } } };
    networkLabel = { [LABEL_NETWORK]: network.name };
  }
  // Docker refuses a hostname for a container that shares another's network namespace.
  const sharesNetwork = network?.mode?.startsWith('service:') === true;
  return {
    name: creatingContainerName(name),
    ...(sharesNetwork ? {} : { Hostname: name }),
    Image: image,
    // Entrypoint, not Cmd: an image's own entrypoint must not wrap our keep-alive.
    Entrypoint: ['/bin/sh', '-c', AGENT_SCRIPT],
    Cmd: [],
    WorkingDir: WORKSPACE_DIR,
    // spec.user: docker exec defaults to it, so everything vendetta runs inside runs as it too.
    ...(resource.spec.user !== undefined ? { User: resource.spec.user } : {}),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: {
      ...workspaceLabels(ws, applySet),
      ...(stateDir ? { [LABEL_STATE_DIR]: stateDir, [LABEL_AGENT]: '1' } : {}),
      ...(ws.build ? { [LABEL_BUILD_HASH]: ws.build.hash } : {}),
      ...(resource.spec.user !== undefined ? { [LABEL_USER]: resource.spec.user } : {}),
      ...networkLabel,
      ...imageLabels,
    },
    ExposedPorts: exposed,
    HostConfig: hostConfig,
    ...networking,
  };
}

/**
 * The argv, run as root inside the container once it runs, that hands /workspace to spec.user:
 * every file of it but the workspace's volumes (`volumePaths`, their mount points: a named volume
 * stays as docker made it, root's unless the image prepared it) and anything on another mount. No
 * shell reads the user or the paths: they go to find as words. A marker in the state dir says it
 * was done, so it runs once per container (a workspace created stopped gets it at its first start).
 */
export function prepareUserArgv(user: string, volumePaths: string[] = []): string[] {
  if (!CONTAINER_USER.test(user)) throw new Error(`invalid spec.user ${JSON.stringify(user)}: write a user name, a uid or "uid:gid"`);
  const prune = volumePaths.length === 0 ? [] : ['(', ...volumePaths.flatMap((p, i) => [...(i > 0 ? ['-o'] : []), '-path', p]), ')', '-prune', '-o'];
  const body = `[ -e "$1/${USER_PREPARED}" ] && exit 0
s=$1
shift
"$@" || exit 1
: > "$s/${USER_PREPARED}"`;
  return ['/bin/sh', '-c', body, 'sh', STATE_DIR, 'find', WORKSPACE_DIR, '-xdev', ...prune, '-exec', 'chown', '-h', user, '{}', '+'];
}

/** Where the workspace's volumes are mounted in the container (prepareUserArgv leaves them be). */
export function userVolumePaths(volumes: VolumeSpec[] | undefined): string[] {
  return (volumes ?? []).map((v) => volumeMountPath(v.path, WORKSPACE_DIR));
}

/** The marker prepareUserArgv leaves in the state dir. */
export const USER_PREPARED = '.user-prepared';

/**
 * The argv, run as root inside the container before it stops or is removed, that opens up the
 * directories spec.user made in the state dir (a+rwx): the node's SSH user, who owns the state
 * dir, can then delete everything in it. Best effort, as lxc does (src/providers/lxc/driver.ts).
 */
export const RELEASE_STATE_DIR_ARGV = ['/bin/sh', '-c', `find ${STATE_DIR} -mindepth 1 -type d -exec chmod a+rwx {} + 2>/dev/null; exit 0`];

/** The container's IP on its (first) network, as listContainers/inspect report it. */
export function containerAddress(
  networks: Record<string, { IPAddress?: string }> | undefined,
  networkMode?: string,
): string | undefined {
  for (const net of Object.values(networks ?? {})) {
    if (net.IPAddress) return net.IPAddress;
  }
  // Host networking: services listen on the node itself.
  if (networkMode === 'host') return '127.0.0.1';
  return undefined;
}

/**
 * Containers of one workspace name → one ObservedWorkspace each. A leftover half-made container
 * next to a complete one makes the workspace incomplete: the recreate removes both.
 */
export function mergeObserved(list: ObservedWorkspace[]): ObservedWorkspace[] {
  const byName = new Map<string, ObservedWorkspace>();
  for (const ws of list) {
    const seen = byName.get(ws.name);
    if (!seen) byName.set(ws.name, ws);
    else if (ws.incomplete) byName.set(ws.name, { ...seen, incomplete: true });
    else if (seen.incomplete) byName.set(ws.name, { ...ws, incomplete: true });
  }
  return [...byName.values()];
}

/** One listContainers entry (with our labels) → an ObservedWorkspace; services filled in later. */
export function observedFromContainer(info: Docker.ContainerInfo, services: ObservedService[] = []): ObservedWorkspace {
  const labels = info.Labels ?? {};
  const name = labels[LABEL_NAME] ?? (info.Names[0] ?? '').replace(/^\/(vendetta-)?/, '');
  const running = info.State === 'running';
  const address = containerAddress(info.NetworkSettings?.Networks, info.HostConfig?.NetworkMode);
  // Complete only once renamed to its final name (the last step of create).
  const complete = (info.Names ?? []).includes(`/${containerName(name)}`);
  return {
    name,
    provider: 'docker',
    specHash: labels[LABEL_SPEC_HASH] ?? '',
    ...(labels[LABEL_APPLY_SET] ? { applySet: labels[LABEL_APPLY_SET] } : {}),
    ...(labels[LABEL_BUILD_HASH] ? { buildHash: labels[LABEL_BUILD_HASH] } : {}),
    ...(labels[LABEL_OWNER] ? { owner: { id: labels[LABEL_OWNER], name: labels[LABEL_OWNER_NAME] ?? labels[LABEL_OWNER] } } : {}),
    ...(complete ? {} : { incomplete: true }),
    running,
    ...(labels[LABEL_GIT_COMMIT] ? { gitCommit: labels[LABEL_GIT_COMMIT] } : {}),
    ...(running && address ? { address } : {}),
    services,
  };
}

// ---------------------------------------------------------------------------------------------
// Error messages. Docker's own text is kept at the end: it is what a search engine knows.
// ---------------------------------------------------------------------------------------------

function dockerMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e?.json?.message ?? e?.message ?? String(err)).trim();
}

export function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

export function isPortConflict(err: unknown): boolean {
  return /port is already allocated|address already in use/i.test(dockerMessage(err));
}

/** Which published port Docker complained about, if its message says; otherwise all of them. */
export function conflictingPorts(err: unknown, specs: PortSpec[]): string[] {
  const text = dockerMessage(err);
  const hit = specs.filter((p) => new RegExp(`[:\\s]${p.hostPort}(?![0-9])`).test(text));
  const list = hit.length > 0 ? hit : specs;
  return list.map((p) => `${p.hostIp ? (p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp) : '0.0.0.0'}:${p.hostPort}`);
}

export function portConflictMessage(err: unknown, workspace: string, node: string, specs: PortSpec[]): string {
  const ports = conflictingPorts(err, specs).join(', ');
  return (
    `workspace ${workspace}: port ${ports} is already in use on node ${node}; ` +
    `stop whatever listens there or change spec.ports (docker: ${dockerMessage(err)})`
  );
}

export function imageNotFoundMessage(image: string, node: string): string {
  return `image ${image} not found on node ${node}; build or load it there (docker load / docker import), or set pull: missing`;
}

export function pullFailedMessage(image: string, node: string, err: unknown): string {
  return (
    `pulling image ${image} on node ${node} failed: ${dockerMessage(err)}; ` +
    `check the node can reach the registry, or load the image there (docker load / docker import) and set pull: never`
  );
}

export function describeDockerError(err: unknown): string {
  return dockerMessage(err);
}
