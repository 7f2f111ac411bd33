// ~/.ssh/config for nodes, against the bastion infra (test/infra/bastion.sh): a node in a network
// namespace reachable only through a bastion sshd in another one. The test writes its own ssh
// config (with an Include) and points VENDETTA_SSH_CONFIG at it.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, type NodeResource } from '../../src/model/types.js';
import { generateKey } from '../../src/transport/keys.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { infraDir, loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { eventually, requireBuiltCli, runCli } from './support/cli.js';

const execFileP = promisify(execFile);

interface BastionInfra {
  bastion: { address: string; port: number; hostKeyPub: string };
  target: { address: string; port: number; hostKeyPub: string };
}

/** Written by test/infra/bastion.sh; missing means that part of the infra is down: fail, never skip. */
function loadBastion(): BastionInfra {
  const file = join(infraDir(), 'bastion', 'bastion.json');
  if (!existsSync(file)) throw new Error(`bastion e2e infra is not running: ${file} is missing. Start it with: sudo bash test/infra/bastion.sh up`);
  return JSON.parse(readFileSync(file, 'utf8')) as BastionInfra;
}

/** The bastion sshd's pid and its per-connection children (no other test uses this sshd). */
function bastionSessions(): number {
  const master = readFileSync(join(infraDir(), 'bastion', 'bastion', 'sshd.pid'), 'utf8').trim();
  return spawnSync('pgrep', ['-P', master], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
}

const node = (address: string, spec: Partial<NodeResource['spec']> = {}): NodeResource => ({
  apiVersion: API_VERSION,
  kind: 'Node',
  metadata: { name: 'bast-node' },
  spec: { address, ...spec },
});

describe('nodes behind a ProxyJump bastion, from ~/.ssh/config', () => {
  let infra: Infra;
  let bast: BastionInfra;
  let home: TempHome;
  let config: string;
  let env: Record<string, string>;
  const manifests = () => join(home.dir, 'manifests');
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env });

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    bast = loadBastion();
    home = await makeTempHome(infra);
    config = join(home.sshDir, 'config');
    // The bastion's alias lives in an included file, to prove Include (absolute: OpenSSH starts a
    // relative one in the real ~/.ssh even with -F). User and IdentityFile come from a Host *
    // block; vendetta ignores the OpenSSH-only options there.
    await mkdir(join(home.sshDir, 'conf.d'));
    // a key no host accepts, listed first: every IdentityFile is tried in order, as OpenSSH does
    const stranger = await generateKey(join(home.dir, 'stranger_key'));
    await writeFile(join(home.sshDir, 'conf.d', 'bastion.conf'), `Host bast-bastion\n  HostName ${bast.bastion.address}\n  Port ${bast.bastion.port}\n`);
    await writeFile(
      config,
      `Include ${home.sshDir}/conf.d/*.conf

Host bast-target
  HostName ${bast.target.address}
  ProxyJump bast-bastion

Host bast-n1
  HostName ${infra.nodes[0]!.address}
  Port ${infra.nodes[0]!.port}

Host bast-refused
  HostName ${bast.target.address}
  ProxyJump ${infra.user}@${bast.bastion.address}:23

Host bast-beyond
  HostName ${bast.target.address}
  Port 23
  ProxyJump bast-bastion

Host *
  User ${infra.user}
  IdentityFile ${stranger.privateKeyPath}
  IdentityFile ${infra.clientKey}
  UserKnownHostsFile ${join(home.sshDir, 'openssh_known_hosts')}
  StrictHostKeyChecking accept-new
  BatchMode yes
  ConnectTimeout 10
`,
    );
    env = { ...home.env, VENDETTA_SSH_CONFIG: config };
    // for the SshTransports made in this process
    Object.assign(process.env, { VENDETTA_SSH_CONFIG: config, VENDETTA_SSH_DIR: home.sshDir });
    await mkdir(manifests());
  });

  afterAll(async () => {
    delete process.env.VENDETTA_SSH_CONFIG;
    delete process.env.VENDETTA_SSH_DIR;
    if (home) {
      if (existsSync(join(manifests(), 'bast.yaml'))) await cli('delete', '-f', manifests());
      await home.cleanup();
    }
  });

  it('sanity: the target is not reachable directly, and the real OpenSSH client reaches it through the bastion with the same config', async () => {
    const direct = await execFileP('ssh', ['-F', config, '-o', 'ProxyJump=none', 'bast-target', 'true']).then(
      () => 'connected',
      (e: { stderr: string }) => e.stderr,
    );
    expect(direct).toMatch(/No route to host/);
    const { stdout } = await execFileP('ssh', ['-F', config, 'bast-target', 'ip', '-4', '-o', 'addr', 'show']);
    expect(stdout).toContain(`inet ${bast.target.address}/`);
  });

  it('a node whose address is the alias converges through the jump: a process workspace with a healthy service, and exec', async () => {
    await writeFile(
      join(manifests(), 'bast.yaml'),
      `apiVersion: ${API_VERSION}
kind: Node
metadata: {name: bast-node}
spec:
  address: bast-target
  providers: {}
---
apiVersion: ${API_VERSION}
kind: Workspace
metadata: {name: bast-ws}
spec:
  node: bast-node
  provider: process
---
apiVersion: ${API_VERSION}
kind: Service
metadata: {name: bast-web}
spec:
  workspace: bast-ws
  command: sh -c 'echo bast-ok > index.html && exec busybox httpd -f -p 127.0.0.1:18571 -h .'
  ports: [18571]
  healthcheck:
    http: {port: 18571, path: /}
    interval: 1s
  restart: always
`,
    );
    const r = await cli('apply', '-f', manifests());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // apply waits for the service: Ready, and its http healthcheck (a forwarded channel on the
    // node's connection, itself inside the jump) passed
    const g = await cli('get', 'service', 'bast-web', '-o', 'json');
    expect(g.code, g.stderr).toBe(0);
    const svc = JSON.parse(g.stdout) as { status: { phase: string; conditions: { type: string; status: string }[] } };
    expect(svc.status.phase).toBe('Ready');
    expect(svc.status.conditions.find((c) => c.type === 'Healthy')?.status).toBe('True');
    // exec runs on the target (its only address is inside the second namespace)
    const ex = await cli('exec', 'bast-ws', '--', 'sh', '-c', 'ip -4 -o addr show; cat index.html');
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toContain(`inet ${bast.target.address}/`);
    expect(ex.stdout).toContain('bast-ok');
    // both hops' host keys were checked and learned (trust on first use) like any node's
    const kh = await readFile(home.knownHostsPath, 'utf8');
    expect(kh).toContain(`${bast.bastion.address} ${bast.bastion.hostKeyPub}`);
    expect(kh).toContain(`${bast.target.address} ${bast.target.hostKeyPub}`);
    // the resolved route is shown
    const st = await cli('node', 'status', 'bast-node');
    expect(st.code, st.stdout + st.stderr).toBe(0);
    expect(st.stdout).toContain(`${infra.user}@${bast.target.address}:22 via bast-bastion`);
    // node test dials the first hop, and logs in as the config's User
    const nt = await cli('node', 'test', 'bast-node');
    expect(nt.stdout).toMatch(new RegExp(`reachable\\s+${bast.bastion.address.replace(/\./g, '\\.')}:22 \\(jump host bast-bastion\\) accepts TCP connections`));
    expect(nt.stdout).toMatch(new RegExp(`auth\\s+logged in as ${infra.user}`));
  });

  it('an unparsable ssh config: apply names the file and line, and changes nothing', async () => {
    const broken = join(home.dir, 'broken_config');
    await writeFile(broken, 'Host bast-target\n  HostName 10.252.0.2\n  IdentityFile "/unterminated\n');
    const r = await runCli(['apply', '-f', manifests()], { home: home.dir, env: { ...env, VENDETTA_SSH_CONFIG: broken } });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toContain(`cannot parse ssh config ${broken}:3`);
    // with the good config: the service still runs and serves its page (nothing was touched)
    const ex = await cli('exec', 'bast-ws', '--', 'busybox', 'wget', '-qO-', 'http://127.0.0.1:18571/');
    expect(ex.stdout, ex.stderr).toBe('bast-ok\n');
  });

  it('a Node with only `address: <alias>` gets HostName, Port, User and IdentityFile from the config (no jump)', async () => {
    const n1 = infra.nodes[0]!;
    const t = new SshTransport(node('bast-n1'), { knownHostsPath: home.knownHostsPath, strictHostKeys: true });
    try {
      expect(t.describe).toBe(`${infra.user}@${n1.address}:${n1.port}`);
      const r = await t.exec(['sh', '-c', 'id -un; echo "$SSH_CONNECTION"']);
      expect(r.code, r.stderr).toBe(0);
      const [user, conn] = r.stdout.trim().split('\n');
      expect(user).toBe(infra.user);
      expect(conn!.split(' ').slice(2)).toEqual([n1.address, String(n1.port)]);
    } finally {
      await t.close();
    }
  });

  it('closing the node connection closes the jump host connection', async () => {
    const before = bastionSessions();
    const t = new SshTransport(node('bast-target'), { knownHostsPath: home.knownHostsPath });
    try {
      await t.connect();
      expect((await t.exec(['true'])).code).toBe(0);
      await eventually(() => bastionSessions() > before, 10_000, 'a session on the bastion');
    } finally {
      await t.close();
    }
    await eventually(() => bastionSessions() === before, 10_000, 'the bastion session to end');
  });

  it('a jump host that refuses the connection: the error names that hop', async () => {
    const t = new SshTransport(node('bast-refused'), { knownHostsPath: home.knownHostsPath, connectAttempts: 1 });
    await expect(t.connect()).rejects.toThrow(
      `jump host ${bast.bastion.address} (${bast.bastion.address}:23) unreachable: connection refused (on the way to node bast-node)`,
    );
  });

  it('a target the jump host cannot reach: the error says which hop could not reach what', async () => {
    const t = new SshTransport(node('bast-beyond'), { knownHostsPath: home.knownHostsPath, connectAttempts: 1 });
    await expect(t.connect()).rejects.toThrow(
      `jump host bast-bastion (${bast.bastion.address}:22) cannot reach bast-beyond (${bast.target.address}:23) for node bast-node`,
    );
  });

  it("a jump host whose key changed is refused like a node's, and nothing reaches the target", async () => {
    const kh = join(home.dir, 'known_hosts_wrong');
    // the bastion recorded with the target's key: a "changed" host key
    await writeFile(kh, `${bast.bastion.address} ${bast.target.hostKeyPub}\n`);
    const t = new SshTransport(node('bast-target'), { knownHostsPath: kh, connectAttempts: 1 });
    await expect(t.connect()).rejects.toThrow(/host key of jump host bast-bastion \(10\.251\.0\.2:22\) of node bast-node has changed/);
    expect(await readFile(kh, 'utf8')).toBe(`${bast.bastion.address} ${bast.target.hostKeyPub}\n`);
  });
});
