// vendetta serve : the coordination server. Holds the store lock for its whole life (it is the
// one writer of this VENDETTA_HOME; an embedded `vendetta apply` waits with the "held by"
// message), serves the API, and keeps every applied set converged with a periodic resync.
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { openStoreFrom, StoreSpecError } from '../store/open.js';
import type { Store } from '../store/types.js';
import type { GlobalOptions } from './context.js';
import { parseQuantity } from '../model/quantity.js';
import { flagDuration } from './options.js';
import { ExitError, UsageError } from './errors.js';
import { VERSION } from '../version.js';
import { renderTable, age } from '../output/table.js';

interface ServeFlags {
  listen: string;
  resync: string;
  lockTimeout: string;
  store?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxSourceSize: string;
  leaseTtl: string;
  advertiseUrl?: string;
}

export const DEFAULT_LISTEN = '127.0.0.1:7171';

/** "127.0.0.1:7171", "[::1]:0", ":7171" → host and port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`invalid --listen "${text}"`, 'use HOST:PORT, e.g. 127.0.0.1:7171 (port 0 picks a free one)');
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function registerServe(program: Command): void {
  const serve = program
    .command('serve')
    .description('run the coordination server: HTTP API, continuous reconcile, drift repair')
    .option('--listen <host:port>', 'address to listen on (loopback by default)', DEFAULT_LISTEN)
    .option('--resync <duration>', 'how often to re-observe every node and repair drift', '10s')
    .option('--lock-timeout <duration>', 'wait this long for another vendetta holding the store lock', '60s')
    .option('--store <url>', 'where the store lives: file:DIR (default: $VENDETTA_HOME) or etcd://HOST:PORT[,HOST:PORT…]')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--max-source-size <size>', 'largest source.path tree a client may upload, e.g. 256Mi, 1Gi', '256Mi')
    .option('--lease-ttl <duration>', 'with --store etcd://: the leader\'s lease; a dead leader is replaced within 2x this (whole seconds, at least 2s)', '10s')
    .option('--advertise-url <url>', 'with --store etcd://: the URL other replicas forward writes to (default: the listen address)')
    .action(async (flags: ServeFlags, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const { host, port } = parseListen(flags.listen);
      const resyncMs = flagDuration('--resync', flags.resync, 10_000);
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const tls = await readTls(flags.tlsCert, flags.tlsKey);
      const maxSourceBytes = sizeFlag('--max-source-size', flags.maxSourceSize);
      if (!isLoopback(host) && !tls) log(`warning: listening on ${host}, not loopback: the API is plain HTTP; use --tls-cert/--tls-key, or an SSH tunnel`);

      // The server's parts load here, not with every command (see main.ts).
      const [{ createEngine }, { TransportPool }, { Coordinator }, { createApiServer, listen }, { EventHub, lockHeldStore }, { ensureToken, tokenPath }, { drivers }, { ServerMetrics }] =
        await Promise.all([
          import('../reconcile/engine.js'), import('../transport/pool.js'), import('../server/coordinator.js'), import('../server/http.js'),
          import('../server/session.js'), import('../server/token.js'), import('./drivers.js'), import('../server/metrics.js'),
        ]);
      const { SourceStore } = await import('../server/sources.js');
      const ha = haFlags(flags);
      const store = await openStoreOrUsage(flags.store);
      // A fresh VENDETTA_HOME: the store creates it lazily, but the token goes in first.
      await fs.mkdir(store.home, { recursive: true, mode: 0o700 });
      const token = await ensureToken(store.home);
      if (isEtcd(store)) {
        const { serveReplica } = await import('./serve-replica.js');
        return serveReplica({ store, token, host, port, tls, log, resyncMs, resyncText: flags.resync, maxSourceBytes, strictHostKeys: global.strictHostKeys, ...ha });
      }
      const release = await store
        .lock(`serve (${hostname()})`, {
          timeoutMs: flagDuration('--lock-timeout', flags.lockTimeout, 60_000),
          onWait: (h) => log(`waiting for the lock held by pid ${h.pid} on ${h.host} ("${h.command}", since ${h.since})…`),
        })
        .catch(async (err: unknown) => {
          await store.close?.();
          throw err;
        });
      const pool = new TransportPool({ strictHostKeys: global.strictHostKeys });
      const hub = new EventHub();
      const engine = createEngine({ store: lockHeldStore(store), connect: (node) => pool.get(node), drivers: drivers(), events: hub.events });
      const metrics = new ServerMetrics(VERSION);
      // Uploaded source trees are local to this server, beside its token (not in an etcd store).
      const sources = new SourceStore(path.join(store.home, 'sources'), maxSourceBytes);
      const coordinator = new Coordinator({ store, engine, hub, resyncMs, log, metrics, sources });
      hub.subscribe({ onEvent: (e) => log(`${e.type === 'Warning' ? '!' : '•'} ${e.object} ${e.reason}: ${e.message}`) });
      const { openWorkspace } = await import('./runtime.js');
      const openRuntime = async (name: string) => (await openWorkspace(store, pool, name)).runtime;
      const server = createApiServer({ coordinator, store, hub, token, metrics, sources, tls, openRuntime });
      // exec, shell, logs and port-forward of clients with no SSH access of their own.
      const { attachAccess } = await import('../server/access.js');
      const { authorize } = await import('../server/http.js');
      const access = attachAccess(server, {
        store,
        pool,
        authorize: (req, needed, what) => authorize({ token, store }, req, needed, what),
        record: (e) => {
          hub.events.onEvent?.(e);
          void store.appendEvent(e).catch(() => undefined);
        },
      });
      const stateFile = path.join(store.home, 'server.json');
      try {
        const url = await listen(server, host, port);
        await fs.writeFile(stateFile, JSON.stringify({ pid: process.pid, url }) + '\n', { mode: 0o600 });
        process.stdout.write(`vendetta server listening on ${url} (token: ${tokenPath(store.home)}, resync every ${flags.resync})\n`);
        await coordinator.start();
        await untilSignal();
        log('shutting down: finishing the operation in flight…');
      } finally {
        access.closeAll(); // open exec/logs/shell/port-forward streams: server.close() would wait for them
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await coordinator.stop();
        await engine.close();
        await pool.closeAll();
        await fs.rm(stateFile, { force: true });
        await release();
        await store.close?.();
      }
      log('stopped');
    });
  registerTokenCommands(serve);
}

function isEtcd(store: Store): store is import('../store/etcd-store.js').EtcdStore {
  return typeof (store as { campaign?: unknown }).campaign === 'function';
}

/** --lease-ttl (whole seconds, >= 2) and --advertise-url (http(s)://…), which only an etcd store uses. */
function haFlags(flags: ServeFlags): { ttlSeconds: number; advertiseUrl?: string } {
  const etcd = flags.store?.startsWith('etcd://') ?? false;
  if (!etcd && flags.advertiseUrl !== undefined) throw new UsageError('--advertise-url needs --store etcd://… (replicas share an etcd store)', 'e.g. --store etcd://127.0.0.1:2379 --advertise-url http://10.0.0.5:7171');
  if (!etcd && flags.leaseTtl !== '10s') throw new UsageError('--lease-ttl needs --store etcd://… (the leader\'s lease lives in etcd)', 'e.g. --store etcd://127.0.0.1:2379 --lease-ttl 5s');
  const ms = flagDuration('--lease-ttl', flags.leaseTtl, 10_000);
  if (ms < 2000 || ms % 1000 !== 0) throw new UsageError(`invalid --lease-ttl "${flags.leaseTtl}": etcd leases are whole seconds, and at least 2s`, 'e.g. --lease-ttl 10s (the default) or --lease-ttl 3s');
  if (flags.advertiseUrl !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(flags.advertiseUrl)) {
    throw new UsageError(`invalid --advertise-url "${flags.advertiseUrl}"`, 'use the scheme, host and port the other replicas reach this one at, e.g. http://10.0.0.5:7171');
  }
  return { ttlSeconds: ms / 1000, advertiseUrl: flags.advertiseUrl?.replace(/\/$/, '') };
}

