// Minimal types for tar-stream, which dockerode already depends on (no @types installed).
declare module 'tar-stream' {
  import type { Readable, Writable } from 'node:stream';
  export interface Headers {
    name: string;
    type?: 'file' | 'directory' | 'symlink' | 'link';
    mode?: number;
    size?: number;
    uid?: number;
    gid?: number;
    mtime?: Date;
    linkname?: string;
  }
  export interface Pack extends Readable {
    entry(header: Headers, buffer?: string | Buffer, callback?: (err?: Error) => void): unknown;
    finalize(): void;
  }
  export function pack(): Pack;
  /** Other entry types (git's pax header) come with other `type` values. */
  export interface Extract extends Writable {
    on(event: 'entry', listener: (header: Headers, stream: Readable, next: () => void) => void): this;
    on(event: 'finish', listener: () => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
  }
  export function extract(): Extract;
  const tarStream: { pack: typeof pack; extract: typeof extract };
  export default tarStream;
}
