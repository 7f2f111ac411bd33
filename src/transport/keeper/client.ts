// The CLI's side of the SSH connection keeper (./server.ts): a Transport whose every call goes
// through the keeper's unix socket, and the code that finds or starts the keeper.
//
// The first command that needs a node starts the keeper in the background and connects directly
// itself; the commands after it find the keeper and skip the handshakes. VENDETTA_SSH_PERSIST=0
// turns this off; any other number is the keeper's idle lifetime in seconds (default 300).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, lstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import type { NodeResource } from '../../model/types.js';
import { knownHostsPath } from '../hostkeys.js';
import { TransportError, type ExecOptions, type ExecResult, type SpawnOptions, type SpawnedProcess, type Transport } from '../types.js';
import {
  Frame,
  FrameReader,
  PROTOCOL_VERSION,
  besideSocket,
  decodeBytes,
  deserializeError,
  encodeBytes,
  encodeExecArgs,
  encodeFrame,
  readLine,
  type ConnectionOptions,
  type HostKeyLearned,
  type KeeperOp,
  type KeeperReply,
  type KeeperRequest,
} from './protocol.js';

export const DEFAULT_PERSIST_SECONDS = 300;

/** Seconds the keeper stays after its last request, or 0 when VENDETTA_SSH_PERSIST turns it off. */
export function persistSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.VENDETTA_SSH_PERSIST;
  if (v === undefined || v === '') return DEFAULT_PERSIST_SECONDS;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * The keeper's socket. One keeper per user and per everything that decides how it connects (the
 * CLI build, $HOME, the key and known_hosts locations, the agent): a command with another
 * environment gets its own keeper, never connections made with someone else's credentials.
 * The directory must be ours and private (as OpenSSH requires of a ControlPath), else no keeper.
 */
