// The wire between the CLI and the SSH connection keeper (./server.ts), over a unix socket. Pure,
// but for readLine, which both sides use to take the first line off a socket.
//
// One socket connection per Transport call. The client writes one JSON line (a KeeperRequest);
// the keeper answers one JSON line (a KeeperReply). Calls that stream go on afterwards on the
// same socket: `connectTcp`/`connectUnix` as raw bytes both ways, `spawn` as frames (below).
import type { Duplex } from 'node:stream';
import type { NodeResource } from '../../model/types.js';
import { HostKeyMismatchError, TransportError, type ExecOptions } from '../types.js';

/** Bumped on any incompatible change; the socket name includes it, so old keepers are never asked. */
export const PROTOCOL_VERSION = 1;

export type KeeperOp =
  | 'connect'
  | 'exec'
  | 'spawn'
  | 'upload'
  | 'writeFile'
  | 'readFile'
  | 'connectTcp'
  | 'connectUnix'
  | 'home'
  | 'stats'
  | 'stop';

export interface ConnectionOptions {
  strictHostKeys?: boolean;
  knownHostsPath?: string;
}

export interface KeeperRequest {
  op: KeeperOp;
  node?: NodeResource;
  options?: ConnectionOptions;
  args?: Record<string, unknown>;
}

export interface HostKeyLearned {
  node: string;
  fingerprint: string;
  knownHostsPath: string;
}

export type KeeperReply =
  | { ok: true; value?: unknown; learned?: HostKeyLearned[] }
  | { ok: false; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  node?: string;
  hint?: string;
  expectedFingerprint?: string;
  presentedFingerprint?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof HostKeyMismatchError) {
    return { name: err.name, message: err.message, node: err.node, hint: err.hint, expectedFingerprint: err.expectedFingerprint, presentedFingerprint: err.presentedFingerprint };
  }
  if (err instanceof TransportError) return { name: err.name, message: err.message, node: err.node, hint: err.hint };
  return { name: 'Error', message: err instanceof Error ? err.message : String(err) };
}

/** The same error classes on the client side, so messages, hints and `instanceof` checks hold. */
export function deserializeError(e: SerializedError, node: string): TransportError {
  if (e.name === 'HostKeyMismatchError') {
    const m = new HostKeyMismatchError(e.node ?? node, e.expectedFingerprint ?? '', e.presentedFingerprint ?? '', e.hint ?? '');
    m.message = e.message;
    return m;
  }
  return new TransportError(e.node ?? node, e.message, e.hint);
}

/** Buffers cross JSON as base64. */
export function encodeBytes(b: string | Buffer | undefined): { text: string } | { base64: string } | undefined {
  if (b === undefined) return undefined;
  return typeof b === 'string' ? { text: b } : { base64: b.toString('base64') };
}

export function decodeBytes(v: unknown): string | Buffer | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as { text?: string; base64?: string };
  if (typeof o.text === 'string') return o.text;
  if (typeof o.base64 === 'string') return Buffer.from(o.base64, 'base64');
  return undefined;
}

/**
 * An exec's request args: argv and the options that cross the socket (the signal does not: the
 * client hangs up to abort). `forwardAgent` travels only when asked for, so the keeper forwards
 * the agent (which it has: its socket name hashes SSH_AUTH_SOCK) for that one exec.
 */
export function encodeExecArgs(argv: string[], opts: ExecOptions = {}): Record<string, unknown> {
  return {
    argv,
    stdin: encodeBytes(opts.stdin),
    env: opts.env,
    cwd: opts.cwd,
    timeoutMs: opts.timeoutMs,
    ...(opts.forwardAgent ? { forwardAgent: true } : {}),
    // Only an exec the caller can abort gets the keeper's abort signal: one without goes into a
    // batch with the others of its turn (./ssh.ts), as it would on a direct connection.
    ...(opts.signal ? { abortable: true } : {}),
  };
}

/** The keeper's side of encodeExecArgs: the ExecOptions to run with (its own abort signal). */
export function decodeExecArgs(a: Record<string, unknown>, signal?: AbortSignal): { argv: string[]; opts: ExecOptions } {
  return {
    argv: a.argv as string[],
    opts: {
      stdin: decodeBytes(a.stdin),
      env: a.env as Record<string, string> | undefined,
      cwd: a.cwd as string | undefined,
      timeoutMs: a.timeoutMs as number | undefined,
      ...(signal && a.abortable === true ? { signal } : {}),
      ...(a.forwardAgent === true ? { forwardAgent: true } : {}),
    },
  };
}

// ── spawn frames: one type byte, a 4-byte big-endian length, the payload ──

export const Frame = {
  /** client → keeper */
  stdin: 0x01,
  stdinEnd: 0x02,
  kill: 0x03, // payload: signal name
  resize: 0x04, // payload: JSON {rows, cols}
  /** keeper → client */
  stdout: 0x11,
  stderr: 0x12,
  exit: 0x13, // payload: JSON {code} or {error: SerializedError}
} as const;

export function encodeFrame(type: number, payload: string | Buffer = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames, whatever the chunking. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (type: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) return;
      const type = this.buf.readUInt8(0);
      const payload = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      this.onFrame(type, payload);
    }
  }
}

/** Splits off the first line of a byte stream: the header, and whatever came after it. */
export class LineReader {
  private buf: Buffer = Buffer.alloc(0);

  /** The line (without its newline) and the rest, once a newline has arrived; else undefined. */
  push(chunk: Buffer): { line: string; rest: Buffer } | undefined {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const i = this.buf.indexOf(0x0a);
    if (i < 0) return undefined;
    return { line: this.buf.subarray(0, i).toString('utf8'), rest: this.buf.subarray(i + 1) };
  }
}

/**
 * The first line of a socket (a request, a reply), without its newline; what follows it is put
 * back. Read with 'readable', not 'data', so the socket is left neither flowing nor paused:
 * whoever takes it next (a pipe, an http.Agent, a frame reader) starts the flow by listening.
 * Rejects when the socket ends, closes or fails first.
 */
export function readLine(socket: Duplex): Promise<string> {
  const lines = new LineReader();
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        const got = lines.push(chunk);
        if (!got) continue;
        cleanup();
        if (got.rest.length) socket.unshift(got.rest);
        resolve(got.line);
        return;
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('the other side hung up before a whole line'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
    };
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}

/** A file beside the keeper's socket, in the same private directory (`log`, `warm`). */
export function besideSocket(socketPath: string, extension: 'log' | 'warm'): string {
  return socketPath.replace(/\.sock$/, `.${extension}`);
}

/** How the keeper keys its connections: everything that decides how a node is reached and trusted. */
export function connectionKey(node: NodeResource, options: ConnectionOptions = {}): string {
  const { address, port, user, identityFile, hostKey, forwardAgent } = node.spec;
  return JSON.stringify([node.metadata.name, address, port, user, identityFile, hostKey, !!options.strictHostKeys, options.knownHostsPath ?? '', forwardAgent ?? null]);
}
