// Wiring shared by the commands: store, engine, drivers, transports, manifest loading. Heavy
// (ajv, xstate): commands import it in their action, never at the top (see main.ts).
import { loadManifests, formatManifestErrors } from '../manifest/index.js';
import type { LoadedSet, EngineApi, EngineEvents } from '../reconcile/api.js';
import { createEngine } from '../reconcile/engine.js';
import { openStore } from '../store/file-store.js';
import type { Store } from '../store/types.js';
import { TransportPool } from '../transport/pool.js';
import { drivers } from './drivers.js';
import { ExitError } from './errors.js';
import { flagDuration } from './options.js';
import { clientEngine, manifestOptions, serverClient, storeNodes } from './client.js';
import { remoteStore } from '../server/client.js';
import { cliTransportOptions } from './keeper.js';

export interface GlobalOptions {
  strictHostKeys?: boolean;
}

export { drivers };

export async function openEngine(global: GlobalOptions, events: EngineEvents = {}): Promise<{ store: Store; engine: EngineApi; pool: TransportPool }> {
  const pool = new TransportPool(cliTransportOptions({ strictHostKeys: global.strictHostKeys }));
  const client = serverClient(); // --server / VENDETTA_SERVER: the server drives the nodes
  if (client) return { store: remoteStore(client), engine: clientEngine(client, events), pool };
  const store = await openStore();
  const engine = createEngine({ store, connect: (node) => pool.get(node), drivers: drivers(), events });
  return { store, engine, pool };
}

/** Loads and validates manifests; on errors prints every one as file:line:col and exits. */
export async function loadOrExit(paths: string[] | undefined, exitCode = 1): Promise<LoadedSet> {
  if (!paths || paths.length === 0) throw new ExitError('no manifests given', exitCode, 'pass -f FILE_OR_DIR (repeatable)');
  const result = await loadManifests(paths, await manifestOptions());
  // Foreign files (devcontainer.json): what was not honoured, named (stderr: stdout may be a plan in JSON).
  for (const w of result.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (!result.ok) {
    const lines = formatManifestErrors(result.errors, result.total);
    const n = result.total;
    throw new ExitError(`${lines.join('\n')}\n${n} error${n === 1 ? '' : 's'} in manifests; nothing was changed`, exitCode);
  }
  return result.set;
}


export { flagDuration, manifestOptions, storeNodes };
