// Transport for the machine vendetta runs on: child processes and the local filesystem, no shell.
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { constants as osConstants, homedir } from 'node:os';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cp, mkdir, readFile, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import { shellQuote } from './quote.js';
import { sizedTerminalArgv } from './terminal.js';
import {
  TransportError,
  type ExecOptions,
  type ExecResult,
  type SpawnOptions,
  type SpawnedProcess,
  type Transport,
} from './types.js';

/** Exit code the way a shell reports it: the code, or 128+N when killed by signal N. */
function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? osConstants.signals[signal] : undefined;
  return 128 + (n ?? 0);
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL'); // the group is gone already: at most the child itself is left
  }
}

/**
 * argv on a new pseudo-terminal of the given size: `script` runs it there (-q: no banner, -f:
 * flush as it comes, -e: its exit code, log to /dev/null). With stdin a pipe, script leaves
 * echo on for the terminal, as a login over SSH has it.
 */
export function ptyArgv(argv: string[], size: { rows: number; cols: number }): string[] {
  return ['script', '-qfec', shellQuote(sizedTerminalArgv(argv, size)), '/dev/null'];
}

/**
 * A window change: the new size set on the terminal script made (found as the stdin of its
 * child), which sends SIGWINCH to what runs there, as sshd does for a window-change request.
 */
