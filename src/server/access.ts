// Node access through the server: `exec`, `shell`, `logs` and `port-forward` of a client that
// holds only a server token. The client sends an HTTP Upgrade (Upgrade: vendetta-stream/1) to
//
//   /api/v1/exec/WORKSPACE           edit   frames (./stream.ts): Open {argv, workdir, env, stdin}
//   /api/v1/shell/WORKSPACE          edit   frames: Open {argv, env, pty, attach}, Resize
//   /api/v1/logs/SERVICE             view   frames: Open {tail, follow}
//   /api/v1/port-forward/WORKSPACE/PORT  edit   raw bytes: the connection is the TCP stream
//
// with its bearer token. The server checks the token's role, finds the workspace in its store and
// runs the operation with its own transports to the node (the same calls the embedded commands
// make), piping bytes both ways. Every refusal before the 101 is a plain HTTP response with a JSON
// {error, hint} body (401, 403, 404, 400, 502), as the rest of the API answers.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EventRecord, ServiceResource } from '../model/types.js';
import type { Store } from '../store/types.js';
import type { TransportPool } from '../transport/pool.js';
import { TransportError, type SpawnedProcess } from '../transport/types.js';
import { openWorkspace } from '../cli/runtime.js';
import { serviceWorkdir } from '../plan/desired.js';
import type { Principal } from './auth.js';
import { HttpError } from './http.js';
import { API_PREFIX } from './wire.js';
import {
  accessRole,
  encode,
  encodeJson,
  Frame,
  FrameError,
  FrameReader,
  parseJson,
  UPGRADE_PROTOCOL,
  type AccessOperation,
  type ExecOpen,
  type LogsOpen,
} from './stream.js';

export interface AccessOptions {
  store: Store;
  /** The server's transports (shared with its engine: one SSH connection per node). */
  pool: TransportPool;
  /** Who sent the request, if they may: throws HttpError 401/403 (./http.ts authorize). */
  authorize: (req: IncomingMessage, needed: Principal['role'], what: string) => Promise<Principal>;
  /** The audit line: an event for the store and the server's log. */
  record: (e: EventRecord) => void;
}

/**
 * Serves the access endpoints on `server`'s upgrade requests. server.close() waits for every
 * connection, and an upgraded one (a `logs -f`, a shell) never ends by itself: call closeAll()
 * first (the remote processes are stopped as when their client goes away).
 */
export function attachAccess(server: Server, opts: AccessOptions): { closeAll(): void } {
  const open = new Set<Duplex>();
  const audited = new Set<string>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined); // a client gone mid-write: 'close' follows
    upgrade(opts, audited, req, socket, head).catch((err: unknown) => refuse(socket, err));
  });
  const closeAll = () => {
    for (const s of open) s.destroy();
  };
  server.on('close', closeAll);
  return { closeAll };
}

interface Route {
  op: AccessOperation;
  name: string;
  port?: number;
}

function route(req: IncomingMessage): Route {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const parts = url.pathname.startsWith(API_PREFIX + '/') ? url.pathname.slice(API_PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent) : [];
  const op = parts[0] as AccessOperation | undefined;
  const usage = 'exec, shell and port-forward of WORKSPACE, logs of SERVICE: /api/v1/exec/NAME, /api/v1/shell/NAME, /api/v1/logs/NAME, /api/v1/port-forward/NAME/PORT';
  if ((op === 'exec' || op === 'shell' || op === 'logs') && parts.length === 2) return { op, name: parts[1]! };
  if (op === 'port-forward' && parts.length === 3) {
    const port = Number(parts[2]);
    if (!/^\d{1,5}$/.test(parts[2]!) || port < 1 || port > 65535) throw new HttpError(400, `invalid port "${parts[2]}" in ${url.pathname}`, 'a workspace port is 1-65535');
    return { op, name: parts[1]!, port };
  }
  throw new HttpError(404, `no stream endpoint ${url.pathname}`, usage);
}

