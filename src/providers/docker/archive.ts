// The tar stream uploaded into a new container with putArchive: the workspace and supervisor
// state directories (so they exist even without source), then the source tree under /workspace,
// with the same ignore rules as a sync (src/sync: .gitignore, .vendettaignore, never .git).
import tarStream, { type Pack } from 'tar-stream';
import { packPaths } from '../../sync/pack.js';
import { scanTree } from '../../sync/tree.js';
import { STATE_DIR, WORKSPACE_DIR } from './spec.js';

const relative = (dir: string) => dir.replace(/^\/+/, '');

/** Pure: where a source entry lands, relative to "/" ("." or "" is the source root). */
export function sourceEntryName(name: string, workspaceDir = WORKSPACE_DIR): string {
  const root = relative(workspaceDir);
  return name === '.' || name === '' ? root : `${root}/${name.replace(/^\.\//, '')}`;
}

/**
 * Tar stream to extract at "/" in the container. Files are owned by root inside it. With
 * `stateMounted` the state dir is a bind mount of a node dir owned by the SSH user: no entry for
 * it, or extracting would hand the node dir to root.
 */
export function workspaceArchive(sourceDir: string | undefined, stateMounted = false): Pack {
  const pack = tarStream.pack();
  if (!stateMounted) pack.entry({ name: relative(STATE_DIR), type: 'directory', mode: 0o755 });
  pack.entry({ name: relative(WORKSPACE_DIR), type: 'directory', mode: 0o755 });
  if (sourceDir === undefined) {
    pack.finalize();
    return pack;
  }
  // Filled as the tree is read; a failure ends the stream with its error.
  void (async () => {
    const { manifest } = await scanTree(sourceDir);
    await packPaths(pack, sourceDir, manifest, Object.keys(manifest).sort(), { name: (rel) => sourceEntryName(rel) });
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack;
}
