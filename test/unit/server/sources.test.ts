// Source uploads: the reproducible tar (client), the digest-checked store and its extraction
// (server), and the round trip through the real HTTP API with a stub engine that records the set
// it is given: the engine reads the server's extracted copy, the spec keeps the client's path.
import type http from 'node:http';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDefaults } from '../../../src/manifest/defaults.js';
import { API_VERSION, type Resource, type WorkspaceResource } from '../../../src/model/types.js';
import type { ApplyResult, LoadedSet } from '../../../src/reconcile/api.js';
import type { Engine, LoopOptions } from '../../../src/reconcile/engine.js';
import { ApiClient, remoteEngine, ServerError } from '../../../src/server/client.js';
import { Coordinator } from '../../../src/server/coordinator.js';
import { createApiServer, listen } from '../../../src/server/http.js';
import { EventHub, lockHeldStore } from '../../../src/server/session.js';
import { SOURCE_DIGEST_ANNOTATION } from '../../../src/server/source-ref.js';
import { entryProblem, extractTree, SourceStore } from '../../../src/server/sources.js';
import { ensureToken } from '../../../src/server/token.js';
import { hashToken, newToken } from '../../../src/server/auth.js';
import { packSource, withUploadedSources } from '../../../src/server/upload.js';
import { setFromBundle } from '../../../src/server/wire.js';
import { openStore } from '../../../src/store/file-store.js';

