// Which store a command uses, from `--store URL`: the embedded file store (the default), or
// etcd. Parsing is pure (parseStoreSpec); openStoreFrom loads the etcd backend only when asked.
import os from 'node:os';
import path from 'node:path';
import { defaultHome, openStore } from './file-store.js';
import type { Store } from './types.js';

export type StoreSpec = { backend: 'file'; home: string } | { backend: 'etcd'; endpoints: string[] };

const EXAMPLES = 'e.g. --store etcd://127.0.0.1:2379,127.0.0.1:22379 or --store file:~/.vendetta';

export class StoreSpecError extends Error {
  constructor(spec: string, why: string) {
    super(`invalid --store "${spec}": ${why}; ${EXAMPLES}`);
    this.name = 'StoreSpecError';
  }
}

/** undefined or "" → the file store in VENDETTA_HOME; "file:PATH"; "etcd://HOST:PORT[,HOST:PORT…]". */
export function parseStoreSpec(spec: string | undefined, home: string = defaultHome()): StoreSpec {
  if (spec === undefined || spec === '') return { backend: 'file', home: path.resolve(home) };
  if (spec.startsWith('file:')) {
    const raw = spec.slice('file:'.length).replace(/^\/\/(?=\/)/, ''); // file:///x is file:/x
    if (!raw) throw new StoreSpecError(spec, 'file: needs a directory');
    const expanded = raw === '~' || raw.startsWith('~/') ? path.join(os.homedir(), raw.slice(1)) : raw;
    return { backend: 'file', home: path.resolve(expanded) };
  }
  if (spec.startsWith('etcd://')) {
    const list = spec.slice('etcd://'.length).replace(/\/$/, '');
    if (!list) throw new StoreSpecError(spec, 'etcd:// needs at least one HOST:PORT');
    const endpoints = list.split(',').map((e) => e.trim());
    for (const endpoint of endpoints) {
      const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(endpoint);
      if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) {
        throw new StoreSpecError(spec, `"${endpoint}" is not HOST:PORT (no path, user or query; a comma between members)`);
      }
    }
    return { backend: 'etcd', endpoints };
  }
  throw new StoreSpecError(spec, 'expected file:PATH or etcd://HOST:PORT[,HOST:PORT…]');
}

/**
 * The store a `--store` value names. The etcd backend keeps VENDETTA_HOME (`home`) for what
 * stays local to one server: its token and state file.
 */
export async function openStoreFrom(spec?: string, home: string = defaultHome()): Promise<Store> {
  const parsed = parseStoreSpec(spec, home);
  if (parsed.backend === 'file') return openStore(parsed.home);
  const { openEtcdStore } = await import('./etcd-store.js');
  return openEtcdStore({ endpoints: parsed.endpoints, home: path.resolve(home) });
}
