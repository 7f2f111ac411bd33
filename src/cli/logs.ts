// vendetta logs SERVICE [-f] : the service's stdout+stderr, kept by its supervisor.
import type { Command } from 'commander';
import { openStore } from '../store/file-store.js';
import { TransportPool } from '../transport/pool.js';
import { createServiceManager } from '../services/manager.js';
import { openWorkspace, serviceResource } from './runtime.js';
import type { GlobalOptions } from './context.js';
import { cliTransportOptions } from './keeper.js';
import { serverClient } from './client.js';

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description("print a service's logs")
    .argument('<service>', 'service name')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--tail <lines>', 'lines from the end to show', '200')
    .action(async (name: string, flags: { follow?: boolean; tail: string }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      if (serverClient()) return (await import('./remote-access.js')).remoteLogs(name, { follow: flags.follow, tail: Number(flags.tail) || 200 });
      const store = await openStore();
      const service = await serviceResource(store, name);
      const pool = new TransportPool(cliTransportOptions({ strictHostKeys: global.strictHostKeys }));
      try {
        const ws = await openWorkspace(store, pool, service.spec.workspace);
        const services = createServiceManager(ws.runtime);
        const tail = Number(flags.tail) || 200;
        if (!flags.follow) {
          process.stdout.write(await services.logs(name, { tail }));
          return;
        }
        const proc = await services.followLogs(name, { tail });
        proc.stdout.pipe(process.stdout);
        proc.stderr.pipe(process.stderr);
        const stop = () => proc.kill('SIGTERM');
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await proc.wait();
      } finally {
        await pool.closeAll();
      }
    });
}
