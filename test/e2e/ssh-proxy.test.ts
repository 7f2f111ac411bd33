// `vendetta ssh-config` + `vendetta ssh-proxy` with the REAL OpenSSH client (ssh, scp, sftp,
// rsync from Debian), into docker, process, lxc and qemu workspaces on node n1: exit codes,
// stdout/stderr apart, stdin and EOF, a PTY (resize through tmux), `ssh -L` to a service inside;
// and, where the image has sftp-server and rsync (docker: test/infra/sshproxy-image.sh; process:
// the node's own), file copies both ways and rsync of a tree. A plain busybox workspace shows the
// error for a missing sftp-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { infraDir, loadInfra, makeTempDir, makeTempHome, REPO_ROOT, type Infra, type TempDir, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';
import { eventually, freePort, httpGet, requireBuiltCli, runCli } from './support/cli.js';

const execFileP = promisify(execFile);

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs a program to completion; stdin is `input` (then EOF), or nothing. */
function run(cmd: string, args: string[], opts: { input?: Buffer | string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `files`: the image has sftp-server and rsync (the LXD and QEMU test images do not). */
const WORKSPACES = [
  { provider: 'docker', ws: 'sshp-dock', files: true },
  { provider: 'process', ws: 'sshp-proc', files: true },
  { provider: 'lxc', ws: 'sshp-lxc', files: false },
  { provider: 'qemu', ws: 'sshp-vm', files: false },
] as const;

/** test/infra writes lxd.json and qemu.json; missing means the infra is down: fail, never skip. */
function infraJson<T>(file: string): T {
  const path = join(infraDir(), file);
  if (!existsSync(path)) throw new Error(`e2e infra is not running: ${path} is missing (test/infra/up.sh)`);
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** A busybox httpd answering "<provider>-httpd-ok" on port 8080 of the workspace's loopback. */
function httpd(ws: string, provider: string, healthcheck = true): string {
  return `apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${ws}-httpd}
spec:
  workspace: ${ws}
  command: echo ${provider}-httpd-ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp
${healthcheck ? '  healthcheck: {http: {port: 8080, path: /}, interval: 500ms, timeout: 2s, retries: 40}\n' : ''}`;
}

describe('ssh-config / ssh-proxy with the OpenSSH client', () => {
  let infra: Infra;
  let home: TempHome;
  let tmp: TempDir;
  let config: string;
  let procPort: number;
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: { ...home.env, VENDETTA_QEMU_BOOT_TIMEOUT: '150s' } });
  const sshArgs = () => ['-F', config, '-o', 'BatchMode=yes'];
  const ssh = (host: string, args: string[], input?: Buffer | string) => run('ssh', [...sshArgs(), host, ...args], { input });

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    tmp = await makeTempDir('vendetta-sshp-');
    // The image with sftp-server and rsync: made (once) from up.sh's busybox rootfs.
    const { stdout } = await execFileP('bash', [join(REPO_ROOT, 'test/infra/sshproxy-image.sh')]);
    const image = stdout.trim();
    procPort = await freePort();
    const lxd = infraJson<{ socket: string; image: string }>('lxd.json');
    const qemu = infraJson<{ kernel: string; initrd: string; append?: string }>('qemu.json');
    writeFileSync(
      join(tmp.dir, 'ws.yaml'),
      [
        nodeYaml(infra, 'n1', { providers: `{docker: {socket: ${infra.nodes[0]!.dockerSocket}}, lxc: {socket: ${lxd.socket}}}` }),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: sshp-dock}
spec: {node: n1, provider: docker, image: ${image}, pull: never, env: {SSHP_GREETING: hello docker}}
`,
        httpd('sshp-dock', 'docker'),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: sshp-proc}
spec: {node: n1, provider: process, env: {SSHP_GREETING: hello process}}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: sshp-proc-httpd}
spec:
  workspace: sshp-proc
  command: mkdir -p www && echo process-httpd-ok > www/index.html && exec busybox httpd -f -p 127.0.0.1:${procPort} -h www
  healthcheck: {http: {port: ${procPort}, path: /}, interval: 500ms, timeout: 2s, retries: 40}
`,
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: sshp-lxc}
spec: {node: n1, provider: lxc, image: ${lxd.image}, env: {SSHP_GREETING: hello lxc}}
`,
        httpd('sshp-lxc', 'lxc'),
        // No ports declared: ssh -L must reach the guest's loopback anyway (through its SSH server).
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: sshp-vm}
spec:
  node: n1
  provider: qemu
  resources: {cpus: 1, memory: 256Mi}
  env: {SSHP_GREETING: hello qemu}
  vm:
    network: isolated
    kernel: ${qemu.kernel}
    initrd: ${qemu.initrd}
    append: ${JSON.stringify(qemu.append ?? 'console=ttyS0')}
`,
        httpd('sshp-vm', 'qemu', false),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: sshp-bare}
spec: {node: n1, provider: docker, image: ${infra.image}, pull: never}
`,
      ].join('---\n'),
    );
    const r = await cli('apply', '-f', tmp.dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const c = await cli('ssh-config');
    expect(c.code, c.stderr).toBe(0);
    config = join(tmp.dir, 'ssh_config');
    writeFileSync(config, c.stdout);
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', tmp.dir);
      await home.cleanup();
    }
    await tmp?.cleanup();
  });

  it('ssh-config lists every workspace with a ProxyCommand of this CLI and the proxy host key', () => {
    const text = readFileSync(config, 'utf8');
    for (const ws of [...WORKSPACES.map((w) => w.ws), 'sshp-bare']) {
      expect(text).toContain(`Host ${ws}.vendetta\n`);
      expect(text).toMatch(new RegExp(`ProxyCommand env VENDETTA_HOME=${home.dir}\\S* .*${process.execPath} \\S+/dist/vendetta.js ssh-proxy ${ws}\\n`));
    }
    expect(text).toContain('Host sshp-proc.vendetta\n  User vdtest\n');
    const knownHosts = readFileSync(join(home.dir, 'ssh-proxy/known_hosts'), 'utf8');
    expect(knownHosts).toMatch(/^vendetta-ssh-proxy ssh-ed25519 AAAA\S+\n$/);
  });

  for (const { provider, ws, files } of WORKSPACES) {
    const host = `${ws}.vendetta`;
    describe(`${provider} workspace`, () => {
      it('runs a command: stdout and stderr apart, exit status, workspace env and directory', async () => {
        const hi = await ssh(host, ['echo', 'hi']);
        expect(hi.code, hi.stderr).toBe(0);
        expect(hi.stdout.toString()).toBe('hi\n');
        // the same directory `vendetta exec` runs in
        const dir = (await cli('exec', ws, '--', 'pwd')).stdout;
        expect(dir).toMatch(/^\/.*\n$/);
        const r = await ssh(host, ['echo out; echo err >&2; echo "$SSHP_GREETING"; pwd; exit 3']);
        expect(r.code, r.stderr).toBe(3);
        expect(r.stdout.toString()).toBe(`out\nhello ${provider}\n${dir}`);
        expect(r.stderr).toContain('err\n');
      });

      it('pipes stdin through and ends it with EOF (1 MiB, byte for byte)', async () => {
        const data = randomBytes(1 << 20);
        const r = await ssh(host, ['cat'], data);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.equals(data)).toBe(true);
        const lines = await ssh(host, ['wc -l'], 'a\nb\nc\n');
        expect(lines.stdout.toString().trim()).toBe('3');
      });

      it('ssh -tt gets a terminal', async () => {
        const r = await run('ssh', [...sshArgs(), '-tt', host, 'tty; stty size; test -t 0 && echo stdin-is-tty']);
        expect(r.code, r.stderr).toBe(0);
        const out = r.stdout.toString();
        expect(out).toMatch(/^\/dev\/pts\/\d+\r\n/);
        expect(out).toMatch(/\r\n\d+ \d+\r\n/);
        expect(out).toContain('stdin-is-tty\r\n');
      });

      it('an interactive login in a real terminal (tmux): prompt, typed command, window resize', async () => {
        const sock = join(tmp.dir, `tmux-${ws}`);
        const tmux = (...args: string[]) => run('tmux', ['-S', sock, '-f', '/dev/null', ...args]);
        const screen = async () => (await tmux('capture-pane', '-p', '-t', 'sshp')).stdout.toString();
        const size = async () => (await tmux('display', '-p', '-t', 'sshp', '#{pane_height} #{pane_width}')).stdout.toString().trim();
        const started = await tmux('new-session', '-d', '-s', 'sshp', '-x', '100', '-y', '30', `ssh ${sshArgs().join(' ')} ${host}`);
        expect(started.code, started.stderr).toBe(0);
        try {
          await tmux('set', '-t', 'sshp', 'status', 'off');
          await tmux('send-keys', '-t', 'sshp', 'echo typed-$((6*7))', 'Enter');
          await eventually(async () => (await screen()).includes('typed-42'), 30_000, 'the typed command to print typed-42');
          await tmux('send-keys', '-t', 'sshp', 'stty size', 'Enter');
          const [rows, cols] = (await size()).split(' ');
          await eventually(async () => (await screen()).includes(`${rows} ${cols}`), 30_000, `stty size to say ${rows} ${cols}`);
          await tmux('resize-window', '-t', 'sshp', '-x', '120', '-y', '40');
          const resized = await size();
          expect(resized).not.toBe(`${rows} ${cols}`);
          await tmux('send-keys', '-t', 'sshp', 'clear; stty size', 'Enter');
          await eventually(async () => (await screen()).includes(resized), 30_000, `stty size to say ${resized} after the resize`);
        } finally {
          await tmux('kill-server');
        }
      });

      // Docker has no API to stop an exec (docs/editors.md): there, the command outlives its client.
      if (provider !== 'docker') it('a terminal session ends when the client goes away', async () => {
        const secs = 4000 + WORKSPACES.findIndex((w) => w.ws === ws);
        const running = async () => {
          const r = await ssh(host, [`ps -eo args | grep -c "^sleep ${secs}$"`]);
          return Number(r.stdout.toString().trim());
        };
        const child = spawn('ssh', [...sshArgs(), '-tt', host, `sleep ${secs}`], { stdio: ['pipe', 'ignore', 'ignore'] });
        try {
          await eventually(async () => (await running()) === 1, 30_000, `sleep ${secs} to run`);
        } finally {
          child.kill('SIGTERM');
        }
        await eventually(async () => (await running()) === 0, 30_000, `sleep ${secs} to end after ssh was killed`);
      });

      if (files) it('scp copies a file in and back out', async () => {
        const local = join(tmp.dir, `${ws}-in.bin`);
        const back = join(tmp.dir, `${ws}-back.bin`);
        const data = randomBytes(300_000);
        writeFileSync(local, data);
        const up = await run('scp', [...sshArgs(), local, `${host}:scp-in.bin`]);
        expect(up.code, up.stderr).toBe(0);
        expect((await ssh(host, ['wc -c < scp-in.bin'])).stdout.toString().trim()).toBe(String(data.length));
        const down = await run('scp', [...sshArgs(), `${host}:scp-in.bin`, back]);
        expect(down.code, down.stderr).toBe(0);
        expect(readFileSync(back).equals(data)).toBe(true);
      });

      if (files) it('sftp -b runs a batch: put, ls, get', async () => {
        const local = join(tmp.dir, `${ws}-sftp.txt`);
        writeFileSync(local, `sftp to ${ws}\n`);
        const batch = join(tmp.dir, `${ws}-batch`);
        const got = join(tmp.dir, `${ws}-sftp-got.txt`);
        writeFileSync(batch, `put ${local} via-sftp.txt\nls -1\nget via-sftp.txt ${got}\n`);
        const r = await run('sftp', [...sshArgs(), '-b', batch, host]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.toString()).toContain('via-sftp.txt');
        expect(readFileSync(got, 'utf8')).toBe(`sftp to ${ws}\n`);
      });

      if (files) it('rsync -a copies a tree in (files, modes, symlinks), then only the change', async () => {
        const src = join(tmp.dir, `${ws}-tree`);
        mkdirSync(join(src, 'sub/deep'), { recursive: true });
        writeFileSync(join(src, 'a.txt'), 'A\n');
        writeFileSync(join(src, 'sub/deep/b.sh'), '#!/bin/sh\necho b\n', { mode: 0o755 });
        symlinkSync('a.txt', join(src, 'link'));
        const rsh = ['-e', `ssh ${sshArgs().join(' ')}`];
        const r = await run('rsync', ['-a', ...rsh, `${src}/`, `${host}:tree/`]);
        expect(r.code, r.stderr).toBe(0);
        const check = await ssh(host, ['cd tree && find . | sort && cat a.txt && ./sub/deep/b.sh && readlink link']);
        expect(check.code, check.stderr).toBe(0);
        expect(check.stdout.toString()).toBe('.\n./a.txt\n./link\n./sub\n./sub/deep\n./sub/deep/b.sh\nA\nb\na.txt\n');
        writeFileSync(join(src, 'a.txt'), 'A2\n');
        const again = await run('rsync', ['-a', '--itemize-changes', ...rsh, `${src}/`, `${host}:tree/`]);
        expect(again.code, again.stderr).toBe(0);
        expect(again.stdout.toString().trim().split('\n')).toEqual([expect.stringMatching(/^<f.* a\.txt$/)]);
        expect((await ssh(host, ['cat tree/a.txt'])).stdout.toString()).toBe('A2\n');
      });

      it('ssh -L forwards a local port to a service inside the workspace', async () => {
        const local = await freePort();
        const port = provider === 'process' ? procPort : 8080;
        const child = spawn('ssh', [...sshArgs(), '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${local}:127.0.0.1:${port}`, host], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        try {
          const res = await eventually(async () => {
            const r = await httpGet(`http://127.0.0.1:${local}/`);
            return r.status === 200 ? r : undefined;
          }, 30_000, `the forward to answer (ssh stderr: ${stderr})`);
          expect(res.body).toBe(`${provider}-httpd-ok\n`);
        } finally {
          child.kill('SIGTERM');
        }
      });
    });
  }

  it('sftp into an image without sftp-server says what is missing', async () => {
    const batch = join(tmp.dir, 'bare-batch');
    writeFileSync(batch, 'ls\n');
    const r = await run('sftp', [...sshArgs(), '-b', batch, 'sshp-bare.vendetta']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no sftp-server in this workspace');
    // plain commands still work there
    const ok = await ssh('sshp-bare.vendetta', ['echo', 'bare']);
    expect(ok.stdout.toString()).toBe('bare\n');
  });

  it('the client verifies the proxy host key: another key is refused', async () => {
    const other = join(tmp.dir, 'other_known_hosts');
    // a valid ed25519 key that is not the proxy's
    writeFileSync(other, `vendetta-ssh-proxy ${infra.nodes[0]!.hostKeyPub}\n`);
    const bad = join(tmp.dir, 'bad_config');
    writeFileSync(bad, readFileSync(config, 'utf8').replaceAll(join(home.dir, 'ssh-proxy/known_hosts'), other));
    const r = await run('ssh', ['-F', bad, '-o', 'BatchMode=yes', 'sshp-dock.vendetta', 'echo', 'should-not-run']);
    expect(r.code).toBe(255);
    expect(r.stdout.toString()).not.toContain('should-not-run');
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('an unknown workspace: a clear error on stderr, nonzero exit, through ssh too', async () => {
    const direct = await cli('ssh-proxy', 'sshp-nope');
    expect(direct.code).toBe(1);
    expect(direct.stdout).toBe('');
    expect(direct.stderr).toContain('workspace "sshp-nope" has not been applied');
    const viaSsh = await ssh('sshp-nope.vendetta', ['true']);
    expect(viaSsh.code).toBe(255);
    expect(viaSsh.stderr).toContain('workspace "sshp-nope" has not been applied');
  });

  it('ssh-proxy typed in a terminal says it is for ssh, exit 2', async () => {
    // `script` gives it a real terminal as stdin; -e passes its exit status on.
    const cmd = `${process.execPath} ${join(REPO_ROOT, 'dist/vendetta.js')} ssh-proxy sshp-dock`;
    const r = await run('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...home.env, NO_COLOR: '1' } });
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toContain('error: ssh-proxy speaks the SSH protocol on stdin/stdout: it is run by ssh, not by hand');
    expect(r.stdout.toString()).toContain('ssh sshp-dock.vendetta');
  });

  it('ssh-config --install writes ~/.ssh/vendetta.config and one Include at the top of ~/.ssh/config', async () => {
    const fakeHome = join(tmp.dir, 'home');
    mkdirSync(join(fakeHome, '.ssh'), { recursive: true });
    writeFileSync(join(fakeHome, '.ssh/config'), 'Host mine\n  User me\n');
    const install = () => runCli(['ssh-config', '--install'], { home: home.dir, env: { ...home.env, HOME: fakeHome } });
    const first = await install();
    expect(first.code, first.stderr).toBe(0);
    const file = join(fakeHome, '.ssh/vendetta.config');
    expect(first.stdout).toContain(`Wrote ${file} (5 workspaces); added "Include ${file}"`);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toContain('Host sshp-dock.vendetta\n');
    const expected = `Include ${file}\n\nHost mine\n  User me\n`;
    expect(readFileSync(join(fakeHome, '.ssh/config'), 'utf8')).toBe(expected);
    const second = await install();
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toContain('added');
    expect(readFileSync(join(fakeHome, '.ssh/config'), 'utf8')).toBe(expected);
    // the installed file works as the client's config
    const r = await run('ssh', ['-F', file, '-o', 'BatchMode=yes', 'sshp-proc.vendetta', 'echo', 'installed']);
    expect(r.stdout.toString()).toBe('installed\n');
  });
});
