// The etcd store against a real 3-member cluster on loopback (test/infra/etcd.sh up): the store
// contract, etcd's own parts (key layout, event bound, lease-backed lock), `serve --store etcd://`,
// and failures: one member down keeps it working, two down fail within a bounded time with the
// unavailable error, and it works again once they return.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type EventRecord, type WorkspaceResource } from '../../src/model/types.js';
import { ETCD_PREFIX, LOCK_TTL_SECONDS, NotLeaderError, openEtcdStore, StoreUnavailableError, type EtcdStore, type EtcdStoreOptions } from '../../src/store/etcd-store.js';
import { LockTimeoutError } from '../../src/store/types.js';
import { storeContract } from '../contract/store.js';
import { infraDir, REPO_ROOT } from './helpers/infra.js';
import { eventually, requireBuiltCli, runCli, startServe, tempHome } from './support/cli.js';

const run = promisify(execFile);
const ETCD_SH = join(REPO_ROOT, 'test/infra/etcd.sh');

/** Endpoints written by test/infra/etcd.sh up. Throws (the file fails, never skips) when missing. */
function loadEndpoints(): string[] {
  const file = join(infraDir(), 'etcd', 'endpoints');
  if (!existsSync(file)) throw new Error(`the etcd cluster is not running: ${file} is missing. Start it with: bash test/infra/etcd.sh up`);
  return readFileSync(file, 'utf8').trim().split(',');
}

const endpoints = loadEndpoints();
const raw = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`) });
afterAll(() => raw.close());

/** A store on its own key prefix, so tests never see each other's keys. */
async function isolated(opts: Partial<EtcdStoreOptions> = {}): Promise<{ store: EtcdStore; prefix: string; open: () => Promise<EtcdStore> }> {
  const prefix = `/vendetta-test/${randomBytes(6).toString('hex')}/`;
  const open = () => openEtcdStore({ endpoints, home: tmpdir(), prefix, ...opts });
  return { store: await open(), prefix, open };
}

function workspace(name: string, image = 'a'): WorkspaceResource {
  return { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node: 'local', provider: 'process', image } };
}

function event(i: number): EventRecord {
  return { time: new Date().toISOString(), object: 'workspace/api', type: 'Normal', reason: 'Started', message: `event ${i}` };
}

storeContract('etcd', async () => {
  const { store, prefix, open } = await isolated();
  return {
    store,
    openAnother: open,
    cleanup: async () => {
      await store.close();
      await raw.delete().prefix(prefix).exec();
    },
  };
});

describe('etcd store: layout, event bound, lease-backed lock', () => {
  it('keeps records, inventories, memos, events and identity as JSON under its prefix', async () => {
    const { store, prefix } = await isolated();
    try {
      await store.putApplied(workspace('api'), 'default');
      await store.setInventory('default', ['workspace/api']);
      await store.setQuietMemo('default', { key: 'k', statuses: [], endpoints: [] });
      await store.appendEvent(event(1));
      const id = await store.identity();
      const keys = (await raw.getAll().prefix(prefix).keys()).map((k) => k.slice(prefix.length)).sort();
      expect(keys.filter((k) => !k.startsWith('events/'))).toEqual(['identity', 'inventory/default', 'quiet/default', 'records/workspace/api']);
      expect(keys.filter((k) => k.startsWith('events/'))).toHaveLength(1);
      expect(JSON.parse((await raw.get(`${prefix}records/workspace/api`).string())!)).toMatchObject({ id: 'workspace/api', generation: 1 });
      expect(JSON.parse((await raw.get(`${prefix}identity`).string())!)).toEqual(id);
      expect(id!.name).toContain(`etcd://${endpoints.join(',')}`);
    } finally {
      await store.close();
      await raw.delete().prefix(prefix).exec();
    }
  });

  it('an unchanged write does not touch the key (its mod revision stays)', async () => {
    const { store, prefix } = await isolated();
    try {
      await store.putApplied(workspace('api'), 'default');
      await store.setStatus('workspace/api', { phase: 'Ready', conditions: [], observedGeneration: 1 });
      const before = (await raw.get(`${prefix}records/workspace/api`).exec()).kvs[0]!.mod_revision;
      await store.putApplied(workspace('api'), 'default');
      await store.setStatus('workspace/api', { phase: 'Ready', conditions: [], observedGeneration: 1 });
      expect((await raw.get(`${prefix}records/workspace/api`).exec()).kvs[0]!.mod_revision).toBe(before);
    } finally {
      await store.close();
      await raw.delete().prefix(prefix).exec();
    }
  });

  it('keeps only the newest maxEvents events', async () => {
    const { store, prefix } = await isolated({ maxEvents: 10 });
    try {
      for (let i = 0; i < 25; i++) await store.appendEvent(event(i));
      const all = await store.events();
      expect(all.map((e) => e.message)).toEqual(Array.from({ length: 10 }, (_, i) => `event ${15 + i}`));
      expect(await raw.getAll().prefix(`${prefix}events/`).count()).toBe(10);
      expect((await store.events({ limit: 3 })).map((e) => e.message)).toEqual(['event 22', 'event 23', 'event 24']);
    } finally {
      await store.close();
      await raw.delete().prefix(prefix).exec();
    }
  });

  it('the lock key is attached to a lease of LOCK_TTL_SECONDS, removed on release', async () => {
    const { store, prefix } = await isolated();
    try {
      const release = await store.lock('apply', { timeoutMs: 5_000 });
      const kv = (await raw.get(`${prefix}lock`).exec()).kvs[0]!;
      expect(JSON.parse(kv.value.toString())).toMatchObject({ pid: process.pid, command: 'apply' });
      const lease = await raw.leaseClient.leaseTimeToLive({ ID: kv.lease });
      expect(lease.grantedTTL).toBe(String(LOCK_TTL_SECONDS));
      await release();
      expect(await raw.get(`${prefix}lock`).string()).toBeNull();
    } finally {
      await store.close();
      await raw.delete().prefix(prefix).exec();
    }
  });
});

