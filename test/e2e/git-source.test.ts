// source.git on every provider, and spec.dotfiles, through the built CLI against the real infra:
// a bare repository served by node n1's own sshd (test/infra/git-repo.sh -> git.json), fetched by
// the node (as its user, with its own key) for a process, a docker, an lxc (LXD) and a qemu
// workspace on n1. The same SHA must give the same tree on all four. Then an ssh URL only the
// controller's agent can log in to, fetched with that agent forwarded (Node spec.forwardAgent).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, requireBuiltCli, runCli, type CliResult } from './support/cli.js';
import { infraDir, infraNode, loadInfra, makeTempHome, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';
import { gitCacheRepo } from '../../src/providers/git-source.js';
import { KeeperClient, keeperSocketPath } from '../../src/transport/keeper/client.js';

const infra = loadInfra();

function loadJson<T>(name: string, script: string): T {
  const file = join(infraDir(), name);
  if (!existsSync(file)) throw new Error(`e2e infra is missing ${file}: run sudo bash test/infra/${script} up (up.sh runs it)`);
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}
const git = loadJson<{ bare: string; sshUrl: string; fileUrl: string; main: string; first: string; feature: string }>('git.json', 'git-repo.sh');
const lxd = loadJson<{ socket: string; image: string }>('lxd.json', 'lxd.sh');
const qemu = loadJson<{ kernel: string; initrd: string; append?: string }>('qemu.json', 'qemu.sh');
const n1 = infraNode(infra, 'n1');

let home: TempHome;
let dir: string;

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { home: home.dir, env: { ...home.env, VENDETTA_QEMU_BOOT_TIMEOUT: '120s', VENDETTA_QEMU_POWERDOWN_TIMEOUT: '2s', ...env }, timeoutMs: 300_000 });
}
const out = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

const NODE = nodeYaml(infra, 'n1', { pinHostKey: true, providers: `{docker: {socket: ${n1.dockerSocket}}, lxc: {socket: ${lxd.socket}}}` });

function ws(name: string, provider: string, spec: string): string {
  const image = provider === 'docker' ? `  image: ${infra.image}\n  pull: never\n` : provider === 'lxc' ? `  image: ${lxd.image}\n` : '';
  const vm =
    provider === 'qemu'
      ? `  resources: {cpus: 1, memory: 256Mi}\n  vm: {network: isolated, kernel: ${qemu.kernel}, initrd: ${qemu.initrd}, append: ${JSON.stringify(qemu.append ?? 'console=ttyS0')}}\n`
      : '';
  return `---\napiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: ${name}}\nspec:\n  node: n1\n  provider: ${provider}\n${image}${vm}${spec}`;
}

function manifest(file: string, ...docs: string[]): string {
  const path = join(dir, file);
  writeFileSync(path, [NODE, ...docs].join('\n'));
  return path;
}

/** Every entry, each file's checksum, the executables and links: the tree as the workspace sees it. */
const LISTING = `cd "$1" && find . -mindepth 1 | sort && find . -type f -exec md5sum {} + | sort -k2 && echo exec: && find . -type f -perm -u+x | sort && echo links: && for l in $(find . -type l | sort); do echo "$l -> $(readlink "$l")"; done`;
async function listing(workspace: string, where = '/workspace'): Promise<string> {
  const r = await cli(['exec', workspace, '--', 'sh', '-c', LISTING, 'sh', where]);
  expect(r.code, out(r)).toBe(0);
  return r.stdout;
}

/** A new commit on `branch` of the served repository (same tree as its parent), made as root. */
function pushCommit(branch: string, parent: string, message: string): string {
  const g = (...args: string[]) =>
    execFileSync('git', ['-c', 'safe.directory=*', '-C', git.bare, ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@vendetta.test', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@vendetta.test' },
    }).trim();
  const commit = g('commit-tree', '-p', parent, '-m', message, `${parent}^{tree}`);
  g('update-ref', `refs/heads/${branch}`, commit);
  return commit;
}

