// SSH into a guest, tunnelled over the node's own connection: transport.connectTcp opens the
// forwarded port on the node's loopback (direct-tcpip on SSH nodes), and an ssh2 Client runs on
// that stream. The guest's host key is accepted as presented: the tunnel ends at a port only our
// qemu process listens on, inside the node, and guests made from an initramfs get a fresh host
// key at every boot.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { constants as osConstants } from 'node:os';
import ssh2, { type Client, type ClientChannel } from 'ssh2';
import { buildCommand } from '../../transport/ssh.js';
import type { ExecOptions, ExecResult, SpawnOptions, SpawnedProcess } from '../../transport/types.js';

export interface GuestTarget {
  /** "workspace api on node n1", for messages. */
  where: string;
  user: string;
  privateKey: string;
  /** Opens a fresh stream to the guest's SSH server. */
  open: () => Promise<Duplex>;
}

export function connectGuest(target: GuestTarget, readyTimeoutMs = 10_000): Promise<Client> {
  return target.open().then(
    (sock) =>
      new Promise<Client>((resolve, reject) => {
        const client = new ssh2.Client();
        let settled = false;
        // One listener for the client's whole life: ssh2 may emit several errors while failing,
        // and an 'error' without a listener would crash the process. After 'ready', errors
        // surface as closed channels.
        client.on('error', (err: Error) => {
          if (settled) return;
          settled = true;
          client.end();
          sock.destroy();
          reject(new Error(`SSH to the guest of ${target.where} failed: ${err.message}`, { cause: err }));
        });
        client.once('ready', () => {
          if (settled) return;
          settled = true;
          resolve(client);
        });
        client.connect({
          sock: sock as never,
          username: target.user,
          privateKey: target.privateKey,
          readyTimeout: readyTimeoutMs,
          hostVerifier: () => true,
        });
      }),
  );
}

function exitCodeOf(code: number | null | undefined, signal: string | undefined): number {
  if (typeof code === 'number') return code;
  const name = signal && !signal.startsWith('SIG') ? `SIG${signal}` : signal;
  const n = name ? osConstants.signals[name as NodeJS.Signals] : undefined;
  return 128 + (n ?? 0);
}

function openChannel(client: Client, command: string, pty?: SpawnOptions['pty']): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const cb = (err: Error | undefined, ch: ClientChannel) => (err ? reject(err) : resolve(ch));
    if (pty) client.exec(command, { pty: { rows: pty.rows, cols: pty.cols, term: pty.term ?? 'xterm-256color' } }, cb);
    else client.exec(command, cb);
  });
}

/**
 * Dropbear, the SSH server of small guest images (and of the test initramfs), refuses a command
 * longer than 9000 bytes (MAX_CMD_LEN) and leaves the channel waiting. A longer one (a service
 * install carries the supervisor script) goes to a file in the guest first, over stdin, and runs
 * from there: the caller's stdin and exit status are its own.
 */
const GUEST_MAX_COMMAND = 8000;

async function guestCommand(client: Client, where: string, argv: string[], opts: ExecOptions | SpawnOptions): Promise<string> {
  const command = buildCommand(argv, opts);
  if (command.length <= GUEST_MAX_COMMAND) return command;
  const file = `/tmp/.vendetta-cmd-${randomUUID()}`;
  const staged = await runCommand(client, where, argv[0]!, `umask 077 && cat > ${file}`, { stdin: command, timeoutMs: 30_000 });
  if (staged.code !== 0) {
    throw new Error(`${argv[0]} in ${where}: cannot stage a ${command.length}-byte command in ${file}: ${staged.stderr.trim() || `exit ${staged.code}`}`);
  }
  return `sh ${file}; rc=$?; rm -f ${file}; exit $rc`;
}

export async function guestExec(client: Client, where: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return runCommand(client, where, argv[0]!, await guestCommand(client, where, argv, opts), opts);
}

async function runCommand(client: Client, where: string, label: string, command: string, opts: ExecOptions): Promise<ExecResult> {
  const channel = await openChannel(client, command).catch((err: Error) => {
    throw new Error(`${label} in ${where}: cannot open an SSH channel to the guest: ${err.message}`, { cause: err });
  });
  return new Promise((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const kill = (message: string) => {
      try {
        channel.signal('KILL');
      } catch {
        /* already gone */
      }
      channel.close();
      finish(() => reject(new Error(message)));
    };
    const timer =
      opts.timeoutMs !== undefined ? setTimeout(() => kill(`${label} in ${where} timed out after ${opts.timeoutMs}ms`), opts.timeoutMs) : undefined;
    const onAbort = () => kill(`${label} in ${where} was aborted`);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    channel.on('data', (d: Buffer) => stdout.push(d));
    channel.stderr.on('data', (d: Buffer) => stderr.push(d));
    channel.on('close', (code?: number | null, signal?: string) => {
      if (code === undefined && signal === undefined) {
        return finish(() => reject(new Error(`${label} in ${where}: the guest closed the channel (VM stopped or SSH lost)`)));
      }
      finish(() =>
        resolve({
          code: exitCodeOf(code, signal),
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        }),
      );
    });
    if (opts.stdin !== undefined) channel.end(opts.stdin);
    else channel.end();
  });
}

export async function guestSpawn(client: Client, where: string, argv: string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
  const channel = await openChannel(client, await guestCommand(client, where, argv, opts), opts.pty).catch((err: Error) => {
    throw new Error(`${argv[0]} in ${where}: cannot open an SSH channel to the guest: ${err.message}`, { cause: err });
  });
  const done = new Promise<number>((resolve, reject) => {
    channel.on('close', (code?: number | null, signal?: string) => {
      if (code === undefined && signal === undefined) reject(new Error(`${argv[0]} in ${where}: the guest closed the channel`));
      else resolve(exitCodeOf(code, signal));
    });
  });
  done.catch(() => {});
  return {
    stdin: channel,
    stdout: channel,
    stderr: channel.stderr,
    wait: () => done,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      try {
        channel.signal(signal.replace(/^SIG/, ''));
      } catch {
        /* already gone */
      }
      channel.close();
    },
    ...(opts.pty ? { resize: (rows: number, cols: number) => channel.setWindow(rows, cols, 0, 0) } : {}),
  };
}

/** A TCP connection to `port` on the guest's loopback (direct-tcpip through its SSH server). */
export function guestConnect(client: Client, where: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, channel) => {
      if (err) reject(new Error(`cannot connect to port ${port} in ${where}: ${err.message}`, { cause: err }));
      else resolve(channel);
    });
  });
}
