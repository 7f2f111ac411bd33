// SshTransport against real sshd nodes (test/infra/up.sh). Destructive cases (stop, rekey, kill
// sessions) use n3 and always restore it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, parsePublicKeyLine } from '../../src/transport/hostkeys.js';
import { generateKey, installPublicKey, installPublicKeyOver } from '../../src/transport/keys.js';
import { LocalTransport } from '../../src/transport/local.js';
import { createTransport, TransportPool } from '../../src/transport/pool.js';
import { resetSshCounters, sshCounters, SshTransport, type SshTransportOptions } from '../../src/transport/ssh.js';
import { HostKeyMismatchError, TransportError } from '../../src/transport/types.js';
import {
  loadInfra,
  makeKnownHosts,
  makeTempDir,
  nodeCtl,
  nodeResource,
  rekeyedHostKey,
  type TempDir,
} from './helpers/infra.js';

const infra = loadInfra();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

/** A transport with its own known_hosts (pre-trusting `trust`), closed after the test. */
async function transportTo(name: string, opts: SshTransportOptions & { trust?: string[] } = {}, spec = {}) {
  const kh = await makeKnownHosts(infra, opts.trust ?? [name]);
  const t = new SshTransport(nodeResource(infra, name, spec), { knownHostsPath: kh.path, ...opts });
  cleanups.push(() => kh.cleanup(), () => t.close());
  return { t, knownHosts: kh.path };
}

const fpOf = (pub: string) => fingerprint(parsePublicKeyLine(pub)!.key);

