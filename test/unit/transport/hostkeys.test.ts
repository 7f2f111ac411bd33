import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import {
  appendKnownHost,
  decideHostKey,
  entryMatchesHost,
  fingerprint,
  keyTypeOfBlob,
  knownHostsName,
  knownHostsPath,
  mismatchHint,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  readKnownHosts,
} from '../../../src/transport/hostkeys.js';

// Real keys, so fingerprints can be checked against what ssh-keygen prints for them.
function newKey(): { blob: Buffer; line: string } {
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'test' });
  const [type, b64] = pair.public.split(' ');
  return { blob: Buffer.from(b64!, 'base64'), line: `${type} ${b64}` };
}
const A = newKey();
const B = newKey();

function hashedName(name: string): string {
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
}

describe('known_hosts parsing', () => {
  it('reads plain, comma-list, [host]:port, hashed, markers; skips comments and junk', () => {
    const text = [
      '# comment',
      '',
      `example.com,10.0.0.1 ${A.line} user@box`,
      `[127.0.0.11]:2222 ${A.line}`,
      `${hashedName('[10.9.9.9]:2200')} ${B.line}`,
      `@revoked bad.example ${B.line}`,
      `@cert-authority *.corp ${A.line}`,
      `@weird x ${A.line}`,
      'garbage-only-one-field',
    ].join('\n');
    const entries = parseKnownHosts(text, '/kh');
    expect(entries.map((e) => [e.line, e.marker ?? '', e.patterns?.join(',') ?? 'hashed'])).toEqual([
      [3, '', 'example.com,10.0.0.1'],
      [4, '', '[127.0.0.11]:2222'],
      [5, '', 'hashed'],
      [6, '@revoked', 'bad.example'],
      [7, '@cert-authority', '*.corp'],
    ]);
    expect(entries[0]!.keyType).toBe('ssh-ed25519');
    expect(entries[0]!.file).toBe('/kh');
  });

  it('matches hosts the way OpenSSH names them', () => {
    const [plain, bracketed, hashed] = parseKnownHosts(
      [`example.com,10.0.0.1 ${A.line}`, `[127.0.0.11]:2222 ${A.line}`, `${hashedName('[10.9.9.9]:2200')} ${B.line}`].join('\n'),
      '/kh',
    );
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('h', 2222)).toBe('[h]:2222');
    expect(entryMatchesHost(plain!, '10.0.0.1', 22)).toBe(true);
    expect(entryMatchesHost(plain!, 'EXAMPLE.com', 22)).toBe(true);
    expect(entryMatchesHost(plain!, 'example.com', 2222)).toBe(false); // port 2222 is looked up as [example.com]:2222
    expect(entryMatchesHost(bracketed!, '127.0.0.11', 2222)).toBe(true);
    expect(entryMatchesHost(bracketed!, '127.0.0.11', 22)).toBe(false);
    expect(entryMatchesHost(hashed!, '10.9.9.9', 2200)).toBe(true);
    expect(entryMatchesHost(hashed!, '10.9.9.9', 22)).toBe(false);
    expect(entryMatchesHost(hashed!, '10.9.9.8', 2200)).toBe(false);
  });

  it('supports wildcards and negation', () => {
    const [e] = parseKnownHosts(`*.corp,!secret.corp,10.0.0.? ${A.line}`, '/kh');
    expect(entryMatchesHost(e!, 'a.corp', 22)).toBe(true);
    expect(entryMatchesHost(e!, 'secret.corp', 22)).toBe(false);
    expect(entryMatchesHost(e!, '10.0.0.7', 22)).toBe(true);
    expect(entryMatchesHost(e!, '10.0.0.77', 22)).toBe(false);
  });
});

describe('fingerprints', () => {
  it('are SHA256 base64 without padding, as ssh-keygen -l prints', () => {
    // ssh-keygen -lf of this public key prints SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU
    const blob = Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', 'base64');
    expect(fingerprint(blob)).toBe('SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU');
    expect(fingerprint(blob.toString('base64'))).toBe(fingerprint(blob));
    expect(keyTypeOfBlob(blob)).toBe('ssh-ed25519');
  });
});

