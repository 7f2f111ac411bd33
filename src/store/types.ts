// The store: what was applied, by which apply set, its status and
// events. Observed state is never stored here — it lives on the nodes.
import type { EventRecord, Kind, Owner, ProviderName, Resource, ResourceId, ResourceStatus } from '../model/types.js';

/** Where an earlier apply put a workspace that has since moved (spec.node or provider changed). */
export interface PreviousPlacement {
  node: string;
  provider: ProviderName;
}

export interface AppliedRecord {
  id: ResourceId;
  kind: Kind;
  name: string;
  /** The resource as applied (env references unresolved: no secret values here). */
  resource: Resource;
  /** Bumped whenever the applied spec changes. */
  generation: number;
  applySet: string;
  appliedAt: string;
  status?: ResourceStatus;
  /**
   * Workspaces: nodes an earlier apply put it on before spec.node changed. Kept until the old
   * object is confirmed gone there, so a move (or a delete right after one) cleans them up.
   */
  previousNodes?: PreviousPlacement[];
  /** Services: workspaces an earlier apply ran it in before spec.workspace changed (same rule). */
  previousWorkspaces?: string[];
}

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/**
 * Who this store is, to the objects it makes on nodes. `id` and `name` go into every object's
 * labels (ownership: another store's objects are never touched without --adopt); `key` never
 * leaves the store: spec hashes in labels are HMACs with it, so they reveal nothing about
 * secret env values.
 */
export interface StoreIdentity extends Owner {
  /** 32 random bytes, base64. */
  key: string;
}

/**
 * What an apply pass that planned nothing and converged concluded, under a digest of what it
 * started from (the store's records and the nodes' observation): a later pass that starts from
 * the same takes this result instead of running its machines again.
 */
export interface QuietMemo {
  key: string;
  statuses: [ResourceId, ResourceStatus][];
  endpoints: [ResourceId, string][];
}

export type Role = 'view' | 'edit' | 'admin';

/** A server token (vendetta serve token create): only its SHA-256 is kept, never the token. */
export interface TokenRecord {
  name: string;
  role: Role;
  /** SHA-256 of the token, hex. */
  hash: string;
  created: string;
  /** When it was revoked; a revoked token is kept (listed, and answered 401 with a hint). */
  revoked?: string;
}

export interface Store {
  readonly home: string;
  /**
   * The store's identity (VENDETTA_HOME/identity.json, 0600). `create: true` makes it on first
   * use, exactly once even with concurrent processes; `create: false` (read-only commands)
   * returns undefined when there is none yet.
   */
  identity(opts?: { create?: boolean }): Promise<StoreIdentity | undefined>;
  get(id: ResourceId): Promise<AppliedRecord | undefined>;
  list(kind?: Kind): Promise<AppliedRecord[]>;
  /** Records the applied resource; bumps generation when the spec changed. Returns the record. */
  putApplied(resource: Resource, applySet: string): Promise<AppliedRecord>;
  setStatus(id: ResourceId, status: ResourceStatus): Promise<void>;
  /** Replaces previousNodes/previousWorkspaces (absent or empty: removed). No-op without a record. */
  setPrevious(id: ResourceId, previous: Pick<AppliedRecord, 'previousNodes' | 'previousWorkspaces'>): Promise<void>;
  remove(id: ResourceId): Promise<void>;
  /** Ids an apply set applied (its inventory, for --prune). */
  inventory(applySet: string): Promise<ResourceId[]>;
  setInventory(applySet: string, ids: ResourceId[]): Promise<void>;
  /** The memo of the apply set's last quiet pass (../reconcile/reconciler.ts); undefined: none. */
  quietMemo(applySet: string): Promise<QuietMemo | undefined>;
  setQuietMemo(applySet: string, memo: QuietMemo): Promise<void>;
  appendEvent(event: EventRecord): Promise<void>;
  /** Most recent last; filtered by object id when given. */
  events(opts?: { object?: ResourceId; limit?: number }): Promise<EventRecord[]>;
  /** The server's tokens, by name. */
  tokens(): Promise<TokenRecord[]>;
  /** Adds a token; false (nothing written) when one with that name exists, revoked or not. */
  createToken(token: TokenRecord): Promise<boolean>;
  /** Marks the token revoked at `at`; false when there is no such token. Revoking twice keeps the first time. */
  revokeToken(name: string, at: string): Promise<boolean>;
  /**
   * Exclusive lock for mutating commands. Waits while another process holds it, calling
   * `onWait` once with the holder; throws LockTimeoutError after timeoutMs.
   */
  lock(command: string, opts: { timeoutMs: number; onWait?: (holder: LockInfo) => void }): Promise<() => Promise<void>>;
  /** Frees what the store holds open (the etcd store's connections). The file store has nothing to close. */
  close?(): Promise<void>;
}

export class LockTimeoutError extends Error {
  constructor(readonly holder: LockInfo, timeoutMs: number) {
    super(
      `another vendetta (pid ${holder.pid} on ${holder.host}, "${holder.command}", since ${holder.since}) ` +
        `still holds the lock after ${Math.round(timeoutMs / 1000)}s; wait for it to finish or raise --lock-timeout`,
    );
    this.name = 'LockTimeoutError';
  }
}
