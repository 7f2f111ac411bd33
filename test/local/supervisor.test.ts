// The supervisor with real processes: start, restart policies, stop of the whole tree, literal
// command/env/workdir bytes, logs. Runs under the machine's /bin/sh (dash on Debian).
import { readFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceManager } from '../../src/services/manager.js';
import { nodeStatusArgv, nodeStatusUnderArgv, parseNodeStatus, parseNodeStatusUnder, parseServiceStatus, serviceStatusArgv, stopAllServicesArgv } from '../../src/services/supervisor.js';
import type { DesiredService, ServiceManager } from '../../src/services/types.js';
import type { ServiceSpec } from '../../src/model/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { desiredService, isAlive, killIfAlive, localRuntime, tempDir, until } from './helpers.js';

const t = new LocalTransport();
let dir: { path: string; cleanup: () => Promise<void> };
let stateDir: string;
let manager: ServiceManager;
const started = new Set<number>();

function service(name: string, spec: Partial<ServiceSpec>, env: Record<string, string> = {}, workdir?: string): DesiredService {
  return desiredService(name, spec, env, workdir ?? dir.path);
}

async function readPid(name: string, file: 'pid' | 'supervisor.pid'): Promise<number> {
  const pid = Number((await readFile(join(stateDir, 'services', name, file), 'utf8')).trim());
  started.add(pid);
  return pid;
}

async function observed(name: string) {
  return (await manager.observe()).find((s) => s.name === name);
}

beforeEach(async () => {
  dir = await tempDir('svc');
  stateDir = join(dir.path, 'state');
  manager = createServiceManager(localRuntime(t, dir.path, stateDir));
});

afterEach(async () => {
  await t.exec(stopAllServicesArgv(stateDir));
  for (const pid of started) killIfAlive(pid); // belt and braces: only PIDs these tests started
  started.clear();
  await dir.cleanup();
});

