// The node agent with real processes (src/services/node-agent.ts): services started through it
// behave as under the shell supervisor (restart policies, stop of the whole tree, logs, exit
// codes), every reader works unchanged, and a start forks only what it must. Needs perl, as the
// agent does (perl-base is on every Debian machine).
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, symlinkSync } from 'node:fs';
import { readFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceManager } from '../../src/services/manager.js';
import { NODE_AGENT_SCRIPT, NODE_AGENT_SHELL, nodeAgentPrefix } from '../../src/services/node-agent.js';
import { nodeStatusArgv, parseNodeStatus, stopAllServicesArgv } from '../../src/services/supervisor.js';
import type { DesiredService, ServiceManager } from '../../src/services/types.js';
import type { ServiceSpec } from '../../src/model/types.js';
import type { WorkspaceRuntime } from '../../src/providers/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { desiredService, isAlive, killIfAlive, localRuntime, tempDir, until } from './helpers.js';

const t = new LocalTransport();
let dir: { path: string; cleanup: () => Promise<void> };
let stateDir: string;
let prefix: string;
let manager: ServiceManager;
const started = new Set<number>();

function service(name: string, spec: Partial<ServiceSpec>, env: Record<string, string> = {}, workdir?: string): DesiredService {
  return desiredService(name, spec, env, workdir ?? dir.path);
}

function runtime(over: Partial<WorkspaceRuntime> = {}): WorkspaceRuntime {
  return { ...localRuntime(t, dir.path, stateDir), serviceLiveness: 'pid', nodeAgent: prefix, ...over };
}

async function file(name: string, f: string): Promise<string> {
  return (await readFile(join(stateDir, 'services', name, f), 'utf8').catch(() => '')).trim();
}

async function agentPid(): Promise<number> {
  const pid = Number((await readFile(`${prefix}.id`, 'utf8')).split(' ')[0]);
  started.add(pid);
  return pid;
}

async function observed(name: string) {
  return (await manager.observe()).find((s) => s.name === name);
}

beforeEach(async () => {
  dir = await tempDir('agent');
  stateDir = join(dir.path, 'ws', 'state');
  prefix = nodeAgentPrefix(dir.path);
  manager = createServiceManager(runtime());
});

afterEach(async () => {
  await t.exec(stopAllServicesArgv(stateDir));
  for (const pid of started) killIfAlive(pid); // only PIDs these tests started (the agent among them)
  started.clear();
  await dir.cleanup();
});

