// The client's half of node access through the server (./access.ts): opens an HTTP Upgrade
// stream with the bearer token and speaks the frames of ./stream.ts. No SSH here: the server
// reaches the node.
import http from 'node:http';
import https from 'node:https';
import type { Duplex, Readable, Writable } from 'node:stream';
import { ServerError } from './client.js';
import { API_PREFIX } from './wire.js';
import { encode, encodeJson, Frame, FrameReader, UPGRADE_PROTOCOL, type ExecOpen, type LogsOpen } from './stream.js';

/** Where the server is and how to talk to it. */
export interface StreamTarget {
  /** The server's URL (http:// or https://), without /api/v1. */
  url: string;
  token: string;
  /** PEM CA to trust (VENDETTA_SERVER_CA) for an https:// URL. */
  ca?: Buffer;
}

/**
 * Sends the Upgrade for `path` (under /api/v1). Resolves with the connection once the server
 * switched protocols, or `undefined` for a 2xx answer without one (port-forward's check);
 * rejects with a ServerError carrying the server's {error, hint} and status otherwise.
 */
export function openStream(target: StreamTarget, path: string): Promise<{ socket: Duplex; head: Buffer } | undefined> {
  const base = target.url.replace(/\/+$/, '');
  const url = new URL(base + API_PREFIX + path);
  return new Promise((resolve, reject) => {
    const options = {
      method: 'GET',
      headers: { authorization: `Bearer ${target.token}`, connection: 'Upgrade', upgrade: UPGRADE_PROTOCOL },
      ...(target.ca ? { ca: target.ca } : {}),
    };
    const req = url.protocol === 'https:' ? https.request(url, options) : http.request(url, options);
    req.on('upgrade', (_res, socket, head) => {
      socket.setNoDelay(true);
      resolve({ socket, head });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(undefined);
        let body: { error?: string; hint?: string } = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
        } catch {
          // not our server, or not JSON: the status line says what there is
        }
        const hint = status === 401 ? "use the token from the server's $VENDETTA_HOME/server.token (--token-file or VENDETTA_TOKEN)" : body.hint;
        reject(new ServerError(`server: ${body.error ?? res.statusMessage ?? 'error'} (HTTP ${status})`, status, hint));
      });
    });
    req.on('error', (err) => reject(new ServerError(`cannot reach the vendetta server at ${base}: ${err.message}`, 0, 'start it with `vendetta serve`, or check --server / VENDETTA_SERVER')));
    req.end();
  });
}

export interface FramedIo {
  /** Sent to the process as it comes, then its end (stdin EOF). */
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** A running framed stream: its exit code, and the controls the client has over it. */
export interface RemoteProcess {
  /** Resolves with the remote exit code; rejects with a ServerError for an Error frame or a lost stream. */
  done: Promise<number>;
  resize(rows: number, cols: number): void;
  signal(name: NodeJS.Signals): void;
  /** Drop the connection (the server stops the process). */
  close(): void;
}

/** Sends Open, then pipes `io` both ways over the frames until the Exit (or Error) frame. */
export function runFramed(conn: { socket: Duplex; head: Buffer }, open: ExecOpen | LogsOpen, io: FramedIo): RemoteProcess {
  const { socket } = conn;
  const reader = new FrameReader();
  let exit: number | undefined;
  let failure: ServerError | undefined;
  const write = (frame: Buffer) => {
    if (!socket.destroyed && socket.writable) return socket.write(frame);
    return true;
  };
  write(encodeJson(Frame.Open, open));

  const onStdin = (chunk: Buffer) => {
    if (!write(encode(Frame.Stdin, chunk))) {
      io.stdin!.pause();
      socket.once('drain', () => io.stdin!.resume());
    }
  };
  const onStdinEnd = () => write(encode(Frame.StdinEnd));
  if (io.stdin) {
    io.stdin.on('data', onStdin);
    io.stdin.once('end', onStdinEnd);
  }
  const detach = () => {
    if (!io.stdin) return;
    io.stdin.off('data', onStdin);
    io.stdin.off('end', onStdinEnd);
    io.stdin.pause();
  };

  const onData = (chunk: Buffer) => {
    let frames;
    try {
      frames = reader.push(chunk);
    } catch (err) {
      failure = new ServerError(`bad stream from the server: ${(err as Error).message}`, 0);
      return void socket.destroy();
    }
    for (const f of frames) {
      if (f.type === Frame.Stdout) {
        if (!io.stdout.write(f.payload)) {
          socket.pause();
          io.stdout.once('drain', () => socket.resume());
        }
      } else if (f.type === Frame.Stderr) io.stderr.write(f.payload);
      else if (f.type === Frame.Exit) exit = Number((JSON.parse(f.payload.toString('utf8')) as { code: number }).code);
      else if (f.type === Frame.Error) {
        const body = JSON.parse(f.payload.toString('utf8')) as { error: string; hint?: string };
        failure = new ServerError(`server: ${body.error}`, 0, body.hint);
      }
    }
  };
  const done = new Promise<number>((resolve, reject) => {
    socket.on('data', onData);
    socket.on('error', () => undefined); // 'close' follows and says what became of it
    socket.on('close', () => {
      detach();
      if (failure) return reject(failure);
      if (exit !== undefined && Number.isInteger(exit)) return resolve(exit);
      reject(new ServerError('the server closed the stream before the command exited', 0, 'see the server log; run the command again'));
    });
    // The server ends the connection after its last frame.
    socket.on('end', () => socket.end());
  });
  if (conn.head.length) onData(conn.head);
  return {
    done,
    resize: (rows, cols) => void write(encodeJson(Frame.Resize, { rows, cols })),
    signal: (name) => void write(encode(Frame.Signal, name)),
    close: () => socket.destroy(),
  };
}
