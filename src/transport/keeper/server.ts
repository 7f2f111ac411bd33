// The SSH connection keeper: a per-user background process that keeps each node's SSH connection
// open between CLI commands, as OpenSSH's ControlMaster/ControlPersist does (Ansible turns that
// on by default). A command then pays one local socket connection per call instead of loading
// ssh2 and handshaking with every node. It exits after `idleMs` without a request.
//
// Host keys are verified when the keeper connects, exactly as a direct connection would; like
// ControlPersist, a host key that changes under an open connection is seen at the next reconnect.
import { chmodSync, existsSync, readFileSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SshTransport, resolveNodeRoute, sshCounters } from '../ssh.js';
import { TransportError } from '../types.js';
import {
  Frame,
  FrameReader,
  besideSocket,
  connectionKey,
  decodeBytes,
  decodeExecArgs,
  encodeFrame,
  readLine,
  serializeError,
  type HostKeyLearned,
  type KeeperReply,
  type KeeperRequest,
} from './protocol.js';

interface Kept {
  transport: Promise<SshTransport>;
  /** Host keys learned while connecting, handed to the client whose `connect` made the connection. */
  learned: HostKeyLearned[];
}

export interface KeeperOptions {
  socketPath: string;
  /** Exit after this long with no request in flight and none arriving. */
  idleMs: number;
  log?: (line: string) => void;
}

export class ConnectionKeeper {
  private readonly kept = new Map<string, Kept>();
  private readonly server: net.Server;
  private active = 0;
  private idleTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;
  private markClosed!: () => void;
  /** Resolves once the keeper has closed (idle, asked to stop, or a signal): its process may exit. */
  readonly closed = new Promise<void>((resolve) => (this.markClosed = resolve));

