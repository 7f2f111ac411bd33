// The CLI's lazily loaded drivers must offer the same optional methods as the drivers they load:
// the executor decides by their presence whether a node's services are read, and its workspaces
// deleted, in one round trip or one per workspace.
import { describe, expect, it } from 'vitest';
import { drivers } from '../../../src/cli/drivers.js';
import { createDockerDriver } from '../../../src/providers/docker/driver.js';
import { createLxcDriver } from '../../../src/providers/lxc/driver.js';
import { createProcessDriver } from '../../../src/providers/process/driver.js';
import { createQemuDriver } from '../../../src/providers/qemu/driver.js';
import type { ProviderDriver } from '../../../src/providers/types.js';

const OPTIONAL = ['update', 'observeServices', 'deleteMany', 'listVolumes', 'deleteVolumes', 'diagnostics'] as const;
const has = (d: ProviderDriver) => Object.fromEntries(OPTIONAL.map((m) => [m, typeof d[m] === 'function']));

describe('lazy drivers', () => {
  const real = { process: createProcessDriver(), docker: createDockerDriver(), lxc: createLxcDriver(), qemu: createQemuDriver() };
  const lazy = drivers();
  for (const [name, driver] of Object.entries(real)) {
    it(`${name}: the same optional methods as the real driver`, () => {
      const mine = has(lazy[name as keyof typeof real]!);
      const theirs = has(driver);
      // update, listVolumes and deleteVolumes are always wrapped: they answer for a driver without them.
      for (const m of ['update', 'listVolumes', 'deleteVolumes'] as const) delete mine[m], delete theirs[m];
      expect(mine).toEqual(theirs);
    });
  }
});