export function keeperSocketPath(entry: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const uid = userInfo().uid;
  const dir = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'vendetta') : join(tmpdir(), `vendetta-${uid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) return undefined;
  } catch {
    return undefined;
  }
  let build = entry;
  try {
    build += `@${statSync(entry).mtimeMs}`; // a rebuilt CLI gets a fresh keeper
  } catch {
    /* not a file: the name alone */
  }
  const identity = [PROTOCOL_VERSION, build, env.HOME ?? homedir(), env.VENDETTA_SSH_DIR, env.VENDETTA_KNOWN_HOSTS, env.SSH_AUTH_SOCK, env.VENDETTA_SSH_CONFIG];
  const hash = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  return join(dir, `ssh-${hash}.sock`);
}

export interface KeeperClientOptions {
  /** The keeper's socket, or undefined for none; asked once, when a first SSH node is reached. */
  socketPath: string | (() => string | undefined);
  /** Starts a keeper on that socket (detached); called at most once per process. */
  start?: (socketPath: string) => void;
}

export class KeeperClient {
  private started = false;
  private path?: string | null;

  constructor(private readonly opts: KeeperClientOptions) {}

  private socketPath(): string | undefined {
    if (this.path === undefined) {
      const p = this.opts.socketPath;
      this.path = (typeof p === 'string' ? p : p()) ?? null;
    }
    return this.path ?? undefined;
  }

  /**
   * A transport through the keeper, connected; or undefined when no keeper answers (one is then
   * started for the next command, and the caller connects directly).
   */
  async transport(
    node: NodeResource,
    options: ConnectionOptions,
    onHostKeyLearned?: (info: HostKeyLearned) => void,
  ): Promise<Transport | undefined> {
    const socketPath = this.socketPath();
    if (!socketPath) return undefined;
    const t = new KeptTransport(socketPath, node, { ...options, knownHostsPath: knownHostsPath(options.knownHostsPath) });
    let learned: HostKeyLearned[];
    try {
      learned = await t.connect();
    } catch (err) {
      if (!(err instanceof KeeperUnavailable)) throw err;
      if (this.opts.start) {
        // The keeper connects to the nodes this command reaches as soon as it is up, so the next
        // command finds their connections made (ConnectionKeeper.warmUp). It is started as this
        // command exits, not now: its start-up and its SSH handshakes would take the CPU this
        // command's own work needs (on a two-core machine, a tenth of a cold apply).
        appendWarm(socketPath, { op: 'connect', node, options: t.options });
        if (!this.started) {
          this.started = true;
          const start = this.opts.start;
          process.once('exit', () => start(socketPath));
        }
      }
      return undefined;
    }
    for (const l of learned) onHostKeyLearned?.(l);
    return t;
  }

  /** The keeper's counters (connections made, channels opened), for tests and benchmarks. */
  async stats(): Promise<Record<string, number>> {
    return (await this.control('stats')) as Record<string, number>;
  }

  /** Ask the keeper to close its connections and exit: the number it closed, or undefined if none ran. */
  async stop(): Promise<number | undefined> {
    try {
      return ((await this.control('stop')) as { connections: number }).connections;
    } catch (err) {
      if (err instanceof KeeperUnavailable) return undefined;
      throw err;
    }
  }

  private async control(op: 'stats' | 'stop'): Promise<unknown> {
    const socketPath = this.socketPath();
    if (!socketPath) throw new KeeperUnavailable('no keeper socket');
    const socket = await openCall(socketPath, { op }, 'keeper');
    try {
      return (await readReply(socket, 'keeper')).value;
    } finally {
      socket.destroy();
    }
  }
}

function appendWarm(socketPath: string, req: KeeperRequest): void {
  try {
    appendFileSync(besideSocket(socketPath, 'warm'), `${JSON.stringify(req)}\n`, { mode: 0o600 });
  } catch {
    /* only an optimisation */
  }
}

/** Start a keeper process for `socketPath`, detached, logging to a file beside the socket. */
export function startKeeperProcess(entry: string, socketPath: string, idleSeconds: number): void {
  const log = openSync(besideSocket(socketPath, 'log'), 'a', 0o600);
  try {
    const child = spawn(process.execPath, [entry, '__ssh-keeper', socketPath, String(idleSeconds)], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.on('error', () => {}); // no keeper: commands keep connecting directly
    child.unref();
  } finally {
    closeSync(log);
  }
}

/** The keeper's socket is not there or nobody answers it (not a failure: connect directly). */
class KeeperUnavailable extends Error {}

const RETRY_HINT = 'retry, or set VENDETTA_SSH_PERSIST=0 to connect directly';

/** A keeper that answered before and no longer does (idle exit, killed): said, never hidden by a fallback mid-command. */
function keeperGone(node: string, what: string): TransportError {
  return new TransportError(node, `${what}: the SSH connection keeper went away`, 'retry (the next command connects directly), or set VENDETTA_SSH_PERSIST=0');
}

/** A socket connection to the keeper with `req` sent on it. */
function openCall(socketPath: string, req: KeeperRequest, node: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.write(`${JSON.stringify(req)}\n`);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new KeeperUnavailable(err.message));
      else reject(new TransportError(node, `cannot reach the SSH connection keeper at ${socketPath}: ${err.message}`, RETRY_HINT));
    });
  });
}

/** The keeper's one-line reply (a failure thrown as the error it was); what follows stays in the socket. */
async function readReply(socket: net.Socket, node: string): Promise<KeeperReply & { ok: true }> {
  let line: string;
  try {
    line = await readLine(socket);
  } catch (err) {
    throw new TransportError(node, `the SSH connection keeper did not answer: ${(err as Error).message}`, RETRY_HINT);
  }
  const r = JSON.parse(line) as KeeperReply;
  if (r.ok) return r;
  socket.destroy();
  throw deserializeError(r.error, node);
}

/** A Transport whose connection lives in the keeper. Same behaviour, errors and hints as SshTransport. */
export class KeptTransport implements Transport {
  readonly node: string;
  readonly describe: string;

  constructor(
    private readonly socketPath: string,
    private readonly resource: NodeResource,
    readonly options: ConnectionOptions,
  ) {
    this.node = resource.metadata.name;
    this.describe = `${resource.spec.user ?? userInfo().username}@${resource.spec.address}:${resource.spec.port ?? 22}`;
  }

  /** The call's socket with its request sent. */
  private async open(op: KeeperOp, args?: Record<string, unknown>): Promise<net.Socket> {
    try {
      return await openCall(this.socketPath, { op, node: this.resource, options: this.options, args }, this.node);
    } catch (err) {
      // `connect` is how a command finds out whether a keeper runs at all: not an error there.
      if (err instanceof KeeperUnavailable && op !== 'connect') throw keeperGone(this.node, `${op} on node ${this.node}`);
      throw err;
    }
  }

  /** A call whose reply is all there is: the socket is closed after it. */
  private async request(op: KeeperOp, args?: Record<string, unknown>): Promise<KeeperReply & { ok: true }> {
    const socket = await this.open(op, args);
    try {
      return await readReply(socket, this.node);
    } finally {
      socket.destroy();
    }
  }

  /** A call that goes on after its reply (spawn, forwarded streams): the socket is the caller's. */
  private async stream(op: KeeperOp, args: Record<string, unknown>): Promise<net.Socket> {
    const socket = await this.open(op, args);
    try {
      await readReply(socket, this.node);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return socket;
  }

  /** Have the keeper connect (or find its connection); the host keys it learned on the way. */
  async connect(): Promise<HostKeyLearned[]> {
    return (await this.request('connect')).learned ?? [];
  }

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const aborted = () => new TransportError(this.node, `${argv[0]} on ${this.node} was aborted`);
    if (opts.signal?.aborted) throw aborted();
    const socket = await this.open('exec', encodeExecArgs(argv, opts));
    // Aborting hangs up: the keeper kills the command, as a direct exec would.
    const onAbort = () => socket.destroy();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return (await readReply(socket, this.node)).value as ExecResult;
    } catch (err) {
      throw opts.signal?.aborted ? aborted() : err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
    }
  }

  async spawn(argv: string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
    const socket = await this.stream('spawn', { argv, env: opts.env, cwd: opts.cwd, pty: opts.pty });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const stdin = new PassThrough();
    stdin.on('data', (d: Buffer) => socket.write(encodeFrame(Frame.stdin, d)));
    stdin.on('end', () => socket.write(encodeFrame(Frame.stdinEnd)));
    let exited = false;
    const done = new Promise<number>((resolve, reject) => {
      const frames = new FrameReader((type, payload) => {
        if (type === Frame.stdout) stdout.write(payload);
        else if (type === Frame.stderr) stderr.write(payload);
        else if (type === Frame.exit) {
          exited = true;
          socket.destroy(); // the call is over (the keeper has ended its side)
          stdout.end();
          stderr.end();
          const r = JSON.parse(payload.toString()) as { code?: number; error?: Parameters<typeof deserializeError>[0] };
          if (r.error) reject(deserializeError(r.error, this.node));
          else resolve(r.code ?? 0);
        }
      });
      socket.on('data', (c: Buffer) => frames.push(c));
      socket.once('close', () => {
        if (exited) return;
        stdout.end();
        stderr.end();
        reject(keeperGone(this.node, `${argv[0]} on node ${this.node}`));
      });
      socket.resume();
    });
    done.catch(() => {});
    return {
      stdin,
      stdout,
      stderr,
      wait: () => done,
      kill: (signal: NodeJS.Signals = 'SIGTERM') => {
        if (!socket.destroyed) socket.write(encodeFrame(Frame.kill, signal));
      },
      ...(opts.pty ? { resize: (rows: number, cols: number) => void socket.write(encodeFrame(Frame.resize, JSON.stringify({ rows, cols }))) } : {}),
    };
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    // The keeper runs as the same user on the same machine: it reads the tree itself.
    await this.request('upload', { localPath: resolvePath(localPath), remotePath });
  }

  async writeFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void> {
    await this.request('writeFile', { remotePath, content: encodeBytes(content), mode });
  }

  async readFile(remotePath: string): Promise<Buffer> {
    return decodeBytes({ base64: (await this.request('readFile', { remotePath })).value }) as Buffer;
  }

  connectTcp(host: string, port: number): Promise<Duplex> {
    return this.stream('connectTcp', { host, port });
  }

  connectUnix(path: string): Promise<Duplex> {
    return this.stream('connectUnix', { path });
  }

  async home(): Promise<string> {
    return (await this.request('home')).value as string;
  }

  /** The connection belongs to the keeper: closing this transport leaves it open for the next command. */
  async close(): Promise<void> {}
}
