// The store get/describe/delete read: the server's in client mode, else the local one. Kept apart
// from ./client.ts so that a local read loads no server client (whose wire format pulls in ajv).
import { openStore } from '../store/file-store.js';
import type { Store } from '../store/types.js';

export async function openReadStore(): Promise<Store> {
  if (!process.env.VENDETTA_SERVER) return openStore();
  const { serverClient } = await import('./client.js');
  const { remoteStore } = await import('../server/client.js');
  return remoteStore(serverClient()!);
}
