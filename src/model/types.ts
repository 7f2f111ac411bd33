// The resource model (apiVersion vendetta.dev/v1alpha1). The JSON Schemas in schemas/ are the
// authority on which fields exist; these types mirror them after defaults are applied.

export const API_VERSION = 'vendetta.dev/v1alpha1';
export const KINDS = ['Node', 'Workspace', 'Service'] as const;
export type Kind = (typeof KINDS)[number];

export const PROVIDERS = ['process', 'docker', 'lxc', 'qemu'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** The address that means "this machine, no SSH". */
export const LOCAL_ADDRESS = 'local';
/** The Node every manifest can use without declaring it. */
export const LOCAL_NODE = 'local';

/** Where a document came from, for `file:line:col` errors. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export interface Metadata {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/**
 * An env value: a literal, or a reference resolved on the applying machine so secrets stay out
 * of git. Referenced values are secret: they never reach output, events or the store.
 */
export type EnvValue = string | { fromEnv: string } | { fromFile: string };
export type EnvMap = Record<string, EnvValue>;

export interface NodeSpec {
  /** Host name or IP, or "local" for this machine. */
  address: string;
  port?: number;
  user?: string;
  identityFile?: string;
  /** Pinned host key, "ssh-ed25519 AAAA…". */
  hostKey?: string;
  /**
   * Forward the controller's SSH agent for the node's git fetches of ssh URLs (source.git,
   * dotfiles.git) only. Default: the ssh config's ForwardAgent, else false.
   */
  forwardAgent?: boolean;
  providers?: {
    /** stateRoot: node directory holding <node>/<workspace> service state dirs (bind mounts). */
    docker?: { socket?: string; stateRoot?: string };
    lxc?: { socket?: string; flavor?: 'lxd' | 'incus' };
    qemu?: { binary?: string; accel?: 'auto' | 'kvm' | 'tcg' };
    process?: { root?: string };
  };
}

export interface Resources {
  cpus?: number;
  /** Quantity like "512Mi", "2Gi". */
  memory?: string;
  disk?: string;
}

/**
 * Data that outlives its workspace: kept through every recreate, removed only by `delete --volumes`
 * or `apply --prune --volumes`. Identity: (node, workspace, name). See src/model/volumes.ts.
 */
export interface VolumeSpec {
  /** DNS label, unique within the workspace. */
  name: string;
  /** Where it appears: absolute (not process), or relative to the workspace directory. */
  path: string;
  /** Quantity ("1Gi"); used when the volume is made, enforced where the provider can (see docs/providers.md). */
  size?: string;
}

/**
 * An image built on the node from a local directory. `context` is resolved against the manifest's
 * directory by the loader (absolute afterwards); `dockerfile` is relative to the context.
 */
export interface BuildSpec {
  context: string;
  /** Default "Dockerfile". */
  dockerfile?: string;
  args?: Record<string, string>;
  target?: string;
}

/** A git repository fetched on the node (src/providers/git-source.ts). */
export interface GitSourceSpec {
  url: string;
  /** Branch, tag or full commit SHA; absent: the remote's HEAD. */
  ref?: string;
  /** Read on the controller when used (fromFile absolute after loading); never stored. */
  token?: { fromEnv?: string; fromFile?: string };
}

export interface WorkspaceSpec {
  node: string;
  provider: ProviderName;
  image?: string;
  pull?: 'never' | 'missing' | 'always';
  /** docker only: an image built on the node instead of `image` (see src/model/build.ts). */
  build?: BuildSpec;
  resources?: Resources;
  /** path is resolved against the manifest's directory by the loader (absolute afterwards). */
  /** onNode: `path` is a directory on the node, mounted (lxc) rather than copied. */
  source?: { path?: string; git?: GitSourceSpec; onNode?: boolean };
  /** Applied once after creation (src/providers/dotfiles.ts); path absolute after loading. */
  dotfiles?: { git?: string; path?: string; install?: string };
  env?: EnvMap;
  /** Compose syntax: "[ip:]hostPort:containerPort[/tcp|udp]". */
  ports?: string[];
  state?: 'running' | 'stopped';
  volumes?: VolumeSpec[];
  /**
   * Docker only. `name`: a bridge network on the node made and owned by vendetta, shared by the
   * workspaces that name it, where each is reached by its `aliases`. `mode`: "service:<workspace>"
   * shares that workspace's network namespace (made after it, recreated with it), "host", "none".
   */
  network?: { name?: string; aliases?: string[]; mode?: string };
  /**
   * Docker only: the container's Config.User ("name", "uid", "uid:gid"). Every exec vendetta
   * makes runs as it, except the root execs that prepare /workspace and the state dir for it.
   */
  user?: string;
  /** Shell commands run inside the workspace at points of its life (docs/devcontainer.md#lifecycle). */
  lifecycle?: WorkspaceLifecycle;
  /** The devcontainer.json this workspace was filled from (the loader already merged it in). */
  devcontainer?: { path: string };
  /** QEMU only: direct kernel boot and cloud-init settings. */
  vm?: {
    kernel?: string;
    initrd?: string;
    append?: string;
    user?: string;
    sshPort?: number;
    /** nat (default): outbound access; isolated: only forwarded ports reach the guest. */
    network?: 'nat' | 'isolated';
  };
}

/**
 * Lifecycle hooks, as a devcontainer's: each entry one shell command run in the workspace directory.
 * onCreate + postCreate: once after the workspace is created (again after a recreate, never on a
 * no-op); postStart: after each start; postAttach: when `vendetta shell` / ssh-proxy attaches.
 */
export interface WorkspaceLifecycle {
  onCreate?: string[];
  postCreate?: string[];
  postStart?: string[];
  postAttach?: string[];
}

export type DependsOnCondition = 'started' | 'healthy' | 'completed';

export interface HealthcheckSpec {
  exec?: { command: string };
  tcp?: { port: number };
  http?: { port: number; path?: string; scheme?: 'http' };
  /** Durations like "2s", "500ms", "1m". */
  interval?: string;
  timeout?: string;
  retries?: number;
  startPeriod?: string;
}

export interface ServiceSpec {
  workspace: string;
  /** Absent (docker workspaces only): the image's own ENTRYPOINT + CMD, as the docker driver read them at create. */
  command?: string;
  /** Words appended (quoted) to command, or without command to the image's ENTRYPOINT in place of its CMD (docker). */
  args?: string[];
  workdir?: string;
  env?: EnvMap;
  ports?: number[];
  dependsOn?: Record<string, { condition: DependsOnCondition }>;
  healthcheck?: HealthcheckSpec;
  restart?: 'always' | 'on-failure' | 'never';
  /** Log rotation: the log becomes log.1 at maxSize (a quantity, default 10Mi); maxFiles (default 2) kept. */
  logs?: { maxSize?: string; maxFiles?: number };
  /** What a source sync into its workspace does to it: nothing (default) or a restart. */
  onSync?: 'sync' | 'restart' | 'rebuild';
}

export interface ResourceOf<K extends Kind, S> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: Metadata;
  spec: S;
  /** Set by the loader; absent for resources built in code (the implicit local Node). */
  source?: SourcePos;
}

