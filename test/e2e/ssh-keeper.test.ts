// The SSH connection keeper (src/transport/keeper/) against the real sshd nodes of
// test/infra/up.sh: every Transport call through it behaves as a direct SshTransport, the
// connection is made once for many commands (counted, not timed), and the CLI starts and reuses it.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, parsePublicKeyLine } from '../../src/transport/hostkeys.js';
import { KeeperClient, keeperSocketPath } from '../../src/transport/keeper/client.js';
import { ConnectionKeeper } from '../../src/transport/keeper/server.js';
import { HostKeyMismatchError, TransportError, type Transport } from '../../src/transport/types.js';
import { requestText, TransportUnixAgent } from '../../src/transport/unix-agent.js';
import { infraNode, loadInfra, makeKnownHosts, makeTempHome, nodeResource, type Infra, type TempHome } from './helpers/infra.js';
import { managedContainers, nodeYaml } from './helpers/remote.js';
import { CLI, eventually, requireBuiltCli, runCli } from './support/cli.js';

const execFileP = promisify(execFile);
const infra: Infra = loadInfra();
const dir = mkdtempSync(join(tmpdir(), 'vendetta-keeper-'));
let keeper: ConnectionKeeper;
let socketPath: string;
let knownHosts: string;

beforeAll(async () => {
  socketPath = join(dir, 'k.sock');
  keeper = new ConnectionKeeper({ socketPath, idleMs: 60_000 });
  expect(await keeper.listen()).toBe(true);
  knownHosts = (await makeKnownHosts(infra, ['n1', 'n2'])).path;
});
afterAll(async () => {
  await keeper.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What one CLI command would hold: a client and a connected transport to `node`. */
async function kept(node = 'n1', spec = {}, options: { knownHostsPath?: string } = { knownHostsPath: knownHosts }): Promise<Transport> {
  const t = await new KeeperClient({ socketPath }).transport(nodeResource(infra, node, spec), options);
  if (!t) throw new Error('no keeper answered');
  return t;
}

describe('calls through the keeper behave as direct SSH calls', () => {
  it('exec: argv with shell metacharacters, stdin, env, cwd, exit codes and stderr', async () => {
    const t = await kept();
    const nasty = `it's "q" $HOME \`id\` ; echo pwned\nline2`;
    const r = await t.exec(['sh', '-c', 'printf %s "$1"; printf %s "$X" >&2; cat; pwd; exit 3', 'sh', nasty], {
      stdin: 'from stdin\n',
      env: { X: 'env $value' },
      cwd: '/tmp',
    });
    expect(r).toEqual({ code: 3, stdout: `${nasty}from stdin\n/tmp\n`, stderr: 'env $value' });
    const bin = await t.exec(['sh', '-c', 'wc -c | tr -d " "'], { stdin: Buffer.from([0, 1, 2, 255]) });
    expect(bin.stdout).toBe('4\n');
  });

  it('exec: a timeout and an abort reject with TransportError, and the keeper stays usable', async () => {
    const t = await kept();
    await expect(t.exec(['sleep', '30'], { timeoutMs: 300 })).rejects.toThrow(/timed out after 300ms/);
    const abort = new AbortController();
    const running = t.exec(['sleep', '30'], { signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    await expect(running).rejects.toThrow(/aborted/);
    expect((await t.exec(['echo', 'still here'])).stdout).toBe('still here\n');
  });

  it('spawn: streams stdout and stderr, takes stdin, reports the exit code; kill stops it', async () => {
    const t = await kept();
    const p = await t.spawn(['sh', '-c', 'cat; echo err >&2; exit 7']);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.stdin.write('hello ');
    p.stdin.end('keeper\n');
    expect(await p.wait()).toBe(7);
    expect(out).toBe('hello keeper\n');
    expect(err).toBe('err\n');

    // Killed once it runs: a signal sshd receives before it has started the command reaches no
    // process, and the sleep then ran its 30 s into the test's timeout (failed once in CI).
    const long = await t.spawn(['sh', '-c', 'echo up; exec sleep 30']);
    await new Promise<void>((resolve) => long.stdout.on('data', (d: Buffer) => d.toString().includes('up') && resolve()));
    long.kill('SIGKILL');
    expect(await long.wait()).toBeGreaterThanOrEqual(128);
  });

  it('writeFile, readFile and upload (a tree with a symlink) land on the node', async () => {
    const t = await kept();
    const remote = `/tmp/vendetta-keeper-up-${process.pid}`;
    const bytes = Buffer.from([0, 10, 13, 255, 128, 65]);
    await t.writeFile(`${remote}/deep/file.bin`, bytes, 0o600);
    expect(Buffer.compare(await t.readFile(`${remote}/deep/file.bin`), bytes)).toBe(0);
    const src = join(dir, 'tree');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'a.txt'), 'A');
    await symlink('sub/a.txt', join(src, 'link'));
    await t.upload(src, `${remote}/tree`);
    const r = await t.exec(['sh', '-c', 'cat "$1/sub/a.txt"; readlink "$1/link"', 'sh', `${remote}/tree`]);
    expect(r.stdout).toBe('Asub/a.txt\n');
    expect(await t.home()).toMatch(/^\//);
    await t.exec(['rm', '-rf', remote]);
  });

  it('connectUnix reaches the node dockerd (the Docker API path) and connectTcp a node port', async () => {
    const t = await kept();
    const agent = new TransportUnixAgent(t, infraNode(infra, 'n1').dockerSocket);
    const ping = await requestText(agent, { host: 'docker', path: '/_ping', method: 'GET' });
    expect(ping).toEqual({ status: 200, text: 'OK' });
    const n = infraNode(infra, 'n1');
    const sock = await t.connectTcp(n.address, n.port);
    const banner = await new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString())));
    sock.destroy();
    expect(banner).toMatch(/^SSH-2\.0-/);
  });
});

