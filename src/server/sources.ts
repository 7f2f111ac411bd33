// The server's store of uploaded source trees: $VENDETTA_HOME/sources/<sha256>.tar, one per
// distinct content (a second upload of the same tree is a no-op), verified against its name
// while it is received. A workspace that names a digest (./source-ref.ts) gets its tree from
// here, extracted once into $VENDETTA_HOME/sources/<sha256>/, so the server never reads the
// client's filesystem. Routes (mounted by ./http.ts under /api/v1/sources):
//   GET /sources/<hex>  → 200 {digest, size} | 404     (does the server have it?)
//   PUT /sources/<hex>  body: the tar → 201 stored | 200 already there | 400 digest mismatch | 413 too large
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { resourceId } from '../model/types.js';
import type { ManifestError } from '../manifest/errors.js';
import type { LoadedSet } from '../reconcile/api.js';
import { digestHex, sourceDigestOf } from './source-ref.js';

export const DEFAULT_MAX_SOURCE_BYTES = 256 * 1024 * 1024;

const HEX = /^[0-9a-f]{64}$/;

/** 268435456 → "256 MiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[i]}`;
}

/** What a route answers; ./http.ts sends it as JSON. */
export interface SourceReply {
  status: number;
  body: Record<string, unknown>;
}

export class SourceStore {
  constructor(
    /** $VENDETTA_HOME/sources */
    readonly dir: string,
    readonly maxBytes = DEFAULT_MAX_SOURCE_BYTES,
  ) {}

  tarPath(hex: string): string {
    return join(this.dir, `${hex}.tar`);
  }

  async size(hex: string): Promise<number | undefined> {
    return stat(this.tarPath(hex)).then((s) => s.size, () => undefined);
  }

