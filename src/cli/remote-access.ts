// `exec`, `shell`, `logs` and `port-forward` in client mode (--server URL / VENDETTA_SERVER): the
// same commands, through the server's streams (src/server/access.ts), so a client that holds
// only a server token reaches its workspaces with no SSH key to any node.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { WorkspaceResource } from '../model/types.js';
import { openStream, runFramed, type RemoteProcess, type StreamTarget } from '../server/access-client.js';
import { remoteStore, ServerError, type ApiClient } from '../server/client.js';
import { LOGIN_SHELL } from '../sshproxy/commands.js';
import { serverToken } from './client.js';
import { ExitError, UsageError } from './errors.js';
import { workspaceEnv } from './exec.js';
import type { ForwardSpec } from './port-forward.js';

export function streamTarget(env: NodeJS.ProcessEnv = process.env): StreamTarget {
  const url = env.VENDETTA_SERVER!;
  const file = env.VENDETTA_SERVER_CA;
  let ca: Buffer | undefined;
  if (file) {
    try {
      ca = readFileSync(path.resolve(file));
    } catch (err) {
      throw new UsageError(`cannot read VENDETTA_SERVER_CA ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'point it at the PEM certificate (or CA) the server was started with (--tls-cert)');
    }
  }
  return { url, token: serverToken(env), ca };
}

function toExit(e: unknown): never {
  if (e instanceof ServerError) throw new ExitError(e.message, 1, e.hint);
  throw e;
}

const enc = encodeURIComponent;

/** The workspace as the server has it: its env is resolved here, as `apply` resolves it. */
async function appliedWorkspace(client: ApiClient, name: string): Promise<WorkspaceResource> {
  const rec = await remoteStore(client).get(`workspace/${name}`).catch(toExit);
  if (!rec) throw new ExitError(`workspace "${name}" has not been applied on the server`, 1, 'see `vendetta get workspaces`');
  return rec.resource as WorkspaceResource;
}

/**
 * Ctrl-C / SIGTERM while a remote command runs: the first asks the server to signal it (it stops
 * and its exit status comes back), a second drops the connection and exits 130.
 */
function forwardSignals(proc: RemoteProcess, first: NodeJS.Signals | 'same' = 'same'): { unhook: () => void; received: () => NodeJS.Signals | undefined } {
  let received: NodeJS.Signals | undefined;
  const on = (sig: NodeJS.Signals) => {
    if (received === undefined) proc.signal(first === 'same' ? sig : first);
    else proc.close();
    received ??= sig;
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    unhook: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
    received: () => received,
  };
}

/** The exit status of a command stopped by `sig` here, as a shell reports it (130 for Ctrl-C). */
function signalled(sig: NodeJS.Signals): number {
  return 128 + (sig === 'SIGINT' ? 2 : 15);
}

export async function remoteExec(client: ApiClient, name: string, argv: string[], flags: { workdir?: string; stdin?: boolean }): Promise<void> {
  const env = await workspaceEnv(await appliedWorkspace(client, name));
  const conn = await openStream(streamTarget(), `/exec/${enc(name)}`).catch(toExit);
  if (!conn) throw new ExitError('the server answered the exec stream without switching protocols', 1, 'is --server a vendetta server?');
  let stderrSeen = false;
  const stderr = new Writable({
    write(chunk: Buffer, _enc, done) {
      stderrSeen = true;
      process.stderr.write(chunk, () => done());
    },
  });
  const proc = runFramed(conn, { argv, workdir: flags.workdir, env, stdin: flags.stdin === true }, {
    stdin: flags.stdin ? process.stdin : undefined,
    stdout: process.stdout,
    stderr,
  });
  const signals = forwardSignals(proc);
  const stopped = () => signals.received();
  const code = await proc.done
    .catch((e: unknown) => {
      // A second Ctrl-C dropped the connection: that is the answer, not an error.
      const sig = stopped();
      if (sig) throw new ExitError('', signalled(sig));
      return toExit(e);
    })
    .finally(signals.unhook);
  // Stopped by Ctrl-C/SIGTERM here: exit as the embedded exec does when the signal kills it.
  const sig = stopped();
  if (sig) throw new ExitError('', signalled(sig));
  if (code === 127 && !stderrSeen) {
    throw new ExitError(`${argv[0]}: command not found in workspace ${name}`, 127, `check the name and PATH: vendetta exec ${name} -- sh -c 'echo $PATH'`);
  }
  if (code !== 0) throw new ExitError('', code);
}

export async function remoteLogs(name: string, flags: { follow?: boolean; tail: number }): Promise<void> {
  const conn = await openStream(streamTarget(), `/logs/${enc(name)}`).catch(toExit);
  if (!conn) throw new ExitError('the server answered the logs stream without switching protocols', 1, 'is --server a vendetta server?');
  const proc = runFramed(conn, { tail: flags.tail, follow: flags.follow === true }, { stdout: process.stdout, stderr: process.stderr });
  // As embedded `logs -f`: Ctrl-C stops the follower and exits 0.
  const signals = forwardSignals(proc, 'SIGTERM');
  await proc.done
    .catch((e: unknown) => (signals.received() ? 0 : toExit(e)))
    .finally(signals.unhook);
}

export async function remoteShell(client: ApiClient, name: string, command?: string[]): Promise<void> {
  const ws = await appliedWorkspace(client, name);
  const env = await workspaceEnv(ws);
  const stdin = process.stdin;
  const interactive = Boolean(stdin.isTTY && process.stdout.isTTY);
  const conn = await openStream(streamTarget(), `/shell/${enc(name)}`).catch(toExit);
  if (!conn) throw new ExitError('the server answered the shell stream without switching protocols', 1, 'is --server a vendetta server?');
  const size = () => ({ rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 });
  const proc = runFramed(
    conn,
    {
      argv: command?.length ? command : LOGIN_SHELL,
      env,
      stdin: true,
      attach: true,
      pty: interactive ? { ...size(), term: process.env.TERM || 'xterm-256color' } : undefined,
    },
    { stdin, stdout: process.stdout, stderr: process.stderr },
  );
  const onResize = () => {
    const s = size();
    proc.resize(s.rows, s.cols);
  };
  if (interactive) {
    stdin.setRawMode(true);
    process.stdout.on('resize', onResize);
  }
  // With a terminal, Ctrl-C is a byte for the remote shell; SIGTERM/SIGHUP here end it.
  const onHangup = () => proc.close();
  process.on('SIGTERM', onHangup);
  process.on('SIGHUP', onHangup);
  let code: number;
  try {
    code = await proc.done.catch(toExit);
  } finally {
    process.off('SIGTERM', onHangup);
    process.off('SIGHUP', onHangup);
    if (interactive) {
      stdin.setRawMode(false);
      process.stdout.off('resize', onResize);
    }
  }
  if (code !== 0) throw new ExitError('', code);
}

/**
 * Listens here as the embedded port-forward does; each accepted connection is one stream through
 * the server to the workspace port (the server opens it over its own connection to the node).
 */
export async function remotePortForward(name: string, forwards: ForwardSpec[], address: string): Promise<void> {
  const target = streamTarget();
  const session = randomUUID();
  const servers: Server[] = [];
  try {
    for (const f of forwards) {
      // Before listening: the token may, the workspace is applied, the node answers (else a clear error now).
      await openStream(target, `/port-forward/${enc(name)}/${f.remote}?check=1&session=${session}`).catch(toExit);
      const server = createServer((socket) => {
        socket.on('error', () => undefined);
        openStream(target, `/port-forward/${enc(name)}/${f.remote}?session=${session}`)
          .then((conn) => {
            if (!conn) throw new Error('the server did not switch protocols');
            const { socket: remote, head } = conn;
            if (head.length) socket.write(head);
            socket.pipe(remote).pipe(socket);
            remote.on('error', () => socket.destroy());
            remote.on('close', () => socket.destroy());
            socket.on('close', () => remote.destroy());
          })
          .catch((e: Error) => {
            process.stderr.write(`forward ${f.local} → ${name}:${f.remote} failed: ${e.message}\n`);
            socket.destroy();
          });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) =>
          reject(new UsageError(`cannot listen on ${address}:${f.local}: ${e.code === 'EADDRINUSE' ? 'port in use' : e.message}`, 'pick another LOCAL port, e.g. 0 for any free one')),
        );
        server.listen(f.local, address, () => resolve());
      });
      const port = (server.address() as { port: number }).port;
      process.stdout.write(`Forwarding ${address}:${port} → workspace ${name} port ${f.remote} (through the server)\n`);
      servers.push(server);
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  } finally {
    for (const s of servers) s.close();
  }
}
