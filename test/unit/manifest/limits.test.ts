// Pathological manifests: every one must fail fast with a short message that names its file.
// No wall-clock asserts: before the fix these ran for minutes or took gigabytes (a quadratic
// edit-distance table, the yaml library's quadratic duplicate-key check), so they would time out.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS, loadManifests, formatManifestErrorFrom, formatManifestErrors } from '../../../src/manifest/index.js';

const API = 'apiVersion: vendetta.dev/v1alpha1';
// Generous: a loaded shared machine must not fail these. Before the fixes they ran for minutes.
vi.setConfig({ testTimeout: 60_000 });
const MB = 1024 * 1024;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-limits-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function failure(files: Record<string, string>) {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const result = await loadManifests(Object.keys(files), { cwd: dir, environ: {} });
  if (result.ok) throw new Error('expected errors, but the manifests loaded');
  return { ...result, lines: result.errors.map((e) => formatManifestErrorFrom(dir, e)) };
}

describe('huge values are cut in messages, and found without a quadratic search', () => {
  test('a 3 MB unknown key', async () => {
    const key = 'k'.repeat(3 * MB);
    const r = await failure({ 'big.yaml': `${API}\nkind: Node\nmetadata: {name: a}\nspec: {address: x, ${key}: 1}\n` });
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^big\.yaml:4:20: unknown field "k{80}…" \(3145728 characters\) in Node "a" spec \(allowed: /);
    expect(r.lines[0]!.length).toBeLessThan(400);
  });

  test('a kind of 1 MB', async () => {
    const r = await failure({ 'kind.yaml': `${API}\nkind: ${'K'.repeat(MB)}\nmetadata: {name: a}\nspec: {}\n` });
    expect(r.lines).toEqual([`kind.yaml:2:7: unknown kind "${'K'.repeat(80)}…" (1048576 characters): supported kinds are Node, Workspace, Service`]);
  });

  test('an enum field with a 1 MB value', async () => {
    const r = await failure({ 'enum.yaml': `${API}\nkind: Workspace\nmetadata: {name: a}\nspec: {provider: ${'d'.repeat(MB)}}\n` });
    expect(r.lines).toEqual([
      `enum.yaml:4:18: Workspace "a" spec.provider must be one of process, docker, lxc, qemu, got "${'d'.repeat(80)}…" (1048576 characters)`,
    ]);
  });

  test('a 1 MB duration and a 1 MB port mapping', async () => {
    const long = '1'.repeat(MB);
    const r = await failure({
      'svc.yaml': `${API}\nkind: Service\nmetadata: {name: s}\nspec: {workspace: w, command: [x], healthcheck: {tcp: {port: 1}, interval: ${long}x}}\n---\n${API}\nkind: Workspace\nmetadata: {name: w}\nspec: {provider: docker, image: x, ports: ["${long}"]}\n`,
    });
    expect(r.lines.some((l) => l.includes('Service "s" spec.healthcheck.interval') && l.includes('is not a valid duration'))).toBe(true);
    expect(r.lines.some((l) => l.includes('Workspace "w" spec.ports[0]') && l.includes('is not a valid port mapping'))).toBe(true);
    for (const line of r.lines) expect(line.length).toBeLessThan(400);
  });
});

describe('size limits', () => {
  test('a 10 MB file is refused before it is read, naming the file and the limit', async () => {
    const r = await failure({ 'huge.yaml': `${API}\nkind: Node\nmetadata: {name: a}\nspec: {address: x, ${'k'.repeat(10 * MB)}: 1}\n` });
    expect(r.lines).toEqual(['huge.yaml: file is 10.0 MiB, over the 4 MiB limit for one manifest file; split it or remove what is not a manifest']);
  });

  test('files together over the total limit', async () => {
    const filler = `# ${'x'.repeat(LIMITS.fileBytes - 100)}\n`;
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) files[`f${i}.yaml`] = `${filler}${API}\nkind: Node\nmetadata: {name: n${i}}\nspec: {address: x}\n`;
    const r = await failure(files);
    expect(r.lines).toEqual([
      'f4.yaml: the manifests reach 16 MiB (the limit for all files together) at this file; it and 1 later file(s) were not read; pass fewer files',
    ]);
  });
});

describe('error count', () => {
  test('100k unknown keys: the first 50 are reported, the rest counted', async () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `  k${i}: 1`).join('\n');
    const r = await failure({ 'many.yaml': `${API}\nkind: Node\nmetadata: {name: a}\nspec:\n  address: x\n${keys}\n` });
    expect(r.errors).toHaveLength(LIMITS.errors);
    expect(r.total).toBe(100_000);
    expect(r.lines[0]).toMatch(/^many\.yaml:6:3: unknown field "k0" in Node "a" spec/);
    const printed = formatManifestErrors(r.errors, r.total);
    expect(printed).toHaveLength(LIMITS.errors + 1);
    expect(printed.at(-1)).toBe('… and 99950 more errors not shown; fix these first');
  });

  test('duplicate keys are still found (and in linear time)', async () => {
    const keys = Array.from({ length: 50_000 }, (_, i) => `  k${i}: 1`).join('\n');
    const r = await failure({ 'dup.yaml': `${API}\nkind: Node\nmetadata: {name: a}\nspec:\n${keys}\n  address: x\n  k7: 2\n` });
    expect(r.lines).toEqual([`dup.yaml:${50_000 + 6}:3: invalid YAML: Map keys must be unique`]);
  });
});

test('an alias bomb is refused with its file and document', async () => {
  const levels = ['  a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 8; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    levels.push(`  ${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const r = await failure({
    'ok.yaml': `${API}\nkind: Node\nmetadata: {name: fine}\nspec: {address: x}\n`,
    'bomb.yaml': `${API}\nkind: Node\nmetadata: {name: b}\nspec: {address: x}\n---\n${API}\nkind: Node\nmetadata: {name: a}\nspec:\n${levels.join('\n')}\n`,
  });
  expect(r.lines).toEqual([
    `bomb.yaml:6:1: invalid YAML: its aliases (*name) expand to too much data (more than ${LIMITS.aliases} alias uses); write the values out or use fewer aliases`,
  ]);
});

test('a dangling symlink in a directory is an error naming it, not a crash', async () => {
  const { mkdirSync, symlinkSync } = await import('node:fs');
  mkdirSync(join(dir, 'set'));
  writeFileSync(join(dir, 'set', 'a.yaml'), `${API}\nkind: Node\nmetadata: {name: a}\nspec: {address: x}\n`);
  symlinkSync(join(dir, 'nowhere.yaml'), join(dir, 'set', 'b.yaml'));
  const result = await loadManifests(['set'], { cwd: dir, environ: {} });
  expect(result.ok ? [] : result.errors.map((e) => formatManifestErrorFrom(dir, e))).toEqual([
    'set/b.yaml: cannot read file: it is a link to something that does not exist',
  ]);
});
