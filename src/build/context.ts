// A build context on the controller: the files a build sends (after .dockerignore), their hash,
// and their tar. Walked synchronously, as src/sync/tree.ts does (thousands of tiny calls).
// File digests are remembered by (size, mtime, inode): a pass that finds the context unchanged
// reads no file content again, only stats.
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import tarStream, { type Pack } from 'tar-stream';
import { buildHash, contextFilter, dockerfilePath, DOCKERIGNORE_FILE, type ContextEntry } from '../model/build.js';
import type { BuildSpec } from '../model/types.js';
import type { LoadedSet } from '../reconcile/api.js';
import type { Manifest } from '../sync/manifest.js';
import { packPaths } from '../sync/pack.js';

export interface ScannedContext {
  /** What the tar holds (relative posix path → entry), parents first. */
  manifest: Manifest;
  entries: ContextEntry[];
}

const digests = new Map<string, { size: number; mtimeMs: number; ino: number; digest: string }>();

function fileDigest(path: string, st: Stats): string {
  const known = digests.get(path);
  if (known && known.size === st.size && known.mtimeMs === st.mtimeMs && known.ino === st.ino) return known.digest;
  const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
  digests.set(path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, digest });
  return digest;
}

/** The context as a build sends it. Throws (with the path) when it cannot be read. */
export function scanContext(context: string, spec: BuildSpec): ScannedContext {
  let ignoreText: string | undefined;
  try {
    ignoreText = readFileSync(join(context, DOCKERIGNORE_FILE), 'utf8');
  } catch {
    ignoreText = undefined;
  }
  const filter = contextFilter(ignoreText, dockerfilePath(spec));
  const manifest: Manifest = {};
  const entries: ContextEntry[] = [];
  const walk = (rel: string): void => {
    const dir = rel === '' ? context : join(context, rel);
    for (const name of readdirSync(dir).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(dir, name);
      let st: Stats;
      try {
        st = lstatSync(abs);
      } catch {
        continue; // gone since readdir
      }
      const excluded = filter.excluded(path);
      if (st.isDirectory()) {
        // An excluded directory is walked only when a `!` pattern may bring back something in it.
        if (excluded && !filter.hasExceptions) continue;
        if (!excluded) {
          manifest[path] = { type: 'dir', mode: st.mode & 0o7777 };
          entries.push({ path, type: 'dir', mode: st.mode & 0o7777 });
        }
        walk(path);
        continue;
      }
      if (excluded) continue;
      if (st.isSymbolicLink()) {
        const target = readlinkSync(abs);
        manifest[path] = { type: 'symlink', target };
        entries.push({ path, type: 'symlink', target });
      } else if (st.isFile()) {
        manifest[path] = { type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 };
        entries.push({ path, type: 'file', mode: st.mode & 0o7777, digest: fileDigest(abs, st) });
      }
      // Sockets, fifos, devices: not sent (docker's CLI fails on some of them; a build never needs them).
    }
  };
  walk('');
  return { manifest, entries };
}

/** The build hash of a workspace's build (see model/build.ts buildHash). */
export function contextBuildHash(spec: BuildSpec): string {
  return buildHash(scanContext(spec.context, spec).entries, spec);
}

/** The context as a tar stream (for POST /build), with the same entries the hash covered. */
export function contextTar(spec: BuildSpec): Pack {
  const pack = tarStream.pack();
  void (async () => {
    const { manifest } = scanContext(spec.context, spec);
    await packPaths(pack, spec.context, manifest, Object.keys(manifest).sort());
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack;
}

/**
 * The set with the build hash of every workspace that has spec.build, computed now: once per pass,
 * before planning, so the planner (pure) and the executor see the same hashes. A context that
 * cannot be read fails the pass with a message naming the workspace.
 */
export function withBuildHashes(set: LoadedSet): LoadedSet {
  const builds = new Map<string, string>();
  for (const ws of set.desired.workspaces.values()) {
    const build = ws.spec.build;
    if (!build) continue;
    try {
      builds.set(ws.metadata.name, contextBuildHash(build));
    } catch (err) {
      throw new Error(`workspace ${ws.metadata.name}: cannot read its build context ${build.context}: ${(err as Error).message}`, { cause: err });
    }
  }
  return builds.size === 0 && !set.builds ? set : { ...set, builds };
}
