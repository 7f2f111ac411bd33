// SSH key automation: find the credentials to log in with, generate a key when there is none,
// and install a public key on a node (with a password once, or by printing the command to run).
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';
import type { NodeResource } from '../model/types.js';
import { TransportError, type Transport } from './types.js';

const { utils } = ssh2;

/** Directory holding the user's keys: VENDETTA_SSH_DIR (tests) or ~/.ssh. */
export function sshDir(): string {
  return process.env.VENDETTA_SSH_DIR ?? join(homedir(), '.ssh');
}

/** The default keys, in the order OpenSSH tries them. */
export const DEFAULT_KEY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'] as const;

export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

export interface Credentials {
  /** SSH agent socket (SSH_AUTH_SOCK), when one is running. */
  agent?: string;
  privateKey?: Buffer;
  privateKeyPath?: string;
  /** Further keys to offer after privateKey, in order (several IdentityFile lines in ~/.ssh/config). */
  moreKeys?: { path: string; key: Buffer }[];
  /** Why a key was not used (encrypted without an agent…), for error messages. */
  notes: string[];
}

/** The first default key that exists in sshDir(), if any. */
export function findDefaultKey(dir = sshDir()): string | undefined {
  return DEFAULT_KEY_NAMES.map((n) => join(dir, n)).find((p) => existsSync(p));
}

/**
 * Credentials for a node: the agent, plus `identityFile` (must exist), else every existing
 * IdentityFile the ssh config gave (tried in order), else the first default key.
 * An encrypted key is left to the agent (we never prompt for passphrases).
 */
export async function findCredentials(node: string, identityFile?: string, configIdentityFiles: string[] = []): Promise<Credentials> {
  const creds: Credentials = { notes: [] };
  const agent = process.env.SSH_AUTH_SOCK;
  if (agent && existsSync(agent)) creds.agent = agent;
  // IdentityFile lines of ~/.ssh/config that name no file are skipped, as OpenSSH does
  const fromConfig = configIdentityFiles.filter((f) => existsSync(f));
  const defaultKey = findDefaultKey();
  const paths = identityFile ? [expandHome(identityFile)] : fromConfig.length ? fromConfig : defaultKey ? [defaultKey] : [];
  if (identityFile && !existsSync(paths[0]!)) {
    throw new TransportError(
      node,
      `identity file ${paths[0]} of node ${node} does not exist`,
      `fix spec.identityFile, or remove it to use ${join(sshDir(), 'id_ed25519')} (vendetta node add generates one)`,
    );
  }
  const keys: { path: string; key: Buffer }[] = [];
  for (const path of paths) {
    const key = await readFile(path);
    const parsed = utils.parseKey(key);
    if (parsed instanceof Error) {
      creds.notes.push(`${path}: ${parsed.message}${/encrypt/i.test(parsed.message) ? ' (add it to ssh-agent: ssh-add ' + path + ')' : ''}`);
    } else keys.push({ path, key });
  }
  if (keys.length === 0) return creds;
  creds.privateKey = keys[0]!.key;
  creds.privateKeyPath = keys[0]!.path;
  if (keys.length > 1) creds.moreKeys = keys.slice(1);
  return creds;
}

export interface GeneratedKey {
  privateKeyPath: string;
  publicKeyPath: string;
  /** "ssh-ed25519 AAAA… comment" */
  publicKey: string;
}

/**
 * An ed25519 key pair in OpenSSH format that ssh2 can read back. ssh2's generator emits a key its
 * own parser rejects ("Malformed OpenSSH private key") about once in 300 tries; such a key would
 * be installed on a node and then be useless, so it is checked here and made again.
 */
export function generateEd25519(comment: string): { private: string; public: string } {
  for (let attempt = 1; ; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
    if (attempt === 10) throw new Error('could not generate a readable ed25519 key in 10 tries; generate one with ssh-keygen -t ed25519');
  }
}

