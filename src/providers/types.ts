// The provider driver interface. Docker, LXC, QEMU and process workspaces plug in here; the
// engine (observe → plan → execute) never knows which one it talks to.
import type {
  NodeResource,
  ObservedService,
  ObservedVolume,
  ObservedWorkspace,
  Owner,
  ProviderName,
  WorkspaceResource,
} from '../model/types.js';
import type { Duplex } from 'node:stream';
import type { ExecOptions, ExecResult, SpawnOptions, SpawnedProcess, Transport } from '../transport/types.js';

/** Everything a driver call needs about where it runs. */
export interface DriverContext {
  node: NodeResource;
  transport: Transport;
  /** Apply set recorded in labels so `--prune` can find what it applied. */
  applySet: string;
  /** Progress lines ("pulling image…"), shown on a TTY and recorded as events. */
  progress?: (message: string) => void;
}

/** A workspace as the driver should make it: the resource plus what the engine computed. */
export interface DesiredWorkspace {
  resource: WorkspaceResource;
  /** Spec hash to store in our labels / metadata. */
  specHash: string;
  /** Spec hash without env: recorded by drivers that implement update() (see ObservedWorkspace.shapeHash). */
  shapeHash?: string;
  /** Workspace env with fromEnv/fromFile references resolved (may contain secrets). */
  env: Record<string, string>;
  /** The store that makes it: recorded on the object (labels / meta) for ownership. */
  owner: Owner;
  /** With spec.build: its build hash and the tag of the image built from it (model/build.ts). */
  build?: { hash: string; tag: string };
  /** Where to read spec.source.path's tree from when not that path itself (LoadedSet.sources). */
  sourceDir?: string;
  /** Its services in the desired set, by name: a create may prepare their state directories. */
  services?: string[];
}

/** The local directory a create copies into the workspace: none for onNode or git sources. */
export function sourceDirOf(ws: DesiredWorkspace): string | undefined {
  const source = ws.resource.spec.source;
  if (source?.path === undefined || source.onNode) return undefined;
  return ws.sourceDir ?? source.path;
}

/**
 * A driver failure with what to do about it. `permanent` failures (image missing with
 * pull: never, a port already taken, a name clash) are not retried: retrying cannot fix them.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly permanent = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}

export interface ProviderAvailability {
  available: boolean;
  version?: string;
  /** e.g. "lxd" vs "incus", "kvm" vs "tcg". */
  detail?: string;
  /** What to do when unavailable: "install docker.io on node-a and start dockerd". */
  hint?: string;
}

/**
 * Where, inside a workspace, vendetta keeps its files, and how to run things there. The service
 * supervisor (src/services) only needs this: it is the same for every provider.
 */
export interface WorkspaceRuntime {
  /** Root the services see as their working tree ("/workspace" in containers). */
  workspaceDir: string;
  /** Directory for supervisor state, logs and scripts (inside the workspace). */
  stateDir: string;
  /** Host or IP from which the node reaches the workspace's service ports. */
  address: string;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Optional: how vendetta's own service commands (start, stop, remove: `/bin/sh -c` scripts that
   * read no stdin) run inside, when that is cheaper than `exec` (Docker: through the workspace's
   * agent, one node exec instead of a docker exec). `before`: a command for the node (nodeState)
   * to run first, in the same round trip where the runtime can, with opts.stdin as its stdin
   * (a service's install, then its start). Absent: `exec`.
   */
  serviceExec?(argv: string[], opts?: ExecOptions, before?: string[]): Promise<ExecResult>;
  spawn(argv: string[], opts?: SpawnOptions): Promise<SpawnedProcess>;
  /**
   * Optional: a TCP connection to `port` on the workspace's own loopback, for runtimes whose
   * `address` does not reach every port (a QEMU guest: only its declared ports are forwarded
   * there). Absent: the node connects to `address`:port.
   */
  connectLoopback?(port: number): Promise<Duplex>;
  /**
   * Optional: the state dir as the NODE sees it (Docker: a bind mount of a node directory at
   * stateDir) and how to run things there, as the node's login user. Service files are written
   * and service state read through it, one node exec, so those files belong to that user (who can
   * remove them). `liveness`: how a reader on the node tells a live supervisor ('lock': its
   * flock, when the services run in another pid namespace). Absent: everything goes through exec
   * (also Docker with spec.user: the container's user writes its own service files).
   */
  nodeState?: {
    dir: string;
    exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
    liveness: 'pid' | 'lock';
  };
  /**
   * What environment service supervisors start from. 'clean' (the default): an empty one plus
   * PATH and HOME, for runtimes whose exec passes on the caller's environment (the process
   * provider: the controller's own on the local node). 'inherit': exec's environment as it is,
   * for runtimes where that is the workspace's own and holds nothing of the controller's (Docker:
   * the image's ENV plus the workspace env).
   */
  serviceEnv?: 'clean' | 'inherit';
  /**
   * How readers tell a live supervisor: 'pid' when every reader shares the services' pid
   * namespace (the process provider), so supervisors keep no lock file; 'lock' (the default)
   * when a reader may be outside it (a container or VM read from the node).
   */
  serviceLiveness?: 'pid' | 'lock';
  /**
   * The node agent that supervises this workspace's services (src/services/node-agent.ts): the
   * prefix of its files on the node (nodeAgentPrefix). Absent: a shell supervisor per service.
   */
  nodeAgent?: string;
  /**
   * Docker: what the image runs by itself, read at create (its ENTRYPOINT and its CMD, each as
   * a shell command line, and its WORKDIR): what a Service without a command runs.
   */
  image?: { entrypoint?: string; cmd?: string; workdir?: string };
}

