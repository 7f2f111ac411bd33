// Services under faults inside a Docker workspace on a remote node (busybox image, busybox sh):
// the controller's environment, log rotation, reused pids and a supervisor killed with -9.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, managedContainers, nodeYaml } from './helpers/remote.js';
import { eventually, requireBuiltCli, runCli } from './support/cli.js';

const NODE = 'n1';
const WS = 'svcfault-ws';
const SVC_DIR = '/var/lib/vendetta/services';

function manifests(infra: Infra, chatty = true): string {
  return [
    nodeYaml(infra, NODE),
    `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${WS}}
spec: {node: ${NODE}, provider: docker, image: ${infra.image}, pull: never}
`,
    `apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: svcfault-env}
spec:
  workspace: ${WS}
  restart: never
  env: {DECLARED_VAR: here}
  command: env > /tmp/svc-env.out
`,
    `apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: svcfault-sleeper}
spec:
  workspace: ${WS}
  restart: always
  command: exec sleep 3000
`,
    ...(chatty
      ? [
          `apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: svcfault-chatty}
spec:
  workspace: ${WS}
  restart: always
  logs: {maxSize: 64Ki, maxFiles: 2}
  command: yes vendetta-chatty-line
`,
        ]
      : []),
  ].join('---\n');
}

describe('services in a docker workspace under faults (built CLI, node n1)', () => {
  let infra: Infra;
  let home: TempHome;
  let container = '';
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-svcfault-'));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: { ...home.env, FOO_SECRET: 'hunter2-docker' } });
  const sh = (script: string) => dockerOn(infra, NODE, ['exec', container, 'sh', '-c', script]);
  /** Pids of live processes in the container whose command line contains `text`. */
  const pidsOf = async (text: string) =>
    (await sh(`for p in /proc/[0-9]*; do [ "\${p#/proc/}" = "$$" ] && continue; c=$(tr '\\000' ' ' < $p/cmdline 2>/dev/null); case "$c" in *"${text}"*) echo \${p#/proc/} ;; esac; done`))
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .sort();

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    writeFileSync(join(dir, 'm.yaml'), manifests(infra));
    const r = await cli('apply', '-f', dir, '--timeout', '150s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    [container] = [...(await managedContainers(infra, NODE)).entries()].filter(([name]) => name.includes(WS)).map(([, id]) => id);
    expect(container).toBeTruthy();
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir);
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("a service gets its declared env and the image's, nothing of the controller's", async () => {
    const env = await eventually(async () => (await sh('cat /tmp/svc-env.out 2>/dev/null')) || undefined, 30_000, 'env.out');
    expect(env).toMatch(/^DECLARED_VAR=here$/m);
    expect(env).toMatch(/^PATH=/m);
    expect(env).not.toContain('FOO_SECRET');
    expect(env).not.toContain('hunter2-docker');
    expect(env).not.toMatch(/^VENDETTA_HOME=/m);
  });

  it('a chatty service log stays bounded in busybox: log and log.1, and logs reads across them', async () => {
    const sizes = async () =>
      (await sh(`cd ${SVC_DIR}/svcfault-chatty && for f in log log.[0-9]*; do [ -f "$f" ] || continue;  printf '%s %s\\n' "$f" "$(wc -c < "$f")"; done`))
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map(([f, n]) => [f!, Number(n)] as const);
    await eventually(async () => (await sizes()).some(([f]) => f === 'log.1'), 30_000, 'a rotation');
    for (let i = 0; i < 5; i++) {
      const now = await sizes();
      // (log may be missing for an instant, between its rename to log.1 and its re-creation)
      expect(['log', 'log.1']).toEqual(expect.arrayContaining(now.map(([f]) => f)));
      expect(now.map(([f]) => f)).toContain('log.1');
      for (const [, n] of now) expect(n).toBeLessThanOrEqual(64 * 1024 + 65536);
    }
    const logs = await cli('logs', 'svcfault-chatty', '--tail', '3000');
    expect(logs.code, logs.stderr).toBe(0);
    const lines = logs.stdout.split('\n').filter(Boolean);
    expect(lines.length).toBe(3000);
    // yes writes in blocks, not lines: the live log may end inside a line, and a rotation while
    // logs reads log.1 then log may cut one line where the two meet.
    expect(lines.filter((l) => l !== 'vendetta-chatty-line').length).toBeLessThanOrEqual(2);
  });

  it('pid files naming an unrelated process: it is neither taken for the service nor signalled', async () => {
    // Stop the chatty one for good (and keep the others) so the next applies are about sleeper.
    writeFileSync(join(dir, 'm.yaml'), manifests(infra, false));
    expect((await cli('apply', '-f', dir, '--prune', '--timeout', '120s')).code).toBe(0);
    await dockerOn(infra, NODE, ['exec', '-d', container, 'sleep', '4321']);
    const [victim] = await eventually(async () => ((await pidsOf('sleep 4321')).length ? pidsOf('sleep 4321') : undefined), 20_000, 'victim');
    const sup = Number(await sh(`cat ${SVC_DIR}/svcfault-sleeper/supervisor.pid`));
    // Take the service down behind vendetta's back, then point its files at the victim.
    await sh(`kill -9 ${sup}; kill -9 $(cat ${SVC_DIR}/svcfault-sleeper/pid)`);
    await sh(
      `d=${SVC_DIR}/svcfault-sleeper; for f in supervisor.pid pid; do echo ${victim} > $d/$f; done; ` +
        `echo "${victim} 1 p" > $d/supervisor.id; echo "${victim} 1 g" > $d/pid.id; echo running > $d/state`,
    );
    const r = await cli('apply', '-f', dir, '--timeout', '120s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await pidsOf('sleep 4321')).toEqual([victim]);
    expect(await pidsOf('sleep 3000')).toHaveLength(1);
  });

  it('a supervisor killed with -9: the next apply leaves exactly one copy of the service', async () => {
    const before = await pidsOf('sleep 3000');
    expect(before).toHaveLength(1);
    const sup = Number(await sh(`cat ${SVC_DIR}/svcfault-sleeper/supervisor.pid`));
    await sh(`kill -9 ${sup}`);
    const r = await cli('apply', '-f', dir, '--timeout', '120s');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await pidsOf('sleep 3000');
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    // The node told the killed supervisor dead by its argv token, not by a file it left: the
    // reader's cache next to the state dirs names the new supervisor's token with its host pid,
    // and the killed one's as not running.
    const stateDir = (await dockerOn(infra, NODE, ['inspect', '--format', '{{index .Config.Labels "vendetta.dev/state-dir"}}', container])).trim();
    const cacheFile = join(stateDir, '..', '.supervisors');
    const token = (await sh(`cat ${SVC_DIR}/svcfault-sleeper/supervisor.id`)).trim().split(' ')[3];
    expect(token).toMatch(/^vdsup-[0-9a-f]{32}$/);
    await cli('diff', '-f', dir);
    const cache = readFileSync(cacheFile, 'utf8');
    expect(cache).toMatch(new RegExp(`^${token} \\d+ \\d+ \\d+$`, 'm'));
  });
});
