// Node access through the server: `exec`, `logs -f`, `port-forward` and `shell` of a client that
// holds only a server token. The server reaches the infra node n1 (a docker workspace with a
// busybox httpd); the client runs with HOME set to a fresh directory whose ~/.ssh is empty, no
// agent, its ssh dir and known_hosts pointed there too, and --strict-host-keys: it could not open
// an SSH connection to any node even if it tried.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, eventually, REPO, requireBuiltCli, runCli, startServe, tempHome, type ServeProcess } from './support/cli.js';
import { TmuxTerminal } from './support/tmux.js';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';

const PAGE = 'served-through-the-server';

function manifests(infra: Infra): string {
  return `${nodeYaml(infra, 'n1')}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: acc-dock}
spec:
  node: n1
  provider: docker
  image: ${infra.image}
  pull: never
  env: {GREETING: hello-from-env}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: acc-web}
spec:
  workspace: acc-dock
  command: mkdir -p /tmp/www && echo ${PAGE} > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www
  ports: [8080]
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: acc-echo}
spec:
  workspace: acc-dock
  command: 'echo echo-ready; while true; do if [ -f /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi; sleep 0.2; done'
`;
}

/** A CLI process whose output is read while it runs (logs -f, port-forward), or fed on stdin. */
interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number>;
}

