// The store contract: what the engine relies on from any Store backend. Registered once per
// backend (test/unit/store/store-contract.test.ts: the file store; test/e2e/etcd-store.test.ts:
// etcd), so both answer the same calls the same way. Backend-specific behaviour (files and
// inodes, etcd revisions and leases, the event bound) is tested beside each backend instead.
import { afterEach, describe, expect, it } from 'vitest';
import { API_VERSION, type EventRecord, type ResourceStatus, type ServiceResource, type WorkspaceResource } from '../../src/model/types.js';
import { LockTimeoutError, type LockInfo, type QuietMemo, type Store, type TokenRecord } from '../../src/store/types.js';

export interface StoreFixture {
  store: Store;
  /** A second, independent Store on the same backend data (another process would open the same). */
  openAnother(): Promise<Store>;
  cleanup(): Promise<void>;
}

function workspace(name: string, opts: { image?: string; node?: string; provider?: 'docker' | 'process'; line?: number } = {}): WorkspaceResource {
  return {
    apiVersion: API_VERSION,
    kind: 'Workspace',
    metadata: { name },
    spec: { node: opts.node ?? 'local', provider: opts.provider ?? 'process', image: opts.image ?? 'a' },
    source: { file: 'ws.yaml', line: opts.line ?? 1, col: 1 },
  };
}

function service(name: string, ws: string): ServiceResource {
  return { apiVersion: API_VERSION, kind: 'Service', metadata: { name }, spec: { workspace: ws, command: 'x', restart: 'always' } };
}

function status(observedGeneration: number, phase: ResourceStatus['phase'] = 'Ready'): ResourceStatus {
  return { phase, conditions: [], observedGeneration };
}

function event(i: number, object = i % 2 ? 'service/web' : 'workspace/api'): EventRecord {
  return { time: new Date(i * 1000).toISOString(), object, type: 'Normal', reason: 'Started', message: `event ${i}` };
}