describe('host key policy', () => {
  const entries = parseKnownHosts(
    [`[h]:2222 ${A.line}`, `@revoked [r]:2222 ${B.line}`, `[r]:2222 ${A.line}`, `[other]:2222 ${A.line}`].join('\n'),
    '/home/u/.ssh/known_hosts',
  );
  const decide = (host: string, blob: Buffer, pinned?: string) =>
    decideHostKey({ host, port: 2222, presentedBlob: blob, pinned, entries });

  it('trusts a known key, reports unknown hosts, refuses revoked keys', () => {
    expect(decide('h', A.blob)).toEqual({ verdict: 'trusted', source: 'known_hosts' });
    expect(decide('new', A.blob)).toEqual({ verdict: 'unknown' });
    expect(decide('r', B.blob).verdict).toBe('revoked');
  });

  it('fails closed on a changed key, naming the file and line', () => {
    const d = decide('h', B.blob);
    expect(d).toMatchObject({ verdict: 'mismatch', expected: fingerprint(A.blob), pinned: false });
    if (d.verdict !== 'mismatch') throw new Error('unreachable');
    expect(d.entry).toMatchObject({ file: '/home/u/.ssh/known_hosts', line: 1 });
    const hint = mismatchHint({ node: 'n', host: 'h', port: 2222, knownHostsFile: '/home/u/.ssh/known_hosts', decision: d });
    expect(hint).toContain('/home/u/.ssh/known_hosts:1');
    expect(hint).toContain("ssh-keygen -R '[h]:2222' -f /home/u/.ssh/known_hosts");
  });

  it('lets a pinned key win over known_hosts, both ways', () => {
    expect(decide('h', B.blob, `${B.line} comment`)).toEqual({ verdict: 'trusted', source: 'pinned' });
    expect(decide('h', A.blob, B.line)).toEqual({ verdict: 'mismatch', expected: fingerprint(B.blob), pinned: true });
    expect(decide('new', A.blob, B.line).verdict).toBe('mismatch');
  });

  it('asks the server for key types we already know first', () => {
    expect(preferredHostKeyAlgorithms(['ssh-rsa']).slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(preferredHostKeyAlgorithms([])[0]).toBe('ssh-ed25519');
    expect(new Set(preferredHostKeyAlgorithms(['ssh-ed25519'])).size).toBe(preferredHostKeyAlgorithms(['ssh-ed25519']).length);
  });
});

describe('known_hosts I/O', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('appends a TOFU entry once, creating the file 0600; [host]:port or plain host on 22', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kh-'));
    const path = join(dir, 'sub', 'known_hosts');
    expect(await readKnownHosts(path)).toEqual([]);
    await appendKnownHost(path, '127.0.0.11', 2222, A.blob);
    await appendKnownHost(path, '127.0.0.11', 2222, A.blob); // idempotent
    await appendKnownHost(path, 'plain.example', 22, B.blob);
    expect(await readFile(path, 'utf8')).toBe(`[127.0.0.11]:2222 ${A.line}\nplain.example ${B.line}\n`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const entries = await readKnownHosts(path);
    expect(decideHostKey({ host: '127.0.0.11', port: 2222, presentedBlob: A.blob, entries }).verdict).toBe('trusted');
  });

  it('adds a newline when the file does not end with one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kh-'));
    const path = join(dir, 'known_hosts');
    await writeFile(path, `x ${B.line}`);
    await appendKnownHost(path, 'y', 22, A.blob);
    expect((await readFile(path, 'utf8')).split('\n')).toEqual([`x ${B.line}`, `y ${A.line}`, '']);
  });

  it('uses VENDETTA_KNOWN_HOSTS unless a path is given', () => {
    const old = process.env.VENDETTA_KNOWN_HOSTS;
    process.env.VENDETTA_KNOWN_HOSTS = '/tmp/x/known_hosts';
    try {
      expect(knownHostsPath()).toBe('/tmp/x/known_hosts');
      expect(knownHostsPath('/explicit')).toBe('/explicit');
    } finally {
      if (old === undefined) delete process.env.VENDETTA_KNOWN_HOSTS;
      else process.env.VENDETTA_KNOWN_HOSTS = old;
    }
  });
});