describe('supervisor', () => {
  it('starts a detached supervisor whose child runs and logs', async () => {
    await manager.start(service('web', { command: 'echo hello; echo oops >&2; exec sleep 300', restart: 'always' }));
    const sup = await readPid('web', 'supervisor.pid');
    const child = await until('child pid', async () => (await observed('web'))?.pid);
    started.add(child);
    expect(isAlive(sup)).toBe(true);
    expect(isAlive(child)).toBe(true);
    const svc = await observed('web');
    expect(svc).toMatchObject({ name: 'web', specHash: 'hash-web', state: 'running', restarts: 0 });
    expect(svc?.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await until('log output', async () => /hello\n/.test(await manager.logs('web')) && /oops/.test(await manager.logs('web')));
    // The env file holds secrets: only its owner may read it.
    expect((await stat(join(stateDir, 'services', 'web', 'env'))).mode & 0o777).toBe(0o600);
    // ...and only it: the start puts its umask back for the files written after it.
    const usual = 0o666 & ~process.umask();
    expect((await stat(join(stateDir, 'services', 'web', 'command'))).mode & 0o777).toBe(usual);
    expect((await stat(join(stateDir, 'services', 'web', 'log'))).mode & 0o777).toBe(usual);
  });

  it('a start with settleMs confirms itself: the status of a run that lasted, "settled"; a crash comes back without it', async () => {
    const ok = await manager.start(service('web', { command: 'exec sleep 300' }), { settleMs: 200 });
    expect(ok).toMatchObject({ name: 'web', state: 'running', restarts: 0, settledMs: 200 });
    started.add(ok!.pid!);
    expect(isAlive(ok!.pid!)).toBe(true);
    // No FIFO is left behind, and the supervisor holds no fd of the starter's.
    await expect(stat(join(stateDir, 'services', 'web', '.ready'))).rejects.toThrow();
    const crash = await manager.start(service('crash', { command: 'echo bye; exit 3', restart: 'never' }), { settleMs: 200 });
    expect(crash?.settledMs).toBeUndefined();
    expect(crash?.state).not.toBe('running');
    // Without settleMs, nothing comes back: the caller confirms by reading.
    expect(await manager.start(service('plain', { command: 'exec sleep 300' }))).toBeUndefined();
    started.add(await until('plain child', async () => (await observed('plain'))?.pid));
  });

  it('settleMs 0 confirms on the child\'s "ready", with no window: running at once, and a command not found reported by the start itself', async () => {
    const t0 = Date.now();
    const ok = await manager.start(service('quick', { command: 'exec sleep 300' }), { settleMs: 0 });
    expect(ok).toMatchObject({ name: 'quick', state: 'running', restarts: 0, settledMs: 0 });
    started.add(ok!.pid!);
    // The old 250 ms window is not waited out (a loose bound: the point is that nothing sleeps).
    expect(Date.now() - t0).toBeLessThan(5_000);
    // The first word is checked before "ready": the start itself returns the failure, exit 127
    // and the shell's message, whatever the timing.
    for (const command of ['nosuchcmd-vendetta --serve', 'exec nosuchcmd-vendetta', './not-here.sh']) {
      const missing = await manager.start(service('missing', { command }), { settleMs: 0 });
      expect(missing?.state, command).not.toBe('running');
      expect(missing?.exitCode, command).toBe(127);
      expect(missing?.settledMs).toBeUndefined();
      // The message reaches the log through the log writer, which the supervisor waits for (up
      // to a second) before recording the exit: on a loaded machine it can come a moment later.
      expect(await until(`the log of ${command}`, async () => /not found/.test(await manager.logs('missing')) || undefined)).toBe(true);
      await manager.stop('missing');
    }
    // Keywords, builtins, assignments and expansions are left to the shell: these run.
    for (const command of ['if true; then exec sleep 300; fi', 'X=1 exec sleep 300', 'cd . && exec sleep 300', '"sleep" 300']) {
      const run = await manager.start(service('shelly', { command }), { settleMs: 0 });
      expect(run?.state, command).toBe('running');
      await manager.stop('shelly');
    }
  }, 60_000);

  for (const restart of ['always', 'on-failure'] as const) {
    it(`restarts a SIGKILLed child with restart: ${restart}`, async () => {
      await manager.start(service('web', { command: 'exec sleep 300', restart }));
      const first = await until('child', async () => (await observed('web'))?.pid);
      started.add(first);
      process.kill(first, 'SIGKILL');
      const second = await until('restarted child', async () => {
        const s = await observed('web');
        return s?.state === 'running' && s.pid !== first && s.restarts === 1 ? s.pid : undefined;
      });
      started.add(second!);
      expect(isAlive(second!)).toBe(true);
      expect((await observed('web'))?.exitCode).toBeUndefined();
    });
  }

  it('a start returns once the child runs and its run is recorded, without a nap (the starter reads its pipe to the end)', async () => {
    // A `sleep` first on PATH that notes each call: the start script naps with sleep when it
    // has to poll for the supervisor's files.
    const bin = join(dir.path, 'bin');
    const naps = join(dir.path, 'naps');
    await mkdir(bin);
    await writeFile(join(bin, 'sleep'), `#!/bin/sh\necho "$*" >> '${naps}'\nexec /bin/sleep "$@"\n`, { mode: 0o755 });
    // A supervisor slow to record the run (its timestamp comes from `date`): the child's "ready"
    // then comes well before the state file, and only reading the pipe to its end waits for both.
    await writeFile(join(bin, 'date'), '#!/bin/sh\n/bin/sleep 0.3\nexec /bin/date "$@"\n', { mode: 0o755 });
    const napping = createServiceManager({ ...localRuntime(t, dir.path, stateDir), exec: (argv, opts) => t.exec(argv, { ...opts, env: { ...opts?.env, PATH: `${bin}:${process.env.PATH}` } }) });
    const seen = await napping.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 });
    started.add(seen!.pid!);
    expect(seen).toMatchObject({ state: 'running', settledMs: 0 });
    expect((await readFile(join(stateDir, 'services', 'web', 'state'), 'utf8')).trim()).toBe('running');
    // The service's own `sleep 300` came through the shim too: nothing else did.
    expect((await readFile(naps, 'utf8')).trim().split('\n')).toEqual(['300']);
  });

  // What a start costs a node is mostly the programs it forks (about 7 ms each on a busy VM, a
  // thousand starts at a time at 10 x 100). Every one of them is counted here, by name.
  it('a process-provider start of a new service forks only what it must (no lock, FIFO for the starter, rm or cat)', async () => {
    const bin = join(dir.path, 'bin');
    const calls = join(dir.path, 'calls');
    await mkdir(bin);
    for (const tool of ['cat', 'date', 'dd', 'env', 'flock', 'grep', 'mkdir', 'mkfifo', 'mv', 'rm', 'setsid', 'tr', 'wc']) {
      const real = (await t.exec(['sh', '-c', `command -v ${tool}`])).stdout.trim();
      await writeFile(join(bin, tool), `#!/bin/sh\necho ${tool} >> '${calls}'\nexec ${real} "$@"\n`, { mode: 0o755 });
    }
    const counted = createServiceManager({
      ...localRuntime(t, dir.path, stateDir),
      serviceLiveness: 'pid',
      exec: (argv, opts) => t.exec(argv, { ...opts, env: { ...opts?.env, PATH: `${bin}:${process.env.PATH}` } }),
    });
    const seen = await counted.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 });
    started.add(seen!.pid!);
    expect(seen).toMatchObject({ state: 'running', settledMs: 0 });
    const svc = join(stateDir, 'services', 'web');
    await expect(stat(join(svc, 'lock'))).rejects.toThrow(/ENOENT/);
    // install: the service dir; supervisor.sh renamed into place. Start: setsid + env -i for the
    // supervisor; the supervisor: its log FIFO and writer, setsid for the child, the run's time,
    // one mv for every state file of the first run.
    // The log writer's first dd may run after the start returns: wait for it, then compare all.
    const forked = await until('the log writer', async () => {
      const names = (await readFile(calls, 'utf8')).trim().split('\n').sort();
      return names.includes('dd') ? names : undefined;
    });
    expect(forked).toEqual(['date', 'dd', 'env', 'mkdir', 'mkfifo', 'mv', 'mv', 'setsid', 'setsid']);
    // A second install finds supervisor.sh as it should be and leaves it.
    const before = (await stat(join(stateDir, 'supervisor.sh'))).ino;
    await counted.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 });
    started.add((await observed('web'))!.pid!);
    expect((await stat(join(stateDir, 'supervisor.sh'))).ino).toBe(before);
    // Its log writer counts what dd copied: a quiet service's forks no wc, even when it ends.
    await counted.stop('web');
    expect((await readFile(calls, 'utf8')).trim().split('\n')).not.toContain('wc');
  });

  it('does not restart with restart: never, and records the exit code', async () => {
    await manager.start(service('web', { command: 'exec sleep 300', restart: 'never' }));
    const child = await until('child', async () => (await observed('web'))?.pid);
    started.add(child);
    const sup = await readPid('web', 'supervisor.pid');
    process.kill(child, 'SIGKILL');
    const svc = await until('exited', async () => {
      const s = await observed('web');
      return s?.state === 'exited' ? s : undefined;
    });
    expect(svc).toMatchObject({ state: 'exited', exitCode: 137, restarts: 0 });
    await until('supervisor gone', () => !isAlive(sup));
  });

  it('on-failure: exit 0 ends the service without a restart', async () => {
    await manager.start(service('job', { command: 'echo done', restart: 'on-failure' }));
    const svc = await until('exited', async () => {
      const s = await observed('job');
      return s?.state === 'exited' ? s : undefined;
    });
    expect(svc).toMatchObject({ state: 'exited', exitCode: 0, restarts: 0 });
    expect(await manager.logs('job')).toMatch(/^done\n/);
  });

  it('backs off and counts restarts of a failing command', async () => {
    await manager.start(service('bad', { command: 'exit 3', restart: 'always' }));
    const svc = await until('first restart', async () => {
      const s = await observed('bad');
      return s && s.restarts >= 1 ? s : undefined;
    });
    expect(['running', 'backoff']).toContain(svc.state);
    await until('backoff state', async () => (await observed('bad'))?.state === 'backoff');
    expect((await observed('bad'))?.exitCode).toBe(3);
    expect(await manager.logs('bad')).toMatch(/exited with code 3; restarting in 1 s/);
  });

  it('stop kills the whole process group, grandchildren included', async () => {
    const gfile = join(dir.path, 'grandchild');
    await manager.start(service('tree', { command: `sleep 300 & echo $! > ${gfile}; wait`, restart: 'always' }));
    const grandchild = await until('grandchild pid', async () => {
      const text = await readFile(gfile, 'utf8').catch(() => '');
      return text.trim() ? Number(text) : undefined;
    });
    started.add(grandchild);
    const child = await readPid('tree', 'pid');
    const sup = await readPid('tree', 'supervisor.pid');
    expect(isAlive(grandchild)).toBe(true);

    await manager.stop('tree');
    expect(isAlive(sup)).toBe(false);
    expect(isAlive(child)).toBe(false);
    expect(isAlive(grandchild)).toBe(false);
    expect((await observed('tree'))?.state).toBe('stopped');
  });

  it('runs command, env values and workdir literally (quotes, $, backticks, ;, newlines)', async () => {
    const nasty = `it's "q" $HOME \`id\` ; echo injected\nsecond line`;
    const workdir = join(dir.path, `wd 'a' "b" $x \`y\` ;\nz`);
    await mkdir(workdir);
    const command = [
      `printf '[%s]\\n' "$NASTY"`,
      `printf '[%s]\\n' "$(pwd)"`,
      `echo 'single $HOME \`x\` ; "d"'`,
      `printf 'a;b\\n'; printf '%s\\n' "end"`,
    ].join('\n');
    await manager.start(service('lit', { command, restart: 'never' }, { NASTY: nasty }, workdir));
    await until('exited', async () => (await observed('lit'))?.state === 'exited');
    const log = await manager.logs('lit');
    const expected = `[${nasty}]\n[${workdir}]\nsingle $HOME \`x\` ; "d"\na;b\nend\n`;
    expect(log.startsWith(expected)).toBe(true);
    expect((await observed('lit'))?.exitCode).toBe(0);
  });

  it('start again replaces the running supervisor', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    const sup1 = await readPid('web', 'supervisor.pid');
    const child1 = await until('child', async () => (await observed('web'))?.pid);
    started.add(child1);
    await manager.start(service('web', { command: 'exec sleep 301' }));
    const sup2 = await readPid('web', 'supervisor.pid');
    expect(sup2).not.toBe(sup1);
    expect(isAlive(sup1)).toBe(false);
    expect(isAlive(child1)).toBe(false);
    started.add(await until('child', async () => (await observed('web'))?.pid));
  });

  it('followLogs streams new lines', async () => {
    await manager.start(service('web', { command: 'echo first; sleep 0.3; echo second; exec sleep 300' }));
    started.add(await until('child', async () => (await observed('web'))?.pid));
    await until('first line', async () => (await manager.logs('web')).includes('first'));
    const tail = await manager.followLogs('web', { tail: 10 });
    let acc = '';
    tail.stdout.on('data', (b: Buffer) => (acc += b.toString()));
    await until('second line', () => acc.includes('second'));
    tail.kill();
    await tail.wait();
    expect(acc).toContain('first\n');
  });

  it('stop and remove of a missing service are no-ops; remove deletes the directory', async () => {
    await manager.stop('ghost');
    await manager.remove('ghost');
    await manager.start(service('web', { command: 'exec sleep 300' }));
    const sup = await readPid('web', 'supervisor.pid');
    started.add(await until('child', async () => (await observed('web'))?.pid));
    await manager.remove('web');
    expect(isAlive(sup)).toBe(false);
    await expect(stat(join(stateDir, 'services', 'web'))).rejects.toThrow();
    expect(await manager.observe()).toEqual([]);
    expect(await manager.logs('web')).toBe('');
  });

  it('reports exited when the supervisor itself was killed', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    const sup = await readPid('web', 'supervisor.pid');
    const child = await until('child', async () => (await observed('web'))?.pid);
    started.add(child);
    process.kill(sup, 'SIGKILL');
    await until('exited', async () => (await observed('web'))?.state === 'exited');
    killIfAlive(child);
  });

  // The node reads a container's state dir from outside its pid namespace: liveness is the
  // supervisor's flock there, and nothing it starts may keep that lock after it is gone.
  it('lock liveness: held while the supervisor runs, released when it is killed though its child lives on', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    const sup = await readPid('web', 'supervisor.pid');
    const child = await until('child', async () => (await observed('web'))?.pid);
    started.add(child);
    const byLock = async () => parseServiceStatus((await t.exec(serviceStatusArgv(stateDir, 'lock'))).stdout).find((s) => s.name === 'web');
    expect(await byLock()).toMatchObject({ state: 'running', specHash: 'hash-web' });
    const lock = join(stateDir, 'services', 'web', 'lock');
    // flock -n fails while the lock is held.
    expect((await t.exec(['flock', '-n', lock, 'true'])).code).not.toBe(0);
    process.kill(sup, 'SIGKILL');
    await until('lock released', async () => (await t.exec(['flock', '-n', lock, 'true'])).code === 0);
    expect(isAlive(child)).toBe(true); // the child (fd 9 closed) does not hold it
    expect(await byLock()).toMatchObject({ state: 'exited' });
    killIfAlive(child);
  });

  // Where the node has neither flock nor a non-blocking dd (or the image lacks flock), the
  // supervisor's argv token tells liveness: one grep per node, no fork per service. Its
  // subshells (log writer) carry the same token, so only the pid it recorded may count.
  it('lock liveness by token: the status read needs no flock or dd, and a killed supervisor is dead though its subshells keep its argv', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    const sup = await readPid('web', 'supervisor.pid');
    const child = await until('child', async () => (await observed('web'))?.pid);
    started.add(child);
    const id = (await readFile(join(stateDir, 'services', 'web', 'supervisor.id'), 'utf8')).trim().split(' ');
    expect(id[3]).toMatch(/^vdsup-[0-9a-f]{32}$/);
    expect((await readFile(`/proc/${sup}/cmdline`, 'utf8')).split('\0')).toContain(id[3]);
    // A PATH with only what the token scan uses: without it, the files would be trusted.
    const bin = join(dir.path, 'bin');
    await mkdir(bin);
    await t.exec(['/bin/sh', '-c', 'for c in grep tr cat; do ln -s "$(command -v "$c")" "$1/$c"; done', 'sh', bin]);
    const read = async () => {
      const res = await t.exec(['env', `PATH=${bin}`, ...nodeStatusArgv([{ name: 'a', dir: stateDir }], 'lock')]);
      expect(res.code, res.stderr).toBe(0);
      return parseNodeStatus(res.stdout).get('a')?.find((s) => s.name === 'web');
    };
    expect(await read()).toMatchObject({ state: 'running', specHash: 'hash-web' });
    process.kill(sup, 'SIGKILL');
    await until('supervisor gone', async () => !isAlive(sup));
    const holders = await t.exec(['/bin/sh', '-c', 'grep -lsaz "^$1$" /proc/[0-9]*/cmdline || true', 'sh', id[3]!]);
    expect(holders.stdout.trim(), 'a subshell of the supervisor still shows its token').not.toBe('');
    expect(isAlive(child)).toBe(true);
    expect(await read()).toMatchObject({ state: 'exited' });
    killIfAlive(child);
  });

  // node_status_under keeps the supervisors it found in ROOT/.supervisors: the next read checks
  // those host pids (one cat of their stat files) and scans /proc only for tokens it has not seen.
  it('lock liveness, cached: a second read needs no scan (no grep), and still sees a killed supervisor as dead', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    const sup = await readPid('web', 'supervisor.pid');
    started.add(await until('child', async () => (await observed('web'))?.pid));
    const root = dir.path; // stateDir = ROOT/state: one workspace dir under ROOT
    const withTools = async (tools: string) => {
      const bin = join(dir.path, `bin-${tools.replace(/ /g, '-')}`);
      await mkdir(bin, { recursive: true });
      await t.exec(['/bin/sh', '-c', 'for c in $2; do ln -sf "$(command -v "$c")" "$1/$c"; done', 'sh', bin, tools]);
      const res = await t.exec(['env', `PATH=${bin}`, ...nodeStatusUnderArgv(root, 'lock')]);
      expect(res.code, res.stderr).toBe(0);
      return parseNodeStatusUnder(res.stdout).workspaces.get('state')?.find((s) => s.name === 'web');
    };
    expect(await withTools('grep tr cat mv')).toMatchObject({ state: 'running' });
    const cacheText = await readFile(join(root, '.supervisors'), 'utf8');
    const cache = cacheText.trim().split(' ');
    expect(cache[0]).toMatch(/^vdsup-/);
    expect(cache[1]).toBe(String(sup)); // same pid namespace here: host pid = recorded pid
    expect(cache[3]).toBe(String(sup));
    // Without grep a scan cannot run, and without flock or dd the files would be trusted
    // ("running"): only the cache can tell.
    expect(await withTools('cat mv')).toMatchObject({ state: 'running' });
    process.kill(sup, 'SIGKILL');
    await until('supervisor gone', async () => !isAlive(sup));
    expect(await withTools('cat mv')).toMatchObject({ state: 'exited' });
    expect((await readFile(join(root, '.supervisors'), 'utf8')).trim()).toMatch(/^vdsup-\S+ - - -$/);
  });

  it('node_status reads many workspaces in one exec, a health file as it is, and nothing for a missing dir', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    started.add(await until('child', async () => (await observed('web'))?.pid));
    await mkdir(join(stateDir, 'services', 'web'), { recursive: true });
    await t.exec(['/bin/sh', '-c', 'printf \'%s\\n\' "ok 3 fine" > "$1"', 'sh', join(stateDir, 'services', 'web', 'health')]);
    const res = await t.exec(nodeStatusArgv([{ name: 'a', dir: stateDir }, { name: 'b', dir: join(dir.path, 'nowhere') }], 'pid'));
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('health\tok 3 fine\n');
    const byWs = parseNodeStatus(res.stdout);
    expect([...byWs.keys()]).toEqual(['a', 'b']);
    expect(byWs.get('a')).toMatchObject([{ name: 'web', state: 'running', specHash: 'hash-web' }]);
    expect(byWs.get('b')).toEqual([]);
  });

  it('node_status_under reads every workspace dir under a root ("~/" is the home) without being told their names', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    started.add(await until('child', async () => (await observed('web'))?.pid));
    await mkdir(join(dir.path, 'empty-ws'));
    const res = await t.exec(['env', `HOME=${dir.path}`, ...nodeStatusUnderArgv('~/', 'pid')]);
    expect(res.code, res.stderr).toBe(0);
    const { root, workspaces } = parseNodeStatusUnder(res.stdout);
    expect(root).toBe(dir.path);
    expect([...workspaces.keys()].sort()).toEqual(['empty-ws', 'state']);
    expect(workspaces.get('state')).toMatchObject([{ name: 'web', state: 'running', specHash: 'hash-web' }]);
    expect(workspaces.get('empty-ws')).toEqual([]);
    // A root that does not exist (no workspace made yet) is simply empty.
    const none = parseNodeStatusUnder((await t.exec(nodeStatusUnderArgv(join(dir.path, 'missing'), 'pid'))).stdout);
    expect(none).toEqual({ root: join(dir.path, 'missing'), workspaces: new Map() });
  });
});