describe('failures keep their class, message and hint', () => {
  it('an unreachable node: TransportError with a hint, and nothing kept', async () => {
    const err = await kept('n1', { port: 2299 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).message).toMatch(/cannot connect to node n1 .*connection refused/);
    expect((err as TransportError).hint).toMatch(/sshd running/);
  });

  it('a pinned host key that does not match: HostKeyMismatchError with both fingerprints', async () => {
    const other = infraNode(infra, 'n2').hostKeyPub;
    const err = await kept('n1', { hostKey: other }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    const m = err as HostKeyMismatchError;
    expect(m.expectedFingerprint).toBe(fingerprint(parsePublicKeyLine(other)!.key));
    expect(m.presentedFingerprint).toBe(fingerprint(parsePublicKeyLine(infraNode(infra, 'n1').hostKeyPub)!.key));
  });

  it('trust on first use: the host key is recorded and the command that connected is told', async () => {
    const kh = await makeKnownHosts(infra, []);
    const learned: string[] = [];
    const t = await new KeeperClient({ socketPath }).transport(nodeResource(infra, 'n2'), { knownHostsPath: kh.path }, (l) => learned.push(l.fingerprint));
    expect(t).toBeDefined();
    expect(learned).toEqual([fingerprint(parsePublicKeyLine(infraNode(infra, 'n2').hostKeyPub)!.key)]);
    expect(await readFile(kh.path, 'utf8')).toContain(infraNode(infra, 'n2').hostKeyPub.split(' ')[1]);
    await kh.cleanup();
  });
});

describe('one connection for many commands', () => {
  it('ten commands, each with its own client, make one SSH connection to the node', async () => {
    const before = await new KeeperClient({ socketPath }).stats();
    for (let i = 0; i < 10; i++) {
      const t = await kept('n2');
      expect((await t.exec(['echo', String(i)])).stdout).toBe(`${i}\n`);
    }
    const after = await new KeeperClient({ socketPath }).stats();
    // n2 was connected once already (trust-on-first-use test, another known_hosts): at most one more.
    expect(after.connections - before.connections).toBeLessThanOrEqual(1);
    expect(after.sessions - before.sessions).toBe(10);
  });

  // Each command reaches the keeper on a socket of its own; those asked for together must still
  // go as one batch session, as on a direct connection (a cold apply at 10 x 100 made 2,000
  // sessions, each an sshd fork and a login shell, when every exec through the keeper ran alone).
  it('commands asked for together go as one batch session through the keeper; an abortable one runs alone', async () => {
    const t = await kept('n2');
    const before = await new KeeperClient({ socketPath }).stats();
    const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => t.exec(['echo', String(i)])));
    expect(outs.map((o) => o.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    const mid = await new KeeperClient({ socketPath }).stats();
    expect(mid.execs - before.execs).toBe(20);
    expect(mid.sessions - before.sessions).toBeLessThanOrEqual(3);
    expect(mid.batchedExecs - before.batchedExecs).toBeGreaterThanOrEqual(18);
    const abortable = await Promise.all(Array.from({ length: 3 }, (_, i) => t.exec(['echo', String(i)], { signal: new AbortController().signal })));
    expect(abortable.map((o) => o.stdout)).toEqual(['0\n', '1\n', '2\n']);
    const after = await new KeeperClient({ socketPath }).stats();
    expect(after.sessions - mid.sessions).toBe(3);
    expect(after.batchedExecs).toBe(mid.batchedExecs);
  });

  it('a keeper goes away after its idle time, and a stale socket is taken over', async () => {
    const path = join(dir, 'idle.sock');
    const k = new ConnectionKeeper({ socketPath: path, idleMs: 200 });
    expect(await k.listen()).toBe(true);
    const second = new ConnectionKeeper({ socketPath: path, idleMs: 200 });
    expect(await second.listen()).toBe(false); // the live one keeps its socket
    await (await new KeeperClient({ socketPath: path }).transport(nodeResource(infra, 'n1'), { knownHostsPath: knownHosts }))!.exec(['true']);
    await eventually(() => !existsSync(path), 10_000, 'the idle keeper to remove its socket');
    writeFileSync(path, 'stale'); // what a crashed keeper leaves: a path nobody answers on
    const third = new ConnectionKeeper({ socketPath: path, idleMs: 60_000 });
    expect(await third.listen()).toBe(true);
    await third.close();
  });
});

describe('the CLI starts a keeper and its next command reuses the connection', () => {
  let home: TempHome;
  let runtimeDir: string;
  const manifest = join(dir, 'set.yaml');
  beforeAll(async () => {
    requireBuiltCli();
    home = await makeTempHome(infra);
    runtimeDir = mkdtempSync(join(tmpdir(), 'vendetta-keeper-xdg-'));
    const n = infraNode(infra, 'n1');
    writeFileSync(
      manifest,
      `${nodeYaml(infra, 'n1')}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: kept-web}
spec: {node: n1, provider: docker, image: ${infra.image}, pull: never, ports: ["${n.address}:18591:80"]}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: kept-httpd}
spec: {workspace: kept-web, command: exec httpd -f -p 80 -h /var/www}
`,
    );
  });
  afterAll(async () => {
    await cli('delete', '-f', manifest).catch(() => {});
    await cli('node', 'disconnect').catch(() => {});
    // The keeper may still be writing its log as it exits after the disconnect: retry ENOTEMPTY.
    rmSync(runtimeDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    await home.cleanup();
  });
  const env = () => ({ ...home.env, XDG_RUNTIME_DIR: runtimeDir, VENDETTA_SSH_PERSIST: '120' });
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: env() });
  // The socket the CLI computes for this environment (the same function, the same inputs).
  const keeperOfCli = () => new KeeperClient({ socketPath: () => keeperSocketPath(CLI, { ...process.env, ...env() }) });

  it('VENDETTA_SSH_PERSIST=0 starts no keeper', async () => {
    const r = await runCli(['diff', '-f', manifest], { home: home.dir, env: { ...env(), VENDETTA_SSH_PERSIST: '0' } });
    expect(r.code, r.stderr).toBe(1); // changes pending, as `diff` says
    expect(r.stdout).toContain('workspace/kept-web');
    expect(existsSync(join(runtimeDir, 'vendetta'))).toBe(false);
  });

  it('apply starts the keeper; a second apply (no-op) and exec add no SSH connection', async () => {
    const first = await cli('apply', '-f', manifest);
    expect(first.code, first.stderr).toBe(0);
    // The first command connected directly and named its nodes to the keeper it started, which
    // connects to them at once: the next command finds the connection made.
    await eventually(async () => (await keeperOfCli().stats().catch(() => undefined))?.connections === 1, 15_000, 'the keeper to connect to n1');
    expect(existsSync(join(runtimeDir, 'vendetta'))).toBe(true);
    const second = await cli('apply', '-f', manifest);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/\(0 operations\)/);
    // exec goes through the keeper too: its channels (an SSH session, or the Docker API's socket
    // forward) are the keeper's; a direct connection would leave the keeper's counters as they were.
    const channels = (s: Record<string, number>) => (s.sessions ?? 0) + (s.forwards ?? 0);
    const channelsBefore = channels(await keeperOfCli().stats());
    const ex = await cli('exec', 'kept-web', '--', 'cat', '/etc/hostname');
    expect(ex.code, ex.stderr).toBe(0);
    const stats = await keeperOfCli().stats();
    expect(stats.connections).toBe(1);
    expect(channels(stats)).toBeGreaterThan(channelsBefore);
    expect(stats.forwards).toBeGreaterThan(0); // the Docker API went through it
    expect((await managedContainers(infra, 'n1')).has('vendetta-kept-web')).toBe(true);
    // The keeper is an ordinary process of this user; `node disconnect` ends it.
    await execFileP('kill', ['-0', String(stats.pid)]);
    const bye = await cli('node', 'disconnect');
    expect(bye.stdout).toBe('closed 1 kept connection\n');
    await eventually(async () => (await execFileP('kill', ['-0', String(stats.pid)]).then(() => false, () => true)), 10_000, 'the keeper to exit');
    expect((await cli('node', 'disconnect')).stdout).toBe('no connections are kept\n');
  });
});
