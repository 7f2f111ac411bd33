import { describe, expect, it } from 'vitest';
import { isExcluded, ruleLevel, type RuleLevel } from '../../../src/sync/rules.js';
import { diffManifests, isSafeRelative, outermost, type Manifest } from '../../../src/sync/manifest.js';

const levels = (...specs: Array<[string, ...string[]]>): RuleLevel[] =>
  specs.map(([base, ...texts]) => ruleLevel(base, texts)!).filter(Boolean);

describe('isExcluded', () => {
  it('never lets .git through, at any depth, whatever the rules say', () => {
    expect(isExcluded([], '.git', true)).toBe(true);
    expect(isExcluded([], 'sub/.git', true)).toBe(true);
    expect(isExcluded(levels(['', '!.git']), '.git', true)).toBe(true);
    expect(isExcluded([], '.gitignore', false)).toBe(false);
  });

  it('applies a directory pattern to directories only', () => {
    const l = levels(['', 'node_modules/\n*.log']);
    expect(isExcluded(l, 'node_modules', true)).toBe(true);
    expect(isExcluded(l, 'node_modules', false)).toBe(false);
    expect(isExcluded(l, 'a/b/debug.log', false)).toBe(true);
    expect(isExcluded(l, 'a/b/debug.txt', false)).toBe(false);
  });

  it('reads a nested .gitignore relative to its own directory; the deeper file wins', () => {
    const l = levels(['', '*.tmp'], ['app', '/build\n!keep.tmp']);
    expect(isExcluded(l, 'app/build', true)).toBe(true);
    expect(isExcluded(l, 'build', true)).toBe(false); // anchored to app/
    expect(isExcluded(l, 'app/keep.tmp', false)).toBe(false); // re-included below
    expect(isExcluded(l, 'app/x.tmp', false)).toBe(true);
    expect(isExcluded(l, 'keep.tmp', false)).toBe(true);
  });

  it('.vendettaignore (read after .gitignore) adds exclusions and re-includes what git ignores', () => {
    const l = levels(['', 'dist/\n', 'secrets.env\n!dist/\n']);
    expect(isExcluded(l, 'dist', true)).toBe(false);
    expect(isExcluded(l, 'secrets.env', false)).toBe(true);
  });

  it('a level with only blank files is no level', () => {
    expect(ruleLevel('', ['', '  \n'])).toBeUndefined();
  });
});

describe('diffManifests', () => {
  const file = (size: number, mtimeMs = 1, mode = 0o644) => ({ type: 'file' as const, size, mtimeMs, mode });
  it('sends new and changed paths parents first, removes what is gone', () => {
    const synced: Manifest = { a: file(1), b: file(2), d: { type: 'dir', mode: 0o755 }, 'd/x': file(3), 'd/y': file(3) };
    const local: Manifest = { a: file(1), b: file(2, 5), 'n/z': file(1), n: { type: 'dir', mode: 0o755 }, c: { type: 'symlink', target: 'a' } };
    expect(diffManifests(synced, local)).toEqual({ changed: ['b', 'c', 'n', 'n/z'], deleted: ['d'] });
  });

  it('a mode change is a change; an unchanged tree is no diff', () => {
    expect(diffManifests({ a: file(1) }, { a: file(1, 1, 0o755) }).changed).toEqual(['a']);
    expect(diffManifests({ a: file(1) }, { a: file(1) })).toEqual({ changed: [], deleted: [] });
  });

  it('a path whose type changed is removed first, then sent', () => {
    const d = diffManifests({ p: file(1) }, { p: { type: 'dir', mode: 0o755 }, 'p/q': file(1) });
    expect(d).toEqual({ changed: ['p', 'p/q'], deleted: ['p'] });
  });

  it('from nothing, everything is sent and nothing removed', () => {
    expect(diffManifests({}, { a: file(1) })).toEqual({ changed: ['a'], deleted: [] });
  });
});

describe('outermost / isSafeRelative', () => {
  it('drops paths under another of the list', () => {
    expect(outermost(['a/b', 'a', 'a-b', 'c/d', 'a/b/c'])).toEqual(['a', 'a-b', 'c/d']);
  });
  it('accepts only plain relative paths', () => {
    for (const ok of ['a', 'a/b', '-rf', '.env', 'a b/c']) expect(isSafeRelative(ok)).toBe(true);
    for (const bad of ['', '/etc', '..', 'a/../b', './a', 'a//b', 'a/']) expect(isSafeRelative(bad)).toBe(false);
  });
});
