// vendetta sync WORKSPACE [--watch] : push what changed under the workspace's source.path into
// it (one tar over one exec; .gitignore and .vendettaignore honoured; see docs/sync.md).
// --watch keeps doing so on every change, one line per batch, until Ctrl-C.
import type { Command } from 'commander';
import { openStore, defaultHome } from '../store/file-store.js';
import { TransportPool } from '../transport/pool.js';
import type { GlobalOptions } from './context.js';
import { cliTransportOptions } from './keeper.js';
import { ExitError } from './errors.js';
import { openWorkspace } from './runtime.js';
import { untilSignal } from './serve.js';

export function registerSync(program: Command): void {
  program
    .command('sync')
    .description("push changed files of a workspace's source.path into it (incremental; --watch: on every change)")
    .argument('<workspace>', 'workspace name')
    .option('--watch', 'keep running: push each batch of changes as it happens (Ctrl-C to stop)')
    .action(async (name: string, flags: { watch?: boolean }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const { WorkspaceSyncer, NothingToSync, describeBatch, watchSource } = await import('../sync/session.js');
      const store = await openStore();
      const pool = new TransportPool(cliTransportOptions({ strictHostKeys: global.strictHostKeys }));
      // Replacing a workspace takes the engine and its manifests: apply --watch does it.
      const rebuildNote = (b: { rebuildFor: string[] }) => {
        if (b.rebuildFor.length > 0) process.stderr.write(`note: ${b.rebuildFor.join(', ')} ask${b.rebuildFor.length === 1 ? 's' : ''} for a rebuild of ${name} (onSync: rebuild); vendetta sync only pushes files: run apply --watch to have it rebuilt\n`);
      };
      try {
        const syncer = new WorkspaceSyncer(store, (ws) => openWorkspace(store, pool, ws), name, defaultHome());
        // The first run checks the workspace holds what was last sent (recreated: all of it).
        const first = await syncer.run({ verify: true });
        process.stdout.write(`${first.outcome.unchanged ? `${name} is up to date (${first.ms} ms)` : describeBatch(first)}\n`);
        rebuildNote(first);
        if (!flags.watch) return;
        const watcher = watchSource(syncer, {
          batch: (b) => {
            process.stdout.write(`${describeBatch(b)}\n`);
            rebuildNote(b);
          },
          error: (err) => process.stderr.write(`sync to ${name} failed: ${err.message}; still watching\n`),
        });
        process.stderr.write(`watching ${syncer.source} (Ctrl-C to stop)\n`);
        await untilSignal();
        await watcher.close();
      } catch (err) {
        if (err instanceof NothingToSync) throw new ExitError(err.message, 1, err.hint);
        throw err;
      } finally {
        await pool.closeAll();
      }
    });
}
