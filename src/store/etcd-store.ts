// The store on etcd (`vendetta serve --store etcd://h1:2379,h2:2379,h3:2379`): the same records as
// the file store (file-store.ts), as keys under one prefix, so any number of processes on any
// machine share them.
//
//   <prefix>records/<kind>/<name>   AppliedRecord (JSON)
//   <prefix>inventory/<applySet>    ids the apply set applied, sorted
//   <prefix>quiet/<applySet>        QuietMemo
//   <prefix>events/<time>-<random>  one EventRecord each; ordered by create revision; newest N kept
//   <prefix>identity                StoreIdentity: created once (a transaction on "absent")
//   <prefix>lock                    LockInfo, attached to the holder's lease
//   <prefix>tokens/<name>           TokenRecord: a server token's name, role and SHA-256 (never the token)
//
// Consistency: every read is linearizable (etcd's default), and every read-modify-write of a
// record is a transaction that commits only if the key's mod revision is still the one read
// (absent: create revision 0), retried on conflict. Two writers never lose each other's update,
// with or without the lock; the lock only keeps two controllers from acting on the nodes at once.
//
// Unavailability (no quorum, no member reachable): every operation gives up after `timeoutMs`
// (default 15 s) with StoreUnavailableError, which names the endpoints and what to check. Nothing
// hangs: unary calls carry a gRPC deadline, and the whole operation has a timer on top.
//
// etcd3 (and gRPC under it) is loaded by openEtcdStore() only: this module imports its types.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Etcd3, IKeyValue, Lease, Namespace } from 'etcd3';
import type { EventRecord, Kind, ResourceId } from '../model/types.js';
import { checkApplySetName, normalizedInventory, parseId, RecordWrites, selectEvents } from './records.js';
import { LockTimeoutError, type AppliedRecord, type LockInfo, type QuietMemo, type Store, type StoreIdentity, type TokenRecord } from './types.js';

/** Every key of this store lives under it (a version segment, so a new layout can sit beside). */
export const ETCD_PREFIX = '/vendetta/v1/';
/** Events kept: the newest EVENT_HISTORY; older ones are deleted by the appends that pass it. */
export const EVENT_HISTORY = 1000;
/** The lock's lease: kept alive while held, so a holder that dies frees the lock within this. */
export const LOCK_TTL_SECONDS = 10;
/** How long one store operation may take before it fails as unavailable. */
export const DEFAULT_TIMEOUT_MS = 15_000;
/** The gRPC deadline of one call; the client retries another member within the operation's time. */
const CALL_DEADLINE_MS = 5_000;
const LOCK_POLL_MS = 200;
const MAX_CONFLICT_RETRIES = 100;

export interface EtcdStoreOptions {
  /** host:port of each member (client URLs, plain HTTP). */
  endpoints: string[];
  /** The local VENDETTA_HOME: where the server keeps its token and state file (not in etcd). */
  home: string;
  /** Key prefix, ending in "/" (default ETCD_PREFIX). Tests use one each. */
  prefix?: string;
  /** Events kept (default EVENT_HISTORY). */
  maxEvents?: number;
  /** Bound of one operation against an unavailable cluster (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /**
   * Fencing (the leader of several `serve` replicas, ../server/leadership.ts): the create revision
   * of the `lock` key its election made. Every write of this view is a transaction that commits
   * only while `lock` still has that create revision, so a deposed leader cannot write.
   */
  fence?: string;
}

/** A write of a fenced view found the `lock` key taken by another leader (or gone): nothing was written. */
export class NotLeaderError extends Error {
  constructor(what: string) {
    super(`this server is no longer the leader (its election key was taken over or expired); ${what} was not written`);
    this.name = 'NotLeaderError';
  }
}

/** A won election: the fence (the `lock` key's create revision) and its lease. */
export interface LeaderLease {
  fence: string;
  /** One keep-alive: true when the lease is still alive, false when etcd says it expired; throws when etcd cannot be reached in time. */
  keepalive(timeoutMs: number): Promise<boolean>;
  /** Gives up the lead: revokes the lease (the `lock` key goes with it), or lets it expire if etcd is unreachable. */
  resign(): Promise<void>;
}

/** What the `lock` key holds when a `serve` replica leads: the lock's fields and where to reach it. */
export interface LeaderInfo extends LockInfo {
  /** The leader's advertised URL (followers forward writes there). */
  url?: string;
}