export type NodeResource = ResourceOf<'Node', NodeSpec>;

/** The Node `local` that every manifest may use without declaring it (no `source`: built in). */
export const IMPLICIT_LOCAL_NODE: NodeResource = {
  apiVersion: API_VERSION,
  kind: 'Node',
  metadata: { name: LOCAL_NODE },
  spec: { address: LOCAL_ADDRESS },
};
export type WorkspaceResource = ResourceOf<'Workspace', WorkspaceSpec>;
export type ServiceResource = ResourceOf<'Service', ServiceSpec>;
export type Resource = NodeResource | WorkspaceResource | ServiceResource;

/** A validated, reference-checked set of manifests. Maps are keyed by metadata.name. */
export interface DesiredSet {
  nodes: Map<string, NodeResource>;
  workspaces: Map<string, WorkspaceResource>;
  services: Map<string, ServiceResource>;
}

/** `kind/name`, e.g. "workspace/api": the id used by plans, events, the store and the CLI. */
export type ResourceId = string;
export function resourceId(kind: Kind, name: string): ResourceId {
  return `${kind.toLowerCase()}/${name}`;
}

// ---------------------------------------------------------------------------------------------
// Observed state: what is really on the nodes, read back from our labels / metadata files.
// ---------------------------------------------------------------------------------------------

export type ObservedServiceState =
  | 'running' // supervisor alive, child running
  | 'backoff' // supervisor alive, waiting to restart the child
  | 'exited' // supervisor gone; exitCode says how the last run ended
  | 'stopped'; // stopped on purpose

