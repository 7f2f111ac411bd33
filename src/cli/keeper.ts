// Wiring of the SSH connection keeper (src/transport/keeper/) into the CLI: which commands use it,
// and the hidden `__ssh-keeper` command the first of them starts in the background.
import type { Command } from 'commander';
import { KeeperClient, keeperSocketPath, persistSeconds, startKeeperProcess } from '../transport/keeper/client.js';
import type { TransportOptions } from '../transport/pool.js';

/**
 * Transport options of a short-lived command: its connections come from the keeper when one
 * runs. Long-running commands (`serve`, `apply --watch`) keep their own connections instead.
 */
export function cliTransportOptions(global: { strictHostKeys?: boolean }): TransportOptions {
  return { strictHostKeys: global.strictHostKeys, keeper: persistSeconds() > 0 ? cliKeeper() : undefined };
}

/** The keeper of this CLI and environment (whether or not one runs). */
export function cliKeeper(seconds = persistSeconds()): KeeperClient | undefined {
  const entry = process.argv[1];
  if (!entry) return undefined;
  return new KeeperClient({
    socketPath: () => keeperSocketPath(entry),
    start: (socketPath) => startKeeperProcess(entry, socketPath, seconds),
  });
}

export function registerKeeper(program: Command): void {
  program
    .command('__ssh-keeper <socket> <idleSeconds>', { hidden: true })
    .description('keep SSH connections to nodes open between commands (started by the CLI itself)')
    .action(async (socket: string, idleSeconds: string) => {
      const { ConnectionKeeper } = await import('../transport/keeper/server.js');
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} keeper ${process.pid}: ${line}\n`);
      const keeper = new ConnectionKeeper({ socketPath: socket, idleMs: Number(idleSeconds) * 1000, log });
      if (!(await keeper.listen())) return; // another keeper won the race
      log(`listening on ${socket}`);
      const stop = () => void keeper.close().then(() => process.exit(0));
      process.on('SIGTERM', stop).on('SIGINT', stop).on('SIGHUP', stop);
      await keeper.closed; // then main() exits the process
    });
}
