// Wiring shared by the commands: store, engine, drivers, transports, manifest loading.
import { loadManifests, formatManifestErrors } from '../manifest/index.js';
import type { LoadedSet, EngineApi, EngineEvents } from '../reconcile/api.js';
import { createEngine } from '../reconcile/engine.js';
import { openStore } from '../store/file-store.js';
import type { Store } from '../store/types.js';
import { TransportPool } from '../transport/pool.js';
import { createProcessDriver } from '../providers/process/driver.js';
import { lazyDriver } from '../providers/lazy.js';
import type { ProviderDriver } from '../providers/types.js';
import type { NodeResource, ProviderName } from '../model/types.js';
import { ExitError } from './errors.js';
import { parseFlagDuration } from './options.js';
import { clientEngine, serverClient, serverNodes } from './client.js';
import { remoteStore } from '../server/client.js';

export interface GlobalOptions {
  strictHostKeys?: boolean;
}

export function drivers(): Partial<Record<ProviderName, ProviderDriver>> {
  return {
    process: createProcessDriver(),
    docker: lazyDriver('docker', async () => (await import('../providers/docker/driver.js')).createDockerDriver()),
    lxc: lazyDriver('lxc', async () => (await import('../providers/lxc/driver.js')).createLxcDriver()),
    qemu: lazyDriver('qemu', async () => (await import('../providers/qemu/driver.js')).createQemuDriver(), { diagnostics: true }),
  };
}

export async function openEngine(global: GlobalOptions, events: EngineEvents = {}): Promise<{ store: Store; engine: EngineApi; pool: TransportPool }> {
  const pool = new TransportPool({ strictHostKeys: global.strictHostKeys });
  const client = serverClient(); // --server / VENDETTA_SERVER: the server drives the nodes
  if (client) return { store: remoteStore(client), engine: clientEngine(client, events), pool };
  const store = await openStore();
  const engine = createEngine({ store, connect: (node) => pool.get(node), drivers: drivers(), events });
  return { store, engine, pool };
}

/** Loads and validates manifests; on errors prints every one as file:line:col and exits. */
export async function loadOrExit(paths: string[] | undefined, exitCode = 1): Promise<LoadedSet> {
  if (!paths || paths.length === 0) throw new ExitError('no manifests given', exitCode, 'pass -f FILE_OR_DIR (repeatable)');
  const result = await loadManifests(paths, { knownNodes: await storeNodes() });
  if (!result.ok) {
    const lines = formatManifestErrors(result.errors, result.total);
    const n = result.total;
    throw new ExitError(`${lines.join('\n')}\n${n} error${n === 1 ? '' : 's'} in manifests; nothing was changed`, exitCode);
  }
  return result.set;
}

/** A flag duration ("90s", "5m") in ms, with the flag named in the error. */
/** Nodes added with `vendetta node add`: manifests may reference them without declaring them. */
export async function storeNodes(): Promise<NodeResource[]> {
  const client = serverClient();
  if (client) return serverNodes(client);
  const store = await openStore();
  return (await store.list('Node')).map((r) => r.resource as NodeResource);
}

export function flagDuration(flag: string, value: string | undefined, fallbackMs: number): number {
  return value === undefined ? fallbackMs : parseFlagDuration(flag, value);
}
