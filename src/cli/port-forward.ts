// vendetta port-forward WORKSPACE [LOCAL:]PORT… : listen on this machine's loopback and tunnel
// each connection to the workspace's port through the node's connection. Every new connection
// asks the transport again, so forwards keep working after the SSH connection reconnects.
import type { Command } from 'commander';
import { createServer, type Server } from 'node:net';
import { openStore } from '../store/file-store.js';
import { TransportPool } from '../transport/pool.js';
import { openWorkspace } from './runtime.js';
import type { GlobalOptions } from './context.js';
import { UsageError } from './errors.js';
import { cliTransportOptions } from './keeper.js';
import { serverClient } from './client.js';

export interface ForwardSpec {
  local: number;
  remote: number;
}

export function parseForward(spec: string): ForwardSpec {
  const m = /^(?:(\d+):)?(\d+)$/.exec(spec);
  const valid = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
  if (!m) throw new UsageError(`invalid port "${spec}"`, 'use PORT or LOCAL:PORT, e.g. 8080:3000');
  const remote = Number(m[2]);
  const local = m[1] === undefined ? remote : Number(m[1]);
  if (!valid(local) || !valid(remote) || remote === 0) throw new UsageError(`invalid port "${spec}"`, 'ports are 1-65535 (LOCAL may be 0: any free port)');
  return { local, remote };
}

export function registerPortForward(program: Command): void {
  program
    .command('port-forward')
    .description("forward local ports to a workspace's ports (until Ctrl-C)")
    .argument('<workspace>', 'workspace name')
    .argument('<ports...>', '[LOCAL:]PORT, e.g. 8080:3000 or 3000')
    .option('--address <ip>', 'local address to listen on', '127.0.0.1')
    .action(async (name: string, portSpecs: string[], flags: { address: string }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const forwards = portSpecs.map(parseForward);
      if (serverClient()) return (await import('./remote-access.js')).remotePortForward(name, forwards, flags.address);
      const store = await openStore();
      const pool = new TransportPool(cliTransportOptions({ strictHostKeys: global.strictHostKeys }));
      const ws = await openWorkspace(store, pool, name);
      const servers: Server[] = [];
      for (const f of forwards) {
        const server = createServer((socket) => {
          // Ask the pool each time: a dropped SSH connection is re-established here.
          pool
            .get(ws.node)
            .then((t) => t.connectTcp(ws.runtime.address, f.remote))
            .then((remote) => {
              socket.pipe(remote).pipe(socket);
              remote.on('error', () => socket.destroy());
              socket.on('error', () => remote.destroy());
            })
            .catch((e: Error) => {
              process.stderr.write(`forward ${f.local} → ${name}:${f.remote} failed: ${e.message}\n`);
              socket.destroy();
            });
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e: NodeJS.ErrnoException) =>
            reject(new UsageError(`cannot listen on ${flags.address}:${f.local}: ${e.code === 'EADDRINUSE' ? 'port in use' : e.message}`, 'pick another LOCAL port, e.g. 0 for any free one')),
          );
          server.listen(f.local, flags.address, () => resolve());
        });
        const port = (server.address() as { port: number }).port;
        process.stdout.write(`Forwarding ${flags.address}:${port} → workspace ${name} port ${f.remote}\n`);
        servers.push(server);
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      for (const s of servers) s.close();
      await pool.closeAll();
    });
}
