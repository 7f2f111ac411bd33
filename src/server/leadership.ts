// Leader election of several `vendetta serve` replicas on one etcd store. The leader holds the
// store's `lock` key (created only while absent, on a lease of --lease-ttl); only it runs the
// coordinator (engine, resync loop). Followers poll the key, answer reads, and forward writes to
// the URL the leader wrote into it.
//
// The fencing rule (docs/server.md, "High availability"):
//  1. The leader counts its lease as safe only until T/2 after it *sent* the last keep-alive that
//     etcd confirmed (T = the lease TTL). etcd received that keep-alive no earlier than it was
//     sent, so the lease — and with it the `lock` key — lives at least until send + T.
//  2. When no keep-alive has been confirmed for T/2 (etcd unreachable, no quorum, a paused
//     process), or etcd says the lease is gone, the leader stops acting at once: its term's
//     signal aborts the apply or pass in flight at the next safe point and the resync loop stops,
//     with at least T/2 left before any other replica can be elected.
//  3. Every store write of the term is a transaction that commits only while `lock` has the
//     create revision this term's election made (EtcdStore.fenced): a deposed leader that is
//     still running cannot change the store even after another replica leads.
// A replica that won is never re-instated: it resigns (revokes the lease when it can) and
// campaigns again like any follower.
import type { EtcdStore, LeaderInfo, LeaderLease } from '../store/etcd-store.js';

export type ReplicaRole = 'starting' | 'leader' | 'follower' | 'unavailable';

export interface Term {
  /** The store as this term may write it: fenced on the election's revision. */
  store: EtcdStore;
  /** Aborted when the term ends (the leader must stop touching nodes). */
  signal: AbortSignal;
}

export interface LeadershipOptions {
  store: EtcdStore;
  ttlSeconds: number;
  /** This replica's identity in the `lock` key (its `since` is set per term). */
  info: LeaderInfo;
  /** Starts acting for a term; resolves to what stops it (awaited when the term ends). */
  lead: (term: Term) => Promise<() => Promise<void>>;
  log?: (line: string) => void;
  /** How often a follower reads the key (default 200 ms). */
  pollMs?: number;
}

export class Leadership {
  role: ReplicaRole = 'starting';
  /** The leader as last read (this replica's own info while it leads). */
  leader?: LeaderInfo;
  /** Why the store cannot be used now (role "unavailable"). */
  problem?: string;
  /** When this replica last became leader (ms since epoch). */
  leadingSince?: number;
  private stopped = false;
  private running?: Promise<void>;
  private wake?: () => void;
  private settled!: () => void;
  /** Resolves once the first election round has decided this replica's role. */
  readonly ready = new Promise<void>((resolve) => (this.settled = resolve));

  constructor(private readonly opts: LeadershipOptions) {}

  start(): void {
    this.running ??= this.run();
  }

  /** Ends the term if leading (stops acting, resigns), and stops campaigning. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private setRole(role: ReplicaRole, detail: string): void {
    if (role !== this.role) this.log(`replica: ${role}${detail ? ` (${detail})` : ''}`);
    this.role = role;
    this.settled();
  }

  private async run(): Promise<void> {
    const { store, info } = this.opts;
    const pollMs = this.opts.pollMs ?? 200;
    while (!this.stopped) {
      try {
        const held = await store.holder();
        if (held) {
          const ours = held.info.pid === info.pid && held.info.host === info.host && held.info.url === info.url;
          // Our own key from a term that ended while etcd was unreachable: it expires with its lease.
          this.leader = ours ? undefined : held.info;
          this.problem = undefined;
          this.setRole('follower', ours ? 'waiting for the lease of our previous term to expire' : `leader ${held.info.url ?? `pid ${held.info.pid} on ${held.info.host}`}`);
          await this.sleep(pollMs);
          continue;
        }
        const mine: LeaderInfo = { ...info, since: new Date().toISOString() };
        const sentAt = Date.now();
        const lease = await store.campaign(mine, this.opts.ttlSeconds);
        if (!lease) continue;
        if (this.stopped) {
          await lease.resign();
          break;
        }
        await this.term(lease, mine, sentAt);
        // A term that ended: a pause before campaigning again (never a tight loop of terms).
        await this.sleep(pollMs);
      } catch (err) {
        if (this.stopped) break;
        this.problem = (err as Error).message;
        this.leader = undefined;
        this.setRole('unavailable', this.problem);
        await this.sleep(1000);
      }
    }
  }

  /** One term as leader: act, keep the lease alive, and stop acting by the fencing rule. */
  private async term(lease: LeaderLease, mine: LeaderInfo, grantedAt: number): Promise<void> {
    const ttlMs = this.opts.ttlSeconds * 1000;
    const safeMs = ttlMs / 2;
    const everyMs = Math.max(100, ttlMs / 6);
    const abort = new AbortController();
    this.leader = mine;
    this.problem = undefined;
    this.leadingSince = Date.now();
    this.setRole('leader', `lease ${this.opts.ttlSeconds}s, fence revision ${lease.fence}`);
    let lastOk = grantedAt;
    let lastError = '';
    let reason: string | undefined;
    const acting = this.opts.lead({ store: this.opts.store.fenced(lease.fence), signal: abort.signal }).catch((err: unknown) => {
      reason ??= `could not start leading: ${(err as Error).message}`;
      this.wake?.();
      return async () => undefined;
    });
    while (!this.stopped && !reason) {
      const sentAt = Date.now();
      const left = lastOk + safeMs - sentAt;
      try {
        if (await lease.keepalive(Math.max(50, left))) lastOk = sentAt;
        else reason = 'etcd says its lease expired';
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (!reason && Date.now() - lastOk >= safeMs) {
        reason = `no keep-alive of its lease confirmed for ${Math.round(safeMs)}ms${lastError ? ` (${lastError})` : ''}`;
      }
      if (!reason) await this.sleep(Math.min(everyMs, Math.max(0, lastOk + safeMs - Date.now())));
    }
    // Stop acting first (abort, then wait for the safe point), then give the key up.
    abort.abort(new Error(reason ?? 'shutting down'));
    if (reason) {
      this.problem = reason;
      this.setRole('unavailable', `stopped acting: ${reason}`);
    }
    this.leader = undefined;
    this.leadingSince = undefined;
    await (await acting)();
    await lease.resign();
    this.settled();
  }
}
