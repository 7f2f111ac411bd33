import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { EVENTS_PER_FILE, openStore } from '../../../src/store/file-store.js';
import { LockTimeoutError, type LockInfo } from '../../../src/store/types.js';
import { API_VERSION, type EventRecord, type WorkspaceResource } from '../../../src/model/types.js';

function workspace(image: string, line = 1): WorkspaceResource {
  return {
    apiVersion: API_VERSION,
    kind: 'Workspace',
    metadata: { name: 'api' },
    spec: { node: 'local', provider: 'process', image },
    source: { file: 'ws.yaml', line, col: 1 },
  };
}

let home: string;
beforeEach(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'vendetta-store-'));
});
afterEach(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

describe('applied records', () => {
  it('bumps generation only when the spec changes (source position ignored)', async () => {
    const store = await openStore(home);
    expect((await store.putApplied(workspace('a'), 'default')).generation).toBe(1);
    expect((await store.putApplied(workspace('a', 42), 'default')).generation).toBe(1);
    expect((await store.putApplied(workspace('b'), 'default')).generation).toBe(2);
    const record = await store.get('workspace/api');
    expect(record?.generation).toBe(2);
    expect(record?.resource.spec).toMatchObject({ image: 'b' });
  });

  it('keeps status across putApplied and lists by kind', async () => {
    const store = await openStore(home);
    await store.putApplied(workspace('a'), 'default');
    const status = { phase: 'Ready' as const, conditions: [], observedGeneration: 1 };
    await store.setStatus('workspace/api', status);
    await store.putApplied(workspace('b'), 'default');
    expect((await store.get('workspace/api'))?.status).toEqual(status);
    expect((await store.list('Workspace')).map((r) => r.id)).toEqual(['workspace/api']);
    expect(await store.list('Service')).toEqual([]);
    await store.setStatus('service/ghost', status); // never applied: ignored, not created
    expect(await store.get('service/ghost')).toBeUndefined();
    await store.remove('workspace/api');
    expect(await store.list()).toEqual([]);
  });

  it('serializes concurrent updates of one record', async () => {
    const store = await openStore(home);
    await store.putApplied(workspace('a'), 'default');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 ? store.setStatus('workspace/api', { phase: 'Ready', conditions: [], observedGeneration: i }) : store.putApplied(workspace('a'), 'default'),
      ),
    );
    const record = await store.get('workspace/api');
    expect(record?.generation).toBe(1);
    expect(record?.status?.observedGeneration).toBe(19);
  });

  it('writes files atomically: no temp files left, content always parseable', async () => {
    const store = await openStore(home);
    const file = path.join(home, 'resources', 'workspace', 'api.json');
    await store.putApplied(workspace('first'), 'default');
    let reads = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        JSON.parse(await fs.readFile(file, 'utf8')); // throws on a torn write
        reads++;
      }
    })();
    for (let i = 0; i < 50; i++) await store.putApplied(workspace(`image-${i}-${'x'.repeat(i * 100)}`), 'default');
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(await fs.readdir(path.dirname(file))).toEqual(['api.json']);
  });
});

