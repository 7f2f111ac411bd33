// Client mode: with --server URL (or VENDETTA_SERVER) the commands talk to `vendetta serve`
// instead of driving nodes themselves. main.ts copies the global flags into the environment
// (VENDETTA_SERVER, VENDETTA_TOKEN_FILE) so every command sees the same choice.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatManifestError } from '../manifest/errors.js';
import type { NodeResource } from '../model/types.js';
import type { EngineApi, EngineEvents } from '../reconcile/api.js';
import { ApiClient, remoteEngine, ServerError } from '../server/client.js';
import { tokenPath } from '../server/token.js';
import { defaultHome, openStore } from '../store/file-store.js';
import { ExitError, UsageError } from './errors.js';

/** The token: VENDETTA_TOKEN, else the file from --token-file / VENDETTA_TOKEN_FILE, else $VENDETTA_HOME/server.token. */
export function serverToken(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VENDETTA_TOKEN) return env.VENDETTA_TOKEN.trim();
  const file = env.VENDETTA_TOKEN_FILE ?? tokenPath(defaultHome());
  try {
    return readFileSync(path.resolve(file), 'utf8').trim();
  } catch (err) {
    throw new UsageError(
      `cannot read the server token from ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      'pass --token-file FILE or set VENDETTA_TOKEN (the server writes it to its $VENDETTA_HOME/server.token)',
    );
  }
}

/** The API client when client mode is on, else undefined. */
export function serverClient(env: NodeJS.ProcessEnv = process.env): ApiClient | undefined {
  const url = env.VENDETTA_SERVER;
  if (!url) return undefined;
  // Several replicas of one etcd store: url1,url2 (the client fails over between them).
  const urls = url.split(',').map((u) => u.trim());
  for (const u of urls) {
    if (!/^https?:\/\/[^\s,]+$/.test(u)) {
      throw new UsageError(`invalid server URL "${u}"${urls.length > 1 ? ` in "${url}"` : ''}`, 'use e.g. --server http://127.0.0.1:7171, or several replicas: --server http://10.0.0.5:7171,http://10.0.0.6:7171');
    }
  }
  const note = (message: string) => process.stderr.write(`vendetta: failing over: ${message}\n`);
  return new ApiClient(urls.join(','), serverToken(env), serverFetch(env), undefined, note);
}

/** fetch, or with VENDETTA_SERVER_CA=FILE one that trusts that CA (a server's self-signed certificate). */
function serverFetch(env: NodeJS.ProcessEnv): typeof fetch {
  const file = env.VENDETTA_SERVER_CA;
  if (!file) return fetch;
  let ca: Buffer;
  try {
    ca = readFileSync(path.resolve(file));
  } catch (err) {
    throw new UsageError(`cannot read VENDETTA_SERVER_CA ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'point it at the PEM certificate (or CA) the server was started with (--tls-cert)');
  }
  // node:https only for a client that needs it.
  return (async (input, init) => (await import('../server/tls.js')).fetchTrusting(ca)(input, init)) as typeof fetch;
}

/** The engine of client mode, with server errors turned into CLI errors. */
export function clientEngine(client: ApiClient, events: EngineEvents): EngineApi {
  const engine = remoteEngine(client, events);
  return {
    // diff maps plain errors to exit 2 (an ExitError would keep its code 1 = "changes").
    plan: (set, opts) => engine.plan(set, opts).catch((e) => Promise.reject(e instanceof ServerError ? new Error(describe(e)) : e)),
    // The server cannot read this machine's disk: source.path trees go up first (deduplicated).
    // (tar-stream and the tree scan load only here.)
    apply: (set, opts) =>
      import('../server/upload.js')
        .then(({ withUploadedSources }) => withUploadedSources(client, set))
        .then((s) => engine.apply(s, opts))
        .catch(toExitError),
    delete: (ids, opts) => engine.delete(ids, opts).catch(toExitError),
    close: () => engine.close(),
  };
}

/**
 * How commands load manifests: nodes known to the store may be referenced, and files that parsed
 * cleanly are remembered in $VENDETTA_HOME/cache/manifests (see src/manifest/documents.ts).
 */
export async function manifestOptions(): Promise<{ knownNodes: NodeResource[]; cacheDir: string }> {
  return { knownNodes: await storeNodes(), cacheDir: path.join(defaultHome(), 'cache', 'manifests') };
}

/** Nodes added with `vendetta node add`: manifests may reference them without declaring them. */
export async function storeNodes(): Promise<NodeResource[]> {
  const client = serverClient();
  if (client) return serverNodes(client);
  const store = await openStore();
  return (await store.list('Node')).map((r) => r.resource as NodeResource);
}

/** Nodes the server knows (client mode): manifests may reference them without declaring them. */
export async function serverNodes(client: ApiClient): Promise<NodeResource[]> {
  try {
    return (await client.json<{ resource: NodeResource }[]>('/nodes')).map((r) => r.resource);
  } catch (e) {
    return toExitError(e);
  }
}

function describe(e: ServerError): string {
  const lines = e.errors?.map(formatManifestError) ?? [];
  return [...lines, e.message].join('\n');
}

function toExitError(e: unknown): never {
  if (e instanceof ServerError) throw new ExitError(describe(e), 1, e.hint);
  throw e;
}