async function upgrade(opts: AccessOptions, audited: Set<string>, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const r = route(req);
  const who = await opts.authorize(req, accessRole(r.op), `${r.op} (${path})`);
  if ((req.headers.upgrade ?? '').toLowerCase() !== UPGRADE_PROTOCOL) {
    throw new HttpError(400, `${path} is a stream: send an HTTP Upgrade with "Upgrade: ${UPGRADE_PROTOCOL}"`, 'use vendetta --server URL exec|shell|logs|port-forward');
  }
  let service: ServiceResource | undefined;
  if (r.op === 'logs') {
    const rec = await opts.store.get(`service/${r.name}`);
    if (!rec) throw new HttpError(404, `service "${r.name}" has not been applied on this server`, 'see `vendetta get services`');
    service = rec.resource as ServiceResource;
  }
  const wsName = service ? service.spec.workspace : r.name;
  if (!(await opts.store.get(`workspace/${wsName}`))) throw new HttpError(404, `workspace "${wsName}" has not been applied on this server`, 'see `vendetta get workspaces`');
  const ws = await reach(() => openWorkspace(opts.store, opts.pool, wsName), wsName);
  const url = new URL(req.url ?? '/', 'http://localhost');

  if (r.op === 'port-forward') {
    const session = url.searchParams.get('session') ?? randomUUID();
    const audit = () => {
      // One event per `port-forward` run and port (its connections share the session), not per connection.
      const key = `${who.name} ${wsName} ${r.port} ${session}`;
      if (audited.has(key)) return;
      if (audited.size > 10_000) audited.clear();
      audited.add(key);
      opts.record(event(`workspace/${wsName}`, 'PortForward', `port-forward to port ${r.port} opened by ${who.name}`, who));
    };
    if (url.searchParams.get('check') === '1') {
      // The CLI's check before it listens: the token may, the workspace is there, the node answers.
      audit();
      return void socket.end('HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n');
    }
    const remote = await reach(() => opts.pool.get(ws.node).then((t) => t.connectTcp(ws.runtime.address, r.port!)), wsName, r.port);
    if (socket.destroyed) return void remote.destroy();
    audit();
    socket.write(switching());
    if (head.length) remote.write(head);
    socket.pipe(remote).pipe(socket);
    remote.on('error', () => socket.destroy());
    socket.on('close', () => remote.destroy());
    remote.on('close', () => socket.destroy());
    return;
  }

  socket.write(switching());
  setNoDelay(socket);
  const what = r.op === 'logs' ? `service/${r.name}` : `workspace/${wsName}`;
  await framed(socket, head, async (payload, send) => {
    if (r.op === 'logs') {
      const o = parseJson<LogsOpen>(payload, 'Open');
      const { createServiceManager } = await import('../services/manager.js');
      const services = createServiceManager(ws.runtime);
      const tail = Number(o.tail) > 0 ? Math.floor(Number(o.tail)) : 200;
      opts.record(event(what, 'LogsOpened', `logs${o.follow ? ' -f' : ''} opened by ${who.name}`, who));
      if (!o.follow) {
        send(Frame.Stdout, Buffer.from(await services.logs(r.name, { tail })));
        return undefined;
      }
      return { proc: await services.followLogs(r.name, { tail }), stdin: false, endStdin: false };
    }
    const o = parseJson<ExecOpen>(payload, 'Open');
    if (!Array.isArray(o.argv) || o.argv.some((a) => typeof a !== 'string') || (r.op === 'exec' && o.argv.length === 0)) {
      throw new FrameError('Open frame: argv must be a list of strings (not empty for exec)');
    }
    const env = o.env && typeof o.env === 'object' ? o.env : {};
    if (r.op === 'shell') {
      if (o.attach && ws.workspace.spec.lifecycle?.postAttach?.length) {
        const { runAttachHooks } = await import('../reconcile/lifecycle.js');
        await runAttachHooks(ws.runtime, ws.workspace.spec.lifecycle, env, (text) => send(Frame.Stderr, Buffer.from(text)));
      }
      const { LOGIN_SHELL } = await import('../sshproxy/commands.js');
      const argv = o.argv.length ? o.argv : LOGIN_SHELL;
      opts.record(event(what, 'ShellOpened', `shell${o.pty ? ' (pty)' : ''} opened by ${who.name}`, who));
      const pty = o.pty ? { rows: Number(o.pty.rows) || 24, cols: Number(o.pty.cols) || 80, term: o.pty.term || 'xterm-256color' } : undefined;
      const proc = await ws.runtime.spawn(argv, { cwd: ws.runtime.workspaceDir, env, asWorkspace: true, pty });
      return { proc, stdin: true, endStdin: false };
    }
    // The command's name only: its arguments may hold secrets, events are kept and shown.
    opts.record(event(what, 'ExecOpened', `exec ${o.argv[0]} opened by ${who.name}`, who));
    const proc = await ws.runtime.spawn(o.argv, { cwd: serviceWorkdir(o.workdir, ws.runtime.workspaceDir), env, asWorkspace: true });
    return { proc, stdin: o.stdin === true, endStdin: o.stdin !== true };
  });
}

function event(object: EventRecord['object'], reason: string, message: string, who: Principal): EventRecord {
  return { time: new Date().toISOString(), object, type: 'Normal', reason, message, by: who.name };
}

/** `work` on the node; a node that cannot be reached is 502 with the transport's words. */
async function reach<T>(work: () => Promise<T>, ws: string, port?: number): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof HttpError) throw err;
    const where = port === undefined ? `workspace "${ws}"` : `port ${port} of workspace "${ws}"`;
    const hint = err instanceof TransportError ? err.hint : undefined;
    throw new HttpError(502, `the server cannot reach ${where}: ${(err as Error).message}`, hint ?? 'check `vendetta get nodes` and `vendetta describe workspace ' + ws + '` on the server');
  }
}

function switching(): string {
  return `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${UPGRADE_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`;
}

