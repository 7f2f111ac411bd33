// What the CLI (and later the server) asks of the engine. Implemented by ./engine.ts.
import type { DesiredSet, EventRecord, ObservedSet, ResourceId, ResourceStatus } from '../model/types.js';
import type { ResolvedEnv } from '../model/env.js';
import type { OperationType, Plan } from '../plan/types.js';
import type { LockInfo } from '../store/types.js';

/** A validated manifest set with env references resolved (output of src/manifest). */
export interface LoadedSet {
  desired: DesiredSet;
  /** Resolved env per workspace/service id ("workspace/api", "service/web"). */
  env: Map<ResourceId, ResolvedEnv>;
  /**
   * Build hash per workspace name, for workspaces with spec.build (src/build/context.ts
   * withBuildHashes): computed by the engine before each plan, never sent over the wire.
   */
  builds?: Map<string, string>;
  /**
   * Where each workspace's source tree is read from, by workspace name, when not from its
   * spec.source.path: on a server, the extracted upload (src/server/sources.ts). The spec keeps
   * the client's path (shown by describe, hashed as written).
   */
  sources?: Map<string, string>;
}

export interface ApplyOptions {
  /** Apply set name recorded in labels and the store inventory (default "default"). */
  applySet: string;
  prune: boolean;
  /** Give up waiting for convergence after this long. */
  timeoutMs: number;
  /** Return after the operations are started, without waiting for Ready. */
  noWait?: boolean;
  signal?: AbortSignal;
  /** Wait this long for another vendetta holding the store lock (default 60s). */
  lockTimeoutMs?: number;
  /** Take over workspaces another vendetta store owns (replacing them) instead of failing. */
  adopt?: boolean;
  /** With prune: also delete the volumes of pruned workspaces (without it they are kept). */
  pruneVolumes?: boolean;
  /** Replace these workspaces in the first pass even if they match their spec (onSync: rebuild). */
  rebuild?: string[];
  /** Who asked (a server token's name): recorded as `by` on the events this apply writes, with an Applied event. */
  actor?: string;
}

/** Volumes of a workspace that a delete or prune removed, or kept. */
export interface VolumesReport {
  workspace: string;
  node: string;
  volumes: string[];
}

export interface Failure {
  resource: ResourceId;
  node?: string;
  reason: string;
  /** What to do next. */
  hint?: string;
}

export interface ApplyResult {
  converged: boolean;
  /** The plan of the first pass (what `diff` would have printed). */
  plan: Plan;
  /** Operations actually executed over all passes (0 for a no-op apply). */
  operationsRun: number;
  statuses: Map<ResourceId, ResourceStatus>;
  failures: Failure[];
  /** Where to reach services: "service/web" → "http://127.0.0.1:8080". */
  endpoints: Map<ResourceId, string>;
  /** Set by `delete`: what became of each requested resource. */
  deletion?: DeletionReport;
  /** delete --volumes, prune --volumes: volumes removed. */
  volumesDeleted?: VolumesReport[];
  /** Plain prune: pruned workspaces whose volumes were kept (delete them with --volumes). */
  volumesKept?: VolumesReport[];
}

export interface DeletionReport {
  /** Removed from their nodes (or confirmed already gone) and from the store; nodes: where deleted. */
  deleted: { id: ResourceId; nodes: string[] }[];
  /** --force: forgotten although their node could not be reached; what may be left where. */
  forgotten: { id: ResourceId; node: string; leftover: string }[];
  /** Requested but neither in the store nor (delete -f) on the node the manifests give. */
  notFound: ResourceId[];
  /** Kept in the store, marked DeletePending: their node could not be reached. */
  pending: { id: ResourceId; node: string }[];
}

export interface DeleteOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  lockTimeoutMs?: number;
  /** From `delete -f`: where the manifests put things. */
  set?: LoadedSet;
  /** Forget what sits on an unreachable node (with a warning naming what may be left there). */
  force?: boolean;
  /** A requested resource that does not exist is not an error. */
  ignoreNotFound?: boolean;
  /** Also delete the deleted workspaces' volumes (found even when the workspace itself is gone). */
  volumes?: boolean;
  /** Who asked (a server token's name): recorded as `by` on the events this delete writes. */
  actor?: string;
}

export interface EngineEvents {
  /** Every recorded event (also written to the store). */
  onEvent?: (e: EventRecord) => void;
  /** Transient progress lines for the TTY ("creating workspace/api on local"). */
  onProgress?: (resource: ResourceId, message: string) => void;
  /** The plan of each reconcile pass, before it executes (pass 1 is what `diff` shows). */
  onPlan?: (plan: Plan, pass: number) => void;
  /** Another process holds the store lock: called once before waiting for it. */
  onLockWait?: (holder: LockInfo) => void;
  /** After each pass (apply, delete, resync): how long it took, what it ran, how fast each node answered (metrics). */
  onPassEnd?: (pass: PassReport) => void;
}

export interface PassReport {
  /** From the start of the pass's observation to the end of its operations. */
  durationMs: number;
  /** The operations the pass ran, and whether each completed. */
  operations: { type: OperationType; done: boolean }[];
  /** How long each node observed took to answer (nodes that did not answer are absent). */
  nodeLatencyMs: ReadonlyMap<string, number>;
}

export interface EngineApi {
  /** Observe and plan without changing anything (diff, --dry-run). */
  /** `refresh`: ask each source.git ref's upstream (on its node) whether it moved (diff --refresh). */
  plan(set: LoadedSet, opts: Pick<ApplyOptions, 'applySet' | 'prune' | 'adopt'> & { refresh?: boolean }): Promise<{ plan: Plan; observed: ObservedSet }>;
  /** Converge: run reconcile passes until everything is Ready or timeout. */
  apply(set: LoadedSet, opts: ApplyOptions): Promise<ApplyResult>;
  /** Delete the given resources (and, for workspaces, their services) and wait until gone. */
  delete(ids: ResourceId[], opts: DeleteOptions): Promise<ApplyResult>;
  close(): Promise<void>;
}
