// Host key verification: known_hosts parsing and matching (pure), the trust policy (pure), and the
// small I/O around it (read known_hosts, append a trusted-on-first-use key).
//
// Policy, in order: a Node's pinned spec.hostKey wins; else known_hosts; an unknown host is trusted
// on first use and recorded (unless strict); a key that differs from the known one always fails.
import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface KnownHostEntry {
  file: string;
  /** 1-based line number, for messages. */
  line: number;
  /** `@revoked` keys are refused; `@cert-authority` lines are ignored (we do not do SSH certs). */
  marker?: '@revoked' | '@cert-authority';
  /** Comma-separated host patterns of a plain entry (`host`, `[host]:port`, wildcards, `!negation`). */
  patterns?: string[];
  /** `|1|salt|hash` entry: HMAC-SHA1 of the lookup name keyed by salt. */
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  /** Base64 of the public key blob. */
  key: string;
}

/** The name known_hosts stores for a host: plain host on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m !== '@revoked' && m !== '@cert-authority') return; // unknown marker: skip like OpenSSH
      marker = m;
    }
    const [hostField, keyType, key] = fields;
    if (!hostField || !keyType || !key) return; // malformed line
    const entry: KnownHostEntry = { file, line: i + 1, keyType, key, ...(marker ? { marker } : {}) };
    if (hostField.startsWith('|1|')) {
      const [, , salt, hash] = hostField.split('|');
      if (!salt || !hash) return;
      entry.hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      entry.patterns = hostField.split(',');
    }
    entries.push(entry);
  });
  return entries;
}

function wildcardMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

export function entryMatchesHost(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (entry.hashed) {
    const digest = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return digest.equals(entry.hashed.hash);
  }
  let matched = false;
  for (const p of entry.patterns ?? []) {
    if (p.startsWith('!')) {
      if (wildcardMatch(p.slice(1), name)) return false; // a negated match excludes the line
    } else if (wildcardMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** OpenSSH-style fingerprint of a public key blob (raw or base64): "SHA256:…" without padding. */
export function fingerprint(key: Buffer | string): string {
  const blob = typeof key === 'string' ? Buffer.from(key, 'base64') : key;
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The key type written inside an SSH public key blob ("ssh-ed25519", …). */
export function keyTypeOfBlob(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** "ssh-ed25519 AAAA… comment" → type and base64; undefined when it does not look like a key. */
export function parsePublicKeyLine(line: string): { keyType: string; key: string } | undefined {
  const [keyType, key] = line.trim().split(/\s+/);
  if (!keyType || !key || !/^[A-Za-z0-9+/]+=*$/.test(key)) return undefined;
  return { keyType, key };
}

/** ssh2 host key algorithms that produce keys of a known_hosts key type. */
export function algorithmsForKeyType(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * Ask the server first for a key type we already know (like OpenSSH does), so a host recorded
 * with its RSA key is not reported as "changed" just because it also offers ed25519.
 */
export function preferredHostKeyAlgorithms(knownTypes: string[]): string[] {
  const first = knownTypes.flatMap(algorithmsForKeyType);
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}

export type HostKeyDecision =
  | { verdict: 'trusted'; source: 'pinned' | 'known_hosts' }
  | { verdict: 'unknown' }
  | { verdict: 'revoked'; entry: KnownHostEntry }
  | { verdict: 'mismatch'; expected: string; pinned: boolean; entry?: KnownHostEntry };

/** Pure policy: what to do with the key a host presented. */
export function decideHostKey(args: {
  host: string;
  port: number;
  presentedBlob: Buffer;
  pinned?: string;
  entries: KnownHostEntry[];
}): HostKeyDecision {
  const presented = args.presentedBlob.toString('base64');
  if (args.pinned) {
    const pin = parsePublicKeyLine(args.pinned);
    if (pin && pin.key === presented) return { verdict: 'trusted', source: 'pinned' };
    return { verdict: 'mismatch', expected: pin ? fingerprint(pin.key) : args.pinned, pinned: true };
  }
  const forHost = args.entries.filter(
    (e) => e.marker !== '@cert-authority' && entryMatchesHost(e, args.host, args.port),
  );
  const revoked = forHost.find((e) => e.marker === '@revoked' && e.key === presented);
  if (revoked) return { verdict: 'revoked', entry: revoked };
  const known = forHost.filter((e) => e.marker === undefined);
  if (known.some((e) => e.key === presented)) return { verdict: 'trusted', source: 'known_hosts' };
  if (known.length === 0) return { verdict: 'unknown' };
  // Prefer the entry of the same key type: that is the one that "changed".
  const presentedType = keyTypeOfBlob(args.presentedBlob);
  const entry = known.find((e) => e.keyType === presentedType) ?? known[0]!;
  return { verdict: 'mismatch', expected: fingerprint(entry.key), pinned: false, entry };
}

export function knownHostsLine(host: string, port: number, blob: Buffer): string {
  return `${knownHostsName(host, port)} ${keyTypeOfBlob(blob)} ${blob.toString('base64')}`;
}

/** known_hosts used by vendetta: options > VENDETTA_KNOWN_HOSTS > ~/.ssh/known_hosts. */
export function knownHostsPath(explicit?: string): string {
  return explicit ?? process.env.VENDETTA_KNOWN_HOSTS ?? join(homedir(), '.ssh', 'known_hosts');
}

export async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'), path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Record a trusted-on-first-use key (skipped when an identical line is already there). */
export async function appendKnownHost(path: string, host: string, port: number, blob: Buffer): Promise<void> {
  const entries = await readKnownHosts(path);
  const key = blob.toString('base64');
  if (entries.some((e) => !e.marker && e.key === key && entryMatchesHost(e, host, port))) return;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const current = await readFile(path, 'utf8');
    if (current.length > 0 && !current.endsWith('\n')) prefix = '\n';
  } catch {
    /* new file */
  }
  await appendFile(path, `${prefix}${knownHostsLine(host, port, blob)}\n`, { mode: 0o600 });
}

/** What to tell the user when a key changed: where the old one is, and how to replace it. */
export function mismatchHint(args: {
  node: string;
  host: string;
  port: number;
  knownHostsFile: string;
  decision: Extract<HostKeyDecision, { verdict: 'mismatch' }>;
}): string {
  const where = args.decision.pinned
    ? `the key pinned in spec.hostKey of Node ${args.node}`
    : `${args.decision.entry!.file}:${args.decision.entry!.line}`;
  const fix = args.decision.pinned
    ? `update spec.hostKey of Node ${args.node}`
    : `ssh-keygen -R '${knownHostsName(args.host, args.port)}' -f ${args.knownHostsFile}`;
  return (
    `The expected key comes from ${where}. This can mean someone is intercepting the connection, ` +
    `or the node was reinstalled. Nothing was run. If you have verified the new key out of band, ` +
    `run: ${fix}  — and connect again.`
  );
}

/** What to tell the user when strict mode meets an unknown host. */
export function unknownHostHint(host: string, port: number, knownHostsFile: string, presented: string): string {
  const portFlag = port === 22 ? '' : `-p ${port} `;
  return (
    `The host presented ${presented}. Verify that fingerprint out of band, then add it: ` +
    `ssh-keyscan ${portFlag}${host} >> ${knownHostsFile}  (or pin it in the Node's spec.hostKey, ` +
    `or connect once without strict host key checking).`
  );
}
