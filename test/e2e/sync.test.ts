// Live source sync (issue 11) through the built CLI against the real sshd node n1: a process, a
// docker and an lxc workspace with a source.path. The first upload honours .gitignore / .vendettaignore;
// `vendetta sync WS` pushes an edit; under `apply --watch` a saved file arrives, an ignored one
// never does, a deleted one goes, a service with `onSync: restart` restarts, and one with
// `onSync: rebuild` has its workspace replaced.
// Infra: test/infra/up.sh (with LXD). Files on the node are read over a separate ssh (process),
// docker exec or lxc exec, not through vendetta.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infraDir, infraNode, loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, nodeYaml } from './helpers/remote.js';
import { CLI, eventually, requireBuiltCli, runCli } from './support/cli.js';

const execFileP = promisify(execFile);
const PROC = 'sync-proc';
const DOCK = 'sync-dock';
const LXC = 'sync-lxc';
const ALL = [PROC, DOCK, LXC];
/** A process workspace whose service asks for a rebuild on every sync (onSync: rebuild). */
const REBUILT = 'sync-rebuilt';

/** test/infra/lxd.sh writes lxd.json; missing means the infra is down: fail, never skip. */
function loadLxd(): { socket: string; image: string } {
  const file = join(infraDir(), 'lxd.json');
  if (!existsSync(file)) throw new Error(`LXD e2e infra is not running: ${file} is missing. Start it with: sudo bash test/infra/up.sh`);
  return JSON.parse(readFileSync(file, 'utf8')) as { socket: string; image: string };
}

