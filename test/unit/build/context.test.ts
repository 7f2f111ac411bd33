// Scanning a build context on the controller: what is sent, its hash, and its tar.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contextBuildHash, contextTar, scanContext, withBuildHashes } from '../../../src/build/context.js';
import type { LoadedSet } from '../../../src/reconcile/api.js';
import { loaded, workspace } from '../plan/builders.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-ctx-'));
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'node_modules', 'pkg'), { recursive: true });
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /app\n');
  writeFileSync(join(dir, 'src', 'main.js'), 'console.log(1)\n');
  writeFileSync(join(dir, 'node_modules', 'pkg', 'index.js'), 'x\n');
  writeFileSync(join(dir, 'secrets', 'key'), 'k\n');
  writeFileSync(join(dir, 'secrets', 'public.pem'), 'p\n');
  writeFileSync(join(dir, 'notes.log'), 'log\n');
  symlinkSync('src/main.js', join(dir, 'main'));
  writeFileSync(join(dir, '.dockerignore'), 'node_modules\n*.log\nsecrets\n!secrets/public.pem\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const spec = () => ({ context: dir });

describe('scanContext', () => {
  it('sends what .dockerignore lets through, exceptions inside ignored directories included', () => {
    const { manifest } = scanContext(dir, spec());
    expect(Object.keys(manifest).sort()).toEqual(['.dockerignore', 'Dockerfile', 'main', 'secrets/public.pem', 'src', 'src/main.js']);
    expect(manifest.main).toEqual({ type: 'symlink', target: 'src/main.js' });
  });

  it('the tar holds exactly those entries', async () => {
    const pack = contextTar(spec());
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const names = execFileSync('tar', ['-t'], { input: Buffer.concat(chunks) }).toString().trim().split('\n').map((n) => n.replace(/\/$/, ''));
    expect(names.sort()).toEqual(['.dockerignore', 'Dockerfile', 'main', 'secrets/public.pem', 'src', 'src/main.js']);
  });
});

describe('contextBuildHash', () => {
  it('is stable, ignores ignored files and mtimes, and follows content and modes', () => {
    const first = contextBuildHash(spec());
    expect(contextBuildHash(spec())).toBe(first);
    writeFileSync(join(dir, 'node_modules', 'pkg', 'index.js'), 'changed\n');
    writeFileSync(join(dir, 'notes.log'), 'more log\n');
    utimesSync(join(dir, 'Dockerfile'), new Date(2020, 1, 1), new Date(2020, 1, 1));
    expect(contextBuildHash(spec())).toBe(first);

    writeFileSync(join(dir, 'src', 'main.js'), 'console.log(2)\n');
    const edited = contextBuildHash(spec());
    expect(edited).not.toBe(first);
    chmodSync(join(dir, 'src', 'main.js'), 0o755);
    expect(contextBuildHash(spec())).not.toBe(edited);
  });

  it('sees an edit that keeps the size within the same second (the digest cache keys on mtime too)', () => {
    const first = contextBuildHash(spec());
    writeFileSync(join(dir, 'src', 'main.js'), 'console.log(9)\n');
    utimesSync(join(dir, 'src', 'main.js'), new Date(2030, 1, 1), new Date(2030, 1, 1));
    expect(contextBuildHash(spec())).not.toBe(first);
  });
});

describe('withBuildHashes', () => {
  it('adds a hash only for workspaces with a build, and returns the set as is without any', () => {
    const plain = loaded([workspace('a', { provider: 'docker', image: 'busybox' })]);
    expect(withBuildHashes(plain)).toBe(plain);
    const set = loaded([workspace('a', { provider: 'docker', image: 'busybox' }), workspace('b', { provider: 'docker', build: { context: dir } })]);
    const hashed: LoadedSet = withBuildHashes(set);
    expect([...hashed.builds!.keys()]).toEqual(['b']);
    expect(hashed.builds!.get('b')).toBe(contextBuildHash(spec()));
  });

  it('names the workspace when its context cannot be read', () => {
    const set = loaded([workspace('b', { provider: 'docker', build: { context: join(dir, 'gone') } })]);
    expect(() => withBuildHashes(set)).toThrow(/^workspace b: cannot read its build context .*gone: ENOENT/);
  });
});