describe('etcd store: election and fenced writes (serve replicas)', () => {
  it('a fenced view writes while its election holds the lock key, and writes nothing once another holds it', async () => {
    const { store, prefix } = await isolated();
    const other = await openEtcdStore({ endpoints, home: tmpdir(), prefix });
    try {
      const info = { pid: 1, host: 'a', command: 'serve (a)', since: new Date().toISOString(), url: 'http://a:1' };
      const lease = await store.campaign(info, 5);
      expect(lease).toBeDefined();
      expect(await other.campaign({ ...info, pid: 2, url: 'http://b:2' }, 5)).toBeUndefined();
      expect((await other.holder())?.info.url).toBe('http://a:1');
      expect((await other.holder())?.fence).toBe(lease!.fence);
      expect(await lease!.keepalive(5000)).toBe(true);

      const fenced = store.fenced(lease!.fence);
      await fenced.putApplied(workspace('api'), 'default');
      await fenced.setInventory('default', ['workspace/api']);
      await fenced.appendEvent(event(1));
      expect((await store.get('workspace/api'))?.generation).toBe(1);

      // Deposed: the key goes (lease revoked) and another replica is elected.
      await lease!.resign();
      const next = await other.campaign({ ...info, pid: 2, url: 'http://b:2' }, 5);
      expect(next).toBeDefined();
      const before = await raw.getAll().prefix(prefix).count();
      for (const write of [
        () => fenced.putApplied(workspace('api', 'b'), 'default'),
        () => fenced.setStatus('workspace/api', { phase: 'Ready', conditions: [], observedGeneration: 1 }),
        () => fenced.setInventory('default', []),
        () => fenced.appendEvent(event(2)),
        () => fenced.remove('workspace/api'),
      ]) {
        await expect(write()).rejects.toBeInstanceOf(NotLeaderError);
      }
      expect(await raw.getAll().prefix(prefix).count()).toBe(before);
      expect((await store.get('workspace/api'))?.resource.spec).toMatchObject({ image: 'a' });
      // The new leader's own fenced view writes.
      await store.fenced(next!.fence).setInventory('default', []);
      await next!.resign();
    } finally {
      await other.close();
      await store.close();
      await raw.delete().prefix(prefix).exec();
    }
  });
});