describe('node agent', () => {
  it('runs the service as its own child: recorded as supervisor ("a" and its FIFO), with the state files every reader knows', async () => {
    const run = await manager.start(service('web', { command: 'echo "hello $WHO"; exec sleep 300' }, { WHO: 'agent' }), { settleMs: 0 });
    expect(run).toMatchObject({ state: 'running', settledMs: 0, restarts: 0 });
    started.add(run!.pid!);
    const agent = await agentPid();
    expect((await readFile(`/proc/${agent}/cmdline`, 'utf8')).split('\0')[0]).toBe(`vendetta-agent ${prefix}`);
    expect((await file('web', 'supervisor.id')).split(' ').slice(2)).toEqual(['a', `${prefix}.in`]);

    expect(await file('web', 'supervisor.pid')).toBe(String(agent));
    // The child leads its own session and group, and its parent is the agent.
    const stat = (await readFile(`/proc/${run!.pid}/stat`, 'utf8')).replace(/.*\) /s, '').split(' ');
    expect(Number(stat[1])).toBe(agent);
    expect(Number(stat[2])).toBe(run!.pid);
    expect(await file('web', 'pid.id')).toMatch(new RegExp(`^${run!.pid} \\d+ g$`));
    // The agent ignores SIGPIPE; the service must not inherit that (bit 13 of SigIgn).
    const sigIgn = /SigIgn:\s*([0-9a-f]+)/.exec(await readFile(`/proc/${run!.pid}/status`, 'utf8'))![1]!;
    expect(BigInt(`0x${sigIgn}`) & (1n << 12n)).toBe(0n);
    expect(await until('the log', async () => /hello agent/.test(await manager.logs('web')) || undefined)).toBe(true);
    // The node's one-exec read sees it as the service reads do.
    const node = parseNodeStatus((await t.exec(nodeStatusArgv([{ name: 'ws', dir: stateDir }], 'pid'))).stdout);
    expect(node.get('ws')?.[0]).toMatchObject({ name: 'web', state: 'running', pid: run!.pid });
  });

  it('the agent starts with nothing of its starter\'s environment (the controller\'s, on the local node) but PATH and HOME', async () => {
    // A perl first on PATH that records the environment it was started with, then is perl.
    const bin = join(dir.path, 'bin');
    const seen = join(dir.path, 'agent-env');
    await mkdir(bin);
    const real = (await t.exec(['sh', '-c', 'command -v perl'])).stdout.trim();
    await writeFile(join(bin, 'perl'), `#!/bin/sh\nenv > '${seen}'\nexec ${real} "$@"\n`, { mode: 0o755 });
    const secretive = createServiceManager(runtime({ exec: (argv, opts) => t.exec(argv, { ...opts, env: { ...opts?.env, PATH: `${bin}:${process.env.PATH}`, VENDETTA_TEST_SECRET: 'leak' } }) }));
    started.add((await secretive.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 }))!.pid!);
    await agentPid();
    const names = (await readFile(seen, 'utf8')).trim().split('\n').map((l) => l.slice(0, l.indexOf('=')));
    expect(names).not.toContain('VENDETTA_TEST_SECRET');
    expect(names.filter((n) => n !== 'PWD').sort()).toEqual(['HOME', 'PATH']);
  });

  it('one agent for many services, also when two starts race to start it', async () => {
    const runs = await Promise.all(['a', 'b', 'c', 'd'].map((n) => manager.start(service(n, { command: 'exec sleep 300' }), { settleMs: 0 })));
    for (const r of runs) started.add(r!.pid!);
    const agent = await agentPid();
    for (const n of ['a', 'b', 'c', 'd']) expect((await file(n, 'supervisor.id')).split(' ')[0]).toBe(String(agent));
    const agents = (await t.exec(['sh', '-c', 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done'])).stdout
      .split('\n').filter((l) => l.startsWith(`vendetta-agent ${prefix}`));
    expect(agents).toHaveLength(1);
  });

  it('two agents started for one root (their source written twice, as two racing starters do): the second leaves at once', async () => {
    started.add((await manager.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 }))!.pid!);
    const first = await agentPid();
    // A second starter that found no agent a moment earlier writes the source again (a new inode)
    // and starts perl on it.
    await t.exec(['sh', '-c', 'cp "$1.pl" "$1.pl.x" && mv -f "$1.pl.x" "$1.pl"', 'sh', prefix]);
    const second = spawn('perl', [`${prefix}.pl`, prefix], { stdio: 'ignore' });
    started.add(second.pid!);
    const code = await new Promise<number | null>((resolve) => second.on('exit', resolve));
    expect(code).toBe(0);
    expect(isAlive(first)).toBe(true);
    expect(await agentPid()).toBe(first);
  });

  it('a command not found is reported by the start itself; restart: never records the exit and releases the service', async () => {
    const run = await manager.start(service('missing', { command: 'no-such-command-here --x', restart: 'never' }), { settleMs: 0 });
    expect(run).toMatchObject({ state: 'exited', exitCode: 127 });
    expect(run?.logTail?.join('\n')).toMatch(/not found/);
    expect(await file('missing', 'supervisor.id')).toBe('');
    const done = await manager.start(service('once', { command: 'echo done', restart: 'never' }));
    void done;
    expect(await until('exited', async () => ((await observed('once'))?.state === 'exited' ? true : undefined))).toBe(true);
    expect((await observed('once'))?.exitCode).toBe(0);
  });

  it('on-failure: exit 0 ends it; a failing command backs off and counts its restarts', async () => {
    await manager.start(service('ok', { command: 'exit 0', restart: 'on-failure' }));
    expect(await until('ok exited', async () => ((await observed('ok'))?.state === 'exited' ? true : undefined))).toBe(true);
    await manager.start(service('bad', { command: 'echo failing; exit 3', restart: 'on-failure' }));
    const s = await until('two restarts', async () => {
      const o = await observed('bad');
      return o && o.restarts >= 2 ? o : undefined;
    }, 15_000);
    expect(s.exitCode ?? Number(await file('bad', 'exit'))).toBe(3);
    expect(await manager.logs('bad')).toMatch(/exited with code 3; restarting in 1 s[\s\S]*restarting in 2 s/);
  }, 20_000);

  it('restarts a SIGKILLed child (restart: always)', async () => {
    const first = (await manager.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 }))!.pid!;
    started.add(first);
    process.kill(first, 'SIGKILL');
    const second = await until('restarted', async () => {
      const s = await observed('web');
      return s?.state === 'running' && s.pid !== first && s.restarts === 1 ? s.pid : undefined;
    });
    started.add(second!);
    expect(isAlive(second!)).toBe(true);
  });

  it('stop takes down the whole process group and records it; the agent lives on', async () => {
    const gfile = join(dir.path, 'grandchild');
    const run = await manager.start(service('tree', { command: `sleep 300 & echo $! > ${gfile}; wait` }), { settleMs: 0 });
    started.add(run!.pid!);
    const grandchild = await until('grandchild', async () => Number((await readFile(gfile, 'utf8').catch(() => '')).trim()) || undefined);
    started.add(grandchild);
    const agent = await agentPid();
    await manager.stop('tree');
    expect(isAlive(run!.pid!)).toBe(false);
    expect(isAlive(grandchild)).toBe(false);
    expect(isAlive(agent)).toBe(true);
    expect((await observed('tree'))?.state).toBe('stopped');
    expect(await file('tree', 'supervisor.id')).toBe('');
  });

  it('start again replaces the running child', async () => {
    const first = (await manager.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 }))!.pid!;
    started.add(first);
    const second = (await manager.start(service('web', { command: 'exec sleep 301' }), { settleMs: 0 }))!.pid!;
    started.add(second);
    expect(second).not.toBe(first);
    expect(isAlive(first)).toBe(false);
    expect((await observed('web'))).toMatchObject({ state: 'running', pid: second, restarts: 0 });
  });

  it('a killed agent reads as a dead supervisor; the next start stops the orphan and starts one agent anew', async () => {
    const first = (await manager.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 }))!.pid!;
    started.add(first);
    const agent = await agentPid();
    process.kill(agent, 'SIGKILL');
    await until('agent gone', async () => (isAlive(agent) ? undefined : true));
    expect((await observed('web'))?.state).toBe('exited');
    const second = (await manager.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 }))!.pid!;
    started.add(second);
    expect(isAlive(first)).toBe(false);
    expect(await agentPid()).not.toBe(agent);
  });

  it('rotates the log by size (log, log.1), the service writing on', async () => {
    await manager.start(service('chatty', { command: 'i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.01; done', logs: { maxSize: '4Ki', maxFiles: 2 } }), { settleMs: 0 });
    const rotated = await until('log.1', async () => ((await file('chatty', 'log.1')) ? true : undefined), 15_000);
    expect(rotated).toBe(true);
    const size = (await stat(join(stateDir, 'services', 'chatty', 'log'))).size;
    expect(size).toBeLessThan(64 * 1024);
    expect(await file('chatty', 'log.2')).toBe('');
    const a = Number(/line (\d+)\s*$/.exec(await file('chatty', 'log'))?.[1]);
    await until('more lines', async () => (Number(/line (\d+)\s*$/.exec(await file('chatty', 'log'))?.[1]) > a ? true : undefined));
  }, 20_000);

  it('runs command, env values and workdir literally (quotes, $, backticks, ;, newlines), with the env as the node agent reads it', async () => {
    const nasty = `it's "q" $HOME \`id\` ; echo injected\nsecond line`;
    const workdir = join(dir.path, `wd 'a' "b" $x \`y\` ;\nz`);
    await mkdir(workdir);
    const command = [
      `printf '[%s]\\n' "$NASTY" "$PLAIN" "$EMPTY" "$PATH"`,
      `printf '[%s]\\n' "$(pwd)"`,
      `echo 'single $HOME \`x\` ; "d"'`,
    ].join('\n');
    await manager.start(service('lit', { command, restart: 'never' }, { NASTY: nasty, PLAIN: 'a/b:c', EMPTY: '', PATH: `/nowhere:${process.env.PATH}` }, workdir));
    await until('exited', async () => ((await observed('lit'))?.state === 'exited' ? true : undefined));
    const log = await manager.logs('lit');
    expect(log.startsWith(`[${nasty}]\n[a/b:c]\n[]\n[/nowhere:${process.env.PATH}]\n[${workdir}]\nsingle $HOME \`x\` ; "d"\n`)).toBe(true);
    expect((await observed('lit'))?.exitCode).toBe(0);
  });

  it('a command of plain words runs without a shell, with what the shell would have given it (argv, env, PWD)', async () => {
    const workdir = join(dir.path, 'plain');
    await mkdir(workdir);
    // env prints what the program got: the same for `exec env …`, `env …` and a line the shell runs.
    for (const [name, command] of [['exec', 'exec env -u X'], ['bare', 'env -u X'], ['shell', 'env -u X;']]) {
      await manager.start(service(name, { command, restart: 'never' }, { A: 'a b' }, workdir));
      await until(`${name} exited`, async () => ((await observed(name))?.state === 'exited' ? true : undefined));
    }
    const envOf = async (name: string) => (await manager.logs(name)).split('\n').filter((l) => /^(A|PWD|PATH|HOME)=/.test(l)).sort();
    expect(await envOf('exec')).toEqual(await envOf('shell'));
    expect(await envOf('bare')).toEqual(await envOf('shell'));
    expect(await envOf('exec')).toContain(`PWD=${workdir}`);
  });

  it('tells commands it may exec without a shell from those a shell must run', () => {
    const sub = /^my %SHELL_WORD[\s\S]*?^sub plain_words \{[\s\S]*?^\}$/m.exec(NODE_AGENT_SCRIPT)?.[0];
    expect(sub).toBeDefined();
    const cases: [string, string][] = [
      ['exec busybox httpd -f -p 127.0.0.1:80 -h .', 'busybox|httpd|-f|-p|127.0.0.1:80|-h|.'],
      ['  node server.js --port=3000 ', 'node|server.js|--port=3000'],
      ['/usr/bin/env', '/usr/bin/env'],
      ['echo hi', ''], // a builtin: the shell's own, not /bin/echo
      ['exec', ''],
      ['A=b node x', ''], // an assignment
      ['node "$X"', ''],
      ['node *.js', ''],
      ['node x; node y', ''],
      ['node x &', ''],
      ['cd /tmp', ''],
      ['node ~/x', ''],
      ['node x\nnode y', ''],
    ];
    const script = `${sub}\nwhile (my $l = <STDIN>) { chomp $l; $l =~ s/\\\\n/\\n/g; print join('|', plain_words($l)), "\\n" }`;
    const r = spawnSync('perl', ['-e', script], { input: cases.map(([c]) => c.replace(/\n/g, '\\n')).join('\n') + '\n', encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').slice(0, -1)).toEqual(cases.map(([, want]) => want));
  });

  it('an env file in another shape (written by hand) still reaches the service, through the run script', async () => {
    await manager.start(service('hand', { command: 'echo "[$A]"; exec sleep 300' }, { A: 'x' }), { settleMs: 0 });
    started.add(Number(await file('hand', 'pid')));
    await writeFile(join(stateDir, 'services', 'hand', 'env'), 'A="double quoted $HOME"\nexport A\n');
    const again = await manager.restart('hand');
    void again;
    await until('log', async () => (/\[double quoted \//.test(await manager.logs('hand')) ? true : undefined));
    started.add(Number(await file('hand', 'pid')));
  });

  it('a start of a new service forks only mkdir, mkfifo and mv on the node besides shells', async () => {
    const bin = join(dir.path, 'bin');
    const calls = join(dir.path, 'calls');
    await mkdir(bin);
    // The agent is up already (it forks nothing of these when it starts a service).
    started.add((await manager.start(service('first', { command: 'exec sleep 300' }), { settleMs: 0 }))!.pid!);
    for (const tool of ['cat', 'date', 'dd', 'env', 'flock', 'grep', 'mkdir', 'mkfifo', 'mv', 'perl', 'rm', 'setsid', 'sleep', 'tr', 'wc']) {
      const real = (await t.exec(['sh', '-c', `command -v ${tool}`])).stdout.trim();
      await writeFile(join(bin, tool), `#!/bin/sh\necho ${tool} >> '${calls}'\nexec ${real} "$@"\n`, { mode: 0o755 });
    }
    const counted = createServiceManager(runtime({ exec: (argv, opts) => t.exec(argv, { ...opts, env: { ...opts?.env, PATH: `${bin}:${process.env.PATH}` } }) }));
    const seen = await counted.start(service('web', { command: 'exec sleep 300' }), { settleMs: 0 });
    started.add(seen!.pid!);
    expect(seen).toMatchObject({ state: 'running', settledMs: 0 });
    // install: the service dir (and supervisor.sh in place already); start: the reply FIFO.
    expect((await readFile(calls, 'utf8')).trim().split('\n').sort()).toEqual(['mkdir', 'mkfifo']);
  });

  it('a start whose agent ends before it answers fails with a message instead of waiting forever', async () => {
    // A stand-in agent: it takes the request and holds the service's reply FIFO, as the agent
    // does, then dies without an answer.
    const svcDir = join(dir.path, 'svc');
    const fake = join(dir.path, 'fake');
    await mkdir(svcDir);
    await t.exec(['mkfifo', `${fake}.in`]);
    const agent = spawn('perl', ['-e', `use Fcntl; sysopen(my $in, "${fake}.in", O_RDWR) or die; my $l = <$in>; sysopen(my $r, "${svcDir}/.reply", O_RDWR) or die; sleep 1; exit 0`], { stdio: 'ignore' });
    started.add(agent.pid!);
    await until('the stand-in reads its FIFO', async () => ((await t.exec(['sh', '-c', `ls -l /proc/${agent.pid}/fd 2>/dev/null`])).stdout.includes('fake.in') ? true : undefined));
    const res = await t.exec(['/bin/sh', '-c', `${NODE_AGENT_SHELL}\nagent_start "$1" "$2"; echo "rc=$? rdy=$rdy"`, 'sh', svcDir, fake]);
    expect(res.stdout.trim()).toBe('rc=1 rdy=');
    expect(res.stderr).toMatch(/node agent .* ended before it answered/);
  });

  it('without perl on the node the shell supervisor runs the service', async () => {
    // A PATH with every program of /usr/bin but perl.
    const bin = join(dir.path, 'bin');
    await mkdir(bin);
    // Linked from here, not by a shell loop: a fork per program took most of the test's time.
    for (const f of readdirSync('/usr/bin')) if (!f.startsWith('perl')) symlinkSync(join('/usr/bin', f), join(bin, f));
    const noPerl = createServiceManager(runtime({ exec: (argv, opts) => t.exec(argv, { ...opts, env: { ...opts?.env, PATH: bin } }) }));
    const run = await noPerl.start(service('web', { command: 'exec /bin/sleep 300' }), { settleMs: 0 });
    started.add(run!.pid!);
    expect(run?.state).toBe('running');
    expect((await file('web', 'supervisor.id')).split(' ')[2]).toBe('p');
  });
});
