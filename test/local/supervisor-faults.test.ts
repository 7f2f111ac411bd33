// The supervisor under faults, with real processes: reused pids, a supervisor killed with -9,
// the controller's environment, a chatty service. Runs under the machine's /bin/sh.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceManager } from '../../src/services/manager.js';
import { stopAllServicesArgv } from '../../src/services/supervisor.js';
import type { DesiredService, ServiceManager } from '../../src/services/types.js';
import type { ServiceSpec } from '../../src/model/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { isAlive, killIfAlive, localRuntime, tempDir, until } from './helpers.js';

const t = new LocalTransport();
let dir: { path: string; cleanup: () => Promise<void> };
let stateDir: string;
let manager: ServiceManager;
const started = new Set<number>();
const unrelated: ChildProcess[] = [];

function service(name: string, spec: Partial<ServiceSpec>, env: Record<string, string> = {}): DesiredService {
  return {
    resource: { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Service', metadata: { name }, spec: { workspace: 'ws', command: 'true', ...spec } },
    specHash: `hash-${name}`,
    env,
    workdir: dir.path,
  };
}

const svcDir = (name: string) => join(stateDir, 'services', name);
const observed = async (name: string) => (await manager.observe()).find((s) => s.name === name);

/** A process vendetta did not start. */
function startUnrelated(): number {
  const p = spawn('sleep', ['1000'], { stdio: 'ignore' });
  unrelated.push(p);
  return p.pid!;
}

/** Live (non-zombie) processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(marker) && isAlive(Number(entry))) out.push(Number(entry));
    } catch {
      // gone in between
    }
  }
  return out;
}

beforeEach(async () => {
  dir = await tempDir('svcfault');
  stateDir = join(dir.path, 'state');
  manager = createServiceManager(localRuntime(t, dir.path, stateDir));
});

afterEach(async () => {
  await t.exec(stopAllServicesArgv(stateDir));
  for (const pid of started) killIfAlive(pid);
  started.clear();
  for (const p of unrelated.splice(0)) p.kill('SIGKILL');
  await dir.cleanup();
});

describe('pid reuse', () => {
  it('a pid file pointing at an unrelated process: not running, never signalled, and start still runs the service', async () => {
    // Install the service, then make its pid files name a process vendetta did not start, as
    // after a reboot or pid wrap-around: the pids match, the start times do not.
    await manager.start(service('web', { command: 'exec sleep 300', restart: 'always' }));
    started.add(await until('child', async () => (await observed('web'))?.pid));
    await manager.stop('web');
    const victim = startUnrelated();
    await until('victim running', () => isAlive(victim));
    const d = svcDir('web');
    for (const [file, text] of [
      ['supervisor.pid', `${victim}`],
      ['supervisor.id', `${victim} 12345 p`],
      ['pid', `${victim}`],
      ['pid.id', `${victim} 12345 g`],
      ['state', 'running'],
    ]) {
      await writeFile(join(d, file!), `${text}\n`);
    }

    expect((await observed('web'))?.state).toBe('exited');
    await manager.stop('web');
    expect(isAlive(victim)).toBe(true);

    await manager.start(service('web', { command: 'exec sleep 301', restart: 'always' }));
    expect(isAlive(victim)).toBe(true);
    const child = await until('new child', async () => {
      const s = await observed('web');
      return s?.state === 'running' && s.pid !== victim ? s.pid : undefined;
    });
    started.add(child);
    await manager.remove('web');
    expect(isAlive(victim)).toBe(true);
    expect(isAlive(child)).toBe(false);
  });

  it('a bare pid file of an older vendetta is trusted only if it runs this service supervisor', async () => {
    await manager.start(service('web', { command: 'exec sleep 300' }));
    started.add(await until('child', async () => (await observed('web'))?.pid));
    await manager.stop('web');
    const victim = startUnrelated();
    await until('victim running', () => isAlive(victim));
    const d = svcDir('web');
    await writeFile(join(d, 'supervisor.pid'), `${victim}\n`);
    await writeFile(join(d, 'state'), 'running\n');
    for (const f of ['supervisor.id', 'pid.id']) await writeFile(join(d, f), '');
    expect((await observed('web'))?.state).toBe('exited');
    await manager.remove('web');
    expect(isAlive(victim)).toBe(true);
  });
});

describe('a supervisor killed with -9', () => {
  it('leaves a child that the next start stops: exactly one process serves the service', async () => {
    const marker = `vendetta-orphan-${process.pid}-${Date.now()}`;
    // sh -c keeps the marker in a process's command line; the sleep is its grandchild.
    await manager.start(service('web', { command: `exec sh -c 'sleep 300; : ${marker}'`, restart: 'always' }));
    const child = await until('child', async () => (await observed('web'))?.pid);
    started.add(child);
    const sup = Number((await readFile(join(svcDir('web'), 'supervisor.pid'), 'utf8')).trim());
    started.add(sup);
    process.kill(sup, 'SIGKILL');
    await until('supervisor gone', () => !isAlive(sup));
    expect(isAlive(child)).toBe(true);
    expect(processesWith(marker)).toEqual([child]);

    await manager.start(service('web', { command: `exec sh -c 'sleep 300; : ${marker}'`, restart: 'always' }));
    const next = await until('new child', async () => {
      const s = await observed('web');
      return s?.state === 'running' && s.pid !== child ? s.pid : undefined;
    });
    started.add(next);
    await until('old child gone', () => !isAlive(child));
    expect(processesWith(marker)).toEqual([next]);
  });

  it('a supervisor started by hand over an orphan stops the orphan first', async () => {
    const marker = `vendetta-orphan2-${process.pid}-${Date.now()}`;
    await manager.start(service('web', { command: `exec sh -c 'sleep 300; : ${marker}'`, restart: 'always' }));
    const child = await until('child', async () => (await observed('web'))?.pid);
    started.add(child);
    const sup = Number((await readFile(join(svcDir('web'), 'supervisor.pid'), 'utf8')).trim());
    process.kill(sup, 'SIGKILL');
    await until('supervisor gone', () => !isAlive(sup));
    // Not through the manager: the supervisor script alone must not start a second copy.
    const p = spawn('/bin/sh', [join(stateDir, 'supervisor.sh'), svcDir('web')], { stdio: 'ignore', detached: true });
    p.unref();
    started.add(p.pid!);
    const next = await until('new child', async () => {
      const s = await observed('web');
      return s?.state === 'running' && s.pid !== child ? s.pid : undefined;
    });
    started.add(next);
    expect(isAlive(child)).toBe(false);
    // The new child's pid is recorded before it execs the command (cd, env, then exec): under
    // load the marker shows a moment later.
    await until('the command running as the new child', () => processesWith(marker).length > 0);
    expect(processesWith(marker)).toEqual([next]);
  });
});

describe('service environment', () => {
  it('gets its declared env, PATH and HOME, and nothing else of the controller', async () => {
    const saved = { FOO_SECRET: process.env.FOO_SECRET, VENDETTA_HOME: process.env.VENDETTA_HOME };
    process.env.FOO_SECRET = 'hunter2';
    process.env.VENDETTA_HOME = join(dir.path, 'home');
    try {
      await manager.start(
        service('envy', { command: 'env', restart: 'never' }, { DECLARED: 'yes', VENDETTA_SERVICE_DB_PORT: '5432' }),
      );
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    await until('exited', async () => (await observed('envy'))?.state === 'exited');
    const vars = new Map(
      (await manager.logs('envy'))
        .split('\n')
        .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(vars.get('DECLARED')).toBe('yes');
    expect(vars.get('VENDETTA_SERVICE_DB_PORT')).toBe('5432');
    expect(vars.get('HOME')).toBe(process.env.HOME);
    expect(vars.get('PATH')).toBeTruthy();
    expect(vars.has('FOO_SECRET')).toBe(false);
    expect(vars.has('VENDETTA_HOME')).toBe(false);
    // Only the minimal base plus what the shell itself sets (PWD, SHLVL, OLDPWD, _).
    const shellOwn = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);
    expect([...vars.keys()].filter((k) => !shellOwn.has(k)).sort()).toEqual(['DECLARED', 'HOME', 'PATH', 'VENDETTA_SERVICE_DB_PORT']);
  });
});

describe('log rotation', () => {
  it('keeps a chatty service log bounded: log and log.1, each near maxSize', async () => {
    const maxSize = 64 * 1024;
    await manager.start(service('chatty', { command: 'yes "vendetta rotation line"', restart: 'always', logs: { maxSize: '64Ki', maxFiles: 2 } }));
    started.add(await until('child', async () => (await observed('chatty'))?.pid));
    const d = svcDir('chatty');
    await until('rotated', async () => (await stat(join(d, 'log.1')).catch(() => undefined)) !== undefined);
    // Let it write many times maxSize, checking the files as it goes.
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      for (const f of ['log', 'log.1']) {
        const s = await stat(join(d, f)).catch(() => undefined);
        if (s) peak = Math.max(peak, s.size);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // One 64 KiB dd block past maxSize at most.
    expect(peak).toBeLessThanOrEqual(maxSize + 65536);
    // (log may be missing for an instant, between its rename to log.1 and its re-creation)
    const files = readdirSync(d).filter((f) => /^log(\.\d+)?$/.test(f));
    expect(['log', 'log.1']).toEqual(expect.arrayContaining(files));
    expect(files).toContain('log.1');
    expect((await observed('chatty'))?.state).toBe('running');
    // logs reads across the rotated file.
    const lines = (await manager.logs('chatty', { tail: 5000 })).split('\n').filter(Boolean);
    expect(lines.length).toBe(5000);
    // yes writes in blocks, not lines: the live log may end inside a line, and a rotation while
    // logs reads log.1 then log may cut one line where the two meet.
    expect(lines.filter((l) => l !== 'vendetta rotation line').length).toBeLessThanOrEqual(2);
  }, 30_000);

  it('keeps restarts and exit notes of a service that rotates, and nothing written is lost', async () => {
    // 3000 numbered lines, then exit 1: every line must be in log.1 + log, in order. The restart
    // then only sleeps: a second run writing (and being stopped mid-way) would make "the last run"
    // a partial one however slow the machine.
    const ran = join(dir.path, 'count.ran');
    const cmd = `if [ -f ${ran} ]; then exec sleep 300; fi; : > ${ran}; i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i + 1)); done; exit 1`;
    await manager.start(service('count', { command: cmd, restart: 'on-failure', logs: { maxSize: '16Ki', maxFiles: 3 } }));
    await until('restarted', async () => ((await observed('count'))?.restarts ?? 0) >= 1, 20_000);
    await manager.stop('count');
    const d = svcDir('count');
    const files = readdirSync(d).filter((f) => /^log(\.\d+)?$/.test(f));
    expect(files.length).toBeLessThanOrEqual(3);
    const all = (await manager.logs('count', { tail: 100000 })).split('\n');
    const numbers = all.filter((l) => /^line \d+$/.test(l)).map((l) => Number(l.slice(5)));
    // The last run's lines are all there and in order (earlier runs may have rotated away).
    const lastRun = numbers.slice(numbers.lastIndexOf(0));
    expect(lastRun).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(all.some((l) => /^vendetta-supervisor: exited with code 1; restarting/.test(l))).toBe(true);
  }, 60_000);
});