function setNoDelay(socket: Duplex): void {
  (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
}

/** A refusal before the 101: the HTTP status and {error, hint} the rest of the API sends. */
function refuse(socket: Duplex, err: unknown): void {
  if (socket.destroyed) return;
  const status = err instanceof HttpError ? err.status : 500;
  const text = JSON.stringify({ error: (err as Error).message, hint: (err as HttpError).hint }) + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

type Started = { proc: SpawnedProcess; stdin: boolean; endStdin: boolean } | undefined;

/**
 * The framed half of a stream: waits for the Open frame, starts the process with `start`, then
 * forwards Stdin/StdinEnd/Resize/Signal to it and its output back, and ends with an Exit frame
 * (its code) or an Error frame. The client going away stops the process (SIGTERM; on SSH and
 * Docker that closes its channel, which hangs the command up).
 */
async function framed(socket: Duplex, head: Buffer, start: (open: Buffer, send: (type: number, payload: Buffer) => void) => Promise<Started>): Promise<void> {
  const reader = new FrameReader();
  let opened = false;
  let closed = false;
  let finished = false;
  let started: Started;
  const early: { type: number; payload: Buffer }[] = [];
  const send = (type: number, payload: Buffer): boolean => (closed ? true : socket.write(encode(type as never, payload)));
  const finish = (type: number, value: unknown) => {
    if (finished) return;
    finished = true;
    if (!closed) socket.end(encodeJson(type as never, value));
  };

  let openPayload: Buffer | undefined;
  let gotOpen!: () => void;
  const opening = new Promise<void>((resolve) => (gotOpen = resolve));

  const apply = (f: { type: number; payload: Buffer }) => {
    const proc = started?.proc;
    if (!proc) return;
    if (f.type === Frame.Stdin) {
      if (!started!.stdin || proc.stdin.writableEnded) return;
      if (!proc.stdin.write(f.payload)) {
        socket.pause();
        proc.stdin.once('drain', () => socket.resume());
      }
    } else if (f.type === Frame.StdinEnd) {
      if (started!.stdin && !proc.stdin.writableEnded) proc.stdin.end();
    } else if (f.type === Frame.Resize) {
      const size = parseJson<{ rows: number; cols: number }>(f.payload, 'Resize');
      if (Number(size.rows) > 0 && Number(size.cols) > 0) proc.resize?.(Number(size.rows), Number(size.cols));
    } else if (f.type === Frame.Signal) {
      const name = f.payload.toString('utf8');
      proc.kill((/^SIG[A-Z0-9]+$/.test(name) ? name : 'SIGTERM') as NodeJS.Signals);
    }
  };
  const onData = (chunk: Buffer) => {
    let frames;
    try {
      frames = reader.push(chunk);
    } catch (err) {
      finish(Frame.Error, { error: `bad stream from the client: ${(err as Error).message}` });
      return void socket.destroy();
    }
    for (const f of frames) {
      if (!opened) {
        if (f.type !== Frame.Open) {
          finish(Frame.Error, { error: `the first frame must be Open (got type ${f.type})` });
          return void socket.destroy();
        }
        opened = true;
        openPayload = f.payload;
        gotOpen();
      } else if (!started) {
        early.push(f);
      } else {
        try {
          apply(f);
        } catch (err) {
          finish(Frame.Error, { error: (err as Error).message });
        }
      }
    }
  };
  socket.on('data', onData);
  socket.on('close', () => {
    closed = true;
    started?.proc.kill('SIGTERM');
    gotOpen();
  });
  if (head.length) onData(head);

  await opening;
  if (closed || !openPayload) return;
  try {
    started = await start(openPayload, (type, payload) => void send(type, payload));
  } catch (err) {
    const hint = err instanceof TransportError || err instanceof HttpError ? err.hint : undefined;
    return finish(Frame.Error, { error: (err as Error).message, hint });
  }
  if (!started) return finish(Frame.Exit, { code: 0 });
  const { proc } = started;
  if (closed) return proc.kill('SIGTERM');
  proc.stdin.on('error', () => undefined); // written after the process exited
  if (started.endStdin) proc.stdin.end();
  const forward = (stream: NodeJS.ReadableStream, type: number) =>
    new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        if (!send(type, chunk)) {
          stream.pause();
          socket.once('drain', () => stream.resume());
        }
      });
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', resolve);
    });
  const outputs = Promise.all([forward(proc.stdout, Frame.Stdout), forward(proc.stderr, Frame.Stderr)]);
  for (const f of early.splice(0)) apply(f);
  let code: number;
  try {
    code = await proc.wait();
  } catch (err) {
    return finish(Frame.Error, { error: (err as Error).message, hint: err instanceof TransportError ? err.hint : undefined });
  }
  // Output still in flight when the exit status arrived goes first (bounded: a stream that never
  // ends must not hold the exit back).
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([outputs, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
  clearTimeout(timer);
  finish(Frame.Exit, { code });
}