describe('exec', () => {
  let t: SshTransport;
  let kh: TempDir;
  beforeAll(async () => {
    kh = await makeKnownHosts(infra, ['n1']);
    t = new SshTransport(nodeResource(infra, 'n1'), { knownHostsPath: join(kh.dir, 'known_hosts') });
    await t.connect();
  });
  afterAll(async () => {
    await t.close();
    await kh.cleanup();
  });

  const nasty = [
    `it's "quoted"`,
    '$HOME $(id) `id` ${PATH}',
    'a;b && c || d | e > f < g',
    'line1\nline2\n',
    ' spaces  around ',
    '',
    '*',
    '\\back\\slash',
    '-n',
    'ünïcødé ✓',
  ];

  it('passes argv through the remote shell literally', async () => {
    const r = await t.exec(['printf', '%s\\0', ...nasty]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(nasty);
  });

  it('quotes env and cwd too, feeds stdin, reports exit codes and stderr', async () => {
    const dir = `/tmp/vendetta e2e 'cwd' $x`;
    await t.exec(['mkdir', '-p', dir]);
    cleanups.push(() => t.exec(['rm', '-rf', dir]));
    const r = await t.exec(['sh', '-c', 'printf "%s|%s|" "$A" "$B"; pwd; cat; echo oops >&2; exit 7'], {
      env: { A: nasty[1]!, B: nasty[3]! },
      cwd: dir,
      stdin: 'from stdin',
    });
    expect(r).toEqual({ code: 7, stdout: `${nasty[1]}|${nasty[3]}|${dir}\nfrom stdin`, stderr: 'oops\n' });
    expect((await t.exec(['no-such-command-vd'])).code).toBe(127);
    expect((await t.exec(['sh', '-c', 'kill -9 $$'])).code).toBe(137);
  });

  it('times out and kills a command', async () => {
    const err = await t.exec(['sleep', '30'], { timeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toMatch(/timed out after 300ms/);
    expect((await t.exec(['echo', 'still usable'])).stdout).toBe('still usable\n');
  });

  it('runs 100 sequential execs on one connection', async () => {
    const start = performance.now();
    for (let i = 0; i < 100; i++) expect((await t.exec(['echo', String(i)])).stdout).toBe(`${i}\n`);
    console.log(`[timing] 100 sequential execs on one connection: ${Math.round(performance.now() - start)} ms`);
  });

  it('runs execs asked for together as one session, in parallel, each with its own result', async () => {
    const probe = `/tmp/vendetta-e2e-batch-${process.pid}`;
    await t.exec(['mkdir', '-p', probe]);
    cleanups.push(() => t.exec(['rm', '-rf', probe]));
    // Each exec registers itself, waits until all 30 have, so they must run at once.
    const script = 'touch "$1/$2"; while [ "$(ls "$1" | wc -l)" -lt 30 ]; do sleep 0.05; done; echo "$2"; cat; echo "$2" >&2; exit "$3"';
    const { t: own } = await transportTo('n1');
    await own.connect();
    resetSshCounters();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => own.exec(['sh', '-c', script, 'sh', probe, `job${i}`, String(i % 4)], { stdin: `in${i}` })),
    );
    expect(sshCounters.sessions).toBe(1);
    expect(sshCounters.batchedExecs).toBe(30);
    expect(results).toEqual(Array.from({ length: 30 }, (_, i) => ({ code: i % 4, stdout: `job${i}\nin${i}`, stderr: `job${i}\n` })));
  });

  it('bounds concurrent channels with the semaphore', async () => {
    const probe = `/tmp/vendetta-e2e-sem-${process.pid}`;
    await t.exec(['mkdir', '-p', probe]);
    cleanups.push(() => t.exec(['rm', '-rf', probe]));
    // Each exec registers itself in the probe dir while it runs and records how many it saw.
    // Unbatched: with batches, these 30 would be one session.
    const script = 'touch "$1/$2"; sleep 0.2; ls "$1" | wc -l; rm "$1/$2"';
    const { t: wide } = await transportTo('n1', { batchExecs: false });
    const start = performance.now();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => wide.exec(['sh', '-c', script, 'sh', probe, `job${i}`])),
    );
    console.log(`[timing] 30 concurrent execs (8 channels): ${Math.round(performance.now() - start)} ms`);
    expect(results.every((r) => r.code === 0)).toBe(true);
    const peak = Math.max(...results.map((r) => Number(r.stdout.trim())));
    expect(peak).toBeLessThanOrEqual(8);
    expect(peak).toBeGreaterThan(1); // they did run in parallel

    const { t: narrow } = await transportTo('n1', { maxChannels: 2, batchExecs: false });
    const narrowResults = await Promise.all(
      Array.from({ length: 6 }, (_, i) => narrow.exec(['sh', '-c', script, 'sh', probe, `n${i}`])),
    );
    expect(Math.max(...narrowResults.map((r) => Number(r.stdout.trim())))).toBeLessThanOrEqual(2);
  });

  it('spawns with a pty and resizes it', async () => {
    const p = await t.spawn(['sh'], { pty: { rows: 30, cols: 100 } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toMatch(re);
    };
    p.stdin.write('stty size\n');
    await waitFor(/30 100/);
    p.resize!(40, 120);
    p.stdin.write('stty size\n');
    await waitFor(/40 120/);
    p.stdin.write('exit 3\n');
    expect(await p.wait()).toBe(3);
  });

  it('reports home and caches it', async () => {
    expect(await t.home()).toBe('/home/vdtest');
    expect(await t.home()).toBe('/home/vdtest');
  });
});