/** What a create may report about what it made (shown by describe before the next observation). */
export interface CreatedWorkspace {
  /** The commit source.git resolved to. */
  gitCommit?: string;
}

export interface ProviderDriver {
  readonly name: ProviderName;

  /**
   * A workspace this driver just created or started runs commands: its create/start returns only
   * then (a Docker container whose /bin/sh entrypoint is running). The executor then skips the
   * `true` it otherwise runs inside to confirm it (a docker exec costs ~0.3 s); its services'
   * start, an exec inside, follows anyway. Absent (LXD, QEMU): the instance may still be booting.
   */
  readonly startedMeansRunning?: boolean;

  /**
   * Loads what the driver's code needs, ahead of first use (a lazily loaded driver's module),
   * so that it overlaps the SSH handshake instead of following it. Optional; never fails.
   */
  prepare?(): void;

  /** Is this provider usable on the node? Never throws for "not installed": says so. */
  availability(ctx: DriverContext): Promise<ProviderAvailability>;

  /**
   * Every workspace this provider manages on the node (ours by label only), with its services.
   * One batched round trip where the provider allows it.
   */
  observe(ctx: DriverContext): Promise<ObservedWorkspace[]>;

  /**
   * Create (and start, unless state: stopped) a workspace that does not exist. The object counts
   * as made only once the LAST step is done (a completion marker observe() sees in the same
   * list call): an interrupted create is observed as `incomplete` and recreated, never used.
   */
  create(ctx: DriverContext, ws: DesiredWorkspace): Promise<void | CreatedWorkspace>;
  /**
   * Optional: bring an existing workspace to a new env without replacing it (its files stay).
   * Only drivers that record `shapeHash` in observe() are asked; the planner restarts the
   * services whose env changed.
   */
  update?(ctx: DriverContext, ws: DesiredWorkspace): Promise<void>;
  start(ctx: DriverContext, name: string): Promise<void>;
  stop(ctx: DriverContext, name: string): Promise<void>;
  /**
   * Remove the workspace and everything it left on the node. Missing is not an error.
   * `replacing`: a create of the same workspace follows (a recreate): what that create can reuse
   * (docker: the built image) may stay.
   */
  delete(ctx: DriverContext, name: string, opts?: { replacing?: boolean }): Promise<void>;

  /**
   * Optional: the services of these running workspaces, read in ONE round trip to the node
   * (a read of their node-side state directories), keyed by workspace name. The engine calls it
   * to confirm starts and health without an exec per workspace; without it, it reads each
   * workspace through its runtime.
   */
  observeServices?(ctx: DriverContext, workspaces: string[]): Promise<Map<string, ObservedService[]>>;

  /**
   * Optional: delete many workspaces of this node as one batch (about one round trip), instead
   * of one full delete each. Missing ones are not an error. Resolves with an error per workspace
   * that could not be deleted (absent key: deleted).
   */
  deleteMany?(ctx: DriverContext, names: string[]): Promise<Map<string, Error>>;

  /**
   * Optional: this node's volumes of these workspaces (every workspace's when omitted), made by
   * this provider. Never part of observe: asked only when volumes are to be deleted or shown, so
   * a pass costs the same with or without volumes. Volumes of deleted workspaces are listed too.
   */
  listVolumes?(ctx: DriverContext, workspaces?: string[]): Promise<ObservedVolume[]>;

  /** Optional: remove these volumes (as listVolumes gave them). Missing is not an error. */
  deleteVolumes?(ctx: DriverContext, volumes: ObservedVolume[]): Promise<void>;

  /** Handle to run things inside a running workspace. */
  runtime(ctx: DriverContext, name: string): Promise<WorkspaceRuntime>;

  /**
   * Optional: what `describe` shows to help diagnose a workspace, e.g. a VM's serial console tail.
   * Keys are section titles; values are text.
   */
  diagnostics?(ctx: DriverContext, name: string): Promise<Record<string, string>>;
}
