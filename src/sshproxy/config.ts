// `vendetta ssh-config`: the OpenSSH client configuration that reaches every workspace through
// `vendetta ssh-proxy`. Pure text in, text out; the command (src/cli/ssh.ts) does the I/O.
import { quoteArg } from '../transport/quote.js';

/** Suffix of the SSH host names: `ssh api.vendetta`. */
export const HOST_SUFFIX = '.vendetta';
/**
 * Every entry checks the proxy's host key under this one name (HostKeyAlias), so a single
 * known_hosts line serves all workspaces, whatever name ssh was given.
 */
export const HOST_KEY_ALIAS = 'vendetta-ssh-proxy';

export interface SshConfigEntry {
  workspace: string;
  /** `User` of the entry; the proxy does not use it (it runs commands as the workspace runs them). */
  user: string;
}

export interface SshConfigOptions {
  /** argv that starts the CLI: [node, /abs/dist/vendetta.js]. */
  cli: string[];
  /** Variables the proxy needs to find the same store and node credentials (VENDETTA_HOME…). */
  env: Record<string, string>;
  /** known_hosts holding the proxy's host key. */
  knownHostsFile: string;
  /** For the header comment. */
  home: string;
}

/** A value in ssh_config: double quotes when it has blanks (the only quoting ssh_config knows). */
function configValue(s: string): string {
  if (/["\n]/.test(s)) throw new Error(`cannot write ${JSON.stringify(s)} into an ssh config file`);
  return /\s/.test(s) ? `"${s}"` : s;
}

/**
 * ProxyCommand runs under `sh -c` after ssh expands %-tokens: each word is shell-quoted and every
 * literal % doubled, except in `target` (a workspace name or the %n token itself).
 */
export function proxyCommand(opts: Pick<SshConfigOptions, 'cli' | 'env'>, target: string): string {
  const env = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
  const words = [...(env.length ? ['env', ...env] : []), ...opts.cli, 'ssh-proxy'].map((w) => quoteArg(w).replace(/%/g, '%%'));
  return [...words, target].join(' ');
}

function hostBlock(host: string, opts: SshConfigOptions, target: string, user?: string): string {
  const lines = [
    `Host ${host}`,
    ...(user ? [`  User ${configValue(user)}`] : []),
    `  ProxyCommand ${proxyCommand(opts, target)}`,
    // The client verifies the proxy's own key: no "accept anything", no prompt.
    `  HostKeyAlias ${HOST_KEY_ALIAS}`,
    `  UserKnownHostsFile ${configValue(opts.knownHostsFile)}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  CheckHostIP no',
    // The proxy is started by the user, on stdio: it accepts auth method `none`, no key or password.
    '  PasswordAuthentication no',
    '  KbdInteractiveAuthentication no',
  ];
  return lines.join('\n') + '\n';
}

/** The whole file: one block per workspace, then `*.vendetta` for workspaces applied since. */
export function renderSshConfig(entries: SshConfigEntry[], opts: SshConfigOptions): string {
  const head = [
    `# Written by \`vendetta ssh-config\` for VENDETTA_HOME=${opts.home}.`,
    '# Each workspace is reached through `vendetta ssh-proxy` (SSH on stdio, no sshd in the workspace).',
    '# Run `vendetta ssh-config --install` again after applying new workspaces to list them here.',
    '',
  ].join('\n');
  const blocks = [...entries]
    .sort((a, b) => a.workspace.localeCompare(b.workspace))
    .map((e) => hostBlock(`${e.workspace}${HOST_SUFFIX}`, opts, e.workspace, e.user));
  blocks.push(hostBlock(`*${HOST_SUFFIX}`, opts, '%n'));
  return `${head}\n${blocks.join('\n')}`;
}

/** The workspace an ssh-proxy argument names: `api` or `api.vendetta` (what %n gives). */
export function workspaceOfHost(host: string): string {
  return host.endsWith(HOST_SUFFIX) ? host.slice(0, -HOST_SUFFIX.length) : host;
}

/** The one known_hosts line trusting the proxy's host key. */
export function knownHostsLine(publicKey: string): string {
  const [type, blob] = publicKey.trim().split(/\s+/);
  return `${HOST_KEY_ALIAS} ${type} ${blob}\n`;
}

/**
 * ~/.ssh/config with `Include <file>` added as its first line, unless a line already includes it.
 * First: an Include below a `Host` line would only apply inside that Host block.
 */
export function withInclude(config: string, file: string): { text: string; changed: boolean } {
  const present = config.split('\n').some((line) => {
    const m = /^\s*include\s+(.*)$/i.exec(line);
    return m !== null && m[1]!.split(/\s+/).some((w) => w.replace(/^"|"$/g, '') === file);
  });
  if (present) return { text: config, changed: false };
  const line = `Include ${configValue(file)}\n`;
  return { text: config.length ? `${line}\n${config}` : line, changed: true };
}
