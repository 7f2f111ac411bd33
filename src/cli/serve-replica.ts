// `vendetta serve --store etcd://…`: one of any number of replicas on one etcd store. It listens
// at once; the replica that wins the election (../server/leadership.ts) runs the coordinator on
// a fenced view of the store for as long as its term lasts; the others answer reads and forward
// writes to it (../server/replica.ts). A single replica is simply always the leader.
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { EtcdStore } from '../store/etcd-store.js';
import { VERSION } from '../version.js';
import { untilSignal } from './serve.js';

export interface ReplicaOptions {
  store: EtcdStore;
  token: string;
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  log: (line: string) => void;
  resyncMs: number;
  resyncText: string;
  maxSourceBytes: number;
  strictHostKeys?: boolean;
  ttlSeconds: number;
  advertiseUrl?: string;
}

export async function serveReplica(o: ReplicaOptions): Promise<void> {
  const [{ createEngine }, { TransportPool }, { Coordinator }, { createApiServer, listen }, { EventHub, lockHeldStore }, { tokenPath }, { drivers }, { ServerMetrics }, { SourceStore }, { Leadership }] =
    await Promise.all([
      import('../reconcile/engine.js'), import('../transport/pool.js'), import('../server/coordinator.js'), import('../server/http.js'),
      import('../server/session.js'), import('../server/token.js'), import('./drivers.js'), import('../server/metrics.js'),
      import('../server/sources.js'), import('../server/leadership.js'),
    ]);
  const { store, log } = o;
  // Fail at once (with the store's "unavailable" message) when no etcd member answers at all.
  await store.identity({ create: false });
  const hub = new EventHub();
  const metrics = new ServerMetrics(VERSION);
  const sources = new SourceStore(path.join(store.home, 'sources'), o.maxSourceBytes);
  hub.subscribe({ onEvent: (e) => log(`${e.type === 'Warning' ? '!' : '•'} ${e.object} ${e.reason}: ${e.message}`) });

  let current: InstanceType<typeof Coordinator> | undefined;
  const replica = {
    leadership: undefined as unknown as InstanceType<typeof Leadership>,
    coordinator: () => current,
    url: '',
    ca: o.tls?.cert,
  };
  // Node access (exec, shell, logs, port-forward) and the dashboard's restart work on every
  // replica, leader or not, with connections of their own (they only read the store).
  const accessPool = new TransportPool({ strictHostKeys: o.strictHostKeys });
  const { openWorkspace } = await import('./runtime.js');
  const openRuntime = async (name: string) => (await openWorkspace(store, accessPool, name)).runtime;
  const server = createApiServer({ replica, store, hub, token: o.token, metrics, sources, tls: o.tls, openRuntime });
  const { attachAccess } = await import('../server/access.js');
  const { authorize } = await import('../server/http.js');
  const access = attachAccess(server, {
    store,
    pool: accessPool,
    authorize: (req, needed, what) => authorize({ token: o.token, store }, req, needed, what),
    record: (e) => {
      hub.events.onEvent?.(e);
      void store.appendEvent(e).catch(() => undefined);
    },
  });
  const stateFile = path.join(store.home, 'server.json');
  let leadership: InstanceType<typeof Leadership> | undefined;
  try {
    const url = await listen(server, o.host, o.port);
    replica.url = o.advertiseUrl ?? url;
    leadership = new Leadership({
      store,
      ttlSeconds: o.ttlSeconds,
      info: { pid: process.pid, host: hostname(), command: `serve (${hostname()})`, since: new Date().toISOString(), url: replica.url },
      log,
      lead: async (term) => {
        const started = Date.now();
        // Connections per term: the engine closes what it used when the term ends.
        const pool = new TransportPool({ strictHostKeys: o.strictHostKeys });
        // Fencing: the moment the term ends, its connections to the nodes are cut (an operation in
        // flight fails instead of finishing after another replica may lead).
        term.signal.addEventListener('abort', () => void pool.closeAll(), { once: true });
        const engine = createEngine({ store: lockHeldStore(term.store), connect: (node) => pool.get(node), drivers: drivers(), events: hub.events });
        const coordinator = new Coordinator({ store: term.store, engine, hub, resyncMs: o.resyncMs, log, metrics, sources, signal: term.signal });
        const stop = async () => {
          if (current === coordinator) current = undefined;
          await coordinator.stop();
          await engine.close();
          await pool.closeAll();
        };
        try {
          await coordinator.start();
        } catch (err) {
          await stop();
          throw err;
        }
        if (!term.signal.aborted) {
          current = coordinator;
          log(`leading: reconciling every stored apply set (took ${Date.now() - started}ms to start)`);
        }
        return stop;
      },
    });
    replica.leadership = leadership;
    // The first election round decides before we say we listen: a leader holds the lock by then.
    leadership.start();
    await leadership.ready;
    await fs.writeFile(stateFile, JSON.stringify({ pid: process.pid, url }) + '\n', { mode: 0o600 });
    process.stdout.write(`vendetta server listening on ${url} (token: ${tokenPath(store.home)}, resync every ${o.resyncText}, replica on ${store.endpoints.join(',')}, lease ${o.ttlSeconds}s)\n`);
    await untilSignal();
    log('shutting down: finishing the operation in flight…');
  } finally {
    access.closeAll(); // open streams: server.close() would wait for them
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await leadership?.stop();
    await accessPool.closeAll();
    await fs.rm(stateFile, { force: true });
    await store.close();
  }
  log('stopped');
}
