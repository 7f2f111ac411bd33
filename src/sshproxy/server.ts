// `vendetta ssh-proxy`: an SSH server on one stream (the proxy's stdin/stdout, which the OpenSSH
// client gives it as ProxyCommand). It never listens on a port: whoever can talk to it started it,
// as themselves, so the `none` auth method is all it accepts. Each SSH channel becomes a command
// or a TCP connection in the workspace, through the node's connection (ProxyTarget).
import { Duplex, type Readable, type Writable } from 'node:stream';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel, Session } from 'ssh2';
import type { SpawnedProcess } from '../transport/types.js';
import { LOGIN_SHELL, SFTP_SERVER } from './commands.js';

export interface PtyRequest {
  rows: number;
  cols: number;
  term: string;
}

/** What the proxy reaches: one workspace. */
export interface ProxyTarget {
  /** Run argv in the workspace (its directory, its env plus `env`). */
  spawn(argv: string[], opts: { env: Record<string, string>; pty?: PtyRequest }): Promise<SpawnedProcess>;
  /** A TCP connection to `port` on the workspace's own loopback (`ssh -L N:localhost:PORT`). */
  connectLoopback(port: number): Promise<Duplex>;
  /** A TCP connection to host:port as seen from the workspace's node (any other host). */
  connectTcp(host: string, port: number): Promise<Duplex>;
}

/** Environment names an `env` request may set (as sshd's AcceptEnv would, but for any sane name). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** stdin + stdout as one duplex for ssh2. stdout is never ended: the process exits instead. */
export function stdioDuplex(input: Readable, output: Writable): Duplex {
  const duplex = new Duplex({
    read() {
      input.resume();
    },
    write(chunk, _enc, cb) {
      output.write(chunk, cb);
    },
    final(cb) {
      cb();
    },
  });
  input.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) input.pause();
  });
  input.on('end', () => duplex.push(null));
  input.on('error', (e) => duplex.destroy(e));
  // ssh went away (EPIPE): the connection is over, not the proxy's bug.
  output.on('error', (e) => duplex.destroy(e));
  return duplex;
}

/**
 * Serves one SSH connection over `stream`; resolves when it closes. Failures of single channels
 * go to the client (stderr of the channel, exit 255); `log` gets connection-level errors.
 */
export function serveSsh(stream: Duplex, hostKey: Buffer, target: ProxyTarget, log: (line: string) => void): Promise<void> {
  const server = new ssh2.Server({ hostKeys: [hostKey], ident: 'vendetta-ssh-proxy' });
  return new Promise((resolve) => {
    server.on('connection', (client: Connection) => {
      client.on('authentication', (ctx) => (ctx.method === 'none' ? ctx.accept() : ctx.reject(['none'])));
      client.on('ready', () => {
        client.on('session', (accept) => onSession(accept(), target));
        client.on('tcpip', (accept, reject, info) => {
          const loopback = /^(localhost|127\.\d+\.\d+\.\d+|::1)$/.test(info.destIP);
          (loopback ? target.connectLoopback(info.destPort) : target.connectTcp(info.destIP, info.destPort)).then(
            (remote) => {
              const channel = accept();
              channel.pipe(remote).pipe(channel);
              remote.on('error', () => channel.destroy());
              channel.on('error', () => remote.destroy());
              channel.on('close', () => remote.destroy());
            },
            (e: Error) => {
              log(`direct-tcpip to ${info.destIP}:${info.destPort} failed: ${e.message}`);
              reject();
            },
          );
        });
      });
      client.on('error', (e: Error) => log(`connection: ${e.message}`));
      client.on('close', () => resolve());
    });
    // ssh2 wants a net.Socket; it uses only the stream side of it.
    server.injectSocket(stream as unknown as import('node:net').Socket);
  });
}

function onSession(session: Session, target: ProxyTarget): void {
  let pty: PtyRequest | undefined;
  let proc: SpawnedProcess | undefined;
  const env: Record<string, string> = {};
  session.on('pty', (accept, _reject, info) => {
    pty = { rows: info.rows || 24, cols: info.cols || 80, term: info.term || 'xterm-256color' };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (pty) Object.assign(pty, { rows: info.rows, cols: info.cols });
    proc?.resize?.(info.rows, info.cols);
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    if (!ENV_NAME.test(info.key)) return reject?.();
    env[info.key] = info.val;
    accept?.();
  });
  session.on('signal', (accept, _reject, info) => {
    proc?.kill(`SIG${info.name}` as NodeJS.Signals);
    accept?.();
  });
  const start = (channel: ServerChannel, argv: string[], withPty: boolean) => {
    const usePty = withPty ? pty : undefined;
    run(channel, () => target.spawn(argv, { env, pty: usePty }), usePty !== undefined, (p) => (proc = p));
  };
  session.on('shell', (accept) => start(accept(), LOGIN_SHELL, true));
  session.on('exec', (accept, _reject, info) => start(accept(), ['/bin/sh', '-c', info.command], true));
  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') return reject();
    start(accept(), SFTP_SERVER, false);
  });
}

/** Wires one process to one channel: stdin, stdout, stderr (each to its end), then the exit status. */
function run(channel: ServerChannel, spawn: () => Promise<SpawnedProcess>, pty: boolean, started: (p: SpawnedProcess) => void): void {
  let closed = false;
  channel.on('close', () => (closed = true));
  spawn().then(
    async (proc) => {
      started(proc);
      const outDone = ended(proc.stdout);
      const errDone = ended(proc.stderr);
      proc.stdout.pipe(channel, { end: false });
      proc.stderr.pipe(channel.stderr, { end: false });
      // The client's EOF closes the command's stdin; with a terminal it does not, as with sshd
      // (`ssh -tt host cmd </dev/null` must not hang up cmd).
      channel.pipe(proc.stdin, { end: !pty });
      proc.stdin.on('error', () => undefined); // input after the command exited
      // The client hung up first (Ctrl-C on ssh, a dropped editor): so does the command.
      let exited = false;
      channel.on('close', () => exited || proc.kill('SIGHUP'));
      const code = await proc.wait();
      exited = true;
      await Promise.all([outDone, errDone]);
      if (closed) return;
      // exit-status goes out at once: first let the output queued for the SSH window go.
      await Promise.all([flushed(channel, channel), flushed(channel.stderr, channel)]);
      channel.exit(code);
      channel.end();
    },
    (e: Error) => {
      if (closed) return;
      channel.stderr.write(`vendetta ssh-proxy: ${e.message}\n`);
      channel.exit(255);
      channel.end();
    },
  );
}

function ended(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve();
    stream.once('end', resolve).once('close', resolve).once('error', () => resolve());
  });
}

/** Resolves once everything written before is handed to the SSH layer (or the channel closed). */
function flushed(w: Writable, channel: ServerChannel): Promise<void> {
  return new Promise((resolve) => {
    channel.once('close', resolve);
    w.write(Buffer.alloc(0), () => resolve());
  });
}
