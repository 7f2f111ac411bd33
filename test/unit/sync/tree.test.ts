// scanTree on a real temporary directory: what a sync sends.
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { scanTree } from '../../../src/sync/tree.js';
import { packToBuffer } from '../../../src/sync/pack.js';

const root = mkdtempSync(join(tmpdir(), 'vendetta-sync-tree-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function put(rel: string, text = rel): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), text);
}

describe('scanTree', () => {
  put('.gitignore', 'node_modules/\n*.log\n');
  put('.vendettaignore', 'local.secret\n');
  put('app/web.mjs');
  put('app/debug.log');
  put('app/.gitignore', 'generated/\n');
  put('app/generated/out.js');
  put('node_modules/x/index.js');
  put('.git/HEAD');
  put('local.secret');
  symlinkSync('app/web.mjs', join(root, 'link'));

  it('honours .gitignore (nested too) and .vendettaignore, never .git', async () => {
    const { manifest, excludedDirs } = await scanTree(root);
    expect(Object.keys(manifest).sort()).toEqual(['.gitignore', '.vendettaignore', 'app', 'app/.gitignore', 'app/web.mjs', 'link']);
    expect(manifest['link']).toEqual({ type: 'symlink', target: 'app/web.mjs' });
    expect(manifest['app/web.mjs']).toMatchObject({ type: 'file', size: 'app/web.mjs'.length });
    expect(excludedDirs.sort()).toEqual(['.git', 'app/generated', 'node_modules']);
  });

  it('packs chosen paths into one tar, parents first, with their content', async () => {
    const { manifest } = await scanTree(root);
    const { tar, vanished } = await packToBuffer(root, manifest, ['app', 'app/web.mjs', 'link']);
    expect(vanished).toEqual([]);
    // Read back by the system tar, as the node will.
    const names = execFileSync('tar', ['-t', '-f', '-'], { input: tar }).toString().trim().split('\n');
    expect(names).toEqual(['app', 'app/web.mjs', 'link']);
    const out = mkdtempSync(join(tmpdir(), 'vendetta-sync-x-'));
    try {
      execFileSync('tar', ['-x', '-f', '-', '-C', out], { input: tar });
      expect(readFileSync(join(out, 'app/web.mjs'), 'utf8')).toBe('app/web.mjs');
      expect(readlinkSync(join(out, 'link'))).toBe('app/web.mjs');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