/**
 * `vendetta serve token create|list|revoke`: the server's tokens, written straight to the store
 * `--store` names (no running server needed; a running one reads them on every request).
 */
function registerTokenCommands(serve: Command): void {
  const token = serve.command('token').description('manage the tokens clients of `vendetta serve` use (roles: view, edit, admin)');
  const storeOf = (cmd: Command) => openStoreOrUsage((cmd.optsWithGlobals() as { store?: string }).store);
  token
    .command('create <name>')
    .description('make a token with a role and print it (shown only this once; the store keeps its SHA-256)')
    .requiredOption('--role <role>', 'view (read only), edit (apply, delete) or admin')
    .action(async (name: string, flags: { role: string }, cmd: Command) => {
      const { checkTokenName, hashToken, newToken, parseRole } = await import('../server/auth.js');
      let role;
      try {
        checkTokenName(name);
        role = parseRole(flags.role);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const secret = newToken();
      await withStore(await storeOf(cmd), async (store) => {
        const created = await store.createToken({ name, role, hash: hashToken(secret), created: new Date().toISOString() });
        if (!created) throw new ExitError(`a token named "${name}" already exists`, 1, 'pick another name (a revoked name stays taken: its events name it)');
      });
      process.stderr.write(`token "${name}" (role ${role}) created; it is shown only this once, keep it (clients: VENDETTA_TOKEN or --token-file)\n`);
      process.stdout.write(secret + '\n');
    });
  token
    .command('list')
    .description('the tokens: name, role, created, revoked (never the tokens themselves)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (flags: { output: string }, cmd: Command) => {
      const tokens = await withStore(await storeOf(cmd), (store) => store.tokens());
      const { OWNER } = await import('../server/auth.js');
      if (flags.output === 'json') return void process.stdout.write(JSON.stringify(tokens.map(({ hash: _hash, ...t }) => t), null, 2) + '\n');
      const rows = [[OWNER, 'admin', 'server.token', '-', '-'], ...tokens.map((t) => [t.name, t.role, t.created, t.revoked ? `revoked ${t.revoked}` : '-', age(t.created)])];
      process.stdout.write(renderTable(['NAME', 'ROLE', 'CREATED', 'REVOKED', 'AGE'], rows) + '\n');
    });
  token
    .command('revoke <name>')
    .description('revoke a token: its requests get 401 at once (it stays listed)')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const { OWNER } = await import('../server/auth.js');
      if (name === OWNER) throw new UsageError(`"${OWNER}" is the server.token`, 'to replace it, delete $VENDETTA_HOME/server.token and restart vendetta serve');
      const revoked = await withStore(await storeOf(cmd), (store) => store.revokeToken(name, new Date().toISOString()));
      if (!revoked) throw new ExitError(`no token named "${name}"`, 1, 'see vendetta serve token list');
      process.stdout.write(`token "${name}" revoked\n`);
    });
}