function resizePty(scriptPid: number | undefined, rows: number, cols: number): void {
  if (!scriptPid) return;
  try {
    const children = readdirSync(`/proc/${scriptPid}/task`).flatMap((t) => readFileSync(`/proc/${scriptPid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    const tty = children.map((pid) => readlinkSync(`/proc/${pid}/fd/0`)).find((p) => p.startsWith('/dev/pts/'));
    if (!tty) return;
    spawnChild('stty', ['-F', tty, 'rows', String(Math.floor(rows)), 'cols', String(Math.floor(cols))], { stdio: 'ignore' }).on('error', () => {});
  } catch {
    // The shell is gone, or /proc says nothing: nothing to resize.
  }
}

export class LocalTransport implements Transport {
  readonly describe = 'local';

  constructor(readonly node: string = 'local') {}

  exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) return Promise.reject(new TransportError(this.node, 'exec: empty argv'));
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawnChild(argv[0]!, argv.slice(1), {
          cwd: opts.cwd,
          env: opts.env ? { ...process.env, ...opts.env } : process.env,
          stdio: ['pipe', 'pipe', 'pipe'],
          // Own process group, so a timeout takes down what a shell command started, too.
          detached: true,
        });
      } catch (err) {
        reject(new TransportError(this.node, `cannot run ${argv[0]}: ${(err as Error).message}`, undefined, { cause: err }));
        return;
      }
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const fail = (message: string, hint?: string): void => {
        killGroup(child);
        finish(() => reject(new TransportError(this.node, message, hint)));
      };
      const timer =
        opts.timeoutMs !== undefined
          ? setTimeout(
              () => fail(`${argv[0]} on ${this.node} timed out after ${opts.timeoutMs}ms`, 'raise the timeout or check why the command hangs'),
              opts.timeoutMs,
            )
          : undefined;
      const onAbort = (): void => fail(`${argv[0]} on ${this.node} was aborted`);
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      child.stdout!.on('data', (b: Buffer) => stdout.push(b));
      child.stderr!.on('data', (b: Buffer) => stderr.push(b));
      // A child that exits without reading its stdin makes the write fail with EPIPE: not our error.
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.stdin ?? '');
      child.on('error', (err: NodeJS.ErrnoException) => {
        // Same result a shell (and so SSH) gives for a missing program.
        if (err.code === 'ENOENT') {
          finish(() => resolve({ code: 127, stdout: '', stderr: `${argv[0]}: command not found\n` }));
        } else {
          finish(() => reject(new TransportError(this.node, `cannot run ${argv[0]}: ${err.message}`, undefined, { cause: err })));
        }
      });
      child.on('close', (code, signal) =>
        finish(() =>
          resolve({
            code: exitCode(code, signal),
            stdout: Buffer.concat(stdout).toString('utf8'),
            stderr: Buffer.concat(stderr).toString('utf8'),
            // nothing to forward: the command inherits this environment's SSH_AUTH_SOCK
            ...(opts.forwardAgent ? { agent: 'local' as const } : {}),
          }),
        ),
      );
    });
  }

  /**
   * Long-running command with piped stdio. With `pty`, the command runs on a pseudo-terminal of
   * its own, made by util-linux `script` (node has no PTY built in, and a native module would be a
   * build step for everyone): a prompt, echo, Ctrl-C and job control work as over SSH.
   */
  async spawn(argv: string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
    if (argv.length === 0) throw new TransportError(this.node, 'spawn: empty argv');
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    if (opts.pty) env.TERM = opts.pty.term ?? process.env.TERM ?? 'xterm-256color';
    const command = opts.pty ? ptyArgv(argv, opts.pty) : argv;
    const child = spawnChild(command[0]!, command.slice(1), { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    // stderr through a PassThrough, so a missing program can say so there, as a shell (and SSH) would.
    const stderr = new PassThrough();
    child.stderr.pipe(stderr, { end: false });
    const endStderr = (text = '') => {
      if (!stderr.writableEnded) stderr.end(text);
    };
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') {
          // Node says ENOENT for a missing working directory, too.
          const cwdMissing = opts.cwd !== undefined && !existsSync(opts.cwd);
          endStderr(cwdMissing ? `cd: ${opts.cwd}: No such file or directory\n` : `${argv[0]}: command not found\n`);
          resolve(127);
        } else {
          endStderr();
          reject(new TransportError(this.node, `cannot run ${argv[0]}: ${err.message}`, undefined, { cause: err }));
        }
      });
      child.on('close', (code, signal) => {
        endStderr();
        resolve(exitCode(code, signal));
      });
    });
    // Keep a failed spawn from becoming an unhandled rejection before anyone calls wait().
    exited.catch(() => {});
    child.stdin.on('error', () => {});
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr,
      wait: () => exited,
      kill: (signal = 'SIGTERM') => {
        child.kill(signal);
      },
      ...(opts.pty ? { resize: (rows: number, cols: number) => resizePty(child.pid, rows, cols) } : {}),
    };
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    try {
      await rm(remotePath, { recursive: true, force: true });
      await mkdir(dirname(remotePath), { recursive: true });
      await cp(localPath, remotePath, { recursive: true, force: true, errorOnExist: false });
    } catch (err) {
      throw new TransportError(this.node, `upload ${localPath} → ${remotePath} failed: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
  }

  async writeFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void> {
    // Write beside the target and rename: readers never see a half-written file.
    const tmp = join(dirname(remotePath), `.${basename(remotePath)}.${process.pid}.${Date.now()}.tmp`);
    try {
      await mkdir(dirname(remotePath), { recursive: true });
      await writeFile(tmp, content, { mode: mode ?? 0o644 });
      if (mode !== undefined) await chmod(tmp, mode); // the umask may have narrowed it
      await rename(tmp, remotePath);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new TransportError(this.node, `write ${remotePath} failed: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  async readFile(remotePath: string): Promise<Buffer> {
    try {
      return await readFile(remotePath);
    } catch (err) {
      throw new TransportError(this.node, `read ${remotePath} failed: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  connectTcp(host: string, port: number): Promise<Duplex> {
    return this.connectSocket(connect({ host, port }), `${host}:${port}`);
  }

  connectUnix(path: string): Promise<Duplex> {
    return this.connectSocket(connect({ path }), path);
  }

  private connectSocket(socket: Socket, where: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.destroy();
        reject(new TransportError(this.node, `connect ${where} from ${this.node} failed: ${err.message}`, undefined, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(socket);
      });
    });
  }

  async home(): Promise<string> {
    return homedir();
  }

  async close(): Promise<void> {
    // Nothing pooled: child processes and sockets belong to their callers.
  }
}