describe('vendetta serve: exec, logs -f, port-forward and shell through the server, no SSH on the client', () => {
  let infra: Infra;
  let serverHome: TempHome;
  let server: ServeProcess;
  const clientHome = tempHome('vendetta-access-client-');
  const userHome = mkdtempSync(join(tmpdir(), 'vendetta-access-home-'));
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-access-m-'));
  const tokens: Record<string, string> = {};
  const running: Running[] = [];

  const clientEnv = (token: string): Record<string, string> => ({
    HOME: userHome,
    VENDETTA_HOME: clientHome.home,
    VENDETTA_TOKEN: token,
    // Where a direct SSH connection would look: the empty ~/.ssh, no agent.
    VENDETTA_SSH_DIR: join(userHome, '.ssh'),
    VENDETTA_KNOWN_HOSTS: join(userHome, '.ssh', 'known_hosts'),
    SSH_AUTH_SOCK: '',
    NO_COLOR: '1',
  });
  const argvOf = (args: string[]) => ['--strict-host-keys', '--server', server.url, ...args];
  const client = (name: string, ...args: string[]) => runCli(argvOf(args), { home: clientHome.home, env: clientEnv(tokens[name]!), timeoutMs: 150_000 });
  const start = (name: string, args: string[], input?: string): Running => {
    const child = spawn(process.execPath, [CLI, ...argvOf(args)], { cwd: REPO, env: { ...process.env, ...clientEnv(tokens[name]!) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    if (input !== undefined) child.stdin!.end(input);
    const exit = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    const r = { child, stdout: () => out, stderr: () => err, exit };
    running.push(r);
    return r;
  };
  const eventsOf = async (object: string) => {
    const res = await fetch(`${server.url}/api/v1/events?object=${object}&limit=200`, { headers: { authorization: `Bearer ${tokens.vera}` } });
    return (await res.text()).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string; message: string; by?: string });
  };

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    // The shell check drives a real terminal; on CI a missing tmux is a failure, not a skip.
    execFileSync('tmux', ['-V']);
    serverHome = await makeTempHome(infra);
    mkdirSync(join(userHome, '.ssh'), { mode: 0o700 });
    writeFileSync(join(dir, 'set.yaml'), manifests(infra));
    for (const [name, role] of [['vera', 'view'], ['ed', 'edit']]) {
      const r = await runCli(['serve', 'token', 'create', name!, '--role', role!], { home: serverHome.dir, env: serverHome.env });
      expect(r.code, r.stderr).toBe(0);
      tokens[name!] = r.stdout.trim();
    }
    server = await startServe(['--listen', '127.0.0.1:0', '--resync', '5s'], { env: serverHome.env });
    const applied = await client('ed', 'apply', '-f', dir, '--timeout', '120s');
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exit;
    }
    if (serverHome) {
      await runCli(['delete', '-f', dir, '--timeout', '90s'], { home: serverHome.dir, env: serverHome.env });
      await serverHome.cleanup();
    }
    clientHome.cleanup();
    rmSync(userHome, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }, 150_000);

  it("the client's ~/.ssh is empty: it holds no key to any node", () => {
    expect(readdirSync(join(userHome, '.ssh'))).toEqual([]);
  });

  it('exec returns the output, the stderr and the exit code, with the workspace env', async () => {
    const r = await client('ed', 'exec', 'acc-dock', '--', 'sh', '-c', 'echo out-$((6*7)) $GREETING; echo to-stderr >&2; exit 7');
    expect(r.stdout).toBe('out-42 hello-from-env\n');
    expect(r.stderr).toContain('to-stderr');
    expect(r.code).toBe(7);
    const ok = await client('ed', 'exec', 'acc-dock', '--', 'true');
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('exec -i passes stdin through to the command, and its end (EOF)', async () => {
    const r = start('ed', ['exec', '-i', 'acc-dock', '--', 'sh', '-c', 'tr a-z A-Z; echo done-after-eof'], 'hello through the server\nsecond line\n');
    expect(await r.exit, r.stderr()).toBe(0);
    expect(r.stdout()).toBe('HELLO THROUGH THE SERVER\nSECOND LINE\ndone-after-eof\n');
  });

  it('logs -f streams a line written after it started, and stops on Ctrl-C', async () => {
    const logs = start('ed', ['logs', '-f', 'acc-echo', '--tail', '5']);
    await eventually(() => logs.stdout().includes('echo-ready'), 60_000, 'logs -f to print the first line');
    const marker = `late-line-${Date.now()}`;
    const said = await client('ed', 'exec', 'acc-dock', '--', 'sh', '-c', `echo ${marker} > /tmp/say`);
    expect(said.code, said.stderr).toBe(0);
    await eventually(() => logs.stdout().includes(marker), 30_000, 'the new line on logs -f');
    logs.child.kill('SIGINT');
    expect(await logs.exit, logs.stderr()).toBe(0);
  });

  it('port-forward serves an HTTP GET from the workspace httpd, and stops on Ctrl-C', async () => {
    const pf = start('ed', ['port-forward', 'acc-dock', '0:8080']);
    const m = await eventually(() => /Forwarding 127\.0\.0\.1:(\d+) → workspace acc-dock port 8080/.exec(pf.stdout()) ?? undefined, 60_000, 'port-forward to listen');
    const url = `http://127.0.0.1:${m[1]}/`;
    // httpd may still be starting: ask until it answers.
    const body = await eventually(async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return res.status === 200 ? res.text() : undefined;
    }, 60_000, 'GET through the forward');
    expect(body.trim()).toBe(PAGE);
    // Several connections in a row each get their own stream.
    for (let i = 0; i < 3; i++) expect((await (await fetch(url)).text()).trim()).toBe(PAGE);
    pf.child.kill('SIGINT');
    expect(await pf.exit, pf.stderr()).toBe(0);
  });

  it('a view token gets 403 on exec (naming the role), and may read logs', async () => {
    const r = await client('vera', 'exec', 'acc-dock', '--', 'touch', '/tmp/should-not-exist');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('HTTP 403');
    expect(r.stderr).toContain('token "vera" has role view; exec');
    expect(r.stderr).toContain('needs role edit');
    const pf = await client('vera', 'port-forward', 'acc-dock', '0:8080');
    expect(pf.code).toBe(1);
    expect(pf.stderr).toContain('HTTP 403');
    const logs = await client('vera', 'logs', 'acc-echo', '--tail', '50');
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('echo-ready');
    const check = await client('ed', 'exec', 'acc-dock', '--', 'test', '-e', '/tmp/should-not-exist');
    expect(check.code).toBe(1);
  });

  it('unknown workspaces and services are a 404 with a hint', async () => {
    const r = await client('ed', 'exec', 'no-such-ws', '--', 'true');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('workspace "no-such-ws" has not been applied');
    const l = await client('vera', 'logs', 'no-such-svc');
    expect(l.code).toBe(1);
    expect(l.stderr).toMatch(/service "no-such-svc" has not been applied on this server \(HTTP 404\)/);
  });

  it('shell gets a PTY with the terminal size, follows a resize, and passes the exit code', async () => {
    const env = { ...clientEnv(tokens.ed!), TERM: 'xterm' };
    const term = new TmuxTerminal(`${process.execPath} ${CLI} ${argvOf(['shell', 'acc-dock']).join(' ')}`, { env, cwd: REPO, cols: 100, rows: 30 });
    try {
      term.type('echo "T=$(tty)"; echo "S=$(stty size)"');
      await term.waitFor(/T=\/dev\/pts\/\d+/);
      await term.waitFor(/S=30 100/);
      term.resize(120, 40);
      await eventually(() => {
        term.type('echo "R=$(stty size)"');
        return /R=40 120/.test(term.screen());
      }, 30_000, 'the new size inside the shell');
      term.type('exit 3');
      await term.waitFor(/EXITED:3/);
    } finally {
      term.close();
    }
  });

  it('Ctrl-C on exec stops the stream and exits 130, as the embedded exec does', async () => {
    const r = start('ed', ['exec', 'acc-dock', '--', 'sh', '-c', 'echo started; exec sleep 30']);
    await eventually(() => r.stdout().includes('started'), 60_000, 'the command to start');
    r.child.kill('SIGINT');
    expect(await r.exit, r.stderr()).toBe(130);
  });

  it('every stream is recorded with who opened it', async () => {
    const ws = await eventsOf('workspace/acc-dock');
    expect(ws.filter((e) => e.reason === 'ExecOpened').map((e) => e.by)).toContain('ed');
    expect(ws.find((e) => e.reason === 'ExecOpened')?.message).toMatch(/^exec sh opened by ed$/);
    expect(ws.some((e) => e.reason === 'PortForward' && e.by === 'ed' && e.message === 'port-forward to port 8080 opened by ed')).toBe(true);
    expect(ws.some((e) => e.reason === 'ShellOpened' && e.message === 'shell (pty) opened by ed')).toBe(true);
    // The refused exec of the view token opened nothing.
    expect(ws.some((e) => e.by === 'vera')).toBe(false);
    const svc = await eventsOf('service/acc-echo');
    expect(svc.some((e) => e.reason === 'LogsOpened' && e.message === 'logs -f opened by ed')).toBe(true);
    expect(svc.some((e) => e.reason === 'LogsOpened' && e.message === 'logs opened by vera')).toBe(true);
  });

  it('the server stops on SIGTERM with a logs -f stream open; the client is told the stream ended', async () => {
    const logs = start('ed', ['logs', '-f', 'acc-echo', '--tail', '5']);
    await eventually(() => logs.stdout().includes('echo-ready'), 60_000, 'logs -f to print the first line');
    server.child.kill('SIGTERM');
    expect(await server.exit).toBe(0);
    expect(await logs.exit).toBe(1);
    expect(logs.stderr()).toContain('the server closed the stream before the command exited');
  });
});