async function withStore<T>(store: Store, work: (store: Store) => Promise<T>): Promise<T> {
  try {
    return await work(store);
  } finally {
    await store.close?.();
  }
}

/** --tls-cert and --tls-key, read; both or neither (a usage error otherwise). */
async function readTls(certFile: string | undefined, keyFile: string | undefined): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new UsageError(`--tls-cert and --tls-key go together (got only ${certFile === undefined ? '--tls-key' : '--tls-cert'})`, 'e.g. --tls-cert server.crt --tls-key server.key (PEM files)');
  }
  const read = (flag: string, file: string) =>
    fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${flag} ${file}: ${err.code ?? err.message}`);
    });
  return { cert: await read('--tls-cert', certFile), key: await read('--tls-key', keyFile) };
}

function sizeFlag(flag: string, value: string): number {
  try {
    const bytes = parseQuantity(value);
    if (bytes > 0) return bytes;
  } catch {
    // reported below
  }
  throw new UsageError(`invalid ${flag} "${value}"`, 'use a size such as 256Mi, 1Gi or 500M');
}

/** The store `--store` names; a malformed value is a usage error (exit 2) with an example. */
async function openStoreOrUsage(spec: string | undefined): Promise<Store> {
  try {
    return await openStoreFrom(spec);
  } catch (err) {
    if (err instanceof StoreSpecError) throw new UsageError(err.message);
    throw err;
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