describe('source sync (built CLI, node n1: process, docker and lxc workspaces)', () => {
  let infra: Infra;
  let lxd: { socket: string; image: string };
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-sync-e2e-'));
  const manifests = join(dir, 'manifests');
  const src: Record<string, string> = { [PROC]: join(dir, 'src-proc'), [DOCK]: join(dir, 'src-dock'), [LXC]: join(dir, 'src-lxc'), [REBUILT]: join(dir, 'src-rebuilt') };
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  let watcher: ChildProcess | undefined;
  let out = '';

  /** A file's content in the workspace on the node; undefined when it is not there. */
  async function onNode(ws: string, rel: string): Promise<string | undefined> {
    try {
      if (ws === DOCK) {
        return await dockerOn(infra, 'n1', ['exec', `vendetta-${ws}`, 'cat', `/workspace/${rel}`]);
      }
      if (ws === LXC) {
        const pending = execFileP('lxc', ['exec', `vendetta-${ws}`, '--', 'cat', `/workspace/${rel}`], {
          env: { ...process.env, LXD_DIR: lxd.socket.replace(/\/unix\.socket$/, '') },
        });
        pending.child.stdin?.end();
        return (await pending).stdout;
      }
      const n = infraNode(infra, 'n1');
      const { stdout } = await execFileP('ssh', [
        '-i', infra.clientKey, '-p', String(n.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', `${infra.user}@${n.address}`,
        `cat ".vendetta/workspaces/${ws}/workspace/${rel}"`,
      ]);
      return stdout;
    } catch {
      return undefined;
    }
  }
  const starts = async (ws: string) => ((await onNode(ws, 'starts.log')) ?? '').split('\n').filter(Boolean).length;
  const put = (ws: string, rel: string, text: string) => {
    mkdirSync(join(src[ws]!, rel, '..'), { recursive: true });
    writeFileSync(join(src[ws]!, rel), text);
  };

  function workspaceYaml(ws: string): string {
    const provider =
      ws === PROC ? 'provider: process' : ws === DOCK ? `provider: docker\n  image: ${infra.image}\n  pull: never` : `provider: lxc\n  image: ${lxd.image}`;
    return `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${ws}}
spec:
  node: n1
  ${provider}
  source: {path: ${src[ws]}}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${ws}-svc}
spec:
  workspace: ${ws}
  onSync: restart
  command: echo started >> starts.log; exec sleep 600
`;
  }

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    lxd = loadLxd();
    home = await makeTempHome(infra);
    mkdirSync(manifests);
    for (const ws of ALL) {
      put(ws, '.gitignore', 'node_modules/\nbuild.out\n');
      put(ws, '.vendettaignore', '*.local\n');
      put(ws, 'app/main.txt', 'v1');
      put(ws, 'app/.gitignore', 'cache/\n');
      put(ws, 'app/cache/blob', 'nested ignore');
      put(ws, 'node_modules/dep/index.js', 'dep');
      put(ws, 'secret.local', 'secret');
      put(ws, '.git/HEAD', 'ref: refs/heads/main');
    }
    const n1 = infraNode(infra, 'n1');
    const node = nodeYaml(infra, 'n1', { providers: `{docker: {socket: ${n1.dockerSocket}}, lxc: {socket: ${lxd.socket}}}` });
    put(REBUILT, 'app.txt', 'v1');
    const rebuilt = `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${REBUILT}}
spec:
  node: n1
  provider: process
  source: {path: ${src[REBUILT]}}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${REBUILT}-svc}
spec:
  workspace: ${REBUILT}
  onSync: rebuild
  command: exec sleep 600
`;
    writeFileSync(join(manifests, 'sync.yaml'), [node, ...ALL.map(workspaceYaml), rebuilt].join('---\n'));
  });

  afterAll(async () => {
    if (watcher && watcher.exitCode === null) watcher.kill('SIGKILL');
    if (home) {
      await cli('delete', '-f', manifests, '--timeout', '120s');
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('the first upload honours .gitignore (nested too) and .vendettaignore, and never sends .git', async () => {
    const r = await cli('apply', '-f', manifests);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const ws of ALL) {
      expect(await onNode(ws, 'app/main.txt')).toBe('v1');
      expect(await onNode(ws, '.gitignore')).toBe('node_modules/\nbuild.out\n');
      for (const never of ['node_modules/dep/index.js', 'secret.local', '.git/HEAD', 'app/cache/blob']) {
        expect(await onNode(ws, never), `${ws}: ${never}`).toBeUndefined();
      }
    }
  });

  it('vendetta sync WS pushes an edit (one-shot), and says so', async () => {
    for (const ws of ALL) {
      put(ws, 'app/main.txt', 'v2 edited');
      const r = await cli('sync', ws);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await onNode(ws, 'app/main.txt')).toBe('v2 edited');
      expect(r.stdout).toMatch(new RegExp(`synced \\d+ files? to ${ws}`));
      // Nothing changed since: the next one-shot sends nothing.
      const again = await cli('sync', ws);
      expect(again.stdout).toMatch(new RegExp(`${ws} is up to date`));
    }
  });

  it('vendetta sync refuses a workspace that was never applied, changing nothing', async () => {
    const r = await cli('sync', 'sync-nope');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/workspace "sync-nope" has not been applied/);
  });

  describe('under apply --watch', () => {
    beforeAll(async () => {
      watcher = spawn(process.execPath, [CLI, 'apply', '--watch', '-f', manifests, '--resync', '30s'], {
        env: { ...process.env, ...home.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      watcher.stdout!.on('data', (d) => (out += d));
      watcher.stderr!.on('data', (d) => (out += d));
      await eventually(() => /watching .* for changes/.test(out), 120_000, 'apply --watch to start');
      // The source watchers start after the apply's first run.
      for (const ws of ALL) await eventually(async () => (await starts(ws)) > 0, 60_000, `${ws}-svc started`);
    });

    afterAll(async () => {
      if (watcher && watcher.exitCode === null) {
        const exited = new Promise((r) => watcher!.once('exit', r));
        watcher.kill('SIGINT');
        await exited;
      }
    });

    it('onSync: rebuild: a saved file replaces the workspace (a file made inside it goes, the source is there), and the plan said so', async () => {
      const scratch = await cli('exec', REBUILT, '--', 'sh', '-c', 'echo draft > scratch.txt');
      expect(scratch.code, scratch.stderr).toBe(0);
      expect(await onNode(REBUILT, 'scratch.txt')).toBe('draft\n');
      put(REBUILT, 'app.txt', 'v2');
      await eventually(() => new RegExp(`rebuilding ${REBUILT} \\(onSync: rebuild of ${REBUILT}-svc\\)`).test(out), 60_000, 'the rebuild to start');
      await eventually(async () => (await onNode(REBUILT, 'scratch.txt')) === undefined, 120_000, 'the workspace replaced');
      expect(out).toMatch(new RegExp(`-/\\+ workspace/${REBUILT} +recreate .*rebuild after a source sync \\(onSync: rebuild\\)`));
      expect(out).toContain('warning: replaced, files in the workspace are lost (it declares no volumes)');
      await eventually(async () => (await onNode(REBUILT, 'app.txt')) === 'v2', 60_000, 'the new source in the new workspace');
    });

    for (const ws of ALL) {
      it(`${ws}: a saved file arrives; ignored files never do; a deleted file goes; the onSync: restart service restarts`, async () => {
        const before = await starts(ws);

        put(ws, 'app/live.txt', 'saved');
        await eventually(async () => (await onNode(ws, 'app/live.txt')) === 'saved', 30_000, 'the saved file on the node');
        await eventually(async () => (await starts(ws)) > before, 30_000, 'the service restarted after the batch');

        // Ignored files, then a marker: once the marker is there, the batch that saw the ignored
        // files is done too.
        put(ws, 'more.local', 'no');
        put(ws, 'build.out', 'no');
        put(ws, 'app/cache/new', 'no');
        put(ws, 'node_modules/dep/new.js', 'no');
        put(ws, 'marker.txt', 'm');
        await eventually(async () => (await onNode(ws, 'marker.txt')) === 'm', 30_000, 'the marker on the node');
        for (const never of ['more.local', 'build.out', 'app/cache/new', 'node_modules/dep/new.js']) {
          expect(await onNode(ws, never), never).toBeUndefined();
        }

        unlinkSync(join(src[ws]!, 'app/live.txt'));
        await eventually(async () => (await onNode(ws, 'app/live.txt')) === undefined, 30_000, 'the deleted file gone from the node');
        expect(await onNode(ws, 'app/main.txt')).toBe('v2 edited');
        // The batch's line comes once its restart is done.
        await eventually(() => new RegExp(`synced 0 files, deleted 1 to ${ws} \\(\\d+ ms\\), restarted ${ws}-svc`).test(out), 30_000, 'the deletion batch reported');
        expect(out).toMatch(new RegExp(`synced 1 file to ${ws} \\(\\d+ ms\\), restarted ${ws}-svc`));
      });
    }
  });
});