  constructor(private readonly opts: KeeperOptions) {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  /** Listen; resolves false when another live keeper already owns the socket. */
  async listen(): Promise<boolean> {
    const tryListen = () =>
      new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        this.server.once('error', resolve);
        this.server.listen(this.opts.socketPath, () => {
          this.server.removeListener('error', resolve);
          resolve(undefined);
        });
      });
    let err = await tryListen();
    if (err?.code === 'EADDRINUSE') {
      if (await isAlive(this.opts.socketPath)) return false;
      unlinkSync(this.opts.socketPath); // a keeper that died without cleaning up
      err = await tryListen();
    }
    if (err) throw err;
    chmodSync(this.opts.socketPath, 0o600);
    this.armIdle();
    this.warmUp();
    return true;
  }

  /** Connect now to the nodes the command that started this keeper was reaching (./client.ts). */
  private warmUp(): void {
    let lines: string[];
    try {
      const file = besideSocket(this.opts.socketPath, 'warm');
      lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      unlinkSync(file);
    } catch {
      return;
    }
    for (const line of lines) {
      try {
        const req = JSON.parse(line) as KeeperRequest;
        // A failure is not kept: the next command that needs the node gets (and shows) it.
        this.transportFor(req).transport.catch((err: unknown) => this.opts.log?.(`warm-up of ${req.node?.metadata.name}: ${(err as Error).message}`));
      } catch {
        /* a torn line: skip it */
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.idleTimer);
      await new Promise<void>((r) => this.server.close(() => r()));
      const all = [...this.kept.values()];
      this.kept.clear();
      await Promise.all(all.map((k) => k.transport.then((t) => t.close()).catch(() => {})));
      if (existsSync(this.opts.socketPath)) {
        try {
          unlinkSync(this.opts.socketPath);
        } catch {
          /* someone else's now */
        }
      }
      this.markClosed();
    })();
    return this.closing;
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.active > 0) return;
    this.idleTimer = setTimeout(() => {
      this.opts.log?.(`idle for ${this.opts.idleMs} ms: closing ${this.kept.size} connection(s)`);
      void this.close();
    }, this.opts.idleMs);
  }

  private accept(socket: net.Socket): void {
    this.active++;
    clearTimeout(this.idleTimer);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.active--;
      this.armIdle();
    };
    socket.on('close', finish);
    socket.on('error', () => socket.destroy());
    readLine(socket).then(
      (line) => {
        let req: KeeperRequest;
        try {
          req = JSON.parse(line) as KeeperRequest;
        } catch {
          socket.end(reply({ ok: false, error: { name: 'Error', message: 'keeper: malformed request' } }));
          return;
        }
        this.handle(req, socket).catch((err) => {
          if (!socket.destroyed) socket.end(reply({ ok: false, error: serializeError(err) }));
        });
      },
      // Hung up before its request (a liveness probe): half-open sockets are for forwarded
      // streams only, and this one must not keep the call, and the keeper, alive.
      () => socket.destroy(),
    );
  }

  private transportFor(req: KeeperRequest): Kept {
    if (!req.node) throw new Error('keeper: request without a node');
    const node = req.node;
    // The route is part of the key: after an edit of ~/.ssh/config the node gets a new connection.
    const key = connectionKey(node, req.options) + JSON.stringify(resolveNodeRoute(node));
    let k = this.kept.get(key);
    if (!k) {
      const learned: HostKeyLearned[] = [];
      const t = new SshTransport(node, { ...req.options, onHostKeyLearned: (info) => learned.push(info) });
      const kept: Kept = { transport: t.connect().then(() => t), learned };
      this.kept.set(key, kept);
      // A failed connect is not kept: the next request tries again (and reports its own error).
      kept.transport.catch(() => {
        if (this.kept.get(key) === kept) this.kept.delete(key);
      });
      k = kept;
    }
    return k;
  }

  private async handle(req: KeeperRequest, socket: net.Socket): Promise<void> {
    const a = req.args ?? {};
    if (req.op === 'stats') {
      socket.end(reply({ ok: true, value: { ...sshCounters, connectionsKept: this.kept.size, pid: process.pid } }));
      return;
    }
    if (req.op === 'stop') {
      const connections = this.kept.size;
      socket.end(reply({ ok: true, value: { connections } }));
      this.opts.log?.(`asked to stop: closing ${connections} connection(s)`);
      void this.close();
      return;
    }
    const kept = this.transportFor(req);
    const t = await kept.transport;
    switch (req.op) {
      case 'connect': {
        const learned = kept.learned.splice(0);
        socket.end(reply({ ok: true, learned }));
        return;
      }
      case 'exec': {
        // The client hangs up to abort (its AbortSignal): the command is killed, as it would be.
        const abort = new AbortController();
        const onClose = () => abort.abort();
        socket.once('end', onClose).once('close', onClose);
        socket.resume();
        try {
          const { argv, opts } = decodeExecArgs(a, abort.signal);
          const result = await t.exec(argv, opts);
          socket.end(reply({ ok: true, value: result }));
        } finally {
          socket.removeListener('end', onClose).removeListener('close', onClose);
        }
        return;
      }
      case 'spawn':
        return this.spawn(t, a, socket);
      case 'upload':
        await t.upload(a.localPath as string, a.remotePath as string);
        socket.end(reply({ ok: true }));
        return;
      case 'writeFile':
        await t.writeFile(a.remotePath as string, decodeBytes(a.content) ?? '', a.mode as number | undefined);
        socket.end(reply({ ok: true }));
        return;
      case 'readFile': {
        const content = await t.readFile(a.remotePath as string);
        socket.end(reply({ ok: true, value: content.toString('base64') }));
        return;
      }
      case 'home':
        socket.end(reply({ ok: true, value: await t.home() }));
        return;
      case 'connectTcp':
        return splice(socket, await t.connectTcp(a.host as string, a.port as number));
      case 'connectUnix':
        return splice(socket, await t.connectUnix(a.path as string));
      default:
        throw new TransportError(t.node, `keeper: unknown operation ${String(req.op)}`);
    }
  }

  private async spawn(t: SshTransport, a: Record<string, unknown>, socket: net.Socket): Promise<void> {
    const p = await t.spawn(a.argv as string[], {
      env: a.env as Record<string, string> | undefined,
      cwd: a.cwd as string | undefined,
      pty: a.pty as { rows: number; cols: number; term?: string } | undefined,
    });
    socket.write(reply({ ok: true }));
    p.stdout.on('data', (d: Buffer) => socket.write(encodeFrame(Frame.stdout, d)));
    p.stderr.on('data', (d: Buffer) => socket.write(encodeFrame(Frame.stderr, d)));
    const frames = new FrameReader((type, payload) => {
      if (type === Frame.stdin) p.stdin.write(payload);
      else if (type === Frame.stdinEnd) p.stdin.end();
      else if (type === Frame.kill) p.kill(payload.toString() as NodeJS.Signals);
      else if (type === Frame.resize) {
        const { rows, cols } = JSON.parse(payload.toString()) as { rows: number; cols: number };
        p.resize?.(rows, cols);
      }
    });
    socket.on('data', (c: Buffer) => frames.push(c));
    // The client went away (Ctrl-C, crash): the remote command goes too.
    let exited = false;
    const hangUp = () => {
      if (!exited) p.kill('SIGTERM');
    };
    socket.once('end', hangUp).once('close', hangUp);
    p.wait().finally(() => (exited = true)).then(
      (code) => socket.end(encodeFrame(Frame.exit, JSON.stringify({ code }))),
      (err) => socket.end(encodeFrame(Frame.exit, JSON.stringify({ error: serializeError(err) }))),
    );
  }
}

function reply(r: KeeperReply): string {
  return `${JSON.stringify(r)}\n`;
}

/** Answer ok, then join the client's socket and the forwarded channel, half-close included. */
function splice(socket: net.Socket, channel: Duplex): void {
  socket.write(reply({ ok: true }));
  socket.pipe(channel);
  channel.pipe(socket);
  const destroyBoth = () => {
    socket.destroy();
    channel.destroy();
  };
  socket.once('close', destroyBoth);
  channel.once('close', destroyBoth);
  channel.on('error', destroyBoth);
  socket.resume();
}

function isAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
