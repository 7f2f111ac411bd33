// Pushes a source tree into a workspace: what changed since the last sync, as ONE tar stream on
// the stdin of ONE exec that also removes what was deleted.
//
// Where the last synced manifest lives: on the controller, under $VENDETTA_HOME/sync/<ws>.json,
// with a random id; the node keeps only that id (<stateDir>/sync-id), written by the same exec
// after the tar is extracted. A push names the id it builds on; when the node holds another one
// (the workspace was recreated, or someone else synced it) nothing is changed and the push is
// redone in full. So a recreate is always followed by a full sync, and per-batch traffic is the
// changed files only.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ExecOptions, ExecResult } from '../transport/types.js';
import { diffManifests, isSafeRelative, type Manifest } from './manifest.js';
import { packToBuffer } from './pack.js';
import { scanTree } from './tree.js';

/** Where a push goes: a workspace's directories and how to run a command there. */
export interface SyncTarget {
  workspaceDir: string;
  stateDir: string;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
}

export interface SyncOutcome {
  /** Files and links sent (directories not counted). */
  sent: number;
  deleted: number;
  bytes: number;
  /** The node's copy was not the one recorded: everything was sent. */
  full: boolean;
  /** Nothing to do: no exec ran. */
  unchanged: boolean;
}

interface SyncRecord {
  id: string;
  manifest: Manifest;
}

/** Exit code of the push script when the node's sync id is not the expected one. */
const STALE = 75;

/**
 * The push, in one exec. Args: WORKSPACE_DIR STATE_DIR EXPECTED_ID NEW_ID FRESH DELETED…; the
 * tar (paths relative to the workspace dir) on stdin. FRESH=1 empties the workspace dir first
 * (a create), and removes the temp trees an interrupted SFTP upload (Transport.upload, the way
 * sources were sent before) left beside it. Paths come as arguments, never as shell text.
 */
export const PUSH_SCRIPT = `ws=$1 st=$2 want=$3 new=$4 fresh=$5
shift 5
if [ "$fresh" = 1 ]; then rm -rf -- "$ws" "$ws".vendetta-tmp-* || exit 1; fi
mkdir -p -- "$ws" "$st" || exit 1
if [ -n "$want" ]; then
  have=''
  { IFS= read -r have < "$st/sync-id"; } 2>/dev/null
  if [ "$have" != "$want" ]; then cat >/dev/null; exit ${STALE}; fi
fi
cd "$ws" || exit 1
if [ "$#" -gt 0 ]; then rm -rf -- "$@" || exit 1; fi
tar -x -f - || exit 1
printf '%s\\n' "$new" > "$st/sync-id.tmp" && mv -f -- "$st/sync-id.tmp" "$st/sync-id"`;

export function pushArgv(target: Pick<SyncTarget, 'workspaceDir' | 'stateDir'>, expectedId: string, newId: string, fresh: boolean, deleted: string[]): string[] {
  for (const p of deleted) if (!isSafeRelative(p)) throw new Error(`refusing to delete ${JSON.stringify(p)}: not a plain relative path`);
  return ['/bin/sh', '-c', PUSH_SCRIPT, 'sh', target.workspaceDir, target.stateDir, expectedId, newId, fresh ? '1' : '0', ...deleted];
}

/** The controller-side record of a workspace's last sync. */
export function syncRecordPath(home: string, workspace: string): string {
  return join(home, 'sync', `${workspace}.json`);
}

async function loadRecord(path: string): Promise<SyncRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(path, 'utf8')) as Partial<SyncRecord>;
    if (typeof r.id !== 'string' || !r.manifest || typeof r.manifest !== 'object') return undefined;
    // A record naming anything but plain relative paths is not ours to trust: sync in full.
    if (!Object.keys(r.manifest).every(isSafeRelative)) return undefined;
    return { id: r.id, manifest: r.manifest };
  } catch {
    return undefined;
  }
}

async function saveRecord(path: string, record: SyncRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
  await rename(tmp, path);
}

/**
 * Keeps one workspace in step with a source directory. `run()` scans, diffs against the last
 * sync and pushes the difference. Not reentrant: callers serialize runs (the watcher does).
 */
export class SourceSync {
  private record: SyncRecord | undefined;
  private loaded = false;
  /** Directories the last scan excluded (relative): a watcher need not look inside them. */
  excludedDirs: string[] = [];

  constructor(
    readonly source: string,
    private target: SyncTarget,
    /** $VENDETTA_HOME/sync/<ws>.json; without it the state lives only in memory. */
    private readonly recordPath: string | undefined,
    /** For messages: "workspace api on node n1". */
    private readonly where: string,
  ) {}

  /** Push through another handle to the same workspace (it was opened again). */
  retarget(target: SyncTarget): void {
    this.target = target;
  }

  /**
   * `fresh`: the workspace dir is emptied and filled (a create). `verify`: run the exec even when
   * nothing changed here, so a workspace recreated since the last sync is found (and filled).
   */
  async run(opts: { fresh?: boolean; verify?: boolean } = {}): Promise<SyncOutcome> {
    if (!this.loaded && !opts.fresh && this.recordPath) this.record = await loadRecord(this.recordPath);
    this.loaded = true;
    const { manifest: local, excludedDirs } = await scanTree(this.source).catch((err: unknown) => {
      throw new Error(`reading ${this.source} for ${this.where} failed: ${(err as Error).message}`);
    });
    this.excludedDirs = excludedDirs;
    const base = opts.fresh ? undefined : this.record;
    const first = await this.push(local, base, Boolean(opts.fresh), Boolean(opts.verify));
    if (first !== 'stale') return first;
    return (await this.push(local, undefined, false)) as SyncOutcome;
  }

  private async push(local: Manifest, base: SyncRecord | undefined, fresh: boolean, verify = false): Promise<SyncOutcome | 'stale'> {
    const { changed, deleted } = diffManifests(base?.manifest ?? {}, local);
    const sent = changed.filter((p) => local[p]?.type !== 'dir').length;
    if (base && !verify && changed.length === 0 && deleted.length === 0) return { sent: 0, deleted: 0, bytes: 0, full: false, unchanged: true };
    const { tar, vanished } = await packToBuffer(this.source, local, changed);
    const newId = randomBytes(8).toString('hex');
    const res = await this.target.exec(pushArgv(this.target, base?.id ?? '', newId, fresh, deleted), { stdin: tar });
    if (res.code === STALE) return 'stale';
    if (res.code !== 0) {
      const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
      throw new Error(`syncing ${this.source} to ${this.where} failed: ${detail}`);
    }
    // A file gone before it was read stays recorded as the node has it, so that the next run
    // deletes it there; one that was never sent is simply not recorded.
    const manifest = { ...local };
    for (const p of vanished) {
      const before = base?.manifest[p];
      if (before) manifest[p] = before;
      else delete manifest[p];
    }
    this.record = { id: newId, manifest };
    if (this.recordPath) await saveRecord(this.recordPath, this.record);
    const unchanged = changed.length === 0 && deleted.length === 0;
    return { sent: sent - vanished.length, deleted: deleted.length, bytes: tar.length, full: !base, unchanged };
  }
}