describe('files', () => {
  it('uploads a directory tree, replacing the target', async () => {
    const { t } = await transportTo('n1');
    const local = await makeTempDir();
    cleanups.push(() => local.cleanup());
    const src = join(local.dir, 'src');
    await mkdir(join(src, 'a/b'), { recursive: true });
    await writeFile(join(src, 'top.txt'), 'top\n');
    await writeFile(join(src, 'a/b/deep file.txt'), 'deep\n');
    await writeFile(join(src, 'a/run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    await symlink('top.txt', join(src, 'link'));
    const remote = `/tmp/vendetta-e2e-upload-${process.pid}/tree`;
    cleanups.push(() => t.exec(['rm', '-rf', `/tmp/vendetta-e2e-upload-${process.pid}`]));

    await t.exec(['mkdir', '-p', remote]);
    await t.exec(['touch', `${remote}/stale`]); // must be gone after the upload replaces the tree
    await t.upload(src, remote);
    const r = await t.exec(['sh', '-c', 'cd "$1" && find . | sort && cat "a/b/deep file.txt" && ./a/run.sh && readlink link', 'sh', remote]);
    expect(r.stdout).toBe(['.', './a', './a/b', './a/b/deep file.txt', './a/run.sh', './link', './top.txt', 'deep', 'ran', 'top.txt', ''].join('\n'));

    await t.upload(join(src, 'top.txt'), `${remote}/single/copy.txt`);
    expect((await t.readFile(`${remote}/single/copy.txt`)).toString()).toBe('top\n');
  });

  it('writes files atomically with a mode, creating parents, and reads them back', async () => {
    const { t } = await transportTo('n1');
    const base = `/tmp/vendetta-e2e-write-${process.pid}`;
    cleanups.push(() => t.exec(['rm', '-rf', base]));
    const path = `${base}/x/y/secret.env`;
    await t.writeFile(path, 'A=1\n', 0o600);
    await t.writeFile(path, Buffer.from('A=2\n'), 0o600); // replaces an existing file
    expect((await t.readFile(path)).toString()).toBe('A=2\n');
    expect((await t.exec(['stat', '-c', '%a', path])).stdout.trim()).toBe('600');
    expect((await t.exec(['ls', '-A', `${base}/x/y`])).stdout).toBe('secret.env\n'); // no temp files left
    await expect(t.readFile(`${base}/missing`)).rejects.toBeInstanceOf(TransportError);
  });
});

describe('forwarding', () => {
  it('connectTcp opens a connection from the node to its loopback', async () => {
    const server = createServer((s) => s.on('data', (d) => s.end(`echo:${d}`)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const { t } = await transportTo('n2');
    const sock = await t.connectTcp('127.0.0.1', (server.address() as AddressInfo).port);
    const reply = await new Promise<string>((resolve) => {
      let buf = '';
      sock.on('data', (d: Buffer) => (buf += d)).on('end', () => resolve(buf));
      sock.write('ping');
    });
    expect(reply).toBe('echo:ping');
    await expect(t.connectTcp('127.0.0.1', 1)).rejects.toBeInstanceOf(TransportError);
  });

  it("connectUnix reaches the node's docker.sock (GET /_ping)", async () => {
    const node = infra.nodes.find((n) => n.name === 'n2')!;
    const { t } = await transportTo('n2');
    const sock = await t.connectUnix(node.dockerSocket);
    const res = await new Promise<string>((resolve) => {
      let buf = '';
      sock.on('data', (d: Buffer) => (buf += d)).on('end', () => resolve(buf));
      sock.write('GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n');
    });
    expect(res).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(res.endsWith('OK')).toBe(true);
    await expect(t.connectUnix('/nonexistent.sock')).rejects.toBeInstanceOf(TransportError);
  });
});

describe('host keys', () => {
  it('trusts an unknown host on first use and records it', async () => {
    const n2 = infra.nodes.find((n) => n.name === 'n2')!;
    const learned: string[] = [];
    const { t, knownHosts } = await transportTo('n2', { trust: [], onHostKeyLearned: (i) => learned.push(i.fingerprint) });
    expect(await readFile(knownHosts, 'utf8')).toBe('');
    await t.connect();
    expect(learned).toEqual([fpOf(n2.hostKeyPub)]);
    expect(await readFile(knownHosts, 'utf8')).toBe(`[127.0.0.12]:2222 ${n2.hostKeyPub}\n`);
    // and the recorded key is trusted next time, without another append
    const again = new SshTransport(nodeResource(infra, 'n2'), { knownHostsPath: knownHosts, strictHostKeys: true });
    cleanups.push(() => again.close());
    expect((await again.exec(['true'])).code).toBe(0);
    expect((await readFile(knownHosts, 'utf8')).split('\n')).toHaveLength(2);
  });

  it('strict mode refuses an unknown host and says how to add it', async () => {
    const { t, knownHosts } = await transportTo('n2', { trust: [], strictHostKeys: true });
    const err = await t.exec(['true']).catch((e) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).not.toBeInstanceOf(HostKeyMismatchError);
    expect(err.node).toBe('n2');
    expect(err.message).toMatch(/unknown.*strict/);
    expect(err.hint).toContain(`ssh-keyscan -p 2222 127.0.0.12 >> ${knownHosts}`);
    expect(err.hint).toContain(fpOf(infra.nodes[1]!.hostKeyPub));
    expect(await readFile(knownHosts, 'utf8')).toBe('');
  });

  it('a pinned hostKey wins over known_hosts', async () => {
    const n1 = infra.nodes.find((n) => n.name === 'n1')!;
    const other = infra.nodes.find((n) => n.name === 'n2')!;
    const ok = await transportTo('n1', { trust: [], strictHostKeys: true }, { hostKey: n1.hostKeyPub });
    expect((await ok.t.exec(['true'])).code).toBe(0);
    const bad = await transportTo('n1', { trust: ['n1'] }, { hostKey: other.hostKeyPub });
    const err = await bad.t.exec(['true']).catch((e) => e);
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    expect(err.hint).toContain('spec.hostKey');
  });

  it('a changed host key fails closed with both fingerprints, and nothing runs', async () => {
    const n3 = infra.nodes.find((n) => n.name === 'n3')!;
    const marker = `/tmp/vendetta-e2e-marker-${process.pid}`;
    await nodeCtl('rekey', 'n3');
    cleanups.push(() => nodeCtl('start', 'n3'));
    const { t, knownHosts } = await transportTo('n3', { trust: ['n1', 'n3'] });
    const err = await t.exec(['touch', marker]).catch((e) => e);
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    expect(err.node).toBe('n3');
    expect(err.expectedFingerprint).toBe(fpOf(n3.hostKeyPub));
    expect(err.presentedFingerprint).toBe(fpOf(rekeyedHostKey('n3')));
    expect(err.message).toContain(err.expectedFingerprint);
    expect(err.message).toContain(err.presentedFingerprint);
    expect(err.hint).toContain(`${knownHosts}:2`);
    expect(err.hint).toContain(`ssh-keygen -R '[127.0.0.13]:2222' -f ${knownHosts}`);
    expect(existsSync(marker)).toBe(false);
    // and known_hosts was not touched
    expect((await readFile(knownHosts, 'utf8')).split('\n')).toHaveLength(3);
  });
});

describe('failures and reconnects', () => {
  it('a stopped node gives a TransportError naming it', async () => {
    await nodeCtl('stop', 'n3');
    cleanups.push(() => nodeCtl('start', 'n3'));
    const { t } = await transportTo('n3', { backoffMs: 50 });
    const err = await t.exec(['true']).catch((e) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err.node).toBe('n3');
    expect(err.message).toContain('n3');
    expect(err.message).toContain('refused');
    expect(err.hint).toBe('is sshd running on 127.0.0.13:2222?');
  });

  it('an unknown key is an auth failure with install instructions', async () => {
    const tmp = await makeTempDir();
    cleanups.push(() => tmp.cleanup());
    const key = await generateKey(join(tmp.dir, 'stranger'));
    const { t } = await transportTo('n1', {}, { identityFile: key.privateKeyPath });
    const err = await t.exec(['true']).catch((e) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toMatch(/authentication failed for user vdtest/);
    expect(err.hint).toContain(`ssh-copy-id -i ${key.privateKeyPath}.pub -p 2222 vdtest@127.0.0.11`);
    expect(err.hint).toContain('vendetta node add n1 --password-stdin');
  });

  it('a dropped connection fails the call in flight; the next call reconnects', async () => {
    const { t } = await transportTo('n3');
    expect((await t.exec(['echo', 'before'])).stdout).toBe('before\n');
    const inflight = t.exec(['sleep', '30']).catch((e) => e);
    await new Promise((r) => setTimeout(r, 300));
    await nodeCtl('kill-sessions', 'n3');
    const err = await inflight;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.node).toBe('n3');
    expect((await t.exec(['echo', 'after'])).stdout).toBe('after\n');

    // and across a node restart
    await nodeCtl('stop', 'n3');
    await nodeCtl('start', 'n3');
    expect((await t.exec(['echo', 'restarted'])).stdout).toBe('restarted\n');
  });
});

describe('pool', () => {
  it('creates local and ssh transports and shares one per node', async () => {
    const kh = await makeKnownHosts(infra, ['n1']);
    cleanups.push(() => kh.cleanup());
    const pool = new TransportPool({ knownHostsPath: kh.path, strictHostKeys: true });
    cleanups.push(() => pool.closeAll());
    const n1 = nodeResource(infra, 'n1');
    const [a, b] = await Promise.all([pool.get(n1), pool.get(n1)]);
    expect(a).toBe(b);
    expect(a.describe).toBe('vdtest@127.0.0.11:2222');
    expect((await a.exec(['echo', 'pooled'])).stdout).toBe('pooled\n');
    const local = await createTransport({ ...n1, metadata: { name: 'local' }, spec: { address: 'local' } });
    expect(local).toBeInstanceOf(LocalTransport);
    // a failed connect is not cached
    await expect(pool.get(nodeResource(infra, 'n2'))).rejects.toBeInstanceOf(TransportError); // n2 unknown + strict
  });
});

describe('key installation', () => {
  it('installs a public key into ~/.ssh/authorized_keys idempotently', async () => {
    const { t } = await transportTo('n1');
    // Starts from no ~/.ssh at all; the node user's own ~/.ssh (git-repo.sh's key and known_hosts,
    // which test/e2e/git-source.test.ts uses) is moved aside and put back afterwards.
    await t.exec(['sh', '-c', 'rm -rf ~/.ssh.e2e-saved && if [ -e ~/.ssh ]; then mv ~/.ssh ~/.ssh.e2e-saved; fi']);
    try {
      const tmp = await makeTempDir();
      cleanups.push(() => tmp.cleanup());
      const key = await generateKey(join(tmp.dir, 'k'));
      expect(await installPublicKeyOver(t, key.publicKey)).toBe('added');
      expect(await installPublicKeyOver(t, key.publicKey)).toBe('present');
      const r = await t.exec(['sh', '-c', 'stat -c %a ~/.ssh ~/.ssh/authorized_keys; cat ~/.ssh/authorized_keys']);
      expect(r.stdout).toBe(`700\n600\n${key.publicKey}\n`);
    } finally {
      await t.exec(['sh', '-c', 'rm -rf ~/.ssh && if [ -e ~/.ssh.e2e-saved ]; then mv ~/.ssh.e2e-saved ~/.ssh; fi']);
    }
  });

  it('installs the key over a password login once; then the key logs in', async () => {
    const { user, password } = infra.passwordUser;
    const kh = await makeKnownHosts(infra, ['n2']);
    const tmp = await makeTempDir();
    cleanups.push(() => kh.cleanup(), () => tmp.cleanup());
    const key = await generateKey(join(tmp.dir, 'id'));
    const node = nodeResource(infra, 'n2', { user, identityFile: key.privateKeyPath });

    const keyOnly = new SshTransport(node, { knownHostsPath: kh.path });
    cleanups.push(() => keyOnly.close());
    await expect(keyOnly.exec(['true'])).rejects.toThrow(/authentication failed/);

    const wrong = await installPublicKey(node, 'wrong password', { knownHostsPath: kh.path }).catch((e) => e);
    expect(wrong).toBeInstanceOf(TransportError);
    expect(wrong.message).toMatch(/authentication failed for user vdpass/);

    const first = await installPublicKey(node, password, { knownHostsPath: kh.path });
    expect(first).toMatchObject({ result: 'added', publicKey: key.publicKey, privateKeyPath: key.privateKeyPath });
    expect((await installPublicKey(node, password, { knownHostsPath: kh.path })).result).toBe('present');

    const withKey = new SshTransport(node, { knownHostsPath: kh.path, strictHostKeys: true });
    cleanups.push(() => withKey.close());
    expect((await withKey.exec(['id', '-un'])).stdout).toBe('vdpass\n');
    await withKey.exec(['rm', '-rf', '/home/vdpass/.ssh']);
  });
});
