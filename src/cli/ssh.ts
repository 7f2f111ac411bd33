// vendetta ssh-config [--install] and vendetta ssh-proxy WORKSPACE: an SSH entry for every
// workspace, so plain ssh/scp/sftp/rsync and editors (VS Code Remote-SSH, JetBrains Gateway)
// reach it with no sshd inside. The proxy (src/sshproxy) is loaded only by these commands.
import type { Command } from 'commander';
import { realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { WorkspaceResource } from '../model/types.js';
import type { ProxyTarget } from '../sshproxy/server.js';
import { defaultHome, openStore } from '../store/file-store.js';
import { TransportPool } from '../transport/pool.js';
import { nodeResource, openWorkspace } from './runtime.js';
import { workspaceEnv } from './exec.js';
import type { GlobalOptions } from './context.js';
import { cliTransportOptions } from './keeper.js';
import { ExitError, UsageError } from './errors.js';

/** Variables that decide which store and node credentials the proxy uses: passed on as they are. */
const PASSED_ENV = ['VENDETTA_KNOWN_HOSTS', 'VENDETTA_SSH_DIR', 'VENDETTA_SSH_PERSIST'];

export function registerSsh(program: Command): void {
  program
    .command('ssh-config')
    .description('print (or --install) OpenSSH client entries `Host WORKSPACE.vendetta` for every applied workspace')
    .option('--install', 'write them to ~/.ssh/vendetta.config and Include that file from ~/.ssh/config')
    .addHelpText('after', `
Then: ssh WORKSPACE.vendetta, scp FILE WORKSPACE.vendetta:, rsync -a DIR/ WORKSPACE.vendetta:DIR/,
ssh -L 8080:localhost:3000 WORKSPACE.vendetta, or pick WORKSPACE.vendetta in VS Code Remote-SSH.`)
    .action(async (flags: { install?: boolean }) => {
      const { renderSshConfig, withInclude } = await import('../sshproxy/config.js');
      const { ensureProxyTrust, proxyPaths } = await import('../sshproxy/keys.js');
      const home = resolve(defaultHome());
      const store = await openStore(home);
      const entries = [];
      for (const rec of await store.list('Workspace')) {
        const ws = rec.resource as WorkspaceResource;
        entries.push({ workspace: rec.name, user: await loginUser(ws, (n) => nodeResource(store, n)) });
      }
      const paths = proxyPaths(home);
      await ensureProxyTrust(paths);
      const env: Record<string, string> = { VENDETTA_HOME: home };
      for (const k of PASSED_ENV) if (process.env[k]) env[k] = process.env[k]!;
      const text = renderSshConfig(entries, { cli: [process.execPath, realpathSync(process.argv[1]!)], env, knownHostsFile: paths.knownHosts, home });
      if (!flags.install) {
        process.stdout.write(text);
        return;
      }
      const sshDir = join(homedir(), '.ssh');
      const file = join(sshDir, 'vendetta.config');
      const userConfig = join(sshDir, 'config');
      await mkdir(sshDir, { recursive: true, mode: 0o700 });
      await writeFile(file, text, { mode: 0o600 });
      const current = await readFile(userConfig, 'utf8').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return '';
        throw new ExitError(`cannot read ${userConfig}: ${e.message}`, 1, `add the line "Include ${file}" at its top yourself`);
      });
      const included = withInclude(current, file);
      if (included.changed) await writeFile(userConfig, included.text, { mode: 0o600 });
      const n = entries.length;
      process.stdout.write(
        `Wrote ${file} (${n} workspace${n === 1 ? '' : 's'})${included.changed ? `; added "Include ${file}" to ${userConfig}` : ''}.\n` +
          (n ? `Try: ssh ${entries[0]!.workspace}.vendetta\n` : 'No workspaces applied yet; any WORKSPACE.vendetta works once applied.\n'),
      );
    });

  program
    .command('ssh-proxy')
    .description('speak SSH on stdin/stdout into a workspace (the ProxyCommand of `vendetta ssh-config`)')
    .argument('<workspace>', 'workspace name (or WORKSPACE.vendetta)')
    .action(async (arg: string, _flags: unknown, cmd: Command) => {
      const { serveSsh, stdioDuplex } = await import('../sshproxy/server.js');
      const { ensureHostKey, proxyPaths } = await import('../sshproxy/keys.js');
      const { workspaceOfHost } = await import('../sshproxy/config.js');
      if (process.stdin.isTTY) {
        throw new UsageError('ssh-proxy speaks the SSH protocol on stdin/stdout: it is run by ssh, not by hand', `run \`vendetta ssh-config --install\`, then: ssh ${workspaceOfHost(arg)}.vendetta`);
      }
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const name = workspaceOfHost(arg);
      const home = resolve(defaultHome());
      const store = await openStore(home);
      const pool = new TransportPool(cliTransportOptions({ strictHostKeys: global.strictHostKeys }));
      try {
        // Everything that can fail for the whole connection fails here, before the SSH handshake:
        // ssh shows the proxy's stderr, so the message reaches the user as it is.
        const ws = await openWorkspace(store, pool, name);
        const env = await workspaceEnv(ws.workspace);
        if (ws.workspace.spec.lifecycle?.postAttach?.length) {
          const { runAttachHooks } = await import('../reconcile/lifecycle.js');
          await runAttachHooks(ws.runtime, ws.workspace.spec.lifecycle, env, (text) => process.stderr.write(text));
        }
        const { privateKey } = await ensureHostKey(proxyPaths(home));
        const rt = ws.runtime;
        const target: ProxyTarget = {
          spawn: (argv, o) => rt.spawn(argv, { cwd: rt.workspaceDir, env: { ...env, ...o.env }, asWorkspace: true, pty: o.pty }),
          connectLoopback: (port) => (rt.connectLoopback ? rt.connectLoopback(port) : target.connectTcp(rt.address, port)),
          // Ask the pool each time: a dropped node connection is made again.
          connectTcp: async (host, port) => (await pool.get(ws.node)).connectTcp(host, port),
        };
        const log = (line: string) => process.stderr.write(`vendetta ssh-proxy (${name}): ${line}\n`);
        await serveSsh(stdioDuplex(process.stdin, process.stdout), privateKey, target, log);
      } finally {
        await pool.closeAll();
      }
    });
}

/** `User` of a workspace's entry: the node's login user for process workspaces, else root. */
async function loginUser(ws: WorkspaceResource, node: (name: string) => Promise<{ spec: { user?: string } }>): Promise<string> {
  if (ws.spec.provider !== 'process') return 'root';
  return (await node(ws.spec.node).catch(() => undefined))?.spec.user ?? userInfo().username;
}