export function storeContract(backend: string, open: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${backend}`, () => {
    const fixtures: StoreFixture[] = [];
    const extra: Store[] = [];
    async function fresh(): Promise<StoreFixture> {
      const f = await open();
      fixtures.push(f);
      return f;
    }
    async function another(f: StoreFixture): Promise<Store> {
      const s = await f.openAnother();
      extra.push(s);
      return s;
    }
    afterEach(async () => {
      for (const s of extra.splice(0)) await s.close?.();
      for (const f of fixtures.splice(0)) await f.cleanup();
    });

    describe('applied records', () => {
      it('get/list/put round trip; generation bumps only when the spec changes (source position ignored)', async () => {
        const { store } = await fresh();
        expect(await store.get('workspace/api')).toBeUndefined();
        expect(await store.list()).toEqual([]);
        const first = await store.putApplied(workspace('api'), 'default');
        expect(first).toMatchObject({ id: 'workspace/api', kind: 'Workspace', name: 'api', generation: 1, applySet: 'default' });
        expect(first.resource).toEqual(workspace('api'));
        expect(Date.parse(first.appliedAt)).not.toBeNaN();
        expect(await store.get('workspace/api')).toEqual(first);

        const moved = await store.putApplied(workspace('api', { line: 42 }), 'default');
        expect(moved.generation).toBe(1);
        expect(moved.appliedAt).toBe(first.appliedAt);
        expect(moved.resource.source?.line).toBe(42);
        const changed = await store.putApplied(workspace('api', { image: 'b' }), 'other');
        expect(changed).toMatchObject({ generation: 2, applySet: 'other' });
        expect(await store.get('workspace/api')).toEqual(changed);
      });

      it('lists by kind, in id order', async () => {
        const { store } = await fresh();
        await store.putApplied(workspace('b'), 'default');
        await store.putApplied(workspace('a-b'), 'default');
        await store.putApplied(workspace('a'), 'default');
        await store.putApplied(service('web', 'a'), 'default');
        expect((await store.list()).map((r) => r.id)).toEqual(['service/web', 'workspace/a', 'workspace/a-b', 'workspace/b']);
        expect((await store.list('Workspace')).map((r) => r.id)).toEqual(['workspace/a', 'workspace/a-b', 'workspace/b']);
        expect((await store.list('Service')).map((r) => r.id)).toEqual(['service/web']);
        expect(await store.list('Node')).toEqual([]);
      });

      it('status writes: kept across putApplied, replaced by the next, ignored without a record', async () => {
        const { store } = await fresh();
        await store.putApplied(workspace('api'), 'default');
        await store.setStatus('workspace/api', status(1, 'Pending'));
        await store.setStatus('workspace/api', status(1));
        await store.putApplied(workspace('api', { image: 'b' }), 'default');
        expect((await store.get('workspace/api'))?.status).toEqual(status(1));
        await store.setStatus('service/ghost', status(1));
        expect(await store.get('service/ghost')).toBeUndefined();
      });

      it('previous placements: kept on moves until setPrevious clears them', async () => {
        const { store } = await fresh();
        await store.putApplied(workspace('api', { node: 'n1', provider: 'docker' }), 'default');
        expect((await store.get('workspace/api'))?.previousNodes).toBeUndefined();
        await store.putApplied(workspace('api', { node: 'n2', provider: 'docker' }), 'default');
        await store.putApplied(workspace('api', { node: 'n3' }), 'default');
        expect((await store.get('workspace/api'))?.previousNodes).toEqual([
          { node: 'n1', provider: 'docker' },
          { node: 'n2', provider: 'docker' },
        ]);
        await store.putApplied(workspace('api', { node: 'n1', provider: 'docker' }), 'default');
        expect((await store.get('workspace/api'))?.previousNodes).toEqual([
          { node: 'n2', provider: 'docker' },
          { node: 'n3', provider: 'process' },
        ]);
        await store.setPrevious('workspace/api', { previousNodes: [{ node: 'n3', provider: 'process' }] });
        expect((await store.get('workspace/api'))?.previousNodes).toEqual([{ node: 'n3', provider: 'process' }]);
        await store.setPrevious('workspace/api', { previousNodes: [] });
        expect(await store.get('workspace/api')).not.toHaveProperty('previousNodes');

        await store.putApplied(service('web', 'one'), 'default');
        await store.putApplied(service('web', 'two'), 'default');
        expect((await store.get('service/web'))?.previousWorkspaces).toEqual(['one']);
        await store.setPrevious('service/web', {});
        expect(await store.get('service/web')).not.toHaveProperty('previousWorkspaces');
        await store.setPrevious('service/ghost', { previousWorkspaces: ['x'] });
        expect(await store.get('service/ghost')).toBeUndefined();
      });

      it('remove deletes the record (and removing a missing one is no error)', async () => {
        const { store } = await fresh();
        await store.putApplied(workspace('api'), 'default');
        await store.putApplied(workspace('db'), 'default');
        await store.remove('workspace/api');
        await store.remove('workspace/never');
        expect(await store.get('workspace/api')).toBeUndefined();
        expect((await store.list()).map((r) => r.id)).toEqual(['workspace/db']);
        const again = await store.putApplied(workspace('api'), 'default');
        expect(again.generation).toBe(1);
      });
    });

    describe('inventories and quiet memos', () => {
      it('an inventory per apply set: each id once, sorted; invalid names rejected', async () => {
        const { store } = await fresh();
        expect(await store.inventory('default')).toEqual([]);
        await store.setInventory('default', ['workspace/b', 'workspace/a', 'workspace/a']);
        await store.setInventory('other', ['service/x']);
        expect(await store.inventory('default')).toEqual(['workspace/a', 'workspace/b']);
        expect(await store.inventory('other')).toEqual(['service/x']);
        await store.setInventory('default', []);
        expect(await store.inventory('default')).toEqual([]);
        await expect(store.setInventory('../evil', [])).rejects.toThrow(/invalid apply set name/);
      });

      it('a quiet memo per apply set, replaced by the next', async () => {
        const { store } = await fresh();
        expect(await store.quietMemo('default')).toBeUndefined();
        const memo: QuietMemo = { key: 'k1', statuses: [['workspace/api', status(1)]], endpoints: [['service/web', 'http://127.0.0.1:1']] };
        await store.setQuietMemo('default', memo);
        expect(await store.quietMemo('default')).toEqual(memo);
        expect(await store.quietMemo('other')).toBeUndefined();
        const next = { ...memo, key: 'k2' };
        await store.setQuietMemo('default', next);
        expect(await store.quietMemo('default')).toEqual(next);
        await expect(store.setQuietMemo('a/b', memo)).rejects.toThrow(/invalid apply set name/);
      });
    });

    describe('events', () => {
      it('newest last, limit keeps the newest, per-object filter', async () => {
        const { store } = await fresh();
        expect(await store.events()).toEqual([]);
        for (let i = 0; i < 7; i++) await store.appendEvent(event(i));
        expect((await store.events()).map((e) => e.message)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `event ${i}`));
        expect(await store.events()).toContainEqual(event(3));
        expect((await store.events({ limit: 3 })).map((e) => e.message)).toEqual(['event 4', 'event 5', 'event 6']);
        expect((await store.events({ object: 'service/web' })).map((e) => e.message)).toEqual(['event 1', 'event 3', 'event 5']);
        expect((await store.events({ object: 'service/web', limit: 2 })).map((e) => e.message)).toEqual(['event 3', 'event 5']);
        expect((await store.events({ object: 'workspace/api', limit: 100 })).map((e) => e.message)).toEqual(['event 0', 'event 2', 'event 4', 'event 6']);
        expect(await store.events({ object: 'node/none' })).toEqual([]);
        expect(await store.events({ limit: 0 })).toEqual([]);
      });

      it('keeps the order of appends even when event times go backwards', async () => {
        const { store } = await fresh();
        for (const i of [5, 1, 3]) await store.appendEvent(event(i, 'workspace/api'));
        expect((await store.events()).map((e) => e.message)).toEqual(['event 5', 'event 1', 'event 3']);
      });
    });

    describe('identity', () => {
      it('create: false reads none; the first create makes it; later reads and other instances see the same', async () => {
        const f = await fresh();
        expect(await f.store.identity({ create: false })).toBeUndefined();
        const id = await f.store.identity();
        expect(id!.id).toMatch(/^[0-9a-f]{16}$/);
        expect(id!.name).toMatch(/^.+@.+:.+/);
        expect(Buffer.from(id!.key, 'base64')).toHaveLength(32);
        expect(await f.store.identity()).toEqual(id);
        expect(await f.store.identity({ create: false })).toEqual(id);
        expect(await (await another(f)).identity({ create: false })).toEqual(id);
      });

      it('concurrent first uses from several instances agree on one identity', async () => {
        const f = await fresh();
        const stores = [f.store, ...(await Promise.all([1, 2, 3].map(() => another(f))))];
        const ids = await Promise.all([...stores, ...stores].map((s) => s.identity()));
        expect(new Set(ids.map((i) => JSON.stringify(i))).size).toBe(1);
      });
    });

    describe('lock', () => {
      it('is exclusive: a second taker waits (onWait once, with the holder) and gets it on release', async () => {
        const f = await fresh();
        const other = await another(f);
        const release = await f.store.lock('apply -f first', { timeoutMs: 5_000 });
        const waitedFor: LockInfo[] = [];
        let secondHolds = false;
        let heldBeforeRelease: boolean | undefined;
        const second = other
          .lock('apply -f second', {
            timeoutMs: 30_000,
            onWait: (holder) => {
              waitedFor.push(holder);
              // Still exclusive a while later; then the first holder lets go.
              setTimeout(() => {
                heldBeforeRelease = secondHolds;
                void release();
              }, 500);
            },
          })
          .then((r) => {
            secondHolds = true;
            return r;
          });
        const releaseSecond = await second;
        expect(heldBeforeRelease).toBe(false);
        expect(waitedFor).toHaveLength(1);
        expect(waitedFor[0]).toMatchObject({ pid: process.pid, command: 'apply -f first' });
        expect(typeof waitedFor[0]!.host).toBe('string');
        expect(Date.parse(waitedFor[0]!.since)).not.toBeNaN();
        await releaseSecond();
        // Free again: taken at once, without waiting.
        let waited = false;
        const third = await f.store.lock('apply', { timeoutMs: 5_000, onWait: () => (waited = true) });
        expect(waited).toBe(false);
        await third();
      });

      it('a wait that times out throws LockTimeoutError naming the holder and --lock-timeout', async () => {
        const f = await fresh();
        const other = await another(f);
        const release = await f.store.lock('apply -f other', { timeoutMs: 5_000 });
        try {
          const started = Date.now();
          const error = await other.lock('apply', { timeoutMs: 400 }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(LockTimeoutError);
          expect((error as Error).message).toContain(`pid ${process.pid}`);
          expect((error as Error).message).toContain('"apply -f other"');
          expect((error as Error).message).toMatch(/--lock-timeout/);
          expect(Date.now() - started).toBeLessThan(10_000);
        } finally {
          await release();
        }
        // The timed-out taker left nothing behind: the lock is free.
        const again = await other.lock('apply', { timeoutMs: 5_000 });
        await again();
      });
    });

    describe('tokens', () => {
      const token = (name: string, role: 'view' | 'edit' | 'admin' = 'view'): TokenRecord => ({ name, role, hash: 'ab'.repeat(32), created: '2026-12-01T00:00:00.000Z' });

      it('create, list in name order, refuse a second token of one name, revoke once', async () => {
        const f = await fresh();
        expect(await f.store.tokens()).toEqual([]);
        expect(await f.store.createToken(token('bob', 'edit'))).toBe(true);
        expect(await f.store.createToken(token('alice'))).toBe(true);
        expect(await f.store.createToken(token('bob', 'admin'))).toBe(false);
        const b = await another(f);
        expect(await b.tokens()).toEqual([token('alice'), token('bob', 'edit')]);
        expect(await b.revokeToken('alice', '2026-12-01T01:00:00.000Z')).toBe(true);
        expect(await f.store.revokeToken('alice', '2026-12-01T02:00:00.000Z')).toBe(true);
        expect(await f.store.revokeToken('carol', '2026-12-01T02:00:00.000Z')).toBe(false);
        expect(await f.store.tokens()).toEqual([{ ...token('alice'), revoked: '2026-12-01T01:00:00.000Z' }, token('bob', 'edit')]);
        // A revoked name stays taken: its events still name it.
        expect(await f.store.createToken(token('alice', 'admin'))).toBe(false);
      });

      it('two instances creating tokens at once keep every one; one name, one winner', async () => {
        const f = await fresh();
        const b = await another(f);
        const made = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? b : f.store).createToken(token(`t${i}`))));
        expect(made).toEqual(Array(10).fill(true));
        const same = await Promise.all([f.store.createToken(token('same', 'edit')), b.createToken(token('same', 'admin'))]);
        expect(same.filter(Boolean)).toHaveLength(1);
        expect((await f.store.tokens()).map((t) => t.name)).toEqual(['same', ...Array.from({ length: 10 }, (_, i) => `t${i}`)]);
      });
    });

    describe('concurrent writers', () => {
      it('two instances updating one record at once never lose an update', async () => {
        const f = await fresh();
        const a = f.store;
        const b = await another(f);
        await a.putApplied(workspace('api'), 'default');
        // At the same time, a changes the spec (generation +1 each time) and b the status, each in
        // order: a lost update would show as a missing generation or an older status.
        const specs = 8;
        await Promise.all([
          (async () => {
            for (let i = 1; i <= specs; i++) await a.putApplied(workspace('api', { image: `img-${i}` }), 'default');
          })(),
          (async () => {
            for (let i = 1; i <= specs; i++) await b.setStatus('workspace/api', status(i));
          })(),
        ]);
        const record = await b.get('workspace/api');
        expect(record?.generation).toBe(1 + specs);
        expect(record?.resource.spec).toMatchObject({ image: `img-${specs}` });
        expect(record?.status).toEqual(status(specs));
        // A status written after the spec writes settle is the one kept, from either instance.
        await a.setStatus('workspace/api', status(99));
        expect((await b.get('workspace/api'))?.status).toEqual(status(99));
      });

      it('two instances appending events at once keep every event', async () => {
        const f = await fresh();
        const b = await another(f);
        await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : f.store).appendEvent(event(i, 'workspace/api'))));
        const messages = (await f.store.events()).map((e) => e.message).sort();
        expect(messages).toEqual(Array.from({ length: 20 }, (_, i) => `event ${i}`).sort());
      });
    });
  });
}
