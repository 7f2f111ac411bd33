// vendetta exec WORKSPACE -- CMD… : run a command inside a workspace, exit with its code.
import type { Command } from 'commander';
import { openStore } from '../store/file-store.js';
import { TransportPool } from '../transport/pool.js';
import { openWorkspace } from './runtime.js';
import type { GlobalOptions } from './context.js';
import { ExitError, UsageError } from './errors.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run a command inside a workspace (argv is passed as is, no shell)')
    .argument('<workspace>', 'workspace name')
    .argument('<command...>', 'command and arguments (put them after --)')
    .option('-w, --workdir <dir>', 'working directory inside the workspace')
    .option('-i, --stdin', 'pass stdin to the command')
    .action(async (name: string, argv: string[], flags: { workdir?: string; stdin?: boolean }, cmd: Command) => {
      if (argv.length === 0) throw new UsageError('no command given', 'vendetta exec WORKSPACE -- CMD ARGS…');
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const store = await openStore();
      const pool = new TransportPool({ strictHostKeys: global.strictHostKeys });
      try {
        const ws = await openWorkspace(store, pool, name);
        const proc = await ws.runtime.spawn(argv, { cwd: flags.workdir ?? ws.runtime.workspaceDir });
        if (flags.stdin) process.stdin.pipe(proc.stdin);
        else proc.stdin.end();
        proc.stdout.pipe(process.stdout);
        proc.stderr.pipe(process.stderr);
        const code = await proc.wait();
        if (code !== 0) throw new ExitError('', code);
      } finally {
        await pool.closeAll();
      }
    });
}
