// The provider drivers. Light on purpose: the process driver is small, the others load on first use.
import { createProcessDriver } from '../providers/process/driver.js';
import { lazyDriver } from '../providers/lazy.js';
import type { ProviderDriver } from '../providers/types.js';
import type { ProviderName } from '../model/types.js';

export function drivers(): Partial<Record<ProviderName, ProviderDriver>> {
  return {
    process: createProcessDriver(),
    docker: lazyDriver('docker', async () => (await import('../providers/docker/driver.js')).createDockerDriver(), { bulk: true }),
    lxc: lazyDriver('lxc', async () => (await import('../providers/lxc/driver.js')).createLxcDriver(), { bulk: true }),
    qemu: lazyDriver('qemu', async () => (await import('../providers/qemu/driver.js')).createQemuDriver(), { diagnostics: true }),
  };
}