  /**
   * Receives a tar, hashing it as it is written to a temp file, and keeps it under its digest
   * only when the bytes hash to `hex`. Never more than maxBytes are read.
   */
  async put(hex: string, body: AsyncIterable<Buffer> | Iterable<Buffer>, declaredLength?: number): Promise<SourceReply> {
    if (declaredLength !== undefined && declaredLength > this.maxBytes) return this.tooLarge(declaredLength);
    if ((await this.size(hex)) !== undefined) return { status: 200, body: { digest: `sha256:${hex}`, stored: false } };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.upload-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    let over = false;
    const max = this.maxBytes;
    // Stops reading past the limit: the rest of the body is never written anywhere.
    async function* limited() {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > max) {
          over = true;
          return;
        }
        hash.update(chunk);
        yield chunk;
      }
    }
    try {
      await pipeline(limited(), createWriteStream(tmp, { mode: 0o600 }));
      if (over) return this.tooLarge(undefined);
      const actual = hash.digest('hex');
      if (actual !== hex) {
        return { status: 400, body: { error: `the upload hashes to sha256:${actual}, not sha256:${hex} (${size} bytes received)`, hint: 'the transfer was cut or altered; apply again' } };
      }
      await rename(tmp, this.tarPath(hex));
      return { status: 201, body: { digest: `sha256:${hex}`, size, stored: true } };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** `size`: the declared length, when the request gave one. */
  private tooLarge(size: number | undefined): SourceReply {
    return {
      status: 413,
      body: {
        error: `the source upload (${size === undefined ? `more than ${formatBytes(this.maxBytes)}` : formatBytes(size)}) is larger than this server's limit of ${formatBytes(this.maxBytes)}`,
        hint: 'exclude what the workspace does not need with .gitignore or .vendettaignore in source.path, or start the server with a larger --max-source-size',
      },
    };
  }

  /**
   * The extracted tree of an upload, made once (into a temp dir renamed into place, so a crash
   * never leaves half a tree under the final name). Undefined when the server has no such tar.
   */
  async directory(hex: string): Promise<string | undefined> {
    const dir = join(this.dir, hex);
    if (await stat(dir).then((s) => s.isDirectory(), () => false)) return dir;
    if ((await this.size(hex)) === undefined) return undefined;
    const tmp = join(this.dir, `.extract-${randomBytes(6).toString('hex')}`);
    try {
      await extractTree(this.tarPath(hex), tmp);
      await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
        // Another request extracted the same tree first: theirs is as good.
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
  }

  /** The routes under /sources (parts: what follows it in the path). */
  async route(method: string, parts: string[], req: IncomingMessage): Promise<SourceReply> {
    const hex = parts[0] ?? '';
    if (parts.length !== 1 || !HEX.test(hex)) {
      return { status: 404, body: { error: `no such endpoint: ${method} /sources/${parts.join('/')}`, hint: 'use /sources/<sha256 in lowercase hex>' } };
    }
    if (method === 'GET') {
      const size = await this.size(hex);
      return size === undefined ? { status: 404, body: { error: `no source upload sha256:${hex}` } } : { status: 200, body: { digest: `sha256:${hex}`, size } };
    }
    if (method === 'PUT') {
      const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
      return this.put(hex, req as AsyncIterable<Buffer>, length);
    }
    return { status: 405, body: { error: `${method} is not allowed on /sources/<sha256>`, hint: 'GET or PUT' } };
  }
}

/**
 * The directory each uploaded workspace's tree is read from (set.sources), or the errors for
 * digests this server does not have, at the workspace's file:line. Workspaces without a digest
 * keep reading source.path itself (a server on the same machine, as before uploads), unless
 * `uploadsRequired`: a caller other than the server's owner may not make it copy a directory of
 * its own disk into a workspace (with an edit token, any directory the server can read).
 */
export async function resolveSources(
  set: LoadedSet,
  store: SourceStore | undefined,
  opts: { uploadsRequired?: boolean } = {},
): Promise<{ set: LoadedSet; errors: ManifestError[] }> {
  const sources = new Map<string, string>();
  const errors: ManifestError[] = [];
  for (const ws of set.desired.workspaces.values()) {
    const digest = sourceDigestOf(ws);
    const pos = ws.source ?? { file: `<${resourceId('Workspace', ws.metadata.name)}>`, line: 0, col: 0 };
    if (digest === undefined) {
      const path = ws.spec.source?.path;
      if (opts.uploadsRequired && path !== undefined && ws.spec.source?.onNode !== true) {
        errors.push({
          ...pos,
          message: `Workspace "${ws.metadata.name}" spec.source.path ${path}: not uploaded, and this server reads no path of its own disk for a token other than its owner's; apply with a vendetta client that uploads sources (\`vendetta --server URL apply\`), or use source.git`,
        });
      }
      continue;
    }
    const hex = digestHex(digest);
    const dir = hex && store ? await store.directory(hex) : undefined;
    if (dir !== undefined) {
      sources.set(ws.metadata.name, dir);
      continue;
    }
    const what = `Workspace "${ws.metadata.name}" spec.source.path ${ws.spec.source?.path ?? ''}`;
    errors.push({
      ...pos,
      message: hex
        ? `${what}: this server has no upload ${digest} of it (its $VENDETTA_HOME/sources was cleared?); apply it again with \`vendetta --server URL apply\`, which uploads it`
        : `${what}: annotation ${JSON.stringify(digest)} is not a sha256:<64 hex> digest`,
    });
  }
  return { set: sources.size > 0 ? { ...set, sources } : set, errors };
}

/** Why a tar entry may not be extracted (undefined: it may). Pure. `links`: symlink entries so far. */
export function entryProblem(name: string, type: string | undefined, links: ReadonlySet<string>): string | undefined {
  if (type !== 'file' && type !== 'directory' && type !== 'symlink') return `entry ${JSON.stringify(name)} is a ${type ?? 'typeless'} entry (only files, directories and symlinks)`;
  const clean = name.replace(/\/+$/, '');
  const parts = clean.split('/');
  if (clean === '' || name.startsWith('/') || name.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    return `entry ${JSON.stringify(name)} is not a plain relative path`;
  }
  // A file written "through" an earlier symlink entry would land wherever the link points.
  for (let i = 1; i < parts.length; i++) if (links.has(parts.slice(0, i).join('/'))) return `entry ${JSON.stringify(name)} lies under the symlink ${parts.slice(0, i).join('/')}`;
  return undefined;
}

/**
 * Extracts an uploaded tar into `dest` (which must not exist): files, directories and symlinks
 * only, every path checked by entryProblem, nothing written twice. Directory modes are applied
 * last, so a read-only directory still receives its files.
 */
export async function extractTree(tarFile: string, dest: string): Promise<void> {
  await mkdir(dest, { mode: 0o700 });
  const links = new Set<string>();
  const seen = new Set<string>();
  const dirModes: Array<[string, number]> = [];
  const extract = tarStream.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/\/+$/, '');
    const done = (err?: unknown) => (err ? extract.destroy(err as Error) : next());
    const problem = entryProblem(header.name, header.type ?? undefined, links) ?? (seen.has(name) ? `entry ${JSON.stringify(name)} appears twice` : undefined);
    if (problem) return done(new Error(`refusing the upload: ${problem}`));
    seen.add(name);
    const target = join(dest, ...name.split(posix.sep));
    const mode = (header.mode ?? 0o644) & 0o7777;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const write = async () => {
        if (header.type === 'directory') {
          await mkdir(target, { recursive: true, mode: 0o700 });
          dirModes.push([target, mode]);
          return;
        }
        // A hand-made tar may omit parent entries; the client's never does.
        await mkdir(dirname(target), { recursive: true, mode: 0o700 });
        if (header.type === 'symlink') {
          links.add(name);
          await symlink(header.linkname ?? '', target);
        } else {
          await writeFile(target, Buffer.concat(chunks), { mode: 0o600, flag: 'wx' });
          await chmod(target, mode); // the tar's mode exactly, whatever the server's umask
        }
      };
      write().then(() => done(), done);
    });
    stream.resume();
  });
  await pipeline(createReadStream(tarFile), extract);
  for (const [dir, mode] of dirModes.reverse()) await chmod(dir, mode);
}
