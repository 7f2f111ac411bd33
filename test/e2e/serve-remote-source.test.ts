// A server on "another machine": `vendetta serve` runs as another user (vdtest, through setpriv),
// in another working directory, with its own VENDETTA_HOME, over HTTPS with a self-signed
// certificate made here by openssl. The client's source folder is in a root-only directory the
// server cannot read (checked first). The client's apply uploads it; a docker workspace on n1 and
// a process workspace on the server's machine converge with its files; after the folder is
// deleted on the client, a container removed by hand is recreated with the same files from the
// server's copy. Needs root (to run the server as vdtest) and openssl.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, requireBuiltCli, runCli, startServe, tempHome, type ServeProcess } from './support/cli.js';
import { infraNode, loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, managedContainers } from './helpers/remote.js';

const SERVER_USER = 'vdtest';

function idOf(user: string): { uid: number; gid: number } {
  return { uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' })) };
}

/** Can `user` read `file`? (As that user, not by looking at modes.) */
function readableBy(user: string, file: string): boolean {
  try {
    execFileSync('setpriv', ['--reuid', user, '--regid', user, '--init-groups', '--', 'cat', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function manifests(infra: Infra, source: string): string {
  const n1 = infraNode(infra, 'n1');
  // No identityFile: the server finds the key in its own VENDETTA_SSH_DIR (the client's path to a
  // key would mean nothing on another machine).
  return `apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: ${n1.address}, port: ${n1.port}, user: ${infra.user}, providers: {docker: {socket: ${n1.dockerSocket}}}}
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: up-dock}
spec: {node: n1, provider: docker, image: ${infra.image}, pull: never, source: {path: ${source}}}
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: up-proc}
spec: {node: local, provider: process, source: {path: ${source}}}
`;
}

describe('serve on another machine: source.path uploaded, HTTPS, the server cannot read the client folder', () => {
  let infra: Infra;
  let serverHome: TempHome;
  let server: ServeProcess;
  const clientHome = tempHome('vendetta-upload-client-');
  // Root-only (mkdtemp makes it 0700): the client's folder, the manifest beside it.
  const clientDir = mkdtempSync(join(tmpdir(), 'vendetta-upload-client-src-'));
  const source = join(clientDir, 'project');
  const serverCwd = mkdtempSync(join(tmpdir(), 'vendetta-upload-server-cwd-'));
  const tls = mkdtempSync(join(tmpdir(), 'vendetta-upload-tls-'));
  const cert = join(tls, 'server.crt');

  const client = (args: string[], env: Record<string, string> = {}) =>
    runCli(['--server', server.url, '--token-file', join(serverHome.dir, 'server.token'), ...args], {
      home: clientHome.home,
      env: { VENDETTA_SERVER_CA: cert, ...env },
      timeoutMs: 120_000,
    });
  const dockerCat = async (file: string) => {
    const [name] = [...(await managedContainers(infra, 'n1')).keys()].filter((n) => n.includes('up-dock'));
    return name ? dockerOn(infra, 'n1', ['exec', name, 'cat', `/workspace/${file}`]) : undefined;
  };

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    expect(execFileSync('id', ['-u'], { encoding: 'utf8' }).trim(), 'this test runs the server as another user: run it as root').toBe('0');
    // openssl is how the test makes a certificate (node:crypto cannot make X.509).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=vendetta-e2e', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(tls, 'server.key'), '-out', cert], { stdio: 'ignore' });

    mkdirSync(join(source, 'src'), { recursive: true });
    writeFileSync(join(source, 'src/hello.txt'), 'hello from the client\n');
    writeFileSync(join(source, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    writeFileSync(join(source, '.gitignore'), 'secret.env\n');
    writeFileSync(join(source, 'secret.env'), 'TOKEN=never-uploaded\n');
    writeFileSync(join(clientDir, 'set.yaml'), manifests(infra, source));

    // Everything the server owns belongs to its user; its cwd is elsewhere.
    serverHome = await makeTempHome(infra);
    const { uid, gid } = idOf(SERVER_USER);
    for (const p of [serverHome.dir, serverHome.sshDir, ...readdirSync(serverHome.sshDir).map((f) => join(serverHome.sshDir, f)), serverCwd, tls, join(tls, 'server.key'), cert]) chownSync(p, uid, gid);
    chmodSync(tls, 0o755);
    expect(readableBy(SERVER_USER, join(source, 'src/hello.txt')), 'the server user must not be able to read the client folder').toBe(false);
    expect(readableBy(SERVER_USER, join(tls, 'server.key'))).toBe(true);

    server = await startServe(['--listen', '127.0.0.1:0', '--resync', '2s', '--tls-cert', cert, '--tls-key', join(tls, 'server.key')], {
      wrap: ['setpriv', '--reuid', SERVER_USER, '--regid', SERVER_USER, '--init-groups', '--'],
      cwd: serverCwd,
      env: { ...serverHome.env, HOME: serverHome.dir, VENDETTA_SSH_PERSIST: '0' },
    });
    expect(server.url).toMatch(/^https:\/\//);
  }, 60_000);

  afterAll(async () => {
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exit;
    }
    // By name: the manifest's source folder is gone by then. Embedded, against the server's home.
    if (serverHome) {
      await runCli(['delete', 'workspace', 'up-dock', 'up-proc', '--timeout', '90s'], { home: serverHome.dir, env: serverHome.env });
      await serverHome.cleanup();
    }
    clientHome.cleanup();
    for (const d of [clientDir, serverCwd, tls]) rmSync(d, { recursive: true, force: true });
  }, 120_000);

  it('the client refuses the self-signed server without VENDETTA_SERVER_CA, and trusts it with', async () => {
    const untrusted = await runCli(['--server', server.url, '--token-file', join(serverHome.dir, 'server.token'), 'get'], { home: clientHome.home });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/cannot reach the vendetta server at https:.*(self.signed|certificate)/i);
    const trusted = await client(['get', 'workspaces']);
    expect(trusted.code, trusted.stderr).toBe(0);
  });

  it('apply uploads the folder once; both workspaces converge with its files (ignore rules honoured)', async () => {
    const r = await client(['apply', '-f', clientDir, '--timeout', '120s']);
    expect(r.code, r.stdout + r.stderr + server.stderr()).toBe(0);
    expect(await dockerCat('src/hello.txt')).toBe('hello from the client\n');
    expect(await dockerCat('run.sh')).toBe('#!/bin/sh\necho ran\n');
    await expect(dockerCat('secret.env')).rejects.toThrow();
    const procDir = join(serverHome.dir, 'workspaces', 'up-proc', 'workspace');
    expect(readFileSync(join(procDir, 'src/hello.txt'), 'utf8')).toBe('hello from the client\n');
    expect(existsSync(join(procDir, 'secret.env'))).toBe(false);
    // One tree, one upload, stored once under the server's home.
    expect(readdirSync(join(serverHome.dir, 'sources')).filter((f) => f.endsWith('.tar'))).toHaveLength(1);
  });

  it('describe and diff show the client path; a second apply changes nothing', async () => {
    const d = await client(['describe', 'workspace', 'up-dock']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain(`path: ${source}`);
    const diff = await client(['diff', '-f', clientDir]);
    expect(diff.code, diff.stdout + diff.stderr).toBe(0);
    const again = await client(['apply', '-f', clientDir, '--timeout', '60s']);
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(join(serverHome.dir, 'sources')).filter((f) => f.endsWith('.tar'))).toHaveLength(1);
  });

  it('with the client folder deleted, drift repair recreates a removed container from the server copy', async () => {
    rmSync(source, { recursive: true, force: true });
    const before = [...(await managedContainers(infra, 'n1'))].filter(([n]) => n.includes('up-dock'));
    expect(before).toHaveLength(1);
    await dockerOn(infra, 'n1', ['rm', '-f', before[0]![1]]);
    await eventually(async () => (await dockerCat('src/hello.txt').catch(() => undefined)) === 'hello from the client\n', 60_000, 'the recreated container with its files');
    const after = [...(await managedContainers(infra, 'n1'))].filter(([n]) => n.includes('up-dock'));
    expect(after).toHaveLength(1);
    expect(after[0]![1]).not.toBe(before[0]![1]);
  });

  it('the HTTPS server stops on SIGTERM with exit 0', async () => {
    server.child.kill('SIGTERM');
    expect(await server.exit, server.stderr()).toBe(0);
  });
});