/** The cluster did not answer in time (no quorum, members down or unreachable). */
export class StoreUnavailableError extends Error {
  constructor(
    readonly endpoints: string[],
    elapsedMs: number,
    cause: unknown,
  ) {
    super(
      `the etcd store at ${endpoints.join(',')} is unavailable after ${Math.max(1, Math.round(elapsedMs / 1000))}s (${describeCause(cause)}). ` +
        `A majority of its members must be running and reachable: check them with ` +
        `\`etcdctl --endpoints=${endpoints.join(',')} endpoint health\`, then retry`,
      { cause },
    );
    this.name = 'StoreUnavailableError';
  }
}

/** The first clause of the client's error, without the resolver and balancer details gRPC appends. */
function describeCause(cause: unknown): string {
  if (cause instanceof OperationTimeout) return 'timed out';
  const message = (cause as Error)?.message ?? String(cause);
  return message
    .split('\n')[0]!
    .split(',')[0]!
    .replace(/^\d+ /, '') // the numeric gRPC status code
    .replace(/\s*Resolution note:.*$/, '')
    .replace(/Error: /g, '')
    .replace(/\.$/, '')
    .slice(0, 200);
}

class OperationTimeout extends Error {}

/** Loads etcd3 and connects (lazily: the first operation dials). */
export async function openEtcdStore(opts: EtcdStoreOptions): Promise<EtcdStore> {
  // CommonJS module: its named exports may only be on `default`, depending on the loader.
  const mod = (await import('etcd3')) as typeof import('etcd3') & { default?: typeof import('etcd3') };
  const { Etcd3, isRecoverableError } = mod.Etcd3 ? mod : mod.default!;
  const client = new Etcd3({
    hosts: opts.endpoints.map((e) => `http://${e}`),
    dialTimeout: CALL_DEADLINE_MS,
    // Streams (lease keep-alives) have no deadline; every unary call has one.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
  });
  return new EtcdStore(client, opts, isRecoverableError);
}

