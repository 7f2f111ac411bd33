// `docker exec` through the Engine API: a hijacked HTTP connection carries stdin one way and
// (without a TTY) multiplexed stdout/stderr frames the other. The exit code comes from exec
// inspect once the stream ends. argv goes to Docker as an array: no shell ever parses it.
import { PassThrough, Writable, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { sizedTerminalArgv } from '../../transport/terminal.js';
import {
  TransportError,
  type ExecOptions,
  type ExecResult,
  type SpawnOptions,
  type SpawnedProcess,
} from '../../transport/types.js';

export interface ExecTarget {
  docker: Docker;
  containerId: string;
  /** For messages: "workspace api on node n1". */
  where: string;
  node: string;
  /**
   * Who runs the exec. Unset: the container's user (spec.user, else the image's USER), as docker
   * exec defaults to it. "0" only for the driver's own preparing of a spec.user workspace.
   */
  user?: string;
}

function envList(env: Record<string, string> | undefined): string[] | undefined {
  return env ? Object.entries(env).map(([k, v]) => `${k}=${v}`) : undefined;
}

function streamDone(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}

/**
 * Splits Docker's multiplexed exec stream (8-byte header: stream type 0/1/2, three zero bytes,
 * big-endian length; then the payload) into stdout and stderr, synchronously. When the exec
 * could not start at all (a missing program), dockerd writes its own error into the *stdout*
 * frame ("OCI runtime exec failed: …"; plain text without frames on some versions) and reports
 * 126: that text goes to stderr and `startError` holds it.
 */
const START_FAILED = /^(OCI runtime exec failed|exec failed):/;

export class ExecDemuxer {
  private buffer: Buffer = Buffer.alloc(0);
  private raw: boolean | undefined;
  private rawText = '';
  private first = true;
  private failedStart = false;

  constructor(
    private readonly stdout: { write(b: Buffer): unknown },
    private readonly stderr: { write(b: Buffer): unknown },
  ) {}

  write(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (this.raw === undefined && this.buffer.length > 0) {
      const b = this.buffer;
      const header = b[0]! <= 2 && (b.length < 2 || b[1] === 0) && (b.length < 3 || b[2] === 0) && (b.length < 4 || b[3] === 0);
      if (!header) this.raw = true;
      else if (b.length >= 4) this.raw = false;
    }
    if (this.raw) {
      const text = this.buffer.toString('utf8').replace(/\r\n/g, '\n');
      this.rawText += text;
      this.stderr.write(Buffer.from(text));
      this.buffer = Buffer.alloc(0);
      return;
    }
    while (this.buffer.length >= 8) {
      const size = this.buffer.readUInt32BE(4);
      if (this.buffer.length < 8 + size) break;
      const payload = this.buffer.subarray(8, 8 + size);
      if (this.first) {
        this.first = false;
        this.failedStart = START_FAILED.test(payload.subarray(0, 64).toString('utf8'));
      }
      if (this.failedStart) {
        const text = payload.toString('utf8').replace(/\r\n/g, '\n');
        this.rawText += text;
        this.stderr.write(Buffer.from(text));
      } else {
        (this.buffer[0] === 2 ? this.stderr : this.stdout).write(payload);
      }
      this.buffer = this.buffer.subarray(8 + size);
    }
  }

  /** dockerd's own message when the exec could not start, else undefined. */
  get startError(): string | undefined {
    return this.raw || this.failedStart ? this.rawText : undefined;
  }

  /** A missing program exits 127, as in a shell; dockerd reports 126 for every start failure. */
  exitCode(code: number): number {
    return code === 126 && this.startError !== undefined && /executable file not found|no such file or directory/i.test(this.rawText) ? 127 : code;
  }
}

/** The exec's exit code; dockerd may report Running for a moment after the stream closes. */
async function exitCode(exec: Docker.Exec): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    if (attempt >= 50) return info.ExitCode ?? -1;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startExec(
  target: ExecTarget,
  argv: string[],
  opts: { env?: Record<string, string>; cwd?: string; stdin: boolean; tty: boolean },
): Promise<{ exec: Docker.Exec; stream: Duplex }> {
  if (argv.length === 0) throw new Error(`exec in ${target.where}: empty command`);
  const container = target.docker.getContainer(target.containerId);
  const exec = await container.exec({
    Cmd: argv,
    AttachStdin: opts.stdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: opts.tty,
    ...(opts.env ? { Env: envList(opts.env) } : {}),
    ...(opts.cwd ? { WorkingDir: opts.cwd } : {}),
    ...(target.user !== undefined ? { User: target.user } : {}),
  });
  const stream = (await exec.start({ hijack: true, stdin: opts.stdin, Tty: opts.tty })) as unknown as Duplex;
  return { exec, stream };
}

export async function dockerExec(target: ExecTarget, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  opts.signal?.throwIfAborted();
  const hasStdin = opts.stdin !== undefined;
  const { exec, stream } = await startExec(target, argv, { env: opts.env, cwd: opts.cwd, stdin: hasStdin, tty: false });

  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const collect = (into: Buffer[]) => ({ write: (chunk: Buffer) => into.push(chunk) });
  const demux = new ExecDemuxer(collect(out), collect(err));
  stream.on('data', (chunk: Buffer) => demux.write(chunk));
  const done = streamDone(stream);
  if (hasStdin) stream.end(opts.stdin);

  // Docker has no "kill this exec" call: on timeout or abort we drop the connection (the
  // command gets EOF/SIGPIPE) and report it; the caller decides what else to clean up.
  let cancelled: Error | undefined;
  const cancel = (reason: Error) => {
    cancelled ??= reason;
    stream.destroy();
  };
  const timer =
    opts.timeoutMs !== undefined
      ? setTimeout(
          () =>
            cancel(
              new TransportError(
                target.node,
                `command ${JSON.stringify(argv.join(' '))} in ${target.where} timed out after ${opts.timeoutMs} ms`,
              ),
            ),
          opts.timeoutMs,
        )
      : undefined;
  const onAbort = () => cancel(new TransportError(target.node, `command in ${target.where} was aborted`));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await done;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (cancelled) throw cancelled;
  return {
    code: demux.exitCode(await exitCode(exec)),
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

async function initialResize(exec: Docker.Exec, rows: number, cols: number): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await exec.resize({ h: rows, w: cols });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** A long-running or interactive exec: `logs -f`, `shell`. */
export async function dockerSpawn(target: ExecTarget, argv: string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
  const tty = opts.pty !== undefined;
  const env = tty ? { TERM: opts.pty?.term ?? 'xterm-256color', ...opts.env } : opts.env;
  // The size is set inside before the command runs: the resize below can only follow the start.
  const command = opts.pty ? sizedTerminalArgv(argv, opts.pty) : argv;
  const { exec, stream } = await startExec(target, command, { env, cwd: opts.cwd, stdin: true, tty });

  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const demux = new ExecDemuxer(stdout, stderr);
  if (tty) {
    stream.pipe(stdout);
  } else {
    stream.on('data', (chunk: Buffer) => demux.write(chunk));
  }
  const done = streamDone(stream).then(() => {
    stdout.end();
    stderr.end();
  });

  // Writing after the process exited must not crash the caller.
  stream.on('error', () => undefined);
  const stdin = new Writable({
    write(chunk, enc, cb) {
      if (stream.writable) stream.write(chunk, enc, () => cb());
      else cb();
    },
    final(cb) {
      if (stream.writable) stream.end();
      cb();
    },
  });

  const resize = (rows: number, cols: number) => {
    exec.resize({ h: rows, w: cols }).catch(() => undefined);
  };
  // The initial size must hold before the caller writes its first command. Docker 20.10 (API
  // 1.41) has no ConsoleSize on exec create, and a resize can race the process start: retry.
  if (opts.pty) await initialResize(exec, opts.pty.rows, opts.pty.cols);

  return {
    stdin,
    stdout,
    stderr,
    async wait() {
      await done;
      return demux.exitCode(await exitCode(exec));
    },
    // No exec-kill in the Engine API: closing the connection hangs up the TTY (SIGHUP) or
    // closes the pipes (SIGPIPE on the next write, e.g. `tail -f`).
    kill() {
      stream.destroy();
    },
    ...(tty ? { resize } : {}),
  };
}
