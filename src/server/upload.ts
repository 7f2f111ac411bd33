// The client's half of source uploads (see ./source-ref.ts): each distinct source.path of a set
// is packed into a reproducible tar — the files a sync would send (.gitignore, .vendettaignore,
// never .git), sorted, owned by 0:0, one fixed mtime — so an unchanged tree always has the same
// SHA-256 and is uploaded once, whichever client sends it.
import { createHash } from 'node:crypto';
import type { LoadedSet } from '../reconcile/api.js';
import type { Resource } from '../model/types.js';
import { packToBuffer } from '../sync/pack.js';
import { scanTree } from '../sync/tree.js';
import { ServerError, type ApiClient } from './client.js';
import { uploadedPath, withSourceDigests } from './source-ref.js';

/** Every entry's mtime: a content-addressed tar must not change when only timestamps do. */
export const SOURCE_MTIME = new Date(Date.UTC(2000, 0, 1));

/** The tree under `dir` as the reproducible tar and its digest ("sha256:<hex>"). */
export async function packSource(dir: string): Promise<{ tar: Buffer; digest: string }> {
  const { manifest } = await scanTree(dir).catch((err: unknown) => {
    throw new Error(`reading source.path ${dir} to upload it failed: ${(err as Error).message}`);
  });
  const { tar } = await packToBuffer(dir, manifest, Object.keys(manifest).sort(), { mtime: SOURCE_MTIME });
  return { tar, digest: `sha256:${createHash('sha256').update(tar).digest('hex')}` };
}

/**
 * Uploads what the server lacks of the set's source trees (one GET per distinct path, a PUT when
 * it answers 404) and returns the set with each such workspace annotated with its digest. The
 * loaded set itself is not changed. One tree in memory at a time.
 */
export async function withUploadedSources(client: ApiClient, set: LoadedSet): Promise<LoadedSet> {
  const paths = new Set([...set.desired.workspaces.values()].map(uploadedPath).filter((p): p is string => p !== undefined));
  if (paths.size === 0) return set;
  const digests = new Map<string, string>();
  for (const path of [...paths].sort()) {
    const { tar, digest } = await packSource(path);
    const at = `/sources/${digest.slice('sha256:'.length)}`;
    if (!(await has(client, at))) {
      await client.fetch(at, { method: 'PUT', body: tar as unknown as BodyInit, contentType: 'application/x-tar' }).catch((err: unknown) => {
        if (err instanceof ServerError) throw new ServerError(`uploading source.path ${path}: ${err.message}`, err.status, err.hint);
        throw err;
      });
    }
    digests.set(path, digest);
  }
  const workspaces = new Map(
    [...set.desired.workspaces].map(([name, ws]) => [name, withSourceDigests([ws as Resource], digests)[0] as typeof ws]),
  );
  return { ...set, desired: { ...set.desired, workspaces } };
}

async function has(client: ApiClient, at: string): Promise<boolean> {
  try {
    await client.fetch(at);
    return true;
  } catch (err) {
    if (err instanceof ServerError && err.status === 404) return false;
    throw err;
  }
}
