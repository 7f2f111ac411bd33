// The ssh-proxy's host key: made once per VENDETTA_HOME, then the same for every proxy run, so
// the OpenSSH client can verify it (known_hosts written by `vendetta ssh-config`).
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { generateEd25519 } from '../transport/keys.js';
import { knownHostsLine } from './config.js';

export interface ProxyPaths {
  dir: string;
  hostKey: string;
  knownHosts: string;
}

export function proxyPaths(home: string): ProxyPaths {
  const dir = join(home, 'ssh-proxy');
  return { dir, hostKey: join(dir, 'host_ed25519'), knownHosts: join(dir, 'known_hosts') };
}

/**
 * The host private key, generated when missing. Two proxies starting at once must end with the
 * same key: the new key is linked into place (fails if one exists) and the winner's is read back.
 */
export async function ensureHostKey(paths: ProxyPaths): Promise<{ privateKey: Buffer; publicKey: string }> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  let privateKey = await readFile(paths.hostKey).catch(() => undefined);
  if (!privateKey) {
    const tmp = `${paths.hostKey}.tmp-${process.pid}`;
    await writeFile(tmp, generateEd25519('vendetta-ssh-proxy').private, { mode: 0o600 });
    await link(tmp, paths.hostKey).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    await rm(tmp, { force: true });
    privateKey = await readFile(paths.hostKey);
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`cannot read the ssh-proxy host key ${paths.hostKey}: ${parsed.message}; delete it and run \`vendetta ssh-config\` again`);
  return { privateKey, publicKey: `${parsed.type} ${parsed.getPublicSSH().toString('base64')}` };
}

/** Host key plus the known_hosts file that trusts it; returns the public key. */
export async function ensureProxyTrust(paths: ProxyPaths): Promise<string> {
  const { publicKey } = await ensureHostKey(paths);
  await writeFile(paths.knownHosts, knownHostsLine(publicKey), { mode: 0o600 });
  return publicKey;
}