describe('writes that change nothing are skipped', () => {
  // Every real write goes to a temp file renamed into place: a new inode. An untouched file keeps its inode.
  const inode = async (file: string) => (await fs.stat(path.join(home, file))).ino;
  const status = (observedGeneration: number) => ({
    phase: 'Ready' as const,
    conditions: [{ type: 'Ready', status: 'True' as const, reason: 'Converged', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00.000Z' }],
    observedGeneration,
  });

  it('an identical putApplied, setStatus, setPrevious and setInventory leave the files untouched', async () => {
    const store = await openStore(home);
    const first = await store.putApplied(workspace('a'), 'default');
    await store.setStatus('workspace/api', status(1));
    await store.setInventory('default', ['workspace/api']);
    const record = await inode('resources/workspace/api.json');
    const inventory = await inode('inventory/default.json');

    // The second pass of a converged apply: same spec, same status, same inventory.
    const again = await store.putApplied(workspace('a'), 'default');
    await store.setStatus('workspace/api', status(1));
    await store.setPrevious('workspace/api', {});
    await store.setInventory('default', ['workspace/api', 'workspace/api']);
    expect(await inode('resources/workspace/api.json')).toBe(record);
    expect(await inode('inventory/default.json')).toBe(inventory);
    expect(again).toEqual({ ...first, status: status(1) });
    expect(await fs.readdir(path.join(home, 'resources/workspace'))).toEqual(['api.json']); // no temp file either
  });

  it('a real change is still written', async () => {
    const store = await openStore(home);
    await store.putApplied(workspace('a'), 'default');
    await store.setInventory('default', ['workspace/api']);
    let record = await inode('resources/workspace/api.json');
    const changes: [string, () => Promise<unknown>][] = [
      ['status', () => store.setStatus('workspace/api', status(2))],
      ['spec', () => store.putApplied(workspace('b'), 'default')],
      ['source position', () => store.putApplied(workspace('b', 7), 'default')],
      ['apply set', () => store.putApplied(workspace('b', 7), 'other')],
      ['placement', () => store.setPrevious('workspace/api', { previousNodes: [{ node: 'n1', provider: 'docker' }] })],
    ];
    for (const [what, change] of changes) {
      await change();
      const now = await inode('resources/workspace/api.json');
      expect(now, what).not.toBe(record);
      record = now;
    }
    const inventory = await inode('inventory/default.json');
    await store.setInventory('default', ['workspace/api', 'service/x']);
    expect(await inode('inventory/default.json')).not.toBe(inventory);
    expect(await store.inventory('default')).toEqual(['service/x', 'workspace/api']);
  });

  it('a quiet memo is kept per apply set, rewritten only when it changes, and a damaged one is no memo', async () => {
    const store = await openStore(home);
    expect(await store.quietMemo('default')).toBeUndefined();
    const memo = { key: 'k1', statuses: [['workspace/api', status(1)]] as [string, ReturnType<typeof status>][], endpoints: [] };
    await store.setQuietMemo('default', memo);
    const file = await inode('quiet/default.json');
    await store.setQuietMemo('default', memo);
    expect(await inode('quiet/default.json')).toBe(file);
    expect(await store.quietMemo('default')).toEqual(memo);
    expect(await store.quietMemo('other')).toBeUndefined();
    await fs.writeFile(path.join(home, 'quiet/default.json'), '{ not json');
    expect(await store.quietMemo('default')).toBeUndefined();
    await expect(store.setQuietMemo('../x', memo)).rejects.toThrow(/invalid apply set name/);
  });

  it('a damaged inventory is replaced, not kept because it cannot be compared', async () => {
    const store = await openStore(home);
    await fs.mkdir(path.join(home, 'inventory'), { recursive: true });
    await fs.writeFile(path.join(home, 'inventory/default.json'), '["workspace/a", ');
    await store.setInventory('default', ['workspace/a']);
    expect(await store.inventory('default')).toEqual(['workspace/a']);
  });
});

describe('inventory and events', () => {
  it('stores the inventory per apply set', async () => {
    const store = await openStore(home);
    expect(await store.inventory('default')).toEqual([]);
    await store.setInventory('default', ['workspace/b', 'workspace/a', 'workspace/a']);
    await store.setInventory('other', ['service/x']);
    expect(await store.inventory('default')).toEqual(['workspace/a', 'workspace/b']);
    expect(await store.inventory('other')).toEqual(['service/x']);
    await expect(store.setInventory('../evil', [])).rejects.toThrow(/invalid apply set name/);
  });

  it('appends events, filters and rotates keeping the most recent', async () => {
    const store = await openStore(home);
    const event = (i: number): EventRecord => ({
      time: new Date(0).toISOString(),
      object: i % 2 ? 'service/web' : 'workspace/api',
      type: 'Normal',
      reason: 'Started',
      message: `event ${i}`,
    });
    const total = EVENTS_PER_FILE * 2 + 10;
    for (let i = 0; i < total; i++) await store.appendEvent(event(i));
    const all = await store.events();
    expect(all.length).toBeLessThan(total);
    expect(all.length).toBeGreaterThanOrEqual(EVENTS_PER_FILE);
    expect(all.at(-1)?.message).toBe(`event ${total - 1}`);
    const web = await store.events({ object: 'service/web', limit: 2 });
    expect(web.map((e) => e.message)).toEqual([`event ${total - 3}`, `event ${total - 1}`]);
    // A reopened store continues counting lines of the current file.
    const reopened = await openStore(home);
    await reopened.appendEvent(event(total));
    expect((await reopened.events({ limit: 1 }))[0].message).toBe(`event ${total}`);
  });

  it('events appended all at once are written in batches, in order, and rotate as one by one', async () => {
    const store = await openStore(home);
    const total = EVENTS_PER_FILE * 2 + 10;
    const event = (i: number) => ({ time: new Date(0).toISOString(), object: 'workspace/api' as const, type: 'Normal' as const, reason: 'Started', message: `event ${i}` });
    await Promise.all(Array.from({ length: total }, (_, i) => store.appendEvent(event(i))));
    const lines = async (f: string) => (await fs.readFile(path.join(home, f), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).message as string);
    const current = await lines('events.jsonl');
    const rotated = await lines('events.1.jsonl');
    expect(rotated).toHaveLength(EVENTS_PER_FILE);
    expect(current).toHaveLength(10);
    expect([...rotated, ...current]).toEqual(Array.from({ length: EVENTS_PER_FILE + 10 }, (_, i) => `event ${EVENTS_PER_FILE + i}`));
  });
});

describe('lock', () => {
  let holderScript: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    // The second process runs the real store code, bundled to plain JS.
    const bundle = path.join(home, 'store-bundle.mjs');
    await build({
      entryPoints: [path.resolve('src/store/file-store.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'silent',
    });
    holderScript = path.join(home, 'hold-lock.mjs');
    await fs.writeFile(
      holderScript,
      `import { openStore } from ${JSON.stringify(bundle)};
const store = await openStore(process.argv[2]);
const release = await store.lock('apply -f other', { timeoutMs: 30000 });
process.stdout.write('locked\\n');
process.stdin.on('data', async () => { await release(); process.stdout.write('released\\n'); process.exit(0); });
`,
    );
  });
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    child = undefined;
  });

  function startHolder(): Promise<ChildProcess> {
    const proc = spawn(process.execPath, [holderScript, path.join(home, 'store')], { stdio: ['pipe', 'pipe', 'inherit'] });
    child = proc;
    return new Promise((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('locked')) resolve(proc);
      });
      proc.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
  }

  it('waits for another process holding the lock, then takes it', async () => {
    const holder = await startHolder();
    const store = await openStore(path.join(home, 'store'));
    const waitedFor: LockInfo[] = [];
    const acquiring = store.lock('apply', {
      timeoutMs: 20000,
      onWait: (info) => {
        waitedFor.push(info);
        holder.stdin!.write('release\n');
      },
    });
    const release = await acquiring;
    expect(waitedFor).toHaveLength(1);
    expect(waitedFor[0]).toMatchObject({ pid: holder.pid, command: 'apply -f other', host: os.hostname() });
    const info = JSON.parse(await fs.readFile(path.join(home, 'store', 'lock'), 'utf8')) as LockInfo;
    expect(info.pid).toBe(process.pid);
    await release();
    await expect(fs.access(path.join(home, 'store', 'lock'))).rejects.toThrow();
  });

  it('times out with a message naming the holder', async () => {
    const holder = await startHolder();
    const store = await openStore(path.join(home, 'store'));
    const error = await store.lock('apply', { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as Error).message).toContain(`pid ${holder.pid}`);
    expect((error as Error).message).toContain('"apply -f other"');
    expect((error as Error).message).toMatch(/--lock-timeout/);
  });

  it('takes over a lock whose process is dead', async () => {
    const holder = await startHolder();
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    process.kill(holder.pid!, 'SIGKILL');
    await exited;
    const store = await openStore(path.join(home, 'store'));
    let waited = false;
    const release = await store.lock('apply', { timeoutMs: 1000, onWait: () => (waited = true) });
    expect(waited).toBe(false);
    await release();
  });

  it('a corrupt lock file fails at once, naming the file and what to do (nobody would ever release it)', async () => {
    const store = await openStore(home);
    await fs.writeFile(path.join(home, 'lock'), '{"pid": 12');
    const error = await store.lock('apply', { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(LockTimeoutError);
    expect((error as Error).message).toContain(path.join(home, 'lock'));
    expect((error as Error).message).toMatch(/corrupt.*delete that file/);
  });

  it('a store that cannot be written: the error names VENDETTA_HOME and what to do', async () => {
    const file = path.join(home, 'not-a-dir');
    await fs.writeFile(file, '');
    const store = await openStore(path.join(file, 'store'));
    const error = await store.lock('apply', { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect((error as Error).message).toContain(`cannot write the store in ${path.join(file, 'store')} (VENDETTA_HOME)`);
    expect((error as Error).message).toMatch(/nothing was changed.*writable/);
  });

  it('release leaves a lock that is no longer ours', async () => {
    const store = await openStore(home);
    const release = await store.lock('apply', { timeoutMs: 1000 });
    const other: LockInfo = { pid: process.pid, host: os.hostname(), command: 'other', since: 'later' };
    await fs.writeFile(path.join(home, 'lock'), JSON.stringify(other));
    await release();
    expect(JSON.parse(await fs.readFile(path.join(home, 'lock'), 'utf8'))).toEqual(other);
  });
});

describe('previous placements (moves)', () => {
  it('remembers the nodes a workspace moved away from until told they are clean', async () => {
    const home = await fs.mkdtemp(path.join(os.tmpdir(), 'vendetta-store-moves-'));
    try {
      const store = await openStore(home);
      const ws = (node: string, provider: 'docker' | 'process' = 'docker') => ({
        apiVersion: 'vendetta.dev/v1alpha1' as const,
        kind: 'Workspace' as const,
        metadata: { name: 'api' },
        spec: { node, provider, image: 'busybox', state: 'running' as const },
      });
      await store.putApplied(ws('n1'), 'default');
      expect((await store.get('workspace/api'))?.previousNodes).toBeUndefined();
      await store.putApplied(ws('n2'), 'default');
      expect((await store.get('workspace/api'))?.previousNodes).toEqual([{ node: 'n1', provider: 'docker' }]);
      await store.putApplied(ws('n3', 'process'), 'default');
      expect((await store.get('workspace/api'))?.previousNodes).toEqual([
        { node: 'n1', provider: 'docker' },
        { node: 'n2', provider: 'docker' },
      ]);
      // Moving back to n1 forgets n1 as an old place; re-applying the same spec keeps the rest.
      await store.putApplied(ws('n1'), 'default');
      await store.putApplied(ws('n1'), 'default');
      expect((await store.get('workspace/api'))?.previousNodes).toEqual([
        { node: 'n2', provider: 'docker' },
        { node: 'n3', provider: 'process' },
      ]);
      await store.setPrevious('workspace/api', { previousNodes: [] });
      expect((await store.get('workspace/api'))?.previousNodes).toBeUndefined();

      const svc = (workspace: string) => ({ apiVersion: 'vendetta.dev/v1alpha1' as const, kind: 'Service' as const, metadata: { name: 'web' }, spec: { workspace, command: 'x', restart: 'always' as const } });
      await store.putApplied(svc('one'), 'default');
      await store.putApplied(svc('two'), 'default');
      expect((await store.get('service/web'))?.previousWorkspaces).toEqual(['one']);
    } finally {
      await fs.rm(home, { recursive: true, force: true });
    }
  });
});

describe('identity', () => {
  it('is made on first use: random id, user@host:home name, 32-byte key, file 0600', async () => {
    const store = await openStore(path.join(home, 'h'));
    const id = await store.identity();
    expect(id!.id).toMatch(/^[0-9a-f]{16}$/);
    expect(id!.name).toBe(`${os.userInfo().username}@${os.hostname()}:${path.join(home, 'h')}`);
    expect(Buffer.from(id!.key, 'base64')).toHaveLength(32);
    const stat = await fs.stat(path.join(home, 'h', 'identity.json'));
    expect(stat.mode & 0o777).toBe(0o600);
    expect(await (await openStore(path.join(home, 'h'))).identity()).toEqual(id);
    expect(JSON.parse(await fs.readFile(path.join(home, 'h', 'identity.json'), 'utf8'))).toEqual(id);
  });

  it('two stores of different homes get different identities', async () => {
    const a = await (await openStore(path.join(home, 'a'))).identity();
    const b = await (await openStore(path.join(home, 'b'))).identity();
    expect(a!.id).not.toBe(b!.id);
    expect(a!.key).not.toBe(b!.key);
  });

  it('concurrent first uses agree on one identity and leave no temp files', async () => {
    const dir = path.join(home, 'race');
    const stores = await Promise.all(Array.from({ length: 8 }, () => openStore(dir)));
    const ids = await Promise.all(stores.map((s) => s.identity()));
    expect(new Set(ids.map((i) => JSON.stringify(i))).size).toBe(1);
    expect(await fs.readdir(dir)).toEqual(['identity.json']);
  });

  it('create: false (read-only commands) neither makes one nor the home directory', async () => {
    const dir = path.join(home, 'ro');
    expect(await (await openStore(dir)).identity({ create: false })).toBeUndefined();
    await expect(fs.stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a damaged identity file is an error that says what to do, not a silent new identity', async () => {
    const dir = path.join(home, 'bad');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'identity.json'), '{"id":"zz","name":"x","key":""}');
    await expect((await openStore(dir)).identity()).rejects.toThrow(/not a valid store identity .*restore it from a backup/);
  });
});