beforeAll(async () => {
  requireBuiltCli();
  home = await makeTempHome(infra);
  dir = home.dir;
});

afterAll(async () => {
  await cli(['delete', 'workspace', 'git-sha-proc', 'git-sha-dock', 'git-sha-lxc', 'git-sha-vm', 'git-sha-lxc-stopped', 'git-branch', 'git-tag', 'git-moving', 'git-badref', 'git-dot-proc', 'git-dot-dock', 'git-dot-git', 'git-token', 'git-agent', '--ignore-not-found']);
  try {
    execFileSync('git', ['-c', 'safe.directory=*', '-C', git.bare, 'for-each-ref', '--format=delete %(refname)', 'refs/heads/git-e2e-*'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .forEach((line) => execFileSync('git', ['-c', 'safe.directory=*', '-C', git.bare, 'update-ref', '-d', line.slice('delete '.length)]));
  } catch {
    /* the repository may be gone */
  }
  await home?.cleanup();
});

describe('source.git on every provider', () => {
  it('a commit SHA gives the same tree on process, docker, lxc and qemu', async () => {
    const pinned = (url: string) => `  source: {git: {url: ${JSON.stringify(url)}, ref: ${git.first}}}\n`;
    const m = manifest(
      'sha.yaml',
      ws('git-sha-proc', 'process', pinned(git.sshUrl)),
      ws('git-sha-dock', 'docker', pinned(git.fileUrl)),
      ws('git-sha-lxc', 'lxc', pinned(git.sshUrl)),
      ws('git-sha-vm', 'qemu', pinned(git.sshUrl)),
    );
    const r = await cli(['apply', '-f', m]);
    expect(r.code, out(r)).toBe(0);

    const expected = await listing('git-sha-proc', '.');
    // The first commit: README says "first", no FEATURE, an executable and a symlink.
    expect(expected).toContain('./sub dir/a file.txt');
    expect(expected).toMatch(/exec:\n\.\/bin\/run\.sh\n/);
    expect(expected).toContain('./link -> README');
    expect(expected).not.toContain('FEATURE');
    for (const name of ['git-sha-dock', 'git-sha-lxc', 'git-sha-vm']) expect(await listing(name), name).toBe(expected);

    // Nothing to do on a second apply; the commit is recorded and shown.
    const again = await cli(['apply', '-f', m]);
    expect(again.code, out(again)).toBe(0);
    expect(out(again)).not.toMatch(/recreate|create /);
    for (const name of ['git-sha-proc', 'git-sha-dock', 'git-sha-lxc', 'git-sha-vm']) {
      const d = await cli(['describe', 'workspace', name]);
      expect(d.stdout, name).toContain(git.first);
    }
    // A SHA never moves: --refresh has nothing to say about them.
    const refreshed = await cli(['diff', '--refresh', '-f', m]);
    expect(refreshed.code, out(refreshed)).toBe(0);
  });

  it('an lxc workspace created stopped gets the same tree (through the files API), seen once started', async () => {
    const doc = (state: string) => ws('git-sha-lxc-stopped', 'lxc', `  state: ${state}\n  source: {git: {url: ${JSON.stringify(git.sshUrl)}, ref: ${git.first}}}\n`);
    const stopped = await cli(['apply', '-f', manifest('stopped.yaml', doc('stopped'))]);
    expect(stopped.code, out(stopped)).toBe(0);
    const started = await cli(['apply', '-f', manifest('stopped.yaml', doc('running'))]);
    expect(started.code, out(started)).toBe(0);
    expect(out(started)).not.toContain('recreate');
    expect(await listing('git-sha-lxc-stopped')).toBe(await listing('git-sha-proc', '.'));
  });

  it('a branch and a tag give their trees', async () => {
    const m = manifest(
      'refs.yaml',
      ws('git-branch', 'process', `  source: {git: {url: ${JSON.stringify(git.sshUrl)}, ref: feature}}\n`),
      ws('git-tag', 'process', `  source: {git: {url: ${JSON.stringify(git.fileUrl)}, ref: v1}}\n`),
    );
    const r = await cli(['apply', '-f', m]);
    expect(r.code, out(r)).toBe(0);
    const feature = await cli(['exec', 'git-branch', '--', 'cat', 'FEATURE', 'README']);
    expect(feature.stdout).toBe('feature\nfirst\n');
    const tag = await cli(['exec', 'git-tag', '--', 'cat', 'README']);
    expect(tag.stdout).toBe('first\n');
    expect((await cli(['describe', 'workspace', 'git-branch'])).stdout).toContain(git.feature);
    // The annotated tag is peeled to its commit.
    expect((await cli(['describe', 'workspace', 'git-tag'])).stdout).toContain(git.first);
  });

  it('diff --refresh shows a branch that moved upstream; without --refresh nothing is asked', async () => {
    const branch = `git-e2e-${process.pid}`;
    pushCommit(branch, git.first, 'start');
    const m = manifest('moving.yaml', ws('git-moving', 'process', `  source: {git: {url: ${JSON.stringify(git.sshUrl)}, ref: ${branch}}}\n`));
    const r = await cli(['apply', '-f', m]);
    expect(r.code, out(r)).toBe(0);
    const before = await cli(['diff', '--refresh', '-f', m]);
    expect(before.code, out(before)).toBe(0);

    const old = execFileSync('git', ['-c', 'safe.directory=*', '-C', git.bare, 'rev-parse', `refs/heads/${branch}`], { encoding: 'utf8' }).trim();
    const moved = pushCommit(branch, old, 'moved');
    const plain = await cli(['diff', '-f', m]);
    expect(plain.code, `without --refresh the recorded commit is used\n${out(plain)}`).toBe(0);
    const refreshed = await cli(['diff', '--refresh', '-f', m]);
    expect(refreshed.code, out(refreshed)).toBe(1);
    expect(refreshed.stdout).toContain('workspace/git-moving');
    expect(refreshed.stdout).toContain(`git ref ${branch} moved ${old.slice(0, 7)}→${moved.slice(0, 7)}`);
  });

  it('a ref that does not exist fails at once, naming the ref and the url', async () => {
    const m = manifest('bad.yaml', ws('git-badref', 'process', `  source: {git: {url: ${JSON.stringify(git.sshUrl)}, ref: no-such-ref}}\n`));
    const started = Date.now();
    const r = await cli(['apply', '-f', m, '--timeout', '60s']);
    expect(r.code, out(r)).not.toBe(0);
    expect(out(r)).toContain('"no-such-ref"');
    expect(out(r)).toContain(git.sshUrl);
    // Not retried: git said no.
    expect(out(r)).not.toMatch(/attempt 2/);
    expect(Date.now() - started).toBeLessThan(30_000);
    // Nothing left behind on the node.
    expect(existsSync(`/home/${infra.user}/.vendetta/workspaces/git-badref`)).toBe(false);
  });
});

describe('source.git over https with a token', () => {
  const TOKEN = `tok-${process.pid}-e2e`;
  let httpd: ChildProcess | undefined;
  let url: string;

  beforeAll(async () => {
    // git http-backend behind busybox httpd's basic auth (user x-access-token, the token as password).
    const root = join(dir, 'http');
    mkdirSync(join(root, 'cgi-bin'), { recursive: true });
    writeFileSync(
      join(root, 'cgi-bin', 'git'),
      `#!/bin/sh\nexport GIT_PROJECT_ROOT=${JSON.stringify(join(git.bare, '..'))} GIT_HTTP_EXPORT_ALL=1 GIT_CONFIG_PARAMETERS="'safe.directory=*'"\nexec git http-backend\n`,
    );
    chmodSync(join(root, 'cgi-bin', 'git'), 0o755);
    writeFileSync(join(root, 'httpd.conf'), `/cgi-bin:x-access-token:${TOKEN}\n`);
    const port = 18990 + (process.pid % 9);
    httpd = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', root, '-c', join(root, 'httpd.conf')], { stdio: 'ignore' });
    url = `http://127.0.0.1:${port}/cgi-bin/git/${git.bare.split('/').pop()}`;
    // A commit already in the node's cache of this URL is not fetched again (nor asked a token for):
    // start from none.
    if (url) rmSync(gitCacheRepo(`/home/${infra.user}`, url), { recursive: true, force: true });
  });

  afterAll(() => {
    if (httpd?.pid) process.kill(httpd.pid);
  });

  it('fails without the token, naming the url; works with it; the token is nowhere on the node', async () => {
    const doc = (token: string) => ws('git-token', 'process', `  source: {git: {url: ${JSON.stringify(url)}, ref: ${git.first}${token}}}\n`);
    const without = await cli(['apply', '-f', manifest('token.yaml', doc('')), '--timeout', '60s']);
    expect(without.code, out(without)).not.toBe(0);
    expect(out(without)).toContain(url);

    await cli(['delete', 'workspace', 'git-token', '--ignore-not-found']);
    const m = manifest('token.yaml', doc(', token: {fromEnv: GIT_E2E_TOKEN}'));
    const withToken = await cli(['apply', '-f', m], { GIT_E2E_TOKEN: TOKEN });
    expect(withToken.code, out(withToken)).toBe(0);
    expect((await cli(['exec', 'git-token', '--', 'cat', 'README'])).stdout).toBe('first\n');
    // Never stored: not in the node user's git cache (configs, askpass script), not in the workspace.
    const cache = `/home/${infra.user}/.vendetta/git`;
    const grep = (path: string) => execFileSync('sh', ['-c', 'grep -rl -- "$1" "$2" || true', 'sh', TOKEN, path], { encoding: 'utf8' }).trim();
    expect(existsSync(cache)).toBe(true);
    expect(grep(cache)).toBe('');
    const wsDir = (await cli(['exec', 'git-token', '--', 'pwd'])).stdout.trim();
    expect(grep(join(wsDir, '..'))).toBe('');
    // Unset, it is an error at load time, before anything changes.
    const unset = await cli(['diff', '-f', m]);
    expect(unset.code).toBe(2);
    expect(out(unset)).toContain('GIT_E2E_TOKEN is not set');
  });
});

describe('spec.dotfiles', () => {
  it('runs install.sh once after creation, not on a no-op apply, again after a recreate', async () => {
    const dotfiles = join(dir, 'dotfiles');
    mkdirSync(dotfiles, { recursive: true });
    // Appends a line unique to this run beside the dotfiles dir (~ in docker, the workspace dir for process).
    writeFileSync(join(dotfiles, 'install.sh'), '#!/bin/sh\necho "ran $(cat /proc/sys/kernel/random/uuid)" >> ../.dotfiles-ran\n');
    writeFileSync(join(dotfiles, '.bashrc'), 'export FROM_DOTFILES=1\n');
    const spec = (install?: string) => `  dotfiles: {path: ${JSON.stringify(dotfiles)}${install ? `, install: ${JSON.stringify(install)}` : ''}}\n`;
    const write = (install?: string) => manifest('dot.yaml', ws('git-dot-proc', 'process', spec(install)), ws('git-dot-dock', 'docker', spec(install)));
    const marks = async () => ({
      proc: (await cli(['exec', 'git-dot-proc', '--', 'cat', '.dotfiles-ran'])).stdout,
      dock: (await cli(['exec', 'git-dot-dock', '--', 'sh', '-c', 'cat ~/.dotfiles-ran && cat ~/.dotfiles/.bashrc'])).stdout,
    });

    const first = await cli(['apply', '-f', write()]);
    expect(first.code, out(first)).toBe(0);
    const once = await marks();
    expect(once.proc.split('\n').filter(Boolean)).toHaveLength(1);
    expect(once.dock).toMatch(/^ran [0-9a-f-]+\nexport FROM_DOTFILES=1\n$/);

    const noop = await cli(['apply', '-f', write()]);
    expect(noop.code, out(noop)).toBe(0);
    expect(await marks()).toEqual(once);

    // A changed dotfiles spec recreates both workspaces: the install runs again, in the new ones.
    const recreated = await cli(['apply', '-f', write('sh ./install.sh')]);
    expect(recreated.code, out(recreated)).toBe(0);
    expect(out(recreated)).toContain('recreate');
    const again = await marks();
    expect(again.proc.split('\n').filter(Boolean)).toHaveLength(1);
    expect(again.proc).not.toBe(once.proc);
    expect(again.dock).not.toBe(once.dock);
  });

  it('a git dotfiles repository is fetched on the node; `install` runs in it', async () => {
    const m = manifest('dot-git.yaml', ws('git-dot-git', 'docker', `  dotfiles: {git: ${JSON.stringify(git.sshUrl)}, install: "cp README ~/readme-from-dotfiles"}\n`));
    const r = await cli(['apply', '-f', m]);
    expect(r.code, out(r)).toBe(0);
    const got = await cli(['exec', 'git-dot-git', '--', 'sh', '-c', 'cat ~/readme-from-dotfiles; ls -A ~/.dotfiles | sort | tr "\\n" " "']);
    // The default branch (main): its README says "second".
    expect(got.stdout).toBe('second\nREADME bin link sub dir ');
  });
});

describe('source.git over ssh with the controller\'s agent forwarded', () => {
  // The URL logs in as the password user (infra.passwordUser), for whom n1's sshd authorizes the
  // e2e client key (the node dir's authorized_keys) but not the node user's own key: only the
  // agent holding the client key, forwarded from here, can fetch it. Nothing shared is changed: the
  // repository is a copy owned by that user in a directory of this test's own.
  const pwUser = infra.passwordUser.user;
  let agent: ChildProcess | undefined;
  let agentSock: string;
  let agentDir: string;
  let repoDir: string;
  let url: string;
  const nodeUid = () => Number(execFileSync('id', ['-u', infra.user], { encoding: 'utf8' }).trim());
  /** OpenSSH's sshd puts a forwarded agent's socket in /tmp/ssh-XXXXXXXXXX/, owned by the login user. */
  const agentDirsOnNode = (): string[] => {
    const uid = nodeUid();
    return readdirSync('/tmp')
      .filter((n) => n.startsWith('ssh-'))
      .filter((n) => {
        try {
          return statSync(join('/tmp', n)).uid === uid;
        } catch {
          return false;
        }
      })
      .sort();
  };
  const agentEnv = () => ({ SSH_AUTH_SOCK: agentSock });
  const keeperEnv = () => ({ ...agentEnv(), VENDETTA_SSH_PERSIST: '120' });
  const keeper = () => new KeeperClient({ socketPath: () => keeperSocketPath(CLI, { ...process.env, ...home.env, ...keeperEnv() }) });
  const doc = () => ws('git-agent', 'process', `  source: {git: {url: ${JSON.stringify(url)}, ref: feature}}\n`);
  const write = (forwardAgent: boolean) => {
    const path = join(dir, 'agent.yaml');
    writeFileSync(path, [forwardAgent ? NODE.replace('spec:\n', 'spec:\n  forwardAgent: true\n') : NODE, doc()].join('\n'));
    return path;
  };

  beforeAll(async () => {
    repoDir = mkdtempSync('/tmp/vendetta-e2e-agent-repo-');
    chmodSync(repoDir, 0o755);
    // The bare repo belongs to the node user: git's upload-pack honours safe.directory only from
    // a global (or system) config, so the clone gets a HOME of its own that says so.
    const gitHome = join(repoDir, '.home');
    mkdirSync(gitHome);
    writeFileSync(join(gitHome, '.gitconfig'), '[safe]\n\tdirectory = *\n');
    execFileSync('git', ['clone', '-q', '--bare', '--no-hardlinks', git.bare, join(repoDir, 'demo.git')], { env: { ...process.env, HOME: gitHome } });
    rmSync(gitHome, { recursive: true, force: true });
    execFileSync('chown', ['-R', `${pwUser}:`, repoDir]);
    url = `ssh://${pwUser}@${n1.address}:${n1.port}${repoDir}/demo.git`;

    agentDir = mkdtempSync('/tmp/vendetta-e2e-agent-');
    agentSock = join(agentDir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(agentSock); i++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(agentSock)) throw new Error(`ssh-agent did not make ${agentSock}`);
    execFileSync('ssh-add', ['-q', infra.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
  });

  afterAll(async () => {
    await cli(['delete', 'workspace', 'git-agent', '--ignore-not-found'], agentEnv());
    await keeper().stop().catch(() => undefined);
    if (agent?.pid) process.kill(agent.pid);
    if (agentDir) rmSync(agentDir, { recursive: true, force: true });
    if (repoDir) rmSync(repoDir, { recursive: true, force: true });
    if (url) rmSync(gitCacheRepo(`/home/${infra.user}`, url), { recursive: true, force: true });
  });

  it('without the Node\'s opt-in the node\'s own keys are refused, and the error says how to forward', async () => {
    const r = await cli(['apply', '-f', write(false), '--timeout', '60s'], agentEnv());
    expect(r.code, out(r)).not.toBe(0);
    expect(out(r)).toContain(url);
    expect(out(r)).toContain('set spec.forwardAgent: true on Node n1');
    expect(existsSync(`/home/${infra.user}/.vendetta/workspaces/git-agent`)).toBe(false);
  });

  it('opted in but without an agent here, the error says there is none', async () => {
    const r = await cli(['apply', '-f', write(true), '--timeout', '60s'], { SSH_AUTH_SOCK: '' });
    expect(r.code, out(r)).not.toBe(0);
    expect(out(r)).toContain('no SSH agent here');
  });

  it('opted in: apply converges through the keeper, the fetch on a connection of its own, no agent socket left on the node', async () => {
    const m = write(true);
    // A first command starts the keeper (and connects directly); wait until it answers.
    const warm = await cli(['diff', '-f', m], keeperEnv());
    expect([0, 1], out(warm)).toContain(warm.code);
    let before: Record<string, number> | undefined;
    for (let i = 0; i < 100 && !before; i++) {
      before = await keeper().stats().catch(() => undefined);
      if (!before) await new Promise((r) => setTimeout(r, 100));
    }
    expect(before, 'the keeper started').toBeDefined();
    const socketsBefore = agentDirsOnNode();

    const r = await cli(['apply', '-f', m], keeperEnv());
    expect(r.code, out(r)).toBe(0);
    expect((await cli(['exec', 'git-agent', '--', 'cat', 'FEATURE', 'README'], keeperEnv())).stdout).toBe('feature\nfirst\n');
    expect((await cli(['describe', 'workspace', 'git-agent'], keeperEnv())).stdout).toContain(git.feature);

    // The forwarded fetch dialled a connection of its own (the keeper's shared one stays up) ...
    const after = await keeper().stats();
    expect(after.connections!, JSON.stringify({ before, after })).toBeGreaterThan(before!.connections!);
    // ... and closed it: sshd removed the agent socket, though the keeper's connection is still open.
    expect(agentDirsOnNode()).toEqual(socketsBefore);
    // diff --refresh asks the node too (ls-remote), forwarded the same way.
    const refreshed = await cli(['diff', '--refresh', '-f', m], keeperEnv());
    expect(refreshed.code, out(refreshed)).toBe(0);
    expect(agentDirsOnNode()).toEqual(socketsBefore);
  });
});