export interface ObservedService {
  name: string;
  specHash: string;
  state: ObservedServiceState;
  pid?: number;
  exitCode?: number;
  restarts: number;
  /** ISO time the current (or last) child started. */
  startedAt?: string;
  /** Last lines the service wrote, read when it is not running (exited or backing off). */
  logTail?: string[];
  /** The health check's verdict as the supervisor on the node recorded it (absent: no probe runs). */
  health?: ObservedHealth;
  /** Set by a start that confirmed itself: the node saw this run last this long (ms). */
  settledMs?: number;
}

/**
 * A health check run by the supervisor inside the workspace (like kubelet's probes): the
 * controller reads this verdict instead of probing. `starting`: no verdict yet (start period, or
 * fewer consecutive failures than `retries`). `unknown`: the workspace has no tool for this kind of
 * probe (no bash, nc or wget for tcp/http); the controller then probes itself, as before.
 */
export interface ObservedHealth {
  status: 'starting' | 'healthy' | 'unhealthy' | 'unknown';
  /** Consecutive failed checks that counted (after the start period). */
  failures: number;
  /** What the last check saw ("tcp 127.0.0.1:8080: connected"). */
  message: string;
  /** ISO time of the last check. */
  checkedAt?: string;
}

/** The vendetta store that manages an object: its identity without the key (see concepts.md). */
export interface Owner {
  /** Random hex id of the store (identity.json). */
  id: string;
  /** "<user>@<hostname>:<home path>": who to ask. */
  name: string;
}

export interface ObservedWorkspace {
  name: string;
  provider: ProviderName;
  specHash: string;
  /**
   * Hash of its spec without env and live fields (model/hash.ts workspaceShapeHash), recorded only
   * by providers that can change those in place (process, qemu). Equal to the desired one: the
   * change is an update.
   */
  shapeHash?: string;
  applySet?: string;
  /** The build hash of the image it runs (docker workspaces with spec.build): tells "build context changed". */
  buildHash?: string;
  /** Who made it. Absent: made by a vendetta before ownership (adopted as a one-time migration). */
  owner?: Owner;
  /**
   * Its creation never finished (interrupted between the first step and the completion marker):
   * it is recreated, never used. Absent = complete.
   */
  incomplete?: boolean;
  running: boolean;
  /** Address on (or reachable from) the node where the workspace's ports answer. */
  address?: string;
  /** The commit its source.git ref resolved to when it was made (absent: no git source). */
  gitCommit?: string;
  services: ObservedService[];
}

/** A volume found on a node (listed only when asked: delete --volumes, describe). */
export interface ObservedVolume {
  workspace: string;
  name: string;
  /** The provider's own name for it (docker volume, LXD custom volume, file or directory path). */
  handle: string;
  /** Declared size as recorded at creation. */
  size?: string;
  /** Bytes in use, where cheap to read (process: du). */
  usedBytes?: number;
}

export interface ObservedNode {
  name: string;
  reachable: boolean;
  /** Why the node could not be observed (unreachable, host key changed, provider missing…). */
  error?: string;
  workspaces: ObservedWorkspace[];
  /**
   * Providers that failed to observe on a reachable node (LXD daemon missing, Docker socket
   * absent…): their workspaces are unknown, so nothing is planned for them; the node's other
   * providers are observed and converged as usual. Absent when every provider answered.
   */
  unavailable?: { provider: ProviderName; error: string; hint?: string }[];
}

/** Observation of every node in the desired (and previously applied) set, keyed by node name. */
export type ObservedSet = Map<string, ObservedNode>;

// ---------------------------------------------------------------------------------------------
// Status, Kubernetes style.
// ---------------------------------------------------------------------------------------------

export type Phase =
  | 'Pending'
  | 'Creating'
  | 'Starting'
  | 'WaitingDependencies'
  | 'WaitingHealthy'
  | 'Ready'
  | 'Completed'
  | 'Degraded'
  | 'Stopping'
  | 'Stopped'
  | 'Deleting'
  // delete requested, but the node could not be reached: kept in the store until it can
  | 'DeletePending'
  | 'Failed'
  | 'NotReady';

export interface Condition {
  type: string; // Ready, Healthy, Started, Reachable, DependenciesMet, …
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface ResourceStatus {
  phase: Phase;
  conditions: Condition[];
  observedGeneration: number;
  /** Free-form facts for `describe`/`get -o wide`: node, address, pid, restarts, endpoints… */
  details?: Record<string, string | number | boolean>;
}

export interface EventRecord {
  time: string;
  /** resourceId, e.g. "service/web", or "node/a". */
  object: ResourceId;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** Who asked for the change that led to it: the server token's name (apply, delete through `vendetta serve`). */
  by?: string;
}
