import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, type NodeResource } from '../../../src/model/types.js';
import {
  authorizedKeysArgv,
  findCredentials,
  findDefaultKey,
  generateEd25519,
  generateKey,
  installCommand,
  publicKeyFor,
} from '../../../src/transport/keys.js';
import { TransportError } from '../../../src/transport/types.js';

const execFileP = promisify(execFile);
let dir: string;
const saved = { ssh: process.env.VENDETTA_SSH_DIR, agent: process.env.SSH_AUTH_SOCK };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keys-'));
  process.env.VENDETTA_SSH_DIR = join(dir, 'ssh');
  delete process.env.SSH_AUTH_SOCK;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  for (const [k, v] of [['VENDETTA_SSH_DIR', saved.ssh], ['SSH_AUTH_SOCK', saved.agent]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const node = (spec: Partial<NodeResource['spec']> = {}): NodeResource => ({
  apiVersion: API_VERSION,
  kind: 'Node',
  metadata: { name: 'box' },
  spec: { address: 'box.example', user: 'dev', ...spec },
});

describe('generateKey', () => {
  it('writes an OpenSSH ed25519 key with mode 0600 and a matching .pub', async () => {
    const path = join(dir, 'ssh', 'id_ed25519');
    const k = await generateKey(path, 'me@test');
    const priv = await readFile(path, 'utf8');
    expect(priv.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----')).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'ssh'))).mode & 0o777).toBe(0o700);
    const pub = (await readFile(`${path}.pub`, 'utf8')).trim();
    expect(pub).toBe(k.publicKey);
    expect(pub).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ me@test$/);
    // the private key parses and yields the same public key
    const parsed = ssh2.utils.parseKey(priv);
    if (parsed instanceof Error) throw parsed;
    expect(pub.split(' ')[1]).toBe(parsed.getPublicSSH().toString('base64'));
    // ssh-keygen agrees it is a valid key
    const { stdout } = await execFileP('ssh-keygen', ['-y', '-f', path]);
    expect(stdout.trim().split(' ').slice(0, 2)).toEqual(pub.split(' ').slice(0, 2));
  });

  it('refuses to overwrite an existing key', async () => {
    const path = join(dir, 'id');
    await generateKey(path);
    await expect(generateKey(path)).rejects.toThrow(/will not overwrite/);
  });

  it('derives the public key when the .pub is missing', async () => {
    const path = join(dir, 'id');
    const k = await generateKey(path);
    await rm(`${path}.pub`);
    expect(await publicKeyFor(path)).toBe(k.publicKey.split(' ').slice(0, 2).join(' '));
  });
});

describe('findCredentials', () => {
  it('takes the first default key that exists, in OpenSSH order', async () => {
    const ssh = join(dir, 'ssh');
    expect(findDefaultKey()).toBeUndefined();
    await generateKey(join(ssh, 'id_rsa')); // (an ed25519 key named id_rsa is fine for the lookup)
    expect(findDefaultKey()).toBe(join(ssh, 'id_rsa'));
    await generateKey(join(ssh, 'id_ed25519'));
    const c = await findCredentials('box');
    expect(c.privateKeyPath).toBe(join(ssh, 'id_ed25519'));
    expect(c.agent).toBeUndefined();
  });

  it('generates keys that ssh2 reads back, every time (its generator alone fails ~1 in 300)', () => {
    for (let i = 0; i < 1500; i++) {
      const pair = generateEd25519('t');
      expect(ssh2.utils.parseKey(pair.private)).not.toBeInstanceOf(Error);
    }
  });

  it('uses the agent socket when it exists, and an explicit identity file', async () => {
    const sock = join(dir, 'agent.sock');
    await writeFile(sock, '');
    process.env.SSH_AUTH_SOCK = sock;
    const k = await generateKey(join(dir, 'custom'));
    const c = await findCredentials('box', k.privateKeyPath);
    expect(c.agent).toBe(sock);
    expect(c.privateKeyPath).toBe(k.privateKeyPath);
  });

  it('ssh config IdentityFiles: every one that exists, in order, before the default key; an explicit one wins', async () => {
    const ssh = join(dir, 'ssh');
    await generateKey(join(ssh, 'id_ed25519'));
    const a = await generateKey(join(dir, 'cfg-a'));
    const b = await generateKey(join(dir, 'cfg-b'));
    const c = await findCredentials('box', undefined, [join(dir, 'missing'), a.privateKeyPath, b.privateKeyPath]);
    expect(c.privateKeyPath).toBe(a.privateKeyPath);
    expect(c.moreKeys?.map((k) => k.path)).toEqual([b.privateKeyPath]);
    const none = await findCredentials('box', undefined, [join(dir, 'missing')]);
    expect(none.privateKeyPath).toBe(join(ssh, 'id_ed25519'));
    expect(none.moreKeys).toBeUndefined();
    const explicit = await findCredentials('box', b.privateKeyPath, [a.privateKeyPath]);
    expect([explicit.privateKeyPath, explicit.moreKeys]).toEqual([b.privateKeyPath, undefined]);
  });

  it('fails with a hint when identityFile does not exist', async () => {
    const err = await findCredentials('box', join(dir, 'nope')).catch((e) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err.node).toBe('box');
    expect(err.message).toContain(join(dir, 'nope'));
    expect(err.hint).toContain('identityFile');
  });

  it('leaves an encrypted key to the agent and says why', async () => {
    const path = join(dir, 'enc');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', path]);
    const c = await findCredentials('box', path);
    expect(c.privateKey).toBeUndefined();
    expect(c.notes.join()).toMatch(/ssh-add/);
  });
});

describe('installing a public key', () => {
  it('prints an ssh-copy-id command', () => {
    expect(installCommand(node({ port: 2222 }), '/k.pub')).toBe('ssh-copy-id -i /k.pub -p 2222 dev@box.example');
    expect(installCommand(node(), '/k.pub')).toBe('ssh-copy-id -i /k.pub dev@box.example');
    // no user in the spec: ssh-copy-id takes it from ~/.ssh/config (or the local user), as vendetta does
    expect(installCommand(node({ user: undefined }), '/k.pub')).toBe('ssh-copy-id -i /k.pub box.example');
  });

  // The remote script is plain sh: run it for real against a temp HOME.
  it('appends to authorized_keys idempotently with modes 700/600', async () => {
    const home = join(dir, 'home');
    await mkdir(home);
    const run = async (key: string) => {
      const [cmd, ...args] = authorizedKeysArgv(key);
      return (await execFileP(cmd!, args, { env: { PATH: process.env.PATH, HOME: home } })).stdout.trim();
    };
    const k1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b';
    const k2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl it's $(x)";
    expect(await run(k1)).toBe('added');
    expect(await run(k1)).toBe('present');
    expect(await run(k1.replace('a@b', 'other comment'))).toBe('present');
    await writeFile(join(home, '.ssh/authorized_keys'), `${k1}`); // no trailing newline
    expect(await run(k2)).toBe('added');
    expect(await readFile(join(home, '.ssh/authorized_keys'), 'utf8')).toBe(`${k1}\n${k2}\n`);
    expect((await stat(join(home, '.ssh'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(home, '.ssh/authorized_keys'))).mode & 0o777).toBe(0o600);
  });
});
