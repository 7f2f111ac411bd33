// Walks a source tree on the controller: every path the rules (./rules.ts) let through, with
// what a change check needs (./manifest.ts).
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { IGNORE_FILES, isExcluded, ruleLevel, type RuleLevel } from './rules.js';
import type { Manifest } from './manifest.js';

export interface TreeScan {
  manifest: Manifest;
  /** Excluded directories (relative): a watcher need not look inside them. */
  excludedDirs: string[];
}

async function readIgnoreTexts(dir: string): Promise<string[]> {
  return Promise.all(IGNORE_FILES.map((f) => readFile(join(dir, f), 'utf8').catch(() => '')));
}

/** Scans `root`. Sockets, fifos and devices are not source: skipped. */
export async function scanTree(root: string): Promise<TreeScan> {
  const manifest: Manifest = {};
  const excludedDirs: string[] = [];
  async function walk(rel: string, levels: RuleLevel[]): Promise<void> {
    const dir = rel === '' ? root : join(root, rel);
    const [names, texts] = await Promise.all([readdir(dir), readIgnoreTexts(dir)]);
    const level = ruleLevel(rel, texts);
    const here = level ? [...levels, level] : levels;
    const stats = await Promise.all(
      names.map((name) => lstat(join(dir, name)).catch(() => undefined)), // gone since readdir: skip
    );
    const subdirs: string[] = [];
    for (const [i, name] of names.entries()) {
      const st = stats[i];
      if (!st) continue;
      const path = rel === '' ? name : `${rel}/${name}`;
      if (isExcluded(here, path, st.isDirectory())) {
        if (st.isDirectory()) excludedDirs.push(path);
        continue;
      }
      if (st.isSymbolicLink()) {
        const target = await readlink(join(dir, name)).catch(() => undefined);
        if (target !== undefined) manifest[path] = { type: 'symlink', target };
      } else if (st.isDirectory()) {
        manifest[path] = { type: 'dir', mode: st.mode & 0o7777 };
        subdirs.push(path);
      } else if (st.isFile()) {
        manifest[path] = { type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 };
      }
    }
    for (const sub of subdirs) await walk(sub, here);
  }
  await walk('', []);
  return { manifest, excludedDirs };
}
