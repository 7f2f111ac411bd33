// What a synced tree looks like, and what changed since the last sync. Pure.

/** One synced path. Files compare by size, mtime and mode (no hashing: a scan stays cheap). */
export type Entry =
  | { type: 'file'; size: number; mtimeMs: number; mode: number }
  | { type: 'dir'; mode: number }
  | { type: 'symlink'; target: string };

/** Relative posix path → entry. Parents sort before their children. */
export type Manifest = Record<string, Entry>;

export interface SyncDiff {
  /** Paths to send (new or changed), parents first. */
  changed: string[];
  /** Paths to remove on the node; none lies under another (its removal covers it). */
  deleted: string[];
}

function same(a: Entry, b: Entry): boolean {
  if (a.type === 'file' && b.type === 'file') return a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
  if (a.type === 'dir' && b.type === 'dir') return a.mode === b.mode;
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  return false;
}

/**
 * What to send and remove so the node, holding `synced`, matches `local`. A path whose type
 * changed (a file became a directory) is removed first and sent again.
 */
export function diffManifests(synced: Manifest, local: Manifest): SyncDiff {
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [path, entry] of Object.entries(local)) {
    const before = synced[path];
    if (before && same(before, entry)) continue;
    changed.push(path);
    if (before && before.type !== entry.type) removed.push(path);
  }
  for (const path of Object.keys(synced)) if (!(path in local)) removed.push(path);
  return { changed: changed.sort(), deleted: outermost(removed) };
}

/** Drops paths under another path of the list: removing the directory removes them. */
export function outermost(paths: string[]): string[] {
  const all = new Set(paths);
  const underAnother = (p: string) => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (all.has(p.slice(0, i))) return true;
    return false;
  };
  return [...all].filter((p) => !underAnother(p)).sort();
}

/** A path the sync may touch on the node: relative, no '.', '..' or empty segments. */
export function isSafeRelative(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\0')) return false;
  return path.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}
