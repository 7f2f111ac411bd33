// Entry point: builds the commander program. Only this file prints errors and exits.
// Start-up is module loading: the command files imported here stay light (commander, the store,
// renderers); a command imports ajv, xstate, ssh2… inside its action (await import), so `--help`
// or `get` never load them. test/unit/cli/startup-imports.test.ts fails on a static heavy import.
import { Command, CommanderError } from 'commander';
import { registerApply } from './apply.js';
import { registerDiff } from './diff.js';
import { registerValidate } from './validate.js';
import { registerConvert } from './convert.js';
import { registerGet } from './get.js';
import { registerDescribe } from './describe.js';
import { registerDelete } from './delete.js';
import { registerLogs } from './logs.js';
import { registerExec } from './exec.js';
import { registerNode } from './node.js';
import { registerShell } from './shell.js';
import { registerSync } from './sync.js';
import { registerPortForward } from './port-forward.js';
import { registerWorkspace } from './workspace.js';
import { registerServe } from './serve.js';
import { registerCompletion } from './completion.js';
import { registerKeeper } from './keeper.js';
import { registerSsh } from './ssh.js';
import { registerUp } from './up.js';
import { ExitError } from './errors.js';
import { detectStyle } from '../output/style.js';
import { TransportError } from '../transport/types.js';

import { VERSION } from '../version.js';

export { VERSION };

export function buildProgram(): Command {
  const program = new Command('vendetta')
    .description('Reproducible dev environments on any machine you can SSH into.')
    .version(VERSION, '-v, --version')
    .option('--strict-host-keys', 'refuse nodes whose host key is not already known (no trust on first use)')
    .option('--server <url>', 'talk to a `vendetta serve` coordination server (or set VENDETTA_SERVER)')
    .option('--token-file <path>', 'bearer token for --server (default: VENDETTA_TOKEN, else $VENDETTA_HOME/server.token)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    // Client mode is read from the environment by every command (see ./client.ts).
    .hook('preAction', (cmd) => {
      const { server, tokenFile } = cmd.opts<{ server?: string; tokenFile?: string }>();
      if (server) process.env.VENDETTA_SERVER = server;
      if (tokenFile) process.env.VENDETTA_TOKEN_FILE = tokenFile;
    });
  registerApply(program);
  registerDiff(program);
  registerValidate(program);
  registerConvert(program);
  registerGet(program);
  registerDescribe(program);
  registerDelete(program);
  registerLogs(program);
  registerExec(program);
  registerNode(program);
  registerShell(program);
  registerSync(program);
  registerPortForward(program);
  registerWorkspace(program);
  registerServe(program);
  registerCompletion(program);
  registerKeeper(program);
  registerSsh(program);
  registerUp(program);
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`vendetta ${VERSION} (node ${process.version})\n`);
    });
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  const style = detectStyle(process.stderr);
  if (e instanceof CommanderError) {
    // commander already printed the problem (or help/version, which exit 0).
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof ExitError) {
    if (e.message) process.stderr.write(`${style.red('error:')} ${e.message}\n`);
    if (e.hint) process.stderr.write(`  → ${e.hint}\n`);
    return e.code;
  }
  if (e instanceof TransportError) {
    process.stderr.write(`${style.red('error:')} ${e.message}\n`);
    if (e.hint) process.stderr.write(`  → ${e.hint}\n`);
    return 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`${style.red('error:')} ${err.message}\n`);
  if (process.env.VENDETTA_DEBUG) process.stderr.write(`${err.stack}\n`);
  return 1;
}

// Exit explicitly once stdout is flushed: a lingering socket must never keep the CLI alive.
const exit = (code: number) => process.stdout.write('', () => process.exit(code));
main(process.argv).then(exit, (e) => {
  process.stderr.write(`internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
  exit(70);
});
