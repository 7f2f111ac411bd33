// A plan is data: operations with a type, the resource they act on, a human cause and the
// operations they wait for. `diff`, `apply --dry-run` and the executor all consume this.
import type { Kind, ProviderName, ResourceId } from '../model/types.js';

export type OperationType =
  // workspaces
  | 'create-workspace' // not on the node
  | 'recreate-workspace' // spec hash changed: delete + create (its services restart)
  | 'update-workspace' // only env changed, and the provider changes it in place (its files stay)
  | 'start-workspace' // exists, stopped, should run
  | 'stop-workspace' // exists, running, state: stopped
  | 'delete-workspace' // pruned or deleted
  // services
  | 'start-service' // not running and should be
  | 'restart-service' // spec hash changed
  | 'stop-service' // workspace stopped
  | 'delete-service'; // no longer declared (pruned) or deleted

/** One field that differs between applied and desired, for `~` lines in diff. */
export interface FieldChange {
  /** Dotted path, e.g. "spec.image", "spec.env.PORT". */
  path: string;
  /** Rendered old/new values; secrets are rendered as "(secret)". Absent = field absent. */
  from?: string;
  to?: string;
}

export interface Operation {
  /** Stable id, e.g. "recreate-workspace:api". */
  id: string;
  type: OperationType;
  kind: Kind;
  name: string;
  resource: ResourceId;
  node: string;
  provider: ProviderName;
  /** For services: the workspace it runs in. */
  workspace?: string;
  /** Why: "not found on node", "spec-hash changed: image", "pruned: no longer in apply set default". */
  cause: string;
  changes?: FieldChange[];
  /**
   * Set when the operation removes an existing workspace's object (a replace, a move, a prune):
   * what is lost, e.g. "files outside volumes are lost". `apply` on a TTY asks before it runs.
   */
  dataLoss?: string;
  /** Operation ids that must finish first. */
  dependsOn: string[];
}

/**
 * A workspace on a node that another vendetta store owns: nothing is planned for it (nor for its
 * services) and the apply fails with `message`, until it is deleted there or adopted (--adopt).
 */
export interface Conflict {
  resource: string;
  node: string;
  provider: ProviderName;
  owner: { id: string; name: string };
  /** "workspace api on node n1 is managed by another vendetta (owner …); nothing was changed: …" */
  message: string;
}

export interface Plan {
  operations: Operation[];
  /** Nodes that could not be observed: nothing is planned for them, and the apply fails. */
  unreachable: { node: string; error: string }[];
  /**
   * Providers that could not be observed on a reachable node: nothing is planned for their
   * workspaces there (like an unreachable node, but only for that provider). Absent when none.
   */
  unavailable?: { node: string; provider: ProviderName; error: string }[];
  /** Workspaces owned by another vendetta store: not touched, and the apply fails. Absent when none. */
  conflicts?: Conflict[];
}
