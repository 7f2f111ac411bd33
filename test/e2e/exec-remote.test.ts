// `vendetta exec` on remote nodes (built CLI): docker, lxc and process (over SSH) workspaces run
// the command in the workspace directory with the workspace's declared env, and a missing
// command says so on stderr with exit 127.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';
import { existsSync, readFileSync } from 'node:fs';
import { infraDir } from './helpers/infra.js';
import { requireBuiltCli, runCli } from './support/cli.js';

/** test/infra/lxd.sh writes lxd.json; missing means the infra is down: fail, never skip. */
function lxdInfra(): { socket: string; image: string } {
  const file = join(infraDir(), 'lxd.json');
  if (!existsSync(file)) throw new Error(`LXD e2e infra is not running: ${file} is missing`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

const workspaces = (infra: Infra, lxd: { image: string }) => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: exr-lxc}
spec:
  node: n1
  provider: lxc
  image: ${lxd.image}
  env:
    EXR_GREETING: hello lxc
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: exr-docker}
spec:
  node: n2
  provider: docker
  image: ${infra.image}
  pull: never
  env:
    EXR_GREETING: hello docker
    EXR_SECRET: {fromEnv: EXR_CALLER_SECRET}
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: exr-proc}
spec:
  node: n3
  provider: process
  env:
    EXR_GREETING: hello process
`;

describe('exec on remote workspaces', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-exec-remote-'));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: { ...home.env, EXR_CALLER_SECRET: 'from-caller', EXR_CALLER_ONLY: 'leak' } });

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    const lxd = lxdInfra();
    const nodes = [nodeYaml(infra, 'n1', { providers: `{lxc: {socket: ${lxd.socket}}}` }), nodeYaml(infra, 'n2'), nodeYaml(infra, 'n3', { providers: '{}' })];
    writeFileSync(join(dir, 'exec.yaml'), [...nodes, workspaces(infra, lxd)].join('---\n'));
    const r = await cli('apply', '-f', dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir);
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('docker: workspace env (references resolved) and directory, not the caller environment', async () => {
    const r = await cli('exec', 'exr-docker', '--', 'env');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('EXR_GREETING=hello docker\n');
    expect(r.stdout).toContain('EXR_SECRET=from-caller\n');
    expect(r.stdout).not.toContain('EXR_CALLER_ONLY');
    expect((await cli('exec', 'exr-docker', '--', 'pwd')).stdout).toBe('/workspace\n');
  });

  it('docker: a missing command prints an error and exits 127', async () => {
    const r = await cli('exec', 'exr-docker', '--', 'exr-nosuchcmd');
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('exr-nosuchcmd');
    const viaShell = await cli('exec', 'exr-docker', '--', 'sh', '-c', 'exr-nosuchcmd');
    expect(viaShell.code).toBe(127);
    expect(viaShell.stderr).toMatch(/exr-nosuchcmd: not found/);
  });

  it('lxc: workspace env and directory; a missing command prints an error and exits 127', async () => {
    const r = await cli('exec', 'exr-lxc', '--', 'sh', '-c', 'echo "$EXR_GREETING|${EXR_CALLER_ONLY:-unset}"; pwd');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello lxc|unset\n/workspace\n');
    const missing = await cli('exec', 'exr-lxc', '--', 'exr-nosuchcmd');
    expect(missing.code).toBe(127);
    // The lxc client's own message passes through.
    expect(missing.stderr).toContain('Error: Command not found');
  });

  it('process over SSH: workspace env and directory', async () => {
    const r = await cli('exec', 'exr-proc', '--', 'sh', '-c', 'echo "$EXR_GREETING|${EXR_CALLER_ONLY:-unset}"; pwd');
    expect(r.code, r.stderr).toBe(0);
    const [vars, pwd] = r.stdout.trim().split('\n');
    expect(vars).toBe('hello process|unset');
    expect(pwd).toMatch(/\/workspaces\/exr-proc\/workspace$/);
  });

  it('process over SSH: a missing command prints the shell error and exits 127', async () => {
    const r = await cli('exec', 'exr-proc', '--', 'exr-nosuchcmd');
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/exr-nosuchcmd.*(not found|No such file)/);
  });
});
