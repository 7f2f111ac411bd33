// `docker exec` through the Engine API: a hijacked HTTP connection carries stdin one way and
// (without a TTY) multiplexed stdout/stderr frames the other. The exit code comes from exec
// inspect once the stream ends. argv goes to Docker as an array: no shell ever parses it.
import { PassThrough, Writable, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
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
  const collect = (into: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        into.push(chunk);
        cb();
      },
    });
  target.docker.modem.demuxStream(stream, collect(out), collect(err));
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
    code: await exitCode(exec),
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
  const { exec, stream } = await startExec(target, argv, { env, cwd: opts.cwd, stdin: true, tty });

  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (tty) {
    stream.pipe(stdout);
  } else {
    target.docker.modem.demuxStream(stream, stdout, stderr);
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
      return exitCode(exec);
    },
    // No exec-kill in the Engine API: closing the connection hangs up the TTY (SIGHUP) or
    // closes the pipes (SIGPIPE on the next write, e.g. `tail -f`).
    kill() {
      stream.destroy();
    },
    ...(tty ? { resize } : {}),
  };
}
