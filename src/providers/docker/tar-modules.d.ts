// Minimal types for tar-stream, which dockerode already depends on (no @types installed).
declare module 'tar-stream' {
  import type { Readable } from 'node:stream';
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
  const tarStream: { pack: typeof pack };
  export default tarStream;
}
