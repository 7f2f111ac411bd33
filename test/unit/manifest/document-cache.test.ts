// The document cache (src/manifest/documents.ts): a file whose exact text parsed cleanly before is
// read back from the cache, with the same values, positions and errors as a fresh parse.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatManifestErrorFrom, loadManifests, type LoadResult } from '../../../src/manifest/index.js';

let dir: string;
let cacheDir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-doccache-'));
  cacheDir = join(dir, '.cache');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const API = 'apiVersion: vendetta.dev/v1alpha1';
const manifest = (image: string, node = 'local') =>
  `# a workspace and its service\n${API}\nkind: Workspace\nmetadata: {name: api}\nspec:\n  node: ${node}\n  provider: docker\n  image: ${image}\n---\n${API}\nkind: Service\nmetadata: {name: web}\nspec: {workspace: api, command: "exec httpd"}\n`;

const load = (cached = true): Promise<LoadResult> => loadManifests(['set.yaml'], { cwd: dir, environ: {}, ...(cached ? { cacheDir } : {}) });
const entries = () => readdirSync(cacheDir).filter((f) => f.endsWith('.json'));
const messages = (r: LoadResult) => (r.ok ? [] : r.errors.map((e) => formatManifestErrorFrom(dir, e)));

describe('document cache', () => {
  test('a second load of the same text reads the cache: same resources, same source positions', async () => {
    writeFileSync(join(dir, 'set.yaml'), manifest('busybox:1'));
    const fresh = await load(false);
    const first = await load();
    expect(entries()).toHaveLength(1);
    const second = await load();
    expect(second).toEqual(fresh);
    expect(first).toEqual(fresh);
    if (!second.ok) throw new Error('expected success');
    expect(second.resources.map((r) => r.source?.line)).toEqual([2, 10]);
  });

  test('the cached values are what is used, and a changed text is parsed again', async () => {
    writeFileSync(join(dir, 'set.yaml'), manifest('busybox:1'));
    await load();
    // Tamper with the entry: a load that shows the change took its values from the cache.
    const file = join(cacheDir, entries()[0]!);
    writeFileSync(file, readFileSync(file, 'utf8').replace('busybox:1', 'from-the-cache:1'));
    const cached = await load();
    expect(cached.ok && cached.resources[0]?.spec).toMatchObject({ image: 'from-the-cache:1' });
    writeFileSync(join(dir, 'set.yaml'), manifest('busybox:2'));
    const changed = await load();
    expect(changed.ok && changed.resources[0]?.spec).toMatchObject({ image: 'busybox:2' });
    expect(entries()).toHaveLength(1); // one entry per file, replaced
  });

  test('an error inside a cached document is located exactly as without the cache', async () => {
    writeFileSync(join(dir, 'set.yaml'), manifest('busybox:1', 'nowhere'));
    const fresh = messages(await load(false));
    expect(fresh).toEqual([expect.stringMatching(/^set\.yaml:6:9: .*nowhere/)]);
    expect(messages(await load())).toEqual(fresh); // parsed, then cached (the YAML itself is fine)
    expect(entries()).toHaveLength(1);
    expect(messages(await load())).toEqual(fresh); // from the cache, located by a parse on demand
  });

  test('what JSON cannot carry, and YAML with problems, is never cached', async () => {
    writeFileSync(join(dir, 'set.yaml'), `${manifest('busybox:1')}---\n${API}\nkind: Node\nmetadata: {name: n1}\nspec: {address: 127.0.0.9, port: .inf}\n`);
    await load();
    writeFileSync(join(dir, 'set.yaml'), `${API}\nkind: Node\nmetadata:\n  name: [a\n`);
    await load();
    expect(readdirSync(dir).includes('.cache') ? entries() : []).toEqual([]);
  });
});
