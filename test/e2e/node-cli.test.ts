// `vendetta node add|list|status|test|remove` against the real sshd nodes, through the built CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, managedContainers, nodeYaml } from './helpers/remote.js';
import { CLI, requireBuiltCli, runCli, type CliResult } from './support/cli.js';

const execFileP = promisify(execFile);

/** Run the CLI with text on stdin (runCli closes stdin). */
function runCliWithStdin(args: string[], env: Record<string, string>, stdin: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('node add | list | status | test | remove (built CLI)', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-node-cli-'));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  const addArgs = () => ['node', 'add', 'n1', '127.0.0.11', '--port', '2222', '--user', infra.user, '--identity', infra.clientKey];

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra, { trustNodes: false }); // empty known_hosts: TOFU must record n1
  });
  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir);
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('node add --dry-run -o yaml prints the Node manifest and contacts nothing', async () => {
    const r = await cli(...addArgs(), '--dry-run', '-o', 'yaml');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/apiVersion: vendetta\.dev\/v1alpha1/);
    expect(r.stdout).toMatch(/kind: Node/);
    expect(r.stdout).toMatch(/name: n1/);
    expect(r.stdout).toMatch(/address: 127\.0\.0\.11/);
    expect(r.stdout).toMatch(/port: 2222/);
    expect(r.stdout).toMatch(/user: vdtest/);
    expect(readFileSync(home.knownHostsPath, 'utf8')).toBe('');
  });

  it('node add trusts the host key on first use and records it in known_hosts', async () => {
    const r = await cli(...addArgs());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/node\/n1 added: Ready/);
    const n1 = infra.nodes.find((n) => n.name === 'n1')!;
    expect(readFileSync(home.knownHostsPath, 'utf8')).toContain(`[127.0.0.11]:2222 ${n1.hostKeyPub}`);
  });

  it('node list and node status show the node Ready', async () => {
    const list = await cli('node', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/n1\s+127\.0\.0\.11\s+vdtest\s+2222\s+Ready/);
    const status = await cli('node', 'status', 'n1');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Ready:\s+True \(Reachable\)/);
    expect(status.stdout).toMatch(/Latency:\s+[\d.]+ ms/);
  });

  it('node test checks reachability, host key, auth, disk and memory', async () => {
    const r = await cli('node', 'test', 'n1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const check of ['reachable', 'host key', 'auth', 'disk', 'memory']) expect(r.stdout).toMatch(new RegExp(`✓ ${check}\\s`));
    expect(r.stdout).toMatch(/auth\s+logged in as vdtest/);
    // This node's dockerd is not at the default socket: reported with what to do, but not fatal.
    expect(r.stdout).toMatch(/✗ provider docker/);
    expect(r.stdout).toMatch(/spec\.providers\.docker\.socket/);
  });

  it('node test reports the docker provider with its version once the socket is declared', async () => {
    writeFileSync(join(dir, 'nodes.yaml'), nodeYaml(infra, 'n1'));
    const applied = await cli('apply', '-f', dir);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const version = (await dockerOn(infra, 'n1', ['version', '--format', '{{.Server.Version}}'])).trim();
    const r = await cli('node', 'test', 'n1', '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const docker = (JSON.parse(r.stdout).checks as { check: string; ok: boolean; detail: string }[]).find((c) => c.check === 'provider docker');
    expect(docker?.ok).toBe(true);
    expect(docker?.detail).toContain(version);
  });

  it('node remove refuses while a workspace is on the node; --force removes it', async () => {
    writeFileSync(join(dir, 'ws.yaml'), `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: on-n1}
spec: {node: n1, provider: docker, image: ${infra.image}, pull: never}
`);
    const applied = await cli('apply', '-f', dir);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const refused = await cli('node', 'remove', 'n1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/node n1 still has workspaces: on-n1/);
    expect(refused.stderr).toMatch(/--force/);
    expect((await cli('node', 'list')).stdout).toMatch(/^n1\s/m);

    const forced = await cli('node', 'remove', 'n1', '--force');
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/node\/n1 removed \(workspaces left on it: on-n1\)/);
    expect((await cli('node', 'list')).stdout).not.toMatch(/^n1\s/m);
    // Forgetting a node touches nothing on it: the container is still there.
    expect((await managedContainers(infra, 'n1')).size).toBe(1);
    // Declare the node again so afterAll's delete can reach it (delete -f does not connect to a
    // Node that is only in the manifests and no longer in the store).
    expect((await cli('apply', '-f', dir)).code).toBe(0);
  });
});

describe('node add generates a key and installs it with a password login', () => {
  let infra: Infra;
  let home: TempHome;
  let generatedPub = '';
  const authorizedKeys = () => `/home/${infra.passwordUser.user}/.ssh/authorized_keys`;

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    rmSync(join(home.sshDir, 'id_ed25519'));
    rmSync(join(home.sshDir, 'id_ed25519.pub'));
  });
  afterAll(async () => {
    // Take our throwaway key back out of the password user's authorized_keys.
    if (generatedPub && existsSync(authorizedKeys())) {
      const keep = readFileSync(authorizedKeys(), 'utf8').split('\n').filter((l) => l && !l.includes(generatedPub.split(' ')[1]!));
      writeFileSync(authorizedKeys(), keep.map((l) => l + '\n').join(''));
    }
    await home?.cleanup();
  });

  it('generates an ed25519 key (0600), installs it over the password login, then logs in with the key', async () => {
    const { user, password } = infra.passwordUser;
    const r = await runCliWithStdin(['node', 'add', 'pw', '127.0.0.12', '--port', '2222', '--user', user, '--password-stdin'], home.env, password + '\n');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const key = join(home.sshDir, 'id_ed25519');
    expect(r.stderr).toContain(`generated a new ed25519 key: ${key}`);
    expect(r.stderr).toMatch(/installed .*id_ed25519\.pub on pw/);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    generatedPub = readFileSync(`${key}.pub`, 'utf8').trim();
    expect(generatedPub).toMatch(/^ssh-ed25519 /);
    expect(readFileSync(authorizedKeys(), 'utf8')).toContain(generatedPub.split(' ')[1]);

    // Key login works without any password: both for vendetta and for plain OpenSSH.
    const test = await runCli(['node', 'test', 'pw'], { home: home.dir, env: home.env });
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/✓ auth\s+logged in as vdpass/);
    const { stdout } = await execFileP('ssh', [
      '-i', key, '-p', '2222', '-o', 'BatchMode=yes', '-o', 'PasswordAuthentication=no', '-o', `UserKnownHostsFile=${home.knownHostsPath}`,
      '-o', 'StrictHostKeyChecking=yes', `${user}@127.0.0.12`, 'echo key-login-ok',
    ]);
    expect(stdout.trim()).toBe('key-login-ok');
  });
});
