// The framing of node access through the server (`exec`, `shell`, `logs` over an HTTP Upgrade;
// see ./access.ts for the server, ./access-client.ts for the CLI). After `101 Switching
// Protocols` both sides exchange frames: one type byte, a 4-byte big-endian length, the payload.
// `port-forward` uses no frames: after the 101 the connection is the TCP stream itself.
// Pure (no I/O): encode() and a FrameReader that cuts a byte stream into frames.

/** The value of the Upgrade header both sides send. */
export const UPGRADE_PROTOCOL = 'vendetta-stream/1';

/** Largest payload a peer may announce (a frame is one read's worth of output, or a JSON message). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export const Frame = {
  /** client → server, first: JSON of the operation's options (OpenRequest). */
  Open: 0x01,
  /** client → server: bytes for the process's stdin. */
  Stdin: 0x02,
  /** client → server: stdin reached its end (the process sees EOF). */
  StdinEnd: 0x03,
  /** client → server: JSON {rows, cols}, the terminal's new size (PTY only). */
  Resize: 0x04,
  /** client → server: a signal name ("SIGINT", "SIGTERM"): stop the process. */
  Signal: 0x05,
  /** server → client: the process's stdout. */
  Stdout: 0x10,
  /** server → client: the process's stderr (and the server's own notes, e.g. postAttach hooks). */
  Stderr: 0x11,
  /** server → client, last: JSON {code}, the exit status. */
  Exit: 0x12,
  /** server → client, last: JSON {error, hint?}: the operation could not run. */
  Error: 0x13,
} as const;
export type FrameType = (typeof Frame)[keyof typeof Frame];

/** What the client asks for in its Open frame. Names and ports are in the request's path. */
export interface ExecOpen {
  argv: string[];
  /** As `exec -w`: relative to the workspace directory. */
  workdir?: string;
  /** The workspace's env, resolved by the client (as apply's is). */
  env: Record<string, string>;
  /** false: the process's stdin is closed at once. */
  stdin: boolean;
  /** A terminal (`shell`): its size and TERM. */
  pty?: { rows: number; cols: number; term?: string };
  /** `shell`: run the workspace's postAttach hooks first (their output comes as Stderr frames). */
  attach?: boolean;
}

export interface LogsOpen {
  tail: number;
  follow: boolean;
}

export function encode(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export function encodeJson(type: FrameType, value: unknown): Buffer {
  return encode(type, JSON.stringify(value));
}

export class FrameError extends Error {}

/** Feeds bytes in any cut; returns the complete frames. Throws FrameError on a malformed stream. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: { type: number; payload: Buffer }[] = [];
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${length} bytes is over the limit of ${MAX_FRAME_BYTES}`);
      if (this.buffered.length < 5 + length) break;
      frames.push({ type: this.buffered.readUInt8(0), payload: this.buffered.subarray(5, 5 + length) });
      this.buffered = this.buffered.subarray(5 + length);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still held (a stream that ends here was cut short). */
  get pending(): number {
    return this.buffered.length;
  }
}

/** JSON of a frame's payload, or a FrameError naming what was expected. */
export function parseJson<T>(payload: Buffer, what: string): T {
  try {
    return JSON.parse(payload.toString('utf8')) as T;
  } catch (err) {
    throw new FrameError(`${what} frame is not JSON: ${(err as Error).message}`);
  }
}

/** The paths of the access endpoints under /api/v1, and the role each needs. */
export type AccessOperation = 'exec' | 'shell' | 'logs' | 'port-forward';

export function accessRole(op: AccessOperation): 'view' | 'edit' {
  return op === 'logs' ? 'view' : 'edit';
}
