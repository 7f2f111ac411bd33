// spec.user on a remote docker node, through the built CLI as a user runs it: the container runs
// as uid 1000 (the busybox image has only root in /etc/passwd, so numeric ids), its /workspace is
// that user's, its service runs as it and writes there, `vendetta exec` runs as it, the service
// restarts after a kill and after `workspace down`/`up`, a second apply changes nothing, and
// delete removes the state dir the user wrote in although the node's SSH user (vdtest, uid 1001)
// is neither root nor uid 1000.
// Infra: test/infra/up.sh (sshd n1..n3 with their own dockerd). Checks on the node are made with
// the docker CLI against its dockerd, outside the vendetta process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { infraNode, loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerEvents, dockerOn, dockerTime, mutatingEvents, nodeYaml } from './helpers/remote.js';
import { eventually, requireBuiltCli, runCli } from './support/cli.js';

const NODE = 'n1';
// Names unique to this suite (other suites share the nodes).
const WS = 'usr-ws';
const SVC = 'usr-svc';
const CONTAINER = `vendetta-${WS}`;
const PID_FILE = `/var/lib/vendetta/services/${SVC}/pid`;

describe('spec.user on a remote docker node (built CLI)', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-usr-'));
  const src = join(dir, 'src');
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env, timeoutMs: 180_000 });
  const inside = async (script: string) => {
    const r = await cli('exec', WS, '--', 'sh', '-c', script);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return r.stdout.trim();
  };
  /** The uid the service's current child runs as, and its pid (inside the container). */
  const serviceProcess = () =>
    eventually(async () => {
      const r = await cli('exec', WS, '--', 'sh', '-c', `p=$(cat ${PID_FILE}) && [ -d /proc/$p ] && echo "$p $(stat -c %u /proc/$p)"`);
      const [pid, uid] = r.stdout.trim().split(' ');
      return r.code === 0 && pid && uid ? { pid, uid } : undefined;
    }, 30_000, `service ${SVC} to run`);

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    infraNode(infra, NODE);
    home = await makeTempHome(infra);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'hello.txt'), 'hello\n');
    writeFileSync(
      join(dir, 'user.yaml'),
      `${nodeYaml(infra, NODE)}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${WS}}
spec:
  node: ${NODE}
  provider: docker
  image: ${infra.image}
  user: "1000:1000"
  source: {path: ./src}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${SVC}}
spec:
  workspace: ${WS}
  command: id -u > /workspace/from-service && exec sleep 100000
  restart: always
`,
    );
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir);
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply: the container runs as 1000:1000, /workspace is its, and exec runs as it', async () => {
    const r = await cli('apply', '-f', dir, '-o', 'json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).converged).toBe(true);
    expect((await dockerOn(infra, NODE, ['inspect', CONTAINER, '--format', '{{.Config.User}}'])).trim()).toBe('1000:1000');
    expect(await inside('id -u')).toBe('1000');
    const plain = await cli('exec', WS, '--', 'id', '-u');
    expect(plain.stdout.trim()).toBe('1000');
    expect(await inside('stat -c %u:%g /workspace /workspace/hello.txt')).toBe('1000:1000\n1000:1000');
    // The user can write its workspace (what a sync does).
    expect(await inside('echo x > /workspace/new.txt && stat -c %u /workspace/new.txt')).toBe('1000');
  });

  it('the service runs as 1000 and writes in /workspace', async () => {
    const { uid } = await serviceProcess();
    expect(uid).toBe('1000');
    const wrote = await eventually(async () => {
      const r = await cli('exec', WS, '--', 'sh', '-c', 'cat /workspace/from-service && stat -c %u /workspace/from-service');
      return r.code === 0 ? r.stdout.trim() : undefined;
    }, 30_000, 'the service to write /workspace/from-service');
    expect(wrote).toBe('1000\n1000');
    // Its state files are the user's own (installed from inside), the env file 0600.
    expect(await inside(`stat -c '%u %a' /var/lib/vendetta/services/${SVC}/env`)).toBe('1000 600');
    const get = await cli('get', 'services', '-o', 'json');
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toContain(SVC);
    const svc = (JSON.parse(get.stdout) as { items: Array<{ metadata: { name: string }; status: { phase: string } }> }).items.find((i) => i.metadata.name === SVC);
    expect(svc?.status.phase).toBe('Ready');
  });

  it('a killed service is restarted, still as 1000', async () => {
    const before = await serviceProcess();
    await inside(`kill ${before.pid}`);
    const after = await eventually(async () => {
      const p = await serviceProcess();
      return p.pid !== before.pid ? p : undefined;
    }, 30_000, 'the service to be restarted');
    expect(after.uid).toBe('1000');
  });

  it('workspace down and up: the service comes back as 1000', async () => {
    const down = await cli('workspace', 'down', WS);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect((await dockerOn(infra, NODE, ['inspect', CONTAINER, '--format', '{{.State.Running}}'])).trim()).toBe('false');
    const up = await cli('workspace', 'up', WS);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect((await serviceProcess()).uid).toBe('1000');
    expect(await inside('id -u')).toBe('1000');
  });

  it('a second apply changes nothing on the node', async () => {
    const since = dockerTime();
    const r = await cli('apply', '-f', dir, '-o', 'json');
    const until = dockerTime();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).operationsRun).toBe(0);
    expect(mutatingEvents(await dockerEvents(infra, NODE, since, until))).toEqual([]);
    const diff = await cli('diff', '-f', dir);
    expect(diff.stdout).toMatch(/No changes/);
  });

  it('delete removes the container and the state dir the user wrote in', async () => {
    const stateDir = (await dockerOn(infra, NODE, ['inspect', CONTAINER, '--format', '{{index .Config.Labels "vendetta.dev/state-dir"}}'])).trim();
    expect(stateDir).toMatch(/\/n1\/usr-ws$/);
    // The nodes are sshd's on this machine: the node's file system is this one.
    expect(existsSync(join(stateDir, 'services', SVC))).toBe(true);
    const d = await cli('delete', '-f', dir);
    expect(d.code, d.stdout + d.stderr).toBe(0);
    expect(existsSync(stateDir)).toBe(false);
    const left = await dockerOn(infra, NODE, ['ps', '-a', '--filter', `name=${CONTAINER}`, '--format', '{{.Names}}']);
    expect(left.trim()).toBe('');
  });
});
