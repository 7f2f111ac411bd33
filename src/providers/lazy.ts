// A driver whose module is loaded on first use, so the CLI starts without loading (for example)
// dockerode and its dependencies when no Docker workspace is involved.
import type { ProviderName } from '../model/types.js';
import type { ProviderDriver } from './types.js';

export function lazyDriver(
  name: ProviderName,
  load: () => Promise<ProviderDriver>,
  /**
   * What the real driver has of the optional methods, known without loading it: `diagnostics` (so
   * `describe` only connects when it has something to show), and `observeServices`/`deleteMany`
   * (the executor reads every workspace's services, and deletes, in one round trip per node when
   * the driver can; a wrapper without them would make it fall back to one per workspace).
   */
  opts: { diagnostics?: boolean; bulk?: boolean } = {},
): ProviderDriver {
  let real: Promise<ProviderDriver> | undefined;
  let loaded: ProviderDriver | undefined;
  const driver = () => (real ??= load().then((d) => (loaded = d)));
  return {
    name,
    // The real driver's, once loaded: the executor asks after a create or start, which loaded it.
    get startedMeansRunning() {
      return loaded?.startedMeansRunning;
    },
    prepare: () => void driver().catch(() => undefined), // a load error surfaces at first real use
    availability: async (ctx) => (await driver()).availability(ctx),
    observe: async (ctx) => (await driver()).observe(ctx),
    create: async (ctx, ws) => (await driver()).create(ctx, ws),
    // Planned only for workspaces whose driver recorded a shape hash (qemu), so it has update().
    update: async (ctx, ws) => {
      const d = await driver();
      if (!d.update) throw new Error(`the ${name} provider cannot update workspace ${ws.resource.metadata.name} in place`);
      return d.update(ctx, ws);
    },
    start: async (ctx, n) => (await driver()).start(ctx, n),
    stop: async (ctx, n) => (await driver()).stop(ctx, n),
    delete: async (ctx, n, o) => (await driver()).delete(ctx, n, o),
    runtime: async (ctx, n) => (await driver()).runtime(ctx, n),
    listVolumes: async (ctx, w) => (await driver()).listVolumes?.(ctx, w) ?? [],
    deleteVolumes: async (ctx, v) => (await driver()).deleteVolumes?.(ctx, v),
    ...(opts.diagnostics ? { diagnostics: async (ctx, n) => (await (await driver()).diagnostics?.(ctx, n)) ?? {} } : {}),
    ...(opts.bulk
      ? {
          observeServices: async (ctx, ws) => (await driver()).observeServices!(ctx, ws),
          deleteMany: async (ctx, names) => (await driver()).deleteMany!(ctx, names),
        }
      : {}),
  };
}
