// Transport over one shared ssh2 connection per node.
//
// Invariants: the host key is verified before anything runs; session channels (exec, spawn, sftp)
// are bounded by a semaphore below sshd's MaxSessions (10 by default); a dropped connection fails
// the calls in flight with a TransportError and the next call reconnects (with backoff).
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { homedir, constants as osConstants, userInfo } from 'node:os';
import { join, posix } from 'node:path';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import type { NodeResource } from '../model/types.js';
import {
  appendKnownHost,
  decideHostKey,
  fingerprint,
  knownHostsPath,
  mismatchHint,
  parsePublicKeyLine,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  unknownHostHint,
  type HostKeyDecision,
  type KnownHostEntry,
} from './hostkeys.js';
import { findCredentials, installCommand, sshDir } from './keys.js';
import { checkEnvName, quoteArg, shellQuote } from './quote.js';
import { BATCH_SETUP_FAILED, batchableStdin, batchScript, newNonce, parseBatchOutput } from './batch.js';
import { SshConfig, SshConfigError, resolveRoute, type SshConfigSource, type SshHop, type SshRoute } from './ssh-config.js';
import {
  HostKeyMismatchError,
  TransportError,
  type ExecOptions,
  type ExecResult,
  type SpawnOptions,
  type SpawnedProcess,
  type Transport,
} from './types.js';

const { Client } = ssh2;
type Client = InstanceType<typeof Client>;

export interface SshTransportOptions {
  /** Refuse hosts that are not in known_hosts (and not pinned) instead of trusting on first use. */
  strictHostKeys?: boolean;
  /** known_hosts file (default: VENDETTA_KNOWN_HOSTS, else ~/.ssh/known_hosts). */
  knownHostsPath?: string;
  /** Log in with a password (used once, to install a key). */
  password?: string;
  /** Use the agent / identity files (default true). */
  useKeys?: boolean;
  /** Max concurrent session channels (exec, spawn, sftp). Default 8. */
  maxChannels?: number;
  /** Let execs that wait for a free moment go together as one session (./batch.ts). Default true. */
  batchExecs?: boolean;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** Connection attempts per call for transient failures (refused, reset, timeout). Default 3. */
  connectAttempts?: number;
  /** First backoff delay between attempts, doubled each time. Default 250 ms. */
  backoffMs?: number;
  /** Told when an unknown host key was trusted on first use and recorded (for a notice). */
  onHostKeyLearned?: (info: { node: string; fingerprint: string; knownHostsPath: string }) => void;
}

/** Counting semaphore: bounds the session channels open at once on one connection. */
export class Semaphore {
  private waiters: (() => void)[] = [];
  private inUse = 0;
  constructor(readonly size: number) {}
  async acquire(): Promise<() => void> {
    if (this.inUse >= this.size) await new Promise<void>((r) => this.waiters.push(r));
    else this.inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next(); // hand the slot over directly
      else this.inUse--;
    };
  }
}

/**
 * Throws what buildCommand would throw, without building the line: a batched exec never needs
 * its own (the batch quotes its words once), and quoting the service scripts every start carries
 * was a third of a large cold apply's controller CPU.
 */
export function checkCommand(argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): void {
  if (argv.length === 0) throw new Error('exec: empty argv');
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    checkEnvName(k);
    refuseNul(v);
  }
  for (const a of argv) refuseNul(a);
  if (opts.cwd !== undefined) refuseNul(opts.cwd);
}

function refuseNul(s: string): void {
  if (s.includes('\0')) quoteArg(s); // throws quoteArg's own message
}

/** The shell line for an exec: `cd DIR && env K=V … argv`, every piece quoted. */
export function buildCommand(argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): string {
  checkCommand(argv, opts);
  const envEntries = Object.entries(opts.env ?? {});
  const withEnv = envEntries.length ? ['env', ...envEntries.map(([k, v]) => `${k}=${v}`), ...argv] : argv;
  const cmd = shellQuote(withEnv);
  return opts.cwd !== undefined ? `cd ${shellQuote([opts.cwd])} && ${cmd}` : cmd;
}

function exitCodeOf(code: number | null | undefined, signal: string | undefined): number {
  if (typeof code === 'number') return code;
  // ssh2 reports "SIGKILL"; the protocol itself says "KILL"
  const name = signal && !signal.startsWith('SIG') ? `SIG${signal}` : signal;
  const n = name ? osConstants.signals[name as NodeJS.Signals] : undefined;
  return 128 + (n ?? 0);
}

const TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/**
 * SSH work done by this process, for tests and benchmarks ("a no-op pass opens as many channels
 * for 50 workspaces as for 1"): connections made, session channels opened (exec, spawn, sftp)
 * and forwarded channels (TCP or unix socket, e.g. one per Docker API connection).
 */
export interface SshCounters {
  connections: number;
  sessions: number;
  forwards: number;
  /** Commands run (exec calls), whether in a session of their own or in a batch. */
  execs: number;
  /** Execs that ran inside a batch session (./batch.ts) rather than in one of their own. */
  batchedExecs: number;
}