describe('vendetta serve --store etcd://', () => {
  const home = tempHome('vendetta-etcd-serve-');
  const store = `etcd://${endpoints.join(',')}`;
  let client: EtcdStore;

  beforeAll(async () => {
    requireBuiltCli();
    // serve uses the default prefix: start from an empty one (this cluster is the tests' own).
    await raw.delete().prefix(ETCD_PREFIX).exec();
    client = await openEtcdStore({ endpoints, home: home.home });
  });
  afterAll(async () => {
    await client?.close();
    await raw.delete().prefix(ETCD_PREFIX).exec();
    home.cleanup();
  });

  const serveOnEtcd = () => startServe(['--listen', '127.0.0.1:0', '--store', store], { env: { VENDETTA_HOME: home.home } });


  it('holds the etcd lock while it runs and releases it on SIGTERM', async () => {
    const serve = await serveOnEtcd();
    const error = await client.lock('apply', { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as Error).message).toContain(`pid ${serve.child.pid}`);
    expect((error as Error).message).toMatch(/"serve \(/);
    serve.child.kill('SIGTERM');
    expect(await serve.exit).toBe(0);
    let waited = false;
    const release = await client.lock('apply', { timeoutMs: 5_000, onWait: () => (waited = true) });
    expect(waited).toBe(false);
    await release();
  });

  it('a serve killed with SIGKILL frees the lock when its lease expires', async () => {
    const serve = await serveOnEtcd();
    serve.child.kill('SIGKILL');
    await serve.exit;
    const started = Date.now();
    const release = await client.lock('apply', { timeoutMs: 4 * LOCK_TTL_SECONDS * 1000 });
    expect(Date.now() - started).toBeLessThan(2 * LOCK_TTL_SECONDS * 1000);
    await release();
  });

  it('applies through the server with everything in etcd; a restarted server rebuilds from it; delete empties it', async () => {
    const manifests = join(home.home, 'set.yaml');
    writeFileSync(
      manifests,
      `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: etcd-proc}
spec: {node: local, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: etcd-proc-loop}
spec: {workspace: etcd-proc, command: exec sleep 600}
`,
    );
    const clientHome = tempHome('vendetta-etcd-client-');
    let serve = await serveOnEtcd();
    const url = () => serve.url;
    const client = (...args: string[]) => runCli(['--server', url(), '--token-file', join(home.home, 'server.token'), ...args], { home: clientHome.home, timeoutMs: 120_000 });
    let deletedAll = false;
    try {
      const applied = await client('apply', '-f', manifests, '--timeout', '90s');
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      const record = JSON.parse((await raw.get(`${ETCD_PREFIX}records/service/etcd-proc-loop`).string())!) as { status?: { phase: string } };
      expect(record.status?.phase).toBe('Ready');
      expect(JSON.parse((await raw.get(`${ETCD_PREFIX}inventory/default`).string())!)).toEqual(expect.arrayContaining(['service/etcd-proc-loop', 'workspace/etcd-proc']));
      expect((await client('get', 'services', '-o', 'name')).stdout).toContain('etcd-proc-loop');
      expect(await raw.getAll().prefix(`${ETCD_PREFIX}events/`).count()).toBeGreaterThan(0);
      // Nothing of it in the server's VENDETTA_HOME: only its token and state file.
      expect(existsSync(join(home.home, 'resources'))).toBe(false);

      serve.child.kill('SIGTERM');
      expect(await serve.exit).toBe(0);
      serve = await serveOnEtcd();
      await eventually(() => /desired state rebuilt from the store: 1 apply set/.test(serve.stderr()), 60_000, 'the restarted server rebuilt the set from etcd');
      const diff = await client('diff', '-f', manifests);
      expect(diff.code, diff.stdout + diff.stderr).toBe(0);

      const deleted = await client('delete', '-f', manifests, '--timeout', '60s');
      expect(deleted.code, deleted.stdout + deleted.stderr).toBe(0);
      deletedAll = true;
      const left = await raw.getAll().prefix(`${ETCD_PREFIX}records/`).keys();
      expect(left.filter((k) => /records\/(workspace|service)\//.test(k))).toEqual([]);
    } finally {
      // A failure half-way must not leave the service's supervisor running.
      if (!deletedAll && serve.child.exitCode === null) await client('delete', '-f', manifests, '--timeout', '60s');
      if (serve.child.exitCode === null) {
        serve.child.kill('SIGTERM');
        await serve.exit;
      }
      clientHome.cleanup();
    }
  }, 240_000);

  it('serve against an etcd nobody listens on fails at once, naming the endpoints and what to check', async () => {
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--store', 'etcd://127.0.0.1:1,127.0.0.1:2'], { home: home.home, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the etcd store at 127\.0\.0\.1:1,127\.0\.0\.1:2 is unavailable after \d+s \(.*ECONNREFUSED.*\)/);
    expect(r.stderr).toContain('etcdctl --endpoints=127.0.0.1:1,127.0.0.1:2 endpoint health');
  });

  it('a malformed --store is a usage error that names the flag and shows an example', async () => {
    const r = await runCli(['serve', '--store', 'etcd://127.0.0.1'], { home: home.home, timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --store "etcd://127.0.0.1"');
    expect(r.stderr).toContain('e.g. --store etcd://');
  });
});

describe('etcd store when members fail', () => {
  const stopped = new Set<number>();
  const member = async (action: 'stop-member' | 'start-member', n: number) => {
    await run('bash', [ETCD_SH, action, String(n)], { timeout: 90_000 });
    if (action === 'stop-member') stopped.add(n);
    else stopped.delete(n);
  };
  afterAll(async () => {
    for (const n of [...stopped]) await member('start-member', n);
  });

  it('one member down: the store keeps working; two down: operations fail within a bounded time, then work again', async () => {
    const { store, prefix } = await isolated();
    try {
      await store.putApplied(workspace('api'), 'default');

      await member('stop-member', 3);
      await store.putApplied(workspace('api', 'b'), 'default');
      expect((await store.get('workspace/api'))?.generation).toBe(2);
      const release = await store.lock('apply', { timeoutMs: 10_000 });
      await release();
      await store.appendEvent(event(1));

      await member('stop-member', 2);
      const started = Date.now();
      const error = await store.putApplied(workspace('api', 'c'), 'default').catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toContain(`the etcd store at ${endpoints.join(',')} is unavailable`);
      expect((error as Error).message).toContain('endpoint health');
      expect(elapsed).toBeLessThan(25_000);
      const readError = await store.get('workspace/api').catch((e: unknown) => e);
      expect(readError).toBeInstanceOf(StoreUnavailableError);

      await member('start-member', 2);
      await member('start-member', 3);
      const record = await eventually(async () => (await store.putApplied(workspace('api', 'd'), 'default')).resource, 60_000, 'the store to answer again');
      expect(record.spec).toMatchObject({ image: 'd' });
      // The write that failed may or may not have landed (it timed out): generation is 3 or 4.
      expect([3, 4]).toContain((await store.get('workspace/api'))?.generation);
    } finally {
      await store.close();
      await raw.delete().prefix(prefix).exec().catch(() => undefined);
    }
  });
});