/** Generate an ed25519 key in OpenSSH format (mode 0600) plus `.pub`. Refuses to overwrite. */
export async function generateKey(path: string, comment = `vendetta@${hostname()}`): Promise<GeneratedKey> {
  const privateKeyPath = expandHome(path);
  const publicKeyPath = `${privateKeyPath}.pub`;
  if (existsSync(privateKeyPath)) {
    throw new Error(`will not overwrite the existing key ${privateKeyPath}; choose another path or use that key`);
  }
  await mkdir(dirname(privateKeyPath), { recursive: true, mode: 0o700 });
  const pair = generateEd25519(comment);
  // Write beside and rename so a crash never leaves a half-written key; mode set before rename.
  const tmp = `${privateKeyPath}.tmp-${process.pid}`;
  await writeFile(tmp, pair.private, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await writeFile(publicKeyPath, `${pair.public.trim()}\n`, { mode: 0o644 });
  await rename(tmp, privateKeyPath);
  return { privateKeyPath, publicKeyPath, publicKey: pair.public.trim() };
}

/** The public key line for a private key file: its `.pub`, else derived from the private key. */
export async function publicKeyFor(privateKeyPath: string): Promise<string> {
  try {
    return (await readFile(`${privateKeyPath}.pub`, 'utf8')).trim();
  } catch {
    const parsed = utils.parseKey(await readFile(privateKeyPath));
    if (parsed instanceof Error) throw new Error(`cannot read public key of ${privateKeyPath}: ${parsed.message}`);
    return `${parsed.type} ${parsed.getPublicSSH().toString('base64')}`;
  }
}

/**
 * Remote argv that appends `publicKey` to ~/.ssh/authorized_keys unless it is already there,
 * creating ~/.ssh (700) and the file (600). The key travels as an argument, never as shell text.
 */
export function authorizedKeysArgv(publicKey: string): string[] {
  const script =
    'umask 077; mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh" && f="$HOME/.ssh/authorized_keys" && ' +
    'touch "$f" && chmod 600 "$f" && ' +
    // compare on "type base64" so a different comment does not add a duplicate
    'k=$(printf %s "$1" | cut -d" " -f1,2) && ' +
    'if cut -d" " -f1,2 "$f" | grep -qxF "$k"; then echo present; else ' +
    '{ [ ! -s "$f" ] || [ -z "$(tail -c1 "$f")" ] || echo; printf "%s\\n" "$1"; } >> "$f" && echo added; fi';
  return ['sh', '-c', script, 'sh', publicKey.trim()];
}

/** Install `publicKey` over an already-connected transport. Returns whether it was added. */
export async function installPublicKeyOver(transport: Transport, publicKey: string): Promise<'added' | 'present'> {
  const r = await transport.exec(authorizedKeysArgv(publicKey));
  const out = r.stdout.trim();
  if (r.code !== 0 || (out !== 'added' && out !== 'present')) {
    throw new TransportError(
      transport.node,
      `installing the public key on ${transport.describe} failed (exit ${r.code}): ${r.stderr.trim()}`,
      'check that the login user owns its home directory and ~/.ssh',
    );
  }
  return out;
}

/**
 * Log in once with a password and install the node's public key (spec.identityFile's `.pub`,
 * else the default key, generated when missing). Idempotent.
 */
export async function installPublicKey(
  node: NodeResource,
  password: string,
  opts: { knownHostsPath?: string; strictHostKeys?: boolean } = {},
): Promise<{ result: 'added' | 'present'; publicKey: string; privateKeyPath: string }> {
  const privateKeyPath = node.spec.identityFile
    ? expandHome(node.spec.identityFile)
    : (findDefaultKey() ?? (await generateKey(join(sshDir(), 'id_ed25519'))).privateKeyPath);
  const publicKey = await publicKeyFor(privateKeyPath);
  // Dynamic import: ssh.ts imports this module for credentials.
  const { SshTransport } = await import('./ssh.js');
  const transport = new SshTransport(node, { ...opts, password, useKeys: false });
  try {
    await transport.connect();
    const result = await installPublicKeyOver(transport, publicKey);
    return { result, publicKey, privateKeyPath };
  } finally {
    await transport.close();
  }
}

/**
 * The command a user can run themselves when no password was given. Only the Node's explicit
 * user and port are spelled out: ssh-copy-id reads ~/.ssh/config for the rest, as vendetta does.
 */
export function installCommand(node: NodeResource, publicKeyPath: string): string {
  const port = node.spec.port ?? 22;
  const portFlag = port === 22 ? '' : ` -p ${port}`;
  return `ssh-copy-id -i ${publicKeyPath}${portFlag} ${node.spec.user ? `${node.spec.user}@` : ''}${node.spec.address}`;
}