export const sshCounters: SshCounters = { connections: 0, sessions: 0, forwards: 0, execs: 0, batchedExecs: 0 };

/** The most execs one batch session carries. */
const MAX_BATCH = 64;
/** Exec sessions that may run at once before further execs wait to go as one batch. */
const BATCH_SLOTS = 1;
/** A session older than this no longer holds back the execs waiting behind it. */
const BATCH_HOLD_MS = 150;

interface QueuedExec {
  argv: string[];
  opts: ExecOptions;
  resolve: (r: ExecResult) => void;
  reject: (e: unknown) => void;
}

export function resetSshCounters(): void {
  sshCounters.connections = 0;
  sshCounters.sessions = 0;
  sshCounters.forwards = 0;
  sshCounters.execs = 0;
  sshCounters.batchedExecs = 0;
}

/** The ssh config vendetta reads: VENDETTA_SSH_CONFIG, else `config` beside the keys (~/.ssh/config). */
export function sshConfigPath(): string {
  return process.env.VENDETTA_SSH_CONFIG ?? join(sshDir(), 'config');
}

/** Files matching an absolute pattern with `*`/`?` in any segment, sorted (what Include needs of glob(3)). */
export function globFiles(pattern: string): string[] {
  const wild = /[*?]/;
  const segRe = (seg: string) => new RegExp(`^${seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  let paths = ['/'];
  for (const seg of pattern.split('/').filter(Boolean)) {
    paths = paths.flatMap((dir) => {
      if (!wild.test(seg)) return [posix.join(dir, seg)];
      try {
        return readdirSync(dir).filter((n) => !n.startsWith('.') && segRe(seg).test(n)).sort().map((n) => posix.join(dir, n));
      } catch {
        return [];
      }
    });
  }
  return paths;
}

function fileSource(path: string): SshConfigSource {
  return {
    path,
    includeDir: sshDir(),
    home: homedir(),
    localUser: userInfo().username,
    read(file) {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined; // as OpenSSH: no file, no settings
        throw new SshConfigError(`cannot read ssh config ${file}: ${(err as Error).message}`, 'check its permissions, or set VENDETTA_SSH_CONFIG');
      }
    },
    glob: globFiles,
  };
}

/**
 * How a node is reached: its address looked up in the ssh config (a Host alias, or a plain address
 * that Host * blocks may still configure), explicit spec fields first, and any ProxyJump hops.
 */
export function resolveNodeRoute(node: NodeResource): SshRoute {
  const src = fileSource(sshConfigPath());
  const { address, port, user, identityFile } = node.spec;
  try {
    return resolveRoute(new SshConfig(src), { address, ...(port !== undefined ? { port } : {}), ...(user ? { user } : {}), ...(identityFile ? { identityFile } : {}) }, src);
  } catch (err) {
    if (err instanceof SshConfigError) throw new TransportError(node.metadata.name, `node ${node.metadata.name}: ${err.message}`, err.hint);
    throw err;
  }
}

/** "user@host:port", plus " via bastion, …" when there are jump hosts. */
export function describeRoute(route: SshRoute): string {
  const t = route.target;
  const addr = `${t.user}@${t.host}:${t.port}`;
  return route.jumps.length ? `${addr} via ${route.jumps.map((j) => j.name).join(', ')}` : addr;
}

/** Pure: a Node's spec.forwardAgent, else its ssh config's ForwardAgent, else false (OpenSSH's default). */
export function agentForwardingAllowed(spec: { forwardAgent?: boolean }, target: { forwardAgent?: boolean }): boolean {
  return spec.forwardAgent ?? target.forwardAgent ?? false;
}

export class SshTransport implements Transport {
  readonly node: string;
  readonly describe: string;
  readonly route: SshRoute;
  private readonly host: string;
  private readonly user: string;
  private readonly channels: Semaphore;
  /** Connections of their own for forwarded-agent execs (git fetches), a few at a time. */
  private readonly forwardSlots = new Semaphore(4);
  private conn?: Client;
  /** Settles when the jump hosts under `conn` have closed (they close with it). */
  private hopsClosed: Promise<unknown> = Promise.resolve();
  private connecting?: Promise<Client>;
  private closed = false;
  private homeDir?: Promise<string>;
  /** Rejecters of calls in flight on the current connection: failed when it drops. */
  private inflight = new Set<(err: TransportError) => void>();
  /** Execs waiting for the end of this turn, to go as one batch. */
  private batchQueue: QueuedExec[] = [];
  private pumpScheduled = false;
  /** Exec sessions running, younger than BATCH_HOLD_MS. */
  private recentSessions = 0;

  constructor(
    private readonly resource: NodeResource,
    private readonly opts: SshTransportOptions = {},
  ) {
    this.node = resource.metadata.name;
    this.route = resolveNodeRoute(resource);
    this.host = this.route.target.host;
    this.user = this.route.target.user;
    this.describe = describeRoute(this.route);
    this.channels = new Semaphore(opts.maxChannels ?? 8);
  }

  /** Connect now (host key verified, logged in). Calls connect lazily otherwise. */
  async connect(): Promise<void> {
    await this.client();
  }

  private async client(): Promise<Client> {
    if (this.closed) throw new TransportError(this.node, `transport to ${this.node} is closed`);
    if (this.conn) return this.conn;
    this.connecting ??= this.connectWithRetry().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private connectWithRetry(): Promise<Client> {
    return this.retrying(() => this.connectOnce());
  }

  /** `connect` again after transient failures (refused, reset, timeout), with backoff. */
  private async retrying<T>(connect: () => Promise<T>): Promise<T> {
    const attempts = this.opts.connectAttempts ?? 3;
    let delay = this.opts.backoffMs ?? 250;
    for (let i = 1; ; i++) {
      try {
        return await connect();
      } catch (err) {
        const transient = err instanceof TransportError && (err as TransportError & { transient?: boolean }).transient;
        if (!transient || i >= attempts) throw err;
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  /** Dial the jump hosts in turn, each through the previous one, then the node through the last. */
  private async connectOnce(): Promise<Client> {
    const { conn, hops, endHops } = await this.dial();
    conn.on('error', () => {
      /* reported through 'close' and the calls in flight */
    });
    // A jump host dropping closes the forwarded socket, so `conn` closes too and reports it.
    for (const h of hops) h.on('error', () => {});
    conn.on('close', () => {
      endHops();
      if (this.conn === conn) this.conn = undefined;
      const lost = new TransportError(
        this.node,
        `connection to node ${this.node} (${this.describe}) was lost`,
        'the command may or may not have completed; the next call reconnects, so retry',
      );
      for (const fail of this.inflight) fail(lost);
      this.inflight.clear();
    });
    this.conn = conn;
    this.hopsClosed = Promise.all(hops.map((h) => new Promise<void>((resolve) => h.once('close', () => resolve()))));
    return conn;
  }

  /** A new connection to the node (through its jump hosts), not the shared one. */
  private async dial(): Promise<{ conn: Client; hops: Client[]; endHops: () => void }> {
    const knownHosts = knownHostsPath(this.opts.knownHostsPath);
    const entries = await readKnownHosts(knownHosts);
    const hops: Client[] = [];
    const endHops = () => [...hops].reverse().forEach((h) => h.end());
    let conn: Client;
    try {
      let sock: Duplex | undefined;
      for (const [i, hop] of this.route.jumps.entries()) {
        const c = await this.connectHop(hop, true, sock, knownHosts, entries);
        hops.push(c);
        const next = this.route.jumps[i + 1] ?? this.route.target;
        sock = await this.forwardThrough(c, hop, next);
      }
      conn = await this.connectHop(this.route.target, false, sock, knownHosts, entries);
    } catch (err) {
      endHops();
      throw err;
    }
    conn.setNoDelay(true); // without it each exec loses ~40 ms to Nagle
    return { conn, hops, endHops };
  }

  /** A `direct-tcpip` channel from jump host `via` to the next hop, the socket for the next Client. */
  private forwardThrough(via: Client, hop: SshHop, next: SshHop): Promise<Duplex> {
    sshCounters.forwards++;
    return new Promise((resolve, reject) =>
      via.forwardOut('127.0.0.1', 0, next.host, next.port, (err, ch) => {
        if (!err) return resolve(ch);
        const e = new TransportError(
          this.node,
          `jump host ${hop.name} (${hop.host}:${hop.port}) cannot reach ${next.name === next.host ? '' : `${next.name} `}(${next.host}:${next.port}) for node ${this.node}: ${err.message}`,
          `is sshd running on ${next.host}:${next.port} as seen from ${hop.name}, and does ${hop.name} allow TCP forwarding (AllowTcpForwarding)?`,
          { cause: err },
        );
        reject(Object.assign(e, { transient: true }));
      }),
    );
  }

  /** One SSH login (the node, or a jump host when `jump`), over `sock` when given; host key verified. */
  private async connectHop(hop: SshHop, jump: boolean, sock: Duplex | undefined, knownHosts: string, entries: KnownHostEntry[]): Promise<Client> {
    const pinned = jump ? undefined : this.resource.spec.hostKey;
    const knownTypes = pinned
      ? [parsePublicKeyLine(pinned)?.keyType ?? '']
      : entries.filter((e) => !e.marker && e.keyType).map((e) => e.keyType);
    const config: ConnectConfig = {
      host: hop.host,
      port: hop.port,
      username: hop.user,
      readyTimeout: this.opts.readyTimeoutMs ?? 10_000,
      keepaliveInterval: this.opts.keepaliveIntervalMs ?? 5_000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: preferredHostKeyAlgorithms(knownTypes.filter(Boolean)) as never },
      ...(sock ? { sock } : {}),
    };
    let keyNotes: string[] = [];
    // A password (node add) is for the node itself; jump hosts always log in with keys.
    const password = jump ? undefined : this.opts.password;
    if (jump || this.opts.useKeys !== false) {
      const explicit = jump ? undefined : this.resource.spec.identityFile;
      const creds = await findCredentials(this.node, explicit, explicit ? [] : hop.identityFiles);
      if (creds.agent) config.agent = creds.agent;
      if (creds.privateKey) config.privateKey = creds.privateKey;
      keyNotes = creds.notes;
      if (creds.moreKeys) {
        // ssh2 offers one key by itself: list them all, in ssh2's own order of methods
        config.authHandler = [
          'none',
          ...(password !== undefined ? ['password'] : []),
          ...[creds.privateKey!, ...creds.moreKeys.map((k) => k.key)].map((key) => ({ type: 'publickey' as const, username: hop.user, key })),
          ...(creds.agent ? ['agent'] : []),
          ...(password !== undefined ? ['keyboard-interactive'] : []),
        ] as ConnectConfig['authHandler'];
      }
    }
    if (password !== undefined) {
      config.password = password;
      config.tryKeyboard = true; // many servers only offer keyboard-interactive for passwords
    }
    if (!config.agent && !config.privateKey && config.password === undefined) {
      throw new TransportError(
        this.node,
        `no SSH credentials for ${jump ? `jump host ${hop.name} of node ${this.node}` : `node ${this.node}`}: no agent, no identity file, no key in ${sshDir()}${keyNotes.length ? ` (${keyNotes.join('; ')})` : ''}`,
        jump ? `set IdentityFile for ${hop.name} in ${sshConfigPath()}` : 'run `vendetta node add` to generate and install a key, or set spec.identityFile',
      );
    }

    // The verifier records why it refused a key, so the connect error can say so.
    let hostKeyError: TransportError | undefined;
    let presented: Buffer | undefined;
    config.hostVerifier = (key: Buffer, verify: (ok: boolean) => void) => {
      presented = key;
      const decision = decideHostKey({ host: hop.host, port: hop.port, presentedBlob: key, pinned, entries });
      hostKeyError = this.hostKeyRefusal(decision, key, knownHosts, hop, jump);
      if (hostKeyError) return verify(false);
      if (decision.verdict !== 'unknown') return verify(true);
      appendKnownHost(knownHosts, hop.host, hop.port, key).then(
        () => {
          this.opts.onHostKeyLearned?.({ node: this.node, fingerprint: fingerprint(key), knownHostsPath: knownHosts });
          verify(true);
        },
        (err) => {
          hostKeyError = new TransportError(this.node, `cannot record the host key of ${jump ? `jump host ${hop.name}` : this.node} in ${knownHosts}: ${(err as Error).message}`, 'check that the file is writable, or set VENDETTA_KNOWN_HOSTS');
          verify(false);
        },
      );
    };

    const conn = new Client();
    sshCounters.connections++;
    if (password !== undefined) {
      conn.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)));
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error & { level?: string; code?: string }) => {
        conn.removeListener('ready', onReady);
        conn.end();
        reject(hostKeyError ?? this.connectError(err, keyNotes, hop, jump, presented));
      };
      const onReady = () => {
        conn.removeListener('error', onError);
        resolve();
      };
      conn.once('ready', onReady).once('error', onError).connect(config);
    });
    return conn;
  }

  private hostKeyRefusal(decision: HostKeyDecision, key: Buffer, knownHosts: string, hop: SshHop, jump: boolean): TransportError | undefined {
    // the same checks for a jump host as for the node; only the wording differs
    const who = jump ? `jump host ${hop.name} (${hop.host}:${hop.port}) of node ${this.node}` : `node ${this.node} (${this.describe})`;
    switch (decision.verdict) {
      case 'trusted':
        return undefined;
      case 'unknown':
        if (!this.opts.strictHostKeys) return undefined;
        return new TransportError(
          this.node,
          `host key of ${who} is unknown and strict host key checking is on`,
          unknownHostHint(hop.host, hop.port, knownHosts, fingerprint(key)),
        );
      case 'revoked':
        return new TransportError(
          this.node,
          `${jump ? who : `node ${this.node}`} presented a revoked host key ${fingerprint(key)} (${decision.entry.file}:${decision.entry.line})`,
          `do not connect; find out why the ${jump ? 'jump host' : 'node'} uses a revoked key`,
        );
      case 'mismatch': {
        const hint = mismatchHint({ node: this.node, host: hop.host, port: hop.port, knownHostsFile: knownHosts, decision });
        if (!jump) return new HostKeyMismatchError(this.node, decision.expected, fingerprint(key), hint);
        return new TransportError(
          this.node,
          `host key of ${who} has changed: expected ${decision.expected}, got ${fingerprint(key)}`,
          hint,
        );
      }
    }
  }

  private connectError(err: Error & { level?: string; code?: string }, keyNotes: string[], hop: SshHop, jump: boolean, presented?: Buffer): TransportError {
    const where = `${hop.host}:${hop.port}`;
    if (jump) return this.jumpError(err, keyNotes, hop, presented);
    const make = (msg: string, hint: string, transient = false) => {
      const e = new TransportError(this.node, `cannot connect to node ${this.node} (${this.describe}): ${msg}`, hint, { cause: err });
      return Object.assign(e, { transient });
    };
    if (err.level === 'client-authentication') {
      const pub = this.resource.spec.identityFile ? `${this.resource.spec.identityFile}.pub` : join(sshDir(), 'id_ed25519.pub');
      return make(
        `authentication failed for user ${this.user}${keyNotes.length ? ` (${keyNotes.join('; ')})` : ''}`,
        `install your public key: vendetta node add ${this.node} --password-stdin, or run: ${installCommand(this.resource, pub)}`,
      );
    }
    if (err.code === 'ECONNREFUSED') return make(`connection refused by ${where}`, `is sshd running on ${where}?`, true);
    if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
      return make(`cannot resolve host name ${this.host}`, `check spec.address of node ${this.node} and your DNS`);
    }
    if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT' || /timed out/i.test(err.message)) {
      return make(
        `timed out${presented ? ' after the handshake started' : ''}`,
        `is ${where} reachable from here (firewall, VPN)? Is sshd answering on that port?`,
        true,
      );
    }
    return make(err.message, `check that sshd is running on ${where} and reachable`, TRANSIENT.has(err.code ?? ''));
  }

  /** "jump host bastion (10.0.0.1:22) unreachable: …": which hop failed, and why. */
  private jumpError(err: Error & { level?: string; code?: string }, keyNotes: string[], hop: SshHop, presented?: Buffer): TransportError {
    const where = `${hop.host}:${hop.port}`;
    const make = (what: string, msg: string, hint: string, transient = false) =>
      Object.assign(new TransportError(this.node, `jump host ${hop.name} (${where}) ${what}: ${msg} (on the way to node ${this.node})`, hint, { cause: err }), { transient });
    const config = sshConfigPath();
    if (err.level === 'client-authentication') {
      return make('refused the login', `authentication failed for user ${hop.user}${keyNotes.length ? ` (${keyNotes.join('; ')})` : ''}`, `check User and IdentityFile for ${hop.name} in ${config}`);
    }
    if (err.code === 'ECONNREFUSED') return make('unreachable', 'connection refused', `is sshd running on ${where}? (ProxyJump in ${config})`, true);
    if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return make('unreachable', `cannot resolve host name ${hop.host}`, `check HostName of ${hop.name} in ${config}`);
    if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT' || /timed out/i.test(err.message)) {
      return make('unreachable', `timed out${presented ? ' after the handshake started' : ''}`, `is ${where} reachable from the previous hop? Is sshd answering on that port?`, true);
    }
    return make('unreachable', err.message, `check that sshd is running on ${where} and reachable (ProxyJump in ${config})`, TRANSIENT.has(err.code ?? ''));
  }

  /**
   * Open a session channel under the semaphore and wire its failure to a dropped connection.
   * `release` must be called when the channel is done.
   */
  private async session<T>(
    open: (conn: Client, cb: (err: Error | undefined, ch: T) => void) => void,
    what: string,
  ): Promise<{ channel: T; release: () => void; onLost: (fn: (e: TransportError) => void) => void }> {
    // Slot first, then the connection: after waiting for a slot we want the current connection.
    const releaseSlot = await this.channels.acquire();
    let conn: Client;
    try {
      conn = await this.client();
    } catch (err) {
      releaseSlot();
      throw err;
    }
    let lostHandler: ((e: TransportError) => void) | undefined;
    const onLostConn = (e: TransportError) => lostHandler?.(e);
    const release = () => {
      this.inflight.delete(onLostConn);
      releaseSlot();
    };
    this.inflight.add(onLostConn);
    try {
      const channel = await new Promise<T>((resolve, reject) => {
        lostHandler = reject; // the connection may drop while the channel is opening
        if (this.conn !== conn) return reject(this.lostError(what));
        sshCounters.sessions++;
        open(conn, (err, ch) => (err ? reject(err) : resolve(ch)));
      });
      lostHandler = undefined;
      return { channel, release, onLost: (fn) => (lostHandler = fn) };
    } catch (err) {
      release();
      if (err instanceof TransportError) throw err;
      throw new TransportError(
        this.node,
        `${what} on node ${this.node}: cannot open a channel: ${(err as Error).message}`,
        "retry; if it persists, check MaxSessions in the node's sshd_config",
        { cause: err },
      );
    }
  }

  private lostError(what: string): TransportError {
    return new TransportError(this.node, `${what} on node ${this.node}: connection lost`, 'retry: the next call reconnects');
  }

  /**
   * Whether this Node lets a command ask for the controller's agent (ExecOptions.forwardAgent):
   * spec.forwardAgent, else the ssh config's ForwardAgent for its address, else no (as OpenSSH).
   */
  get agentForwardingAllowed(): boolean {
    return agentForwardingAllowed(this.resource.spec, this.route.target);
  }

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    sshCounters.execs++;
    try {
      checkCommand(argv, opts);
    } catch (err) {
      throw new TransportError(this.node, (err as Error).message);
    }
    if (opts.signal?.aborted) throw new TransportError(this.node, `${argv[0]} on ${this.node} was aborted`);
    if (opts.forwardAgent) {
      const agent = process.env.SSH_AUTH_SOCK;
      const why = !this.agentForwardingAllowed ? 'disabled' : !agent || !existsSync(agent) ? 'no-agent' : undefined;
      if (!why) return this.execForwarded(buildCommand(argv, opts), argv, opts);
      return { ...(await this.execShared(argv, opts)), agent: why };
    }
    return this.execShared(argv, opts);
  }

  /**
   * An exec on the shared connection. Execs go out at once while fewer than BATCH_SLOTS recent
   * sessions are running; beyond that they wait, and all that waited go together as one batch
   * (./batch.ts) when a slot frees: one session for many, the way Nagle's algorithm coalesces
   * small writes. A session running longer than BATCH_HOLD_MS (a setup command, a build) frees its
   * slot, so long commands never hold back the short ones. An exec that can be aborted, or whose
   * stdin is not text, gets a session of its own at once.
   */
  private execShared(argv: string[], opts: ExecOptions): Promise<ExecResult> {
    if (this.opts.batchExecs === false || opts.signal || !batchableStdin(opts.stdin)) return this.execSession(argv, opts);
    return new Promise<ExecResult>((resolve, reject) => {
      this.batchQueue.push({ argv, opts, resolve, reject });
      this.schedulePump();
    });
  }

  /** Pumps at the end of this turn, so that the execs asked for in it go together. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.batchQueue.length > 0 && this.recentSessions < BATCH_SLOTS) {
      const chunk = this.batchQueue.splice(0, MAX_BATCH);
      this.recentSessions++;
      let held = true;
      const free = () => {
        if (!held) return;
        held = false;
        clearTimeout(timer);
        this.recentSessions--;
        this.schedulePump();
      };
      const timer = setTimeout(free, BATCH_HOLD_MS);
      const m = chunk[0]!;
      const run = chunk.length === 1 ? this.execSession(m.argv, m.opts).then(m.resolve, m.reject) : this.runBatch(chunk);
      void run.finally(free);
    }
  }

  /** Runs queued execs as one `sh -s` session; each gets its own result, or the batch's failure. */
  private async runBatch(members: QueuedExec[]): Promise<void> {
    sshCounters.batchedExecs += members.length;
    const nonce = newNonce();
    // Each member keeps its own deadline; the session gets the longest (none if one has none).
    const deadlines = members.map((m) => m.opts.timeoutMs);
    const timeoutMs = deadlines.every((t) => t !== undefined) ? Math.max(...(deadlines as number[])) : undefined;
    const timers = members.map((m) =>
      m.opts.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => m.reject(new TransportError(this.node, `${m.argv[0]} on ${this.node} timed out after ${m.opts.timeoutMs}ms`, 'raise the timeout or check why the command hangs')),
            m.opts.timeoutMs,
          ),
    );
    try {
      const script = batchScript(members.map((m) => ({ argv: m.argv, env: m.opts.env, cwd: m.opts.cwd, stdin: m.opts.stdin })), nonce);
      const res = await this.execSession(['sh', '-s'], { stdin: script, timeoutMs }, 'sh -s');
      const results = parseBatchOutput(res.stdout, nonce, members.length);
      members.forEach((m, i) => {
        const r = results[i];
        if (r) return m.resolve(r);
        const why = res.code === BATCH_SETUP_FAILED ? 'could not make its temporary directory' : `ended early (exit ${res.code})`;
        m.reject(new TransportError(this.node, `${m.argv[0]} on ${this.node}: the batch of commands it ran in ${why}: ${res.stderr.trim() || 'no message'}`, 'retry; check that the node has a writable $TMPDIR (or /tmp)'));
      });
    } catch (err) {
      for (const m of members) m.reject(err instanceof TransportError ? err : new TransportError(this.node, (err as Error).message));
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  }

  /** An exec in a session channel of its own; its shell line is built here, when one is needed. */
  private async execSession(argv: string[], opts: ExecOptions, command = buildCommand(argv, opts)): Promise<ExecResult> {
    const { channel, release, onLost } = await this.session<ClientChannel>((c, cb) => c.exec(command, cb), argv[0]!);
    return this.collect(channel, argv, opts, release, onLost);
  }

  /**
   * An exec with the controller's agent forwarded, on a connection of its own that is closed when
   * the command ends: OpenSSH's sshd makes one agent socket per connection and gives it to every
   * later session on that connection, so the shared connection (and the keeper's) never asks for
   * it. The socket goes when this connection closes. When the node's sshd refuses forwarding
   * (AllowAgentForwarding no, or no-agent-forwarding in authorized_keys), the command runs on the
   * shared connection without it, and the result says 'refused'.
   */
  private async execForwarded(command: string, argv: string[], opts: ExecOptions): Promise<ExecResult> {
    const releaseSlot = await this.forwardSlots.acquire();
    let dialed: Awaited<ReturnType<SshTransport['dial']>> | undefined;
    try {
      if (this.closed) throw new TransportError(this.node, `transport to ${this.node} is closed`);
      dialed = await this.retrying(() => this.dial());
      const { conn, hops } = dialed;
      conn.on('error', () => {});
      for (const h of hops) h.on('error', () => {});
      sshCounters.sessions++;
      const channel = await new Promise<ClientChannel | 'refused'>((resolve, reject) =>
        // ssh2 1.x takes agentForward per exec (lib/client.js), which @types/ssh2 does not list
        conn.exec(command, { agentForward: true } as ssh2.ExecOptions, (err, ch) => {
          if (!err) return resolve(ch);
          // ssh2 fails the exec when the auth-agent-req@openssh.com request is refused
          if (/agent forwarding/i.test(err.message)) return resolve('refused');
          reject(new TransportError(this.node, `${argv[0]} on node ${this.node}: cannot open a channel: ${err.message}`, 'retry', { cause: err }));
        }),
      );
      if (channel === 'refused') {
        dialed.conn.end();
        dialed.endHops();
        dialed = undefined;
        return { ...(await this.execShared(argv, opts)), agent: 'refused' };
      }
      // A connection that closes under the command: the channel closes without a status (lost).
      return { ...(await this.collect(channel, argv, opts, () => {}, () => {})), agent: 'forwarded' };
    } finally {
      if (dialed) {
        dialed.conn.end();
        dialed.endHops();
      }
      releaseSlot();
    }
  }

  /** Runs an opened exec channel to its end: stdin in, stdout/stderr collected, timeout and abort. */
  private collect(
    channel: ClientChannel,
    argv: string[],
    opts: ExecOptions,
    release: () => void,
    onLost: (fn: (e: TransportError) => void) => void,
  ): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        release();
        fn();
      };
      const kill = (message: string, hint?: string) => {
        try {
          channel.signal('KILL');
        } catch {
          /* channel already gone */
        }
        channel.close();
        finish(() => reject(new TransportError(this.node, message, hint)));
      };
      const timer =
        opts.timeoutMs !== undefined
          ? setTimeout(
              () => kill(`${argv[0]} on ${this.node} timed out after ${opts.timeoutMs}ms`, 'raise the timeout or check why the command hangs'),
              opts.timeoutMs,
            )
          : undefined;
      const onAbort = () => kill(`${argv[0]} on ${this.node} was aborted`);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      onLost((e) => finish(() => reject(e)));

      channel.on('data', (d: Buffer) => stdout.push(d));
      channel.stderr.on('data', (d: Buffer) => stderr.push(d));
      // ssh2 passes the exit status (or signal) to 'close'; neither means the channel died early.
      // ('exit' is not used: it can fire before this listener exists.)
      channel.on('close', (code?: number | null, signal?: string) => {
        if (code === undefined && signal === undefined) return finish(() => reject(this.lostError(argv[0]!)));
        const result = {
          code: exitCodeOf(code, signal),
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        };
        finish(() => resolve(result));
      });
      if (opts.stdin !== undefined) channel.end(opts.stdin);
      else channel.end();
    });
  }

  async spawn(argv: string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
    let command: string;
    try {
      command = buildCommand(argv, opts);
    } catch (err) {
      throw new TransportError(this.node, (err as Error).message);
    }
    const pty = opts.pty ? { rows: opts.pty.rows, cols: opts.pty.cols, term: opts.pty.term ?? 'xterm-256color' } : undefined;
    const { channel, release, onLost } = await this.session<ClientChannel>(
      (c, cb) => (pty ? c.exec(command, { pty }, cb) : c.exec(command, cb)),
      argv[0]!,
    );
    const done = new Promise<number>((resolve, reject) => {
      onLost((e) => {
        release();
        reject(e);
      });
      channel.on('close', (code?: number | null, signal?: string) => {
        release();
        if (code === undefined && signal === undefined) reject(this.lostError(argv[0]!));
        else resolve(exitCodeOf(code, signal));
      });
    });
    done.catch(() => {}); // keep an unobserved failure from becoming an unhandled rejection
    return {
      stdin: channel,
      stdout: channel,
      stderr: channel.stderr,
      wait: () => done,
      kill: (signal: NodeJS.Signals = 'SIGTERM') => {
        try {
          channel.signal(signal.replace(/^SIG/, ''));
        } catch {
          /* channel already gone */
        }
        // sshd may ignore signal requests: closing the channel hangs up the command too.
        channel.close();
      },
      ...(pty ? { resize: (rows: number, cols: number) => channel.setWindow(rows, cols, 0, 0) } : {}),
    };
  }

  private async withSftp<T>(what: string, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const { channel: sftp, release } = await this.session<SFTPWrapper>((c, cb) => c.sftp(cb), what);
    try {
      return await fn(sftp);
    } catch (err) {
      if (err instanceof TransportError) throw err;
      throw new TransportError(this.node, `${what} on node ${this.node} failed: ${(err as Error).message}`, undefined, { cause: err });
    } finally {
      sftp.end();
      release();
    }
  }

  /** exec that must succeed (mkdir, rm, mv around file transfers). */
  private async run(argv: string[], what: string): Promise<void> {
    const r = await this.exec(argv);
    if (r.code !== 0) {
      throw new TransportError(this.node, `${what} on node ${this.node} failed (exit ${r.code}): ${r.stderr.trim()}`);
    }
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    // Upload beside the target, then swap it in: the target is replaced, never half-written.
    const tmp = `${remotePath.replace(/\/+$/, '')}.vendetta-tmp-${randomBytes(4).toString('hex')}`;
    // Same round trip: remove what an interrupted earlier upload to this target left behind.
    await this.run(
      ['/bin/sh', '-c', 'mkdir -p -- "$1" && rm -rf -- "$2".vendetta-tmp-*', 'sh', posix.dirname(tmp), remotePath.replace(/\/+$/, '')],
      `upload ${localPath}`,
    );
    try {
      await this.withSftp(`upload ${localPath} → ${remotePath}`, (sftp) => putTree(sftp, localPath, tmp));
      await this.run(['sh', '-c', 'rm -rf -- "$1" && mv -- "$2" "$1"', 'sh', remotePath, tmp], `upload ${localPath}`);
    } catch (err) {
      await this.exec(['rm', '-rf', '--', tmp]).catch(() => {});
      throw err;
    }
  }

  async writeFile(remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const tmp = `${remotePath}.vendetta-tmp-${randomBytes(4).toString('hex')}`;
    const attempt = () =>
      this.withSftp(`write ${remotePath}`, async (sftp) => {
        await sftpCall<void>((cb) => sftp.writeFile(tmp, content, { mode }, cb));
        await sftpCall<void>((cb) => sftp.chmod(tmp, mode, cb)); // the umask may have narrowed it
        await sftpCall<void>((cb) => sftp.ext_openssh_rename(tmp, remotePath, cb));
      });
    try {
      await attempt();
    } catch (err) {
      if (!isNoSuchFile(err)) throw err;
      await this.run(['mkdir', '-p', posix.dirname(remotePath)], `write ${remotePath}`);
      await attempt();
    }
  }

  async readFile(remotePath: string): Promise<Buffer> {
    return this.withSftp(`read ${remotePath}`, (sftp) => sftpCall<Buffer>((cb) => sftp.readFile(remotePath, cb)));
  }

  async connectTcp(host: string, port: number): Promise<Duplex> {
    const conn = await this.client();
    sshCounters.forwards++;
    return new Promise((resolve, reject) =>
      conn.forwardOut('127.0.0.1', 0, host, port, (err, ch) =>
        err
          ? reject(new TransportError(this.node, `cannot connect to ${host}:${port} from node ${this.node}: ${err.message}`, `is something listening on ${host}:${port} on the node?`, { cause: err }))
          : resolve(ch),
      ),
    );
  }

  async connectUnix(path: string): Promise<Duplex> {
    const conn = await this.client();
    sshCounters.forwards++;
    return new Promise((resolve, reject) =>
      conn.openssh_forwardOutStreamLocal(path, (err, ch) =>
        err
          ? reject(new TransportError(this.node, `cannot connect to unix socket ${path} on node ${this.node}: ${err.message}`, `does ${path} exist on the node, may ${this.user} open it, and does sshd allow AllowStreamLocalForwarding?`, { cause: err }))
          : resolve(ch),
      ),
    );
  }

  /** Asked once per transport: callers at the same moment share the one exec; a failure is not kept. */
  home(): Promise<string> {
    this.homeDir ??= this.exec(['sh', '-c', 'printf %s "$HOME"']).then((r) => {
      if (r.code !== 0 || !r.stdout) throw new TransportError(this.node, `cannot read $HOME on node ${this.node}: ${r.stderr.trim()}`);
      return r.stdout;
    });
    this.homeDir.catch(() => (this.homeDir = undefined));
    return this.homeDir;
  }

  async close(): Promise<void> {
    this.closed = true;
    const conn = this.conn ?? (await this.connecting?.catch(() => undefined));
    this.conn = undefined;
    if (!conn) return;
    await new Promise<void>((resolve) => {
      conn.once('close', () => resolve());
      conn.end(); // its 'close' ends the jump hosts
    });
    await this.hopsClosed;
  }
}

function sftpCall<T>(fn: (cb: (err: Error | null | undefined, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

function isNoSuchFile(err: unknown): boolean {
  const cause = err instanceof TransportError ? (err.cause as { code?: number } | undefined) : (err as { code?: number });
  return cause?.code === 2; // SSH_FX_NO_SUCH_FILE
}

/** Copy a local file, symlink or directory tree to `remote` (which must not exist yet). */
async function putTree(sftp: SFTPWrapper, local: string, remote: string): Promise<void> {
  const st = await lstat(local);
  if (st.isSymbolicLink()) {
    const target = await readlink(local);
    await sftpCall<void>((cb) => sftp.symlink(target, remote, cb));
  } else if (st.isDirectory()) {
    await sftpCall<void>((cb) => sftp.mkdir(remote, { mode: st.mode & 0o7777 }, cb));
    for (const name of await readdir(local)) await putTree(sftp, join(local, name), `${remote}/${name}`);
  } else if (st.isFile()) {
    await sftpCall<void>((cb) => sftp.fastPut(local, remote, { mode: st.mode & 0o7777 }, (err) => cb(err, undefined)));
    await sftpCall<void>((cb) => sftp.chmod(remote, st.mode & 0o7777, cb));
  }
  // sockets, fifos and devices are skipped: they cannot be copied meaningfully
}
