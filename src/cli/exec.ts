// vendetta exec WORKSPACE -- CMD… : run a command inside a workspace, exit with its code.
// It runs the way the workspace's services do: in the workspace directory, with the workspace's
// declared env (fromEnv/fromFile resolved here, as apply does).
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { openStore } from '../store/file-store.js';
import { TransportPool } from '../transport/pool.js';
import { resolveEnv } from '../manifest/env.js';
import { plainEnv } from '../model/env.js';
import type { WorkspaceResource } from '../model/types.js';
import { openWorkspace } from './runtime.js';
import { serviceWorkdir } from '../plan/desired.js';
import type { GlobalOptions } from './context.js';
import { cliTransportOptions } from './keeper.js';
import { ExitError, UsageError } from './errors.js';
import { serverClient } from './client.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run a command inside a workspace, in its directory with its env (argv is passed as is, no shell)')
    .argument('<workspace>', 'workspace name')
    .argument('<command...>', 'command and arguments (put them after --)')
    .option('-w, --workdir <dir>', 'working directory inside the workspace, as a service\'s workdir: relative to the workspace directory (default: it)')
    .option('-i, --stdin', 'pass stdin to the command')
    .action(async (name: string, argv: string[], flags: { workdir?: string; stdin?: boolean }, cmd: Command) => {
      if (argv.length === 0) throw new UsageError('no command given', 'vendetta exec WORKSPACE -- CMD ARGS…');
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const client = serverClient();
      if (client) return (await import('./remote-access.js')).remoteExec(client, name, argv, flags);
      const store = await openStore();
      const pool = new TransportPool(cliTransportOptions({ strictHostKeys: global.strictHostKeys }));
      try {
        const ws = await openWorkspace(store, pool, name);
        const env = await workspaceEnv(ws.workspace);
        // Read as a service's workdir is: relative to the workspace, /workspace/… re-rooted for process.
        const proc = await ws.runtime.spawn(argv, { cwd: serviceWorkdir(flags.workdir, ws.runtime.workspaceDir), env, asWorkspace: true });
        if (flags.stdin) process.stdin.pipe(proc.stdin);
        else proc.stdin.end();
        let stderrSeen = false;
        proc.stdout.pipe(process.stdout);
        proc.stderr.on('data', () => (stderrSeen = true)).pipe(process.stderr);
        const code = await proc.wait();
        // Every provider's shell says "not found" itself; should one not, never exit 127 silently.
        if (code === 127 && !stderrSeen) {
          throw new ExitError(`${argv[0]}: command not found in workspace ${name}`, 127, `check the name and PATH: vendetta exec ${name} -- sh -c 'echo $PATH'`);
        }
        if (code !== 0) throw new ExitError('', code);
      } finally {
        await pool.closeAll();
      }
    });
}

/** The workspace's declared env; a reference that cannot be resolved here is left out, with a warning. */
export async function workspaceEnv(ws: WorkspaceResource, environ: NodeJS.ProcessEnv = process.env): Promise<Record<string, string>> {
  const source = ws.source ?? { file: '(store)', line: 0, col: 0 };
  const { env, errors } = await resolveEnv(ws.spec.env, {
    subject: `Workspace "${ws.metadata.name}"`,
    manifestDir: dirname(source.file),
    environ,
    at: () => source,
  });
  for (const e of errors) process.stderr.write(`warning: ${e.message} (left out of the command's env)\n`);
  return plainEnv(env);
}
