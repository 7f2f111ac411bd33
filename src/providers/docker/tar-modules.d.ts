// Minimal types for the two tar packages dockerode already depends on (no @types installed).
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

declare module 'tar-fs' {
  import type { Headers, Pack } from 'tar-stream';
  export interface PackOptions {
    pack?: Pack;
    map?: (header: Headers) => Headers;
    finalize?: boolean;
  }
  export function pack(dir: string, opts?: PackOptions): Pack;
  const tarFs: { pack: typeof pack };
  export default tarFs;
}
