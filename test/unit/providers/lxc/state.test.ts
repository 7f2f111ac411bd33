// The node side of LXD workspaces' state: the scripts run here with /bin/sh on a temp home, the
// way the node runs them (pure shell over files; liveness across namespaces is tested e2e).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { instanceCreateBody } from '../../../../src/providers/lxc/spec.js';
import {
  nodeStateDir,
  nodeStatusArgv,
  parseLeftDirs,
  parseNodeStatus,
  prepareStateDirArgv,
  removeStateDirsArgv,
} from '../../../../src/providers/lxc/state.js';
import { API_VERSION } from '../../../../src/model/types.js';

let home: string;

function run(argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH, HOME: home }, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'vd-lxcstate-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('node state directories', () => {
  it('prepare makes ~/.vendetta/lxc private, the workspace dir sticky and world-writable, and empties a leftover', () => {
    const rel = nodeStateDir('n1', 'api');
    expect(rel).toBe('.vendetta/lxc/n1/api');
    mkdirSync(join(home, rel, 'services', 'old'), { recursive: true });
    writeFileSync(join(home, rel, 'services', 'old', 'command'), 'stale');
    const r = run(prepareStateDirArgv(rel));
    expect(r).toMatchObject({ code: 0, stdout: `${join(home, rel)}\n` });
    expect(statSync(join(home, '.vendetta/lxc')).mode & 0o7777).toBe(0o700);
    expect(statSync(join(home, rel)).mode & 0o7777).toBe(0o1777);
    expect(existsSync(join(home, rel, 'services', 'old'))).toBe(false);
  });

  it('remove deletes only directories under ~/.vendetta/lxc/<node>/, whatever it is given', () => {
    const ws = join(home, '.vendetta/lxc/n1/api');
    const outside = join(home, 'precious');
    mkdirSync(join(ws, 'services'), { recursive: true });
    mkdirSync(outside);
    const r = run(removeStateDirsArgv([ws, outside, '.vendetta/lxc/n1/../../../precious', join(home, '.vendetta/lxc'), '.vendetta/lxc/n1/missing']));
    expect(r.code).toBe(0);
    expect(parseLeftDirs(r.stdout)).toEqual([]);
    expect(existsSync(ws)).toBe(false);
    expect(existsSync(outside)).toBe(true);
    expect(existsSync(join(home, '.vendetta/lxc'))).toBe(true);
  });

  it('remove reports what it could not delete', () => {
    expect(parseLeftDirs('left\t/home/u/.vendetta/lxc/n1/a\nnoise\nleft\t/x y\n')).toEqual(['/home/u/.vendetta/lxc/n1/a', '/x y']);
  });

  it('status reads every workspace in one run, with the files as written; a missing dir says so', () => {
    const svc = join(home, '.vendetta/lxc/n1/api/services/web');
    mkdirSync(svc, { recursive: true });
    for (const [f, v] of Object.entries({ command: 'httpd', hash: 'h-web', state: 'exited', exit: '3', restarts: '2', started: '2026-01-01T00:00:00Z' })) {
      writeFileSync(join(svc, f), `${v}\n`);
    }
    writeFileSync(join(svc, 'log'), 'vendetta-supervisor: started\nport in use\n');
    // a pid identity that runs nowhere: the supervisor is dead
    writeFileSync(join(svc, 'supervisor.id'), '999999 1 p\n');
    mkdirSync(join(home, '.vendetta/lxc/n1/empty/services'), { recursive: true });
    const r = run(nodeStatusArgv([
      { name: 'api', dir: '.vendetta/lxc/n1/api' },
      { name: 'empty', dir: join(home, '.vendetta/lxc/n1/empty') },
      { name: 'old', dir: '.vendetta/lxc/n1/old' },
    ]));
    expect(r.code).toBe(0);
    const parsed = parseNodeStatus(r.stdout);
    expect([...parsed.keys()]).toEqual(['api', 'empty', 'old']);
    expect(parsed.get('api')).toEqual([
      { name: 'web', specHash: 'h-web', state: 'exited', restarts: 2, exitCode: 3, startedAt: '2026-01-01T00:00:00Z', logTail: ['port in use'] },
    ]);
    expect(parsed.get('empty')).toEqual([]);
    expect(parsed.get('old')).toBeUndefined();
    expect(parsed.has('old')).toBe(true);
  });

  it('a supervisor holding the flock on its lock file is alive; once released it is not', async () => {
    const svc = join(home, '.vendetta/lxc/n1/api/services/web');
    mkdirSync(svc, { recursive: true });
    for (const [f, v] of Object.entries({ command: 'x', hash: 'h', state: 'running', 'supervisor.id': '999999 1 p' })) writeFileSync(join(svc, f), `${v}\n`);
    writeFileSync(join(svc, 'lock'), '');
    // its own process group: the lock (held by flock and its sleep) goes with the group
    const holder = spawn('flock', [join(svc, 'lock'), 'sleep', '30'], { stdio: 'ignore', detached: true });
    try {
      let state = '';
      for (let i = 0; i < 50 && state !== 'running'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = parseNodeStatus(run(nodeStatusArgv([{ name: 'api', dir: '.vendetta/lxc/n1/api' }])).stdout).get('api')![0]!.state;
      }
      expect(state).toBe('running');
    } finally {
      const exited = new Promise((r) => holder.once('exit', r));
      process.kill(-holder.pid!, 'SIGKILL');
      await exited;
    }
    const after = parseNodeStatus(run(nodeStatusArgv([{ name: 'api', dir: '.vendetta/lxc/n1/api' }])).stdout).get('api')![0]!;
    expect(after.state).toBe('exited');
  });

  it('the script reads with builtins: no cat forks per field', () => {
    const script = nodeStatusArgv([])[2]!;
    expect(script).not.toMatch(/\$\(cat /);
    expect(execFileSync('/bin/sh', ['-n', '-c', script]).toString()).toBe('');
  });
});

describe('instanceCreateBody with a state dir', () => {
  it('records the node dir in a config key and attaches it, unshifted, at /var/lib/vendetta', () => {
    const body = instanceCreateBody(
      {
        resource: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: 'api' }, spec: { node: 'n1', provider: 'lxc', image: 'img' } },
        specHash: 'h',
        owner: { id: 'o', name: 'o' },
        env: {},
      },
      'set',
      'lxd',
      undefined,
      '/home/u/.vendetta/lxc/n1/api',
    );
    expect(body.config['user.vendetta.state-dir']).toBe('/home/u/.vendetta/lxc/n1/api');
    expect(body.devices['vd-state']).toEqual({ type: 'disk', source: '/home/u/.vendetta/lxc/n1/api', path: '/var/lib/vendetta' });
  });
});
