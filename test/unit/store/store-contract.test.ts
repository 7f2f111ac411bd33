// The store contract (test/contract/store.ts) against the file store; etcd runs the same suite in
// test/e2e/etcd-store.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../../src/store/file-store.js';
import { storeContract } from '../../contract/store.js';

storeContract('file', async () => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'vendetta-contract-'));
  return {
    store: await openStore(home),
    openAnother: () => openStore(home),
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
});
