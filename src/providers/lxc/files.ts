// Upload through the instance files API (POST /1.0/instances/<n>/files). It works on a stopped
// instance and needs nothing inside the image (no tar, no shell), at one request per directory,
// file or symlink: the workspace and state directories always, and the source of a workspace
// created stopped. A workspace that starts gets its source as one tar over one exec instead
// (src/sync), as every later sync.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanTree } from '../../sync/tree.js';
import type { LxcClient } from './client.js';

export type UploadEntry =
  | { type: 'directory'; path: string; mode: number }
  /** `local`: a file to read, or the content itself (from a tar). */
  | { type: 'file'; path: string; mode: number; local: string | Buffer }
  | { type: 'symlink'; path: string; target: string };

/** Pure: "/var/lib/vendetta" → ["/var", "/var/lib", "/var/lib/vendetta"]. */
export function parentChain(dir: string): string[] {
  const parts = dir.split('/').filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/**
 * Every entry of a local tree that a sync would send (src/sync: .gitignore, .vendettaignore,
 * never .git), parents before children, mapped under `remoteRoot`.
 */
export async function listTree(localRoot: string, remoteRoot: string): Promise<UploadEntry[]> {
  const { manifest } = await scanTree(localRoot);
  return Object.keys(manifest)
    .sort()
    .map((rel): UploadEntry => {
      const e = manifest[rel]!;
      const path = `${remoteRoot}/${rel}`;
      if (e.type === 'symlink') return { type: 'symlink', path, target: e.target };
      if (e.type === 'dir') return { type: 'directory', path, mode: e.mode };
      return { type: 'file', path, mode: e.mode, local: join(localRoot, rel) };
    });
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

async function push(client: LxcClient, instance: string, entry: UploadEntry): Promise<void> {
  const path = `/1.0/instances/${encodeURIComponent(instance)}/files?path=${encodeURIComponent(entry.path)}`;
  const headers: Record<string, string> = { 'X-LXD-uid': '0', 'X-LXD-gid': '0', 'X-LXD-type': entry.type };
  if (entry.type === 'directory') {
    await client.call('POST', path, { raw: '', headers: { ...headers, 'X-LXD-mode': octal(entry.mode) } });
  } else if (entry.type === 'symlink') {
    await client.call('POST', path, { raw: entry.target, headers });
  } else {
    const content = typeof entry.local === 'string' ? await readFile(entry.local) : entry.local;
    await client.call('POST', path, { raw: content, headers: { ...headers, 'X-LXD-mode': octal(entry.mode), 'X-LXD-write': 'overwrite' } });
  }
}

/**
 * The entries of a tar (a git tree from `git archive`), each at "/" + its name, parents before
 * children; what is not a directory, file or symlink (git's pax header) is skipped.
 */
export async function tarEntries(tar: Buffer): Promise<UploadEntry[]> {
  const { default: tarStream } = await import('tar-stream');
  const out: UploadEntry[] = [];
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const path = `/${header.name.replace(/\/+$/, '')}`;
        const mode = (header.mode ?? 0o644) & 0o7777;
        if (header.type === 'directory') out.push({ type: 'directory', path, mode });
        else if (header.type === 'file') out.push({ type: 'file', path, mode, local: Buffer.concat(chunks) });
        else if (header.type === 'symlink') out.push({ type: 'symlink', path, target: header.linkname ?? '' });
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(tar);
  await done;
  return out;
}

/** Makes `dirs` (with parents) and uploads `source` into `workspaceDir`: a local directory, or entries (tarEntries). */
export async function uploadWorkspace(
  client: LxcClient,
  instance: string,
  dirs: string[],
  workspaceDir: string,
  source: string | UploadEntry[] | undefined,
): Promise<void> {
  const made = new Set<string>();
  for (const dir of dirs) {
    for (const p of parentChain(dir)) {
      if (made.has(p)) continue;
      made.add(p);
      await push(client, instance, { type: 'directory', path: p, mode: 0o755 });
    }
  }
  if (source === undefined) return;
  const entries = typeof source === 'string' ? await listTree(source, workspaceDir) : source;
  // Directories in order (parents first), then files and links a few at a time.
  for (const e of entries) if (e.type === 'directory' && !made.has(e.path)) await push(client, instance, e);
  const rest = entries.filter((e) => e.type !== 'directory');
  const CONCURRENCY = 8;
  for (let i = 0; i < rest.length; i += CONCURRENCY) {
    await Promise.all(rest.slice(i, i + CONCURRENCY).map((e) => push(client, instance, e)));
  }
}
