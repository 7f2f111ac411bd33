// The election and fencing rule of serve replicas (src/server/leadership.ts) on a fake store with
// fake timers: a leader whose keep-alives stop being confirmed stops acting at TTL/2 — before its
// lease could expire elsewhere — and a follower reads the leader from the key. Also the client's
// failover between several server URLs (src/server/client.ts).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Leadership } from '../../../src/server/leadership.js';
import { ApiClient, ServerError } from '../../../src/server/client.js';
import type { EtcdStore, LeaderInfo, LeaderLease } from '../../../src/store/etcd-store.js';

const info: LeaderInfo = { pid: 1, host: 'h', command: 'serve (h)', since: '', url: 'http://a:1' };

/** A store with one `lock` key; keepalive answers as `keepaliveMode` says. */
function fakeStore() {
  const state = {
    holder: undefined as { info: LeaderInfo; fence: string } | undefined,
    keepaliveMode: 'ok' as 'ok' | 'hang' | 'expired',
    keepalives: 0,
    resigned: 0,
  };
  const store = {
    holder: async () => state.holder,
    campaign: async (mine: LeaderInfo): Promise<LeaderLease | undefined> => {
      if (state.holder) return undefined;
      state.holder = { info: mine, fence: '7' };
      return {
        fence: '7',
        keepalive: (timeoutMs: number) => {
          state.keepalives++;
          if (state.keepaliveMode === 'ok') return Promise.resolve(true);
          if (state.keepaliveMode === 'expired') return Promise.resolve(false);
          return new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), timeoutMs));
        },
        resign: async () => {
          state.resigned++;
          state.holder = undefined;
        },
      };
    },
    fenced: (fence: string) => ({ fence }),
  };
  return { state, store: store as unknown as EtcdStore };
}

/** stop() under fake timers: a keep-alive in flight still runs out its timeout. */
async function stopped(l: Leadership): Promise<void> {
  const done = l.stop();
  await vi.advanceTimersByTimeAsync(10_000);
  await done;
}

describe('Leadership', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a leader whose keep-alives stop being confirmed stops acting at TTL/2, then resigns', async () => {
    const { state, store } = fakeStore();
    const events: string[] = [];
    let signal: AbortSignal | undefined;
    let leadAt = 0;
    const l = new Leadership({
      store,
      ttlSeconds: 10,
      info,
      lead: async (term) => {
        // The first term (the fake store frees the key on resign, so it leads again after).
        signal ??= term.signal;
        leadAt ||= Date.now();
        expect((term.store as unknown as { fence: string }).fence).toBe('7');
        events.push('lead');
        return async () => void events.push(`stopped (aborted: ${term.signal.aborted})`);
      },
    });
    l.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(l.role).toBe('leader');
    expect(events).toEqual(['lead']);
    // Confirmed keep-alives: it stays leader for longer than the TTL.
    await vi.advanceTimersByTimeAsync(25_000);
    expect(l.role).toBe('leader');
    expect(state.keepalives).toBeGreaterThan(10);

    state.keepaliveMode = 'hang';
    const hangFrom = Date.now();
    let abortedAt = 0;
    signal!.addEventListener('abort', () => (abortedAt = Date.now()));
    await vi.advanceTimersByTimeAsync(6_000);
    expect(signal!.aborted).toBe(true);
    // The last confirmed keep-alive was sent at most one interval (TTL/6) before the hang began;
    // the abort comes TTL/2 after it: well before the lease (TTL after it) can expire.
    expect(abortedAt - hangFrom).toBeLessThanOrEqual(5_000);
    expect(abortedAt - hangFrom).toBeGreaterThan(5_000 - 10_000 / 6 - 1);
    expect(events.slice(0, 2)).toEqual(['lead', 'stopped (aborted: true)']);
    expect(state.resigned).toBe(1);
    expect(leadAt).toBeGreaterThan(0);
    await stopped(l);
  });

  it('etcd saying the lease expired ends the term at once', async () => {
    const { state, store } = fakeStore();
    let aborted = false;
    const l = new Leadership({ store, ttlSeconds: 4, info, lead: async (t) => async () => void (aborted = t.signal.aborted) });
    l.start();
    await vi.advanceTimersByTimeAsync(1);
    state.keepaliveMode = 'expired';
    await vi.advanceTimersByTimeAsync(700);
    expect(aborted).toBe(true);
    expect(l.role).not.toBe('leader');
    await stopped(l);
  });

  it('a follower reads the leader from the key and takes over when it is gone', async () => {
    const { state, store } = fakeStore();
    const other: LeaderInfo = { ...info, pid: 2, url: 'http://b:2' };
    state.holder = { info: other, fence: '3' };
    let led = false;
    const l = new Leadership({ store, ttlSeconds: 4, info, lead: async () => ((led = true), async () => undefined) });
    l.start();
    await l.ready;
    expect(l.role).toBe('follower');
    expect(l.leader?.url).toBe('http://b:2');
    expect(led).toBe(false);
    state.holder = undefined; // the leader's lease expired
    await vi.advanceTimersByTimeAsync(300);
    expect(l.role).toBe('leader');
    expect(led).toBe(true);
    await stopped(l);
  });
});

describe('ApiClient with several servers', () => {
  it('moves to the next URL on a refused connection or a 503, and stays with the one that answered', async () => {
    const calls: string[] = [];
    const fake = (async (input: string | URL | Request) => {
      const url = String(input);
      calls.push(url);
      if (url.startsWith('http://a')) throw Object.assign(new TypeError('fetch failed'), { cause: new Error('connect ECONNREFUSED') });
      if (url.startsWith('http://b')) return new Response(JSON.stringify({ error: 'no leader yet' }), { status: 503 });
      return new Response(JSON.stringify({ ok: true }), { status: 200 });
    }) as typeof fetch;
    const notes: string[] = [];
    const client = new ApiClient('http://a:1,http://b:2,http://c:3', 't', fake, 10_000, (m) => notes.push(m));
    expect(await client.json('/healthz')).toEqual({ ok: true });
    expect(calls.map((c) => c.slice(0, 10))).toEqual(['http://a:1', 'http://b:2', 'http://c:3']);
    expect(notes[0]).toMatch(/ECONNREFUSED.*trying http:\/\/b:2/);
    await client.json('/healthz');
    expect(calls.at(-1)).toMatch(/^http:\/\/c:3/);
  });

  it('does not fail over on a client error (401, 422), and gives up after its failover time', async () => {
    const unauthorized = (async () => new Response(JSON.stringify({ error: 'missing or unknown bearer token' }), { status: 401 })) as typeof fetch;
    const c1 = new ApiClient('http://a:1,http://b:2', 't', unauthorized, 10_000);
    await expect(c1.json('/x')).rejects.toMatchObject({ status: 401 });

    const down = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    const c2 = new ApiClient('http://a:1,http://b:2', 't', down, 0);
    const err = await c2.json('/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).message).toMatch(/cannot reach the vendetta server/);
  });

  it('a single URL fails at once, as before', async () => {
    let n = 0;
    const down = (async () => {
      n++;
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await expect(new ApiClient('http://a:1', 't', down).json('/x')).rejects.toBeInstanceOf(ServerError);
    expect(n).toBe(1);
  });
});