/** The stored event key: sorts roughly by time, unique without coordination. Order comes from create revisions. */
function eventKey(): string {
  return `events/${Date.now().toString(36).padStart(10, '0')}-${randomBytes(6).toString('hex')}`;
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

function parseValue<T>(kv: IKeyValue, what: string): T {
  try {
    return JSON.parse(kv.value.toString('utf8')) as T;
  } catch (err) {
    throw new Error(`cannot read ${what} from etcd: ${(err as Error).message}; fix or delete the key`, { cause: err });
  }
}

export class EtcdStore extends RecordWrites implements Store {
  readonly home: string;
  readonly endpoints: string[];
  private readonly ns: Namespace;
  private readonly maxEvents: number;
  private readonly timeoutMs: number;
  private readonly fence?: string;

  constructor(
    private readonly client: Etcd3,
    private readonly opts: EtcdStoreOptions,
    private readonly isRecoverable: (err: Error) => boolean,
  ) {
    super();
    this.home = opts.home;
    this.endpoints = opts.endpoints;
    this.ns = client.namespace(opts.prefix ?? ETCD_PREFIX);
    this.maxEvents = opts.maxEvents ?? EVENT_HISTORY;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fence = opts.fence;
  }

  /**
   * A view of this store (same connection: do not close it) whose writes commit only while the
   * `lock` key still has create revision `fence` (see EtcdStoreOptions.fence).
   */
  fenced(fence: string): EtcdStore {
    return new EtcdStore(this.client, { ...this.opts, fence }, this.isRecoverable);
  }

  /** A put or delete, as a transaction on the fence when this view has one. */
  private async guardedWrite(what: string, op: ReturnType<Namespace['put']> | ReturnType<Namespace['delete']>): Promise<void> {
    if (!this.fence) {
      await op.exec();
      return;
    }
    const txn = await this.ns.if('lock', 'Create', '==', this.fence).then(op).commit();
    if (!txn.succeeded) throw new NotLeaderError(what);
  }

  /** Whether the `lock` key still has this view's fence (true without a fence). */
  private async stillFenced(): Promise<boolean> {
    if (!this.fence) return true;
    const kv = (await this.ns.get('lock').exec()).kvs[0];
    return kv !== undefined && String(kv.create_revision) === this.fence;
  }

  /** Closes the connections; the store cannot be used afterwards. */
  async close(): Promise<void> {
    this.client.close();
  }

  /** Runs one operation within timeoutMs; connection failures become StoreUnavailableError. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OperationTimeout()), this.timeoutMs);
    });
    try {
      return await Promise.race([work(), timeout]);
    } catch (err) {
      throw this.classify(err, Date.now() - started);
    } finally {
      clearTimeout(timer);
    }
  }

  private classify(err: unknown, elapsedMs: number): unknown {
    if (err instanceof LockTimeoutError || err instanceof StoreUnavailableError) return err;
    const e = err as Error;
    // Recoverable: unavailable, deadline exceeded, connection failed; a broken circuit: every
    // member failed recently (cockatiel's breaker in etcd3); "no leader": a member without quorum.
    if (err instanceof OperationTimeout || (e instanceof Error && (this.isRecoverable(e) || /circuit|no leader|request timed out/i.test(`${e.name} ${e.message}`)))) {
      return new StoreUnavailableError(this.endpoints, elapsedMs, err);
    }
    return err;
  }

  private recordKey(id: ResourceId): string {
    const { kind, name } = parseId(id);
    return `records/${kind}/${name}`;
  }

  identity(opts: { create?: boolean } = {}): Promise<StoreIdentity | undefined> {
    return this.call(async () => {
      const existing = await this.ns.get('identity').exec();
      if (existing.kvs[0]) return this.checkIdentity(existing.kvs[0]);
      if (opts.create === false) return undefined;
      const fresh: StoreIdentity = {
        id: randomBytes(8).toString('hex'),
        name: `${safeUser()}@${os.hostname()}:etcd://${this.endpoints.join(',')}`,
        key: randomBytes(32).toString('base64'),
      };
      // Created only while absent: of concurrent first uses, one wins and the others read it.
      const txn = await this.ns
        .if('identity', 'Create', '==', 0)
        .then(this.ns.put('identity').value(JSON.stringify(fresh)))
        .else(this.ns.get('identity'))
        .commit();
      if (txn.succeeded) return fresh;
      return this.checkIdentity(txn.responses[0]!.response_range.kvs[0]!);
    });
  }

  private checkIdentity(kv: IKeyValue): StoreIdentity {
    const id = parseValue<Partial<StoreIdentity>>(kv, 'the store identity');
    if (typeof id.id !== 'string' || !/^[0-9a-f]{8,64}$/.test(id.id) || typeof id.name !== 'string' || typeof id.key !== 'string' || Buffer.from(id.key, 'base64').length < 16) {
      throw new Error(
        `the store identity in etcd (${this.ns.prefix.toString()}identity) is not valid (needs id: hex, name, key: base64 of at least 16 bytes); ` +
          `restore it from a backup: objects on nodes are owned by its id and their hashes keyed with its key`,
      );
    }
    return { id: id.id, name: id.name, key: id.key };
  }

  get(id: ResourceId): Promise<AppliedRecord | undefined> {
    return this.call(async () => {
      const res = await this.ns.get(this.recordKey(id)).exec();
      return res.kvs[0] ? parseValue<AppliedRecord>(res.kvs[0], id) : undefined;
    });
  }

  list(kind?: Kind): Promise<AppliedRecord[]> {
    return this.call(async () => {
      const res = await this.ns.getAll().prefix(kind ? `records/${kind.toLowerCase()}/` : 'records/').sort('Key', 'Ascend').exec();
      return res.kvs.map((kv) => parseValue<AppliedRecord>(kv, kv.key.toString()));
    });
  }

  /**
   * Read-modify-write of one record as a transaction on its mod revision, retried when another
   * writer got there first. `update` returning undefined, or the same bytes, writes nothing.
   */
  protected updateRecord<T>(id: ResourceId, update: (existing: AppliedRecord | undefined) => { record: AppliedRecord; result: T } | undefined): Promise<T | undefined> {
    const key = this.recordKey(id);
    return this.call(async () => {
      for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
        const res = await this.ns.get(key).exec();
        const kv = res.kvs[0];
        const next = update(kv ? parseValue<AppliedRecord>(kv, id) : undefined);
        if (!next) return undefined;
        const text = JSON.stringify(next.record);
        if (kv && kv.value.toString('utf8') === text) return next.result;
        let cmp = this.ns.if(key, 'Mod', '==', kv ? kv.mod_revision : 0);
        if (this.fence) cmp = cmp.and('lock', 'Create', '==', this.fence);
        const txn = await cmp.then(this.ns.put(key).value(text)).commit();
        if (txn.succeeded) return next.result;
        if (!(await this.stillFenced())) throw new NotLeaderError(id);
        // Lost the race: read again and redo the change on the newer record.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * Math.min(attempt + 1, 10)));
      }
      throw new Error(`could not update ${id} in etcd: ${MAX_CONFLICT_RETRIES} conflicting writes in a row`);
    });
  }

  async remove(id: ResourceId): Promise<void> {
    const key = this.recordKey(id);
    await this.call(() => this.guardedWrite(id, this.ns.delete().key(key)));
  }

  async inventory(applySet: string): Promise<ResourceId[]> {
    checkApplySetName(applySet);
    return this.call(async () => {
      const res = await this.ns.get(`inventory/${applySet}`).exec();
      return res.kvs[0] ? parseValue<ResourceId[]>(res.kvs[0], `the inventory of ${applySet}`) : [];
    });
  }

  async setInventory(applySet: string, ids: ResourceId[]): Promise<void> {
    checkApplySetName(applySet);
    await this.putIfChanged(`inventory/${applySet}`, JSON.stringify(normalizedInventory(ids)));
  }

  async quietMemo(applySet: string): Promise<QuietMemo | undefined> {
    checkApplySetName(applySet);
    const res = await this.call(() => this.ns.get(`quiet/${applySet}`).exec());
    // A memo is only ever a shortcut: one that cannot be read is no memo.
    try {
      return res.kvs[0] ? (JSON.parse(res.kvs[0].value.toString('utf8')) as QuietMemo) : undefined;
    } catch {
      return undefined;
    }
  }

  async setQuietMemo(applySet: string, memo: QuietMemo): Promise<void> {
    checkApplySetName(applySet);
    await this.putIfChanged(`quiet/${applySet}`, JSON.stringify(memo));
  }

  /** Whole-value writes (last writer wins, as in the file store): skipped when the bytes are the same. */
  private putIfChanged(key: string, text: string): Promise<void> {
    return this.call(async () => {
      const current = await this.ns.get(key).string();
      if (current !== text) await this.guardedWrite(key, this.ns.put(key).value(text));
    });
  }

  appendEvent(event: EventRecord): Promise<void> {
    return this.call(async () => {
      await this.guardedWrite('an event', this.ns.put(eventKey()).value(JSON.stringify(event)));
      // Keep the newest maxEvents: the append that passes the bound deletes the oldest. Two
      // appenders may delete the same keys; deleting a deleted key is a no-op.
      const count = await this.ns.getAll().prefix('events/').count();
      if (count <= this.maxEvents) return;
      const oldest = await this.ns.getAll().prefix('events/').sort('Create', 'Ascend').limit(count - this.maxEvents).keys();
      await Promise.all(oldest.map((key) => this.ns.delete().key(key).exec()));
    });
  }

  events(opts: { object?: ResourceId; limit?: number } = {}): Promise<EventRecord[]> {
    return this.call(async () => {
      const range = this.ns.getAll().prefix('events/');
      // Without a filter, the newest `limit` come straight from etcd (newest first, reversed
      // here); with one, the filter runs here over the bounded history.
      if (!opts.object && opts.limit !== undefined && Number.isInteger(opts.limit) && opts.limit > 0) {
        const res = await range.sort('Create', 'Descend').limit(opts.limit).exec();
        return res.kvs.map((kv) => parseValue<EventRecord>(kv, 'an event')).reverse();
      }
      const res = await range.sort('Create', 'Ascend').exec();
      return selectEvents(res.kvs.map((kv) => parseValue<EventRecord>(kv, 'an event')), opts);
    });
  }

  tokens(): Promise<TokenRecord[]> {
    return this.call(async () => {
      const res = await this.ns.getAll().prefix('tokens/').sort('Key', 'Ascend').exec();
      return res.kvs.map((kv) => parseValue<TokenRecord>(kv, kv.key.toString()));
    });
  }

  /** Created only while absent (a transaction on create revision 0): two creators of one name, one wins. */
  createToken(token: TokenRecord): Promise<boolean> {
    const key = `tokens/${token.name}`;
    return this.call(async () => {
      const txn = await this.ns.if(key, 'Create', '==', 0).then(this.ns.put(key).value(JSON.stringify(token))).commit();
      return txn.succeeded;
    });
  }

  /** A transaction on the record's mod revision, redone when another writer got there first. */
  revokeToken(name: string, at: string): Promise<boolean> {
    const key = `tokens/${name}`;
    return this.call(async () => {
      for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
        const kv = (await this.ns.get(key).exec()).kvs[0];
        if (!kv) return false;
        const token = parseValue<TokenRecord>(kv, key);
        if (token.revoked) return true;
        const txn = await this.ns
          .if(key, 'Mod', '==', kv.mod_revision)
          .then(this.ns.put(key).value(JSON.stringify({ ...token, revoked: at })))
          .commit();
        if (txn.succeeded) return true;
      }
      throw new Error(`could not revoke token ${name} in etcd: ${MAX_CONFLICT_RETRIES} conflicting writes in a row`);
    });
  }

  /**
   * The lock is the key `lock`, created only while absent and attached to a lease of
   * LOCK_TTL_SECONDS that etcd3 keeps alive while this process runs: release() revokes the lease
   * (deleting the key); a holder that dies stops the keep-alives and etcd frees the lock when the
   * lease expires.
   */
  async lock(command: string, opts: { timeoutMs: number; onWait?: (holder: LockInfo) => void }): Promise<() => Promise<void>> {
    const mine: LockInfo = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
    const deadline = Date.now() + opts.timeoutMs;
    const lease: Lease = this.ns.lease(LOCK_TTL_SECONDS);
    lease.on('lost', () => undefined); // keep-alives failing: the lease expires; nothing else to do here
    let waited = false;
    try {
      const leaseId = await this.call(() => lease.grant());
      for (;;) {
        const txn = await this.call(() =>
          this.ns
            .if('lock', 'Create', '==', 0)
            .then(this.ns.put('lock').value(JSON.stringify(mine)).lease(leaseId))
            .else(this.ns.get('lock'))
            .commit(),
        );
        if (txn.succeeded) return () => this.releaseLock(lease);
        const kv = txn.responses[0]?.response_range.kvs[0];
        if (!kv) continue; // released between the compare and the read: try again at once
        const holder = parseValue<LockInfo>(kv, 'the lock');
        if (!waited) {
          waited = true;
          opts.onWait?.(holder);
        }
        if (Date.now() >= deadline) throw new LockTimeoutError(holder, opts.timeoutMs);
        await new Promise((resolve) => setTimeout(resolve, Math.min(LOCK_POLL_MS, Math.max(0, deadline - Date.now()))));
      }
    } catch (err) {
      // Unreachable etcd: stop the keep-alives and let the lease expire, instead of waiting
      // another timeout for a revoke that cannot get through.
      if (err instanceof StoreUnavailableError) lease.release();
      else await this.releaseLock(lease);
      throw err;
    }
  }

  /** Who holds the `lock` key now (a lock holder, or the leader of `serve` replicas), with its create revision. */
  holder(): Promise<{ info: LeaderInfo; fence: string } | undefined> {
    return this.call(async () => {
      const kv = (await this.ns.get('lock').exec()).kvs[0];
      return kv ? { info: parseValue<LeaderInfo>(kv, 'the lock'), fence: String(kv.create_revision) } : undefined;
    });
  }

  /**
   * One attempt to become the leader: the `lock` key, created only while absent, on a fresh lease
   * of `ttlSeconds` that the caller keeps alive (no automatic keep-alives: the caller must know
   * when the last one succeeded, to stop acting in time). Undefined when someone holds it.
   */
  async campaign(info: LeaderInfo, ttlSeconds: number): Promise<LeaderLease | undefined> {
    const lease: Lease = this.ns.lease(ttlSeconds, { autoKeepAlive: false });
    lease.on('lost', () => undefined);
    try {
      const leaseId = await this.call(() => lease.grant());
      const txn = await this.call(() => this.ns.if('lock', 'Create', '==', 0).then(this.ns.put('lock').value(JSON.stringify(info)).lease(leaseId)).commit());
      if (!txn.succeeded) {
        await this.releaseLock(lease);
        return undefined;
      }
      const fence = String(txn.header.revision);
      return {
        fence,
        keepalive: async (timeoutMs: number) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            const res = await Promise.race([
              lease.keepaliveOnce(),
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new OperationTimeout()), timeoutMs);
              }),
            ]);
            return Number(res.TTL) > 0;
          } catch (err) {
            if ((err as Error).name === 'EtcdLeaseInvalidError') return false;
            throw this.classify(err, timeoutMs);
          } finally {
            clearTimeout(timer);
          }
        },
        resign: () => this.releaseLock(lease),
      };
    } catch (err) {
      lease.release();
      throw err;
    }
  }

  /** Revokes the lease (the lock key goes with it). If etcd cannot be reached, the lease expires on its own. */
  private async releaseLock(lease: Lease): Promise<void> {
    try {
      await this.call(() => lease.revoke());
    } catch {
      lease.release(); // stop the keep-alives: etcd frees the lock within LOCK_TTL_SECONDS
    }
  }
}
