// vendetta shell WORKSPACE : an interactive shell (PTY) inside a workspace, through the node's
// connection. Also `workspace connect`.
import type { Command } from 'commander';
import { openStore } from '../store/file-store.js';
import { TransportPool } from '../transport/pool.js';
import { workspaceEnv } from './exec.js';
import { openWorkspace } from './runtime.js';
import { LOGIN_SHELL } from '../sshproxy/commands.js';
import type { GlobalOptions } from './context.js';
import { ExitError } from './errors.js';
import { cliTransportOptions } from './keeper.js';
import { serverClient } from './client.js';

export async function runShell(name: string, global: GlobalOptions, command?: string[]): Promise<void> {
  const client = serverClient();
  if (client) return (await import('./remote-access.js')).remoteShell(client, name, command);
  const store = await openStore();
  const pool = new TransportPool(cliTransportOptions({ strictHostKeys: global.strictHostKeys }));
  const stdin = process.stdin;
  const interactive = Boolean(stdin.isTTY && process.stdout.isTTY);
  try {
    const ws = await openWorkspace(store, pool, name);
    const argv = command?.length ? command : LOGIN_SHELL;
    const env = await workspaceEnv(ws.workspace);
    if (ws.workspace.spec.lifecycle?.postAttach?.length) {
      const { runAttachHooks } = await import('../reconcile/lifecycle.js');
      await runAttachHooks(ws.runtime, ws.workspace.spec.lifecycle, env, (text) => process.stderr.write(text));
    }
    const proc = await ws.runtime.spawn(argv, {
      cwd: ws.runtime.workspaceDir,
      env,
      asWorkspace: true,
      pty: interactive ? { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80, term: process.env.TERM || 'xterm-256color' } : undefined,
    });
    const onResize = () => proc.resize?.(process.stdout.rows || 24, process.stdout.columns || 80);
    if (interactive) {
      stdin.setRawMode(true);
      process.stdout.on('resize', onResize);
    }
    stdin.pipe(proc.stdin);
    proc.stdout.pipe(process.stdout);
    proc.stderr.pipe(process.stderr);
    const code = await proc.wait();
    stdin.unpipe(proc.stdin);
    if (interactive) {
      stdin.setRawMode(false);
      process.stdout.off('resize', onResize);
    }
    if (code !== 0) throw new ExitError('', code);
  } finally {
    await pool.closeAll();
  }
}

export function registerShell(program: Command): void {
  program
    .command('shell')
    .description('open an interactive shell inside a workspace')
    .argument('<workspace>', 'workspace name')
    .action(async (name: string, _flags: unknown, cmd: Command) => runShell(name, cmd.optsWithGlobals() as GlobalOptions));
}