const scratch = mkdtempSync(join(tmpdir(), 'vendetta-unit-sources-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(scratch, `${name}-${++n}`);

/** A small project: a script (mode 755), a nested file, a symlink, an ignored dir and a .git. */
function project(dir: string): string {
  mkdirSync(join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'node_modules/dep'), { recursive: true });
  mkdirSync(join(dir, '.git'), { recursive: true });
  writeFileSync(join(dir, '.gitignore'), 'node_modules/\n');
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  writeFileSync(join(dir, 'src/app.js'), 'console.log(1)\n');
  writeFileSync(join(dir, 'node_modules/dep/index.js'), 'ignored\n');
  writeFileSync(join(dir, '.git/HEAD'), 'ref: refs/heads/main\n');
  symlinkSync('src/app.js', join(dir, 'main.js'));
  return dir;
}

async function tarOf(entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string }>): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname }, e.body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('packSource (client)', () => {
  it('is reproducible: same tree, other mtimes and another place → same digest; a changed byte → another', async () => {
    const a = project(fresh('a'));
    const b = project(fresh('b'));
    utimesSync(join(b, 'src/app.js'), new Date(2020, 1, 1), new Date(2020, 1, 1));
    const first = await packSource(a);
    expect((await packSource(b)).digest).toBe(first.digest);
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    writeFileSync(join(b, 'src/app.js'), 'console.log(2)\n');
    expect((await packSource(b)).digest).not.toBe(first.digest);
  });

  it('sends what a sync sends: .gitignore honoured, never .git', async () => {
    const dir = project(fresh('p'));
    const out = fresh('x');
    const tarFile = fresh('t');
    writeFileSync(tarFile, (await packSource(dir)).tar);
    await extractTree(tarFile, out);
    expect(existsSync(join(out, 'node_modules'))).toBe(false);
    expect(existsSync(join(out, '.git'))).toBe(false);
    expect(readFileSync(join(out, 'src/app.js'), 'utf8')).toBe('console.log(1)\n');
    expect(statSync(join(out, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(out, 'main.js'))).toBe('src/app.js');
    expect(readFileSync(join(out, '.gitignore'), 'utf8')).toBe('node_modules/\n');
  });
});

describe('extraction (server)', () => {
  it('entryProblem refuses escapes, links to follow and odd types', () => {
    const none = new Set<string>();
    expect(entryProblem('src/a.js', 'file', none)).toBeUndefined();
    expect(entryProblem('src/', 'directory', none)).toBeUndefined();
    expect(entryProblem('../etc/passwd', 'file', none)).toMatch(/not a plain relative path/);
    expect(entryProblem('a/../../b', 'file', none)).toMatch(/not a plain relative path/);
    expect(entryProblem('/etc/passwd', 'file', none)).toMatch(/not a plain relative path/);
    expect(entryProblem('./a', 'file', none)).toMatch(/not a plain relative path/);
    expect(entryProblem('out/passwd', 'file', new Set(['out']))).toMatch(/under the symlink out/);
    expect(entryProblem('x', 'link', none)).toMatch(/link entry/);
  });

  it('a tar that writes through its own symlink is refused, and nothing lands outside', async () => {
    const outside = fresh('outside');
    mkdirSync(outside);
    const tarFile = fresh('evil');
    writeFileSync(tarFile, await tarOf([{ name: 'out', type: 'symlink', linkname: outside }, { name: 'out/pwned', body: 'x' }]));
    await expect(extractTree(tarFile, fresh('dest'))).rejects.toThrow(/under the symlink out/);
    expect(existsSync(join(outside, 'pwned'))).toBe(false);
  });

  it('SourceStore.put keeps only bytes that hash to their name, and stops reading past its limit', async () => {
    const store = new SourceStore(fresh('store'), 4096);
    const tar = await tarOf([{ name: 'a.txt', body: 'hello' }]);
    const { createHash } = await import('node:crypto');
    const hex = createHash('sha256').update(tar).digest('hex');
    const wrong = 'f'.repeat(64);
    expect((await store.put(wrong, [tar])).status).toBe(400);
    expect(await store.size(wrong)).toBeUndefined();
    expect((await store.put(hex, [tar])).status).toBe(201);
    expect((await store.put(hex, [tar])).status).toBe(200); // deduplicated
    const big = (await store.put('e'.repeat(64), [Buffer.alloc(3000), Buffer.alloc(3000)]));
    expect(big.status).toBe(413);
    expect(big.body.error).toMatch(/larger than this server's limit of 4 KiB/);
    const dir = await store.directory(hex);
    expect(readFileSync(join(dir!, 'a.txt'), 'utf8')).toBe('hello');
    expect(await store.directory(wrong)).toBeUndefined();
  });
});

// --- through the API --------------------------------------------------------------------------

const plan = { operations: [], unreachable: [] };
const ok = (): ApplyResult => ({ converged: true, plan, operationsRun: 0, statuses: new Map(), failures: [], endpoints: new Map() });

describe('uploads through the API', () => {
  let home: string;
  let server: http.Server;
  let url: string;
  let token: string;
  let coordinator: Coordinator;
  const applied: LoadedSet[] = [];
  const methods: string[] = [];
  const MAX = 64 * 1024;

  beforeAll(async () => {
    home = fresh('home');
    mkdirSync(home);
    const store = await openStore(home);
    token = await ensureToken(home);
    const hub = new EventHub();
    const held = lockHeldStore(store);
    const engine: Engine = {
      plan: async () => ({ plan, observed: new Map() }),
      async apply(set, opts) {
        applied.push(set);
        for (const r of set.desired.workspaces.values()) await held.putApplied(r, opts.applySet);
        return ok();
      },
      delete: async () => ok(),
      async runLoop(_set: LoadedSet, loop: LoopOptions) {
        await new Promise<void>((resolve) => loop.signal!.addEventListener('abort', () => resolve()));
        return ok();
      },
      async close() {},
    };
    const sources = new SourceStore(join(home, 'sources'), MAX);
    coordinator = new Coordinator({ store, engine, hub, resyncMs: 60_000, sources });
    await coordinator.start();
    server = createApiServer({ coordinator, store, hub, token, sources });
    url = await listen(server, '127.0.0.1', 0);
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await coordinator.stop();
  });

  const counting: typeof fetch = (input, init) => {
    methods.push(init?.method ?? 'GET');
    return fetch(input, init);
  };
  const workspace = (name: string, path: string): Resource =>
    withDefaults({ apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node: 'local', provider: 'process', source: { path } }, source: { file: '/m/a.yaml', line: 3, col: 1 } } as Resource);
  function loaded(...resources: Resource[]): LoadedSet {
    const r = setFromBundle({ resources, env: {} }, []);
    if (!r.ok) throw new Error(`invalid fixture: ${JSON.stringify(r.errors)}`);
    return r.set;
  }

  it('uploads each distinct tree once; the engine reads the extracted copy, the spec keeps the client path', async () => {
    const src = project(fresh('client-src'));
    const client = new ApiClient(url, token, counting);
    const set = loaded(workspace('api', src), workspace('api2', src));
    const sent = await withUploadedSources(client, set);
    expect(methods).toEqual(['GET', 'PUT']); // two workspaces, one path, one upload
    expect(set.desired.workspaces.get('api')!.metadata.annotations).toBeUndefined(); // the loaded set is untouched

    await remoteEngine(client).apply(sent, { applySet: 'default', prune: false, timeoutMs: 1000 });
    const got = applied.at(-1)!;
    const ws = got.desired.workspaces.get('api') as WorkspaceResource;
    expect(ws.spec.source?.path).toBe(src);
    expect(ws.metadata.annotations?.[SOURCE_DIGEST_ANNOTATION]).toMatch(/^sha256:/);
    const dir = got.sources?.get('api');
    expect(dir).toBe(got.sources?.get('api2'));
    expect(dir!.startsWith(join(home, 'sources'))).toBe(true);
    expect(readFileSync(join(dir!, 'src/app.js'), 'utf8')).toBe('console.log(1)\n');
    expect(lstatSync(join(dir!, 'main.js')).isSymbolicLink()).toBe(true);

    methods.length = 0;
    await withUploadedSources(client, set);
    expect(methods).toEqual(['GET']); // the server has it: nothing sent again
  });

  it('a digest the server does not have is a 422 naming the workspace, its path and what to do', async () => {
    const ws = workspace('ghost', '/home/someone/ghost');
    ws.metadata.annotations = { [SOURCE_DIGEST_ANNOTATION]: `sha256:${'a'.repeat(64)}` };
    const err = await remoteEngine(new ApiClient(url, token)).apply(loaded(ws), { applySet: 'default', prune: false, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).status).toBe(422);
    expect((err as ServerError).errors?.[0]).toMatchObject({ file: '/m/a.yaml', line: 3 });
    expect((err as ServerError).errors?.[0]?.message).toMatch(/Workspace "ghost" spec.source.path \/home\/someone\/ghost: this server has no upload sha256:a{64}.*apply it again/);
  });

  it('a tree over the limit gets a 413 the client shows with its path and the limit', async () => {
    const big = fresh('big');
    mkdirSync(big);
    writeFileSync(join(big, 'blob.bin'), Buffer.alloc(MAX * 2, 1));
    const err = await withUploadedSources(new ApiClient(url, token), loaded(workspace('big', big))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).status).toBe(413);
    expect((err as ServerError).message).toMatch(new RegExp(`uploading source.path ${big}: server: the source upload \\(.*\\) is larger than this server's limit of 64 KiB`));
    expect((err as ServerError).hint).toMatch(/--max-source-size/);
  });

  it("an edit token may not make the server read a source.path of its own disk (no upload); the owner still may, and an upload is fine", async () => {
    const store = await openStore(home);
    const edit = newToken();
    expect(await store.createToken({ name: 'ed', role: 'edit', hash: hashToken(edit), created: new Date().toISOString() })).toBe(true);
    const serverSide = project(fresh('server-side')); // a directory the server can read
    const asEd = remoteEngine(new ApiClient(url, edit));
    const refused = await asEd.apply(loaded(workspace('peek', serverSide)), { applySet: 'default', prune: false, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ServerError);
    expect((refused as ServerError).status).toBe(422);
    expect((refused as ServerError).errors?.[0]?.message).toMatch(/Workspace "peek" spec.source.path .*: not uploaded, and this server reads no path of its own disk for a token other than its owner's/);
    const before = applied.length;
    // Uploaded by ed's client: accepted.
    const client = new ApiClient(url, edit);
    await remoteEngine(client).apply(await withUploadedSources(client, loaded(workspace('peek', serverSide))), { applySet: 'default', prune: false, timeoutMs: 1000 });
    expect(applied.length).toBe(before + 1);
    // The owner (server.token) keeps the same-machine behaviour.
    await remoteEngine(new ApiClient(url, token)).apply(loaded(workspace('peek', serverSide)), { applySet: 'default', prune: false, timeoutMs: 1000 });
    expect(applied.length).toBe(before + 2);
  });

  it('a PUT whose bytes do not match its name is refused (400) and not kept', async () => {
    const res = await fetch(`${url}/api/v1/sources/${'b'.repeat(64)}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: 'not that' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/hashes to sha256:/);
    expect((await fetch(`${url}/api/v1/sources/${'b'.repeat(64)}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });

  it('after a restart, an apply set whose upload is gone is suspended, not reconciled', async () => {
    const store = await openStore(home);
    const ws = workspace('lost', '/home/someone/lost');
    ws.metadata.annotations = { [SOURCE_DIGEST_ANNOTATION]: `sha256:${'c'.repeat(64)}` };
    const held = lockHeldStore(store);
    await held.putApplied(ws, 'team-lost');
    const hub = new EventHub();
    const loops: string[] = [];
    const engine = {
      runLoop: async (set: LoadedSet, loop: LoopOptions) => {
        loops.push([...set.desired.workspaces.keys()].sort().join(','));
        await new Promise<void>((resolve) => loop.signal!.addEventListener('abort', () => resolve()));
        return ok();
      },
      close: async () => {},
    } as unknown as Engine;
    const restarted = new Coordinator({ store, engine, hub, resyncMs: 60_000, sources: new SourceStore(join(home, 'sources'), MAX) });
    await restarted.start();
    try {
      expect(restarted.health().suspended['team-lost']).toMatch(/Workspace "lost" spec.source.path \/home\/someone\/lost: this server has no upload/);
      expect(restarted.health().applySets).not.toContain('team-lost');
      expect(loops.join(' ')).not.toMatch(/lost/);
    } finally {
      await restarted.stop();
      await held.remove('workspace/lost');
    }
  });
});
