import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeResource, WorkspaceResource } from '../../src/model/types.js';
import {
  createProcessDriver,
  observeArgv,
  parseProcessObservation,
  processRoot,
  workspacePaths,
} from '../../src/providers/process/driver.js';
import type { DriverContext } from '../../src/providers/types.js';
import { createServiceManager } from '../../src/services/manager.js';
import { stopAllServicesArgv } from '../../src/services/supervisor.js';
import { LocalTransport } from '../../src/transport/local.js';
import { isAlive, killIfAlive, tempDir, until } from './helpers.js';

const OWNER = { id: '0123456789abcdef', name: 'test@host:/home/test/.vendetta' };

function node(name: string, address: string, root?: string): NodeResource {
  return {
    apiVersion: 'vendetta.dev/v1alpha1',
    kind: 'Node',
    metadata: { name },
    spec: { address, ...(root ? { providers: { process: { root } } } : {}) },
  };
}

describe('process driver, pure parts', () => {
  it('picks the root: configured, then VENDETTA_HOME for local, then ~/.vendetta', () => {
    expect(processRoot(node('a', '10.0.0.1', '/srv/ws'), '/home/u', '/vh')).toBe('/srv/ws');
    expect(processRoot(node('a', '10.0.0.1', '~/ws'), '/home/u', undefined)).toBe('/home/u/ws');
    expect(processRoot(node('local', 'local'), '/home/u', '/vh')).toBe('/vh/workspaces');
    expect(processRoot(node('box', 'local'), '/home/u', '/vh')).toBe('/vh/workspaces');
    expect(processRoot(node('a', '10.0.0.1'), '/home/u', '/vh')).toBe('/home/u/.vendetta/workspaces');
    expect(processRoot(node('local', 'local'), '/home/u', undefined)).toBe('/home/u/.vendetta/workspaces');
  });

  it('keeps workspace paths under the root', () => {
    expect(workspacePaths('/r/', 'api')).toEqual({
      dir: '/r/api',
      meta: '/r/api/meta.json',
      workspaceDir: '/r/api/workspace',
      stateDir: '/r/api/state',
    });
    for (const bad of ['..', '../x', 'a/b', '', 'A', '.']) expect(() => workspacePaths('/r', bad)).toThrow(/invalid workspace name/);
  });

  it('observes with one exec whose root is an argument', () => {
    const argv = observeArgv('/r oot');
    expect(argv.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(argv.slice(3)).toEqual(['sh', '/r oot']);
  });

  it('parses workspaces and their services, skipping what is not ours', () => {
    const meta = (o: object) => JSON.stringify({ managed: true, kind: 'Workspace', applySet: 'default', createdAt: 'x', ...o });
    const text = [
      'workspace\tapi',
      `meta\t${meta({ name: 'api', specHash: 'h1', running: true })}`,
      'service\tweb',
      'hash\tsh1',
      'state\trunning',
      'pid\t10',
      'restarts\t0',
      'alive\t1',
      'workspace\tforeign',
      'meta\t{"hello":"world"}',
      'workspace\tbroken',
      'meta\t{not json',
      'workspace\tidle',
      `meta\t${meta({ name: 'idle', specHash: 'h2', running: false })}`,
      '',
    ].join('\n');
    expect(parseProcessObservation(text)).toEqual([
      {
        name: 'api',
        provider: 'process',
        specHash: 'h1',
        applySet: 'default',
        running: true,
        address: '127.0.0.1',
        services: [{ name: 'web', specHash: 'sh1', state: 'running', pid: 10, restarts: 0 }],
      },
      { name: 'idle', provider: 'process', specHash: 'h2', applySet: 'default', running: false, address: '127.0.0.1', services: [] },
    ]);
  });
});

// Each case twice: services under the node agent (the default where perl is), and under a shell
// supervisor each (VENDETTA_NODE_AGENT=off).
for (const mode of ['agent', 'shell'] as const) describe(`process driver on this machine (${mode})`, () => {
  const transport = new LocalTransport();
  const driver = createProcessDriver();
  let dir: { path: string; cleanup: () => Promise<void> };
  let root: string;
  let ctx: DriverContext;
  const pids = new Set<number>();

  /**
   * The supervisor no longer runs the service: a shell supervisor has ended; the node agent (which
   * may serve others) has no child left at all here (each case has its own root, so its own agent).
   */
  function unsupervised(sup: number): boolean {
    if (!isAlive(sup)) return true;
    if (mode === 'shell' || !readFileSync(`/proc/${sup}/cmdline`, 'latin1').startsWith('vendetta-agent ')) return false;
    const children = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try {
        return readFileSync(`/proc/${d}/stat`, 'latin1').replace(/.*\) /s, '').split(' ')[1] === String(sup);
      } catch {
        return false;
      }
    });
    return children.length === 0;
  }

  beforeEach(async () => {
    if (mode === 'shell') process.env.VENDETTA_NODE_AGENT = 'off';
    else delete process.env.VENDETTA_NODE_AGENT;
    dir = await tempDir('process');
    root = join(dir.path, 'root');
    ctx = { node: node('local', 'local', root), transport, applySet: 'test-set' };
  });

  afterEach(async () => {
    delete process.env.VENDETTA_NODE_AGENT;
    await transport.exec(stopAllServicesArgv(join(root, 'api', 'state')));
    for (const pid of pids) killIfAlive(pid);
    pids.clear();
    await dir.cleanup();
  });

  function workspace(name: string, source?: string): WorkspaceResource {
    return {
      apiVersion: 'vendetta.dev/v1alpha1',
      kind: 'Workspace',
      metadata: { name },
      spec: { node: 'local', provider: 'process', ...(source ? { source: { path: source } } : {}) },
    };
  }

  it('is always available', async () => {
    expect(await driver.availability(ctx)).toMatchObject({ available: true, version: 'builtin' });
  });

  it('observes nothing when the root does not exist', async () => {
    expect(await driver.observe(ctx)).toEqual([]);
  });

  it('create → observe → stop → start → delete leaves no process and no directory', async () => {
    const src = join(dir.path, 'src');
    await mkdir(src);
    await writeFile(join(src, 'hello.txt'), 'hi from source\n');
    // Something in the root that is not ours must never be touched.
    await mkdir(join(root, 'foreign'), { recursive: true });

    await driver.create(ctx, { resource: workspace('api', src), specHash: 'ws-hash', env: {}, owner: OWNER });
    const rt = await driver.runtime(ctx, 'api');
    expect(rt.workspaceDir).toBe(join(root, 'api', 'workspace'));
    expect(await readFile(join(rt.workspaceDir, 'hello.txt'), 'utf8')).toBe('hi from source\n');
    expect((await rt.exec(['cat', 'hello.txt'])).stdout).toBe('hi from source\n'); // cwd is the workspace

    const services = createServiceManager(rt);
    await services.start({
      resource: {
        apiVersion: 'vendetta.dev/v1alpha1',
        kind: 'Service',
        metadata: { name: 'web' },
        spec: { workspace: 'api', command: 'cat hello.txt; exec sleep 300', restart: 'always' },
      },
      specHash: 'svc-hash',
      env: {},
      workdir: rt.workspaceDir,
    });
    const supervisor = Number(await readFile(join(rt.stateDir, 'services', 'web', 'supervisor.pid'), 'utf8'));
    pids.add(supervisor);

    const [observed] = await driver.observe(ctx);
    expect(observed).toMatchObject({ name: 'api', provider: 'process', specHash: 'ws-hash', applySet: 'test-set', running: true });
    expect(observed!.services).toMatchObject([{ name: 'web', specHash: 'svc-hash', state: 'running' }]);
    const child = observed!.services[0]!.pid!;
    pids.add(child);
    expect(isAlive(child)).toBe(true);
    await until('service output', async () => (await services.logs('web')).includes('hi from source'));

    await driver.stop(ctx, 'api');
    expect(unsupervised(supervisor)).toBe(true);
    expect(isAlive(child)).toBe(false);
    let [after] = await driver.observe(ctx);
    expect(after).toMatchObject({ running: false, services: [{ name: 'web', state: 'stopped' }] });

    await driver.start(ctx, 'api');
    [after] = await driver.observe(ctx);
    expect(after?.running).toBe(true);

    await driver.delete(ctx, 'api');
    await expect(stat(join(root, 'api'))).rejects.toThrow();
    expect(await driver.observe(ctx)).toEqual([]);
    expect((await stat(join(root, 'foreign'))).isDirectory()).toBe(true);
    // Deleting again is fine.
    await driver.delete(ctx, 'api');
  });

  it('deleteMany drops every service at once: supervisors, children, grandchildren and a child that ignores TERM are gone, and so are the dirs', async () => {
    const commands: Record<string, string> = {
      plain: 'exec sleep 301',
      tree: 'sleep 302 & exec sleep 303',
      stubborn: "trap '' TERM; sleep 304 & wait",
    };
    const sups: number[] = [];
    for (const [name, command] of Object.entries(commands)) {
      await driver.create(ctx, { resource: workspace(name), specHash: 'ws-hash', env: {}, owner: OWNER });
      const rt = await driver.runtime(ctx, name);
      await createServiceManager(rt).start({
        resource: { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Service', metadata: { name: 'svc' }, spec: { workspace: name, command, restart: 'always' } },
        specHash: 'svc-hash',
        env: {},
        workdir: rt.workspaceDir,
      });
      const sup = Number(await readFile(join(rt.stateDir, 'services', 'svc', 'supervisor.pid'), 'utf8'));
      sups.push(sup);
      pids.add(sup);
    }
    // Our sleepers, by their command lines (read in-process: a host may run thousands of processes).
    const sleepers = async () =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return /^sleep\0(30[1-4])\0$/.test(readFileSync(`/proc/${d}/cmdline`, 'latin1'));
          } catch {
            return false;
          }
        })
        .map(Number);
    const before = await until('4 sleepers', async () => ((await sleepers()).length === 4 ? sleepers() : undefined));
    for (const p of before) pids.add(p);
    const errors = await driver.deleteMany!(ctx, Object.keys(commands));
    expect([...errors]).toEqual([]);
    for (const sup of sups) expect(unsupervised(sup)).toBe(true);
    expect(await sleepers()).toEqual([]);
    for (const name of Object.keys(commands)) await expect(stat(join(root, name))).rejects.toThrow();
  }, 30_000);

  it('a create makes the state directories of its services: with the agent, their start forks no mkdir', async () => {
    await driver.create(ctx, { resource: workspace('api'), specHash: 'ws-hash', env: {}, owner: OWNER, services: ['web', 'db'] });
    const rt = await driver.runtime(ctx, 'api');
    for (const svc of ['web', 'db']) expect((await stat(join(rt.stateDir, 'services', svc))).isDirectory()).toBe(true);
    // A mkdir first on PATH that logs each run.
    const bin = join(root, '..', 'bin-mkdir');
    await mkdir(bin, { recursive: true });
    const real = (await transport.exec(['sh', '-c', 'command -v mkdir'])).stdout.trim();
    await writeFile(join(bin, 'mkdir'), `#!/bin/sh\necho mkdir >> '${bin}/calls'\nexec ${real} "$@"\n`, { mode: 0o755 });
    const counted = createServiceManager({ ...rt, exec: (argv, opts) => rt.exec(argv, { ...opts, env: { ...opts?.env, PATH: `${bin}:${process.env.PATH}` } }) });
    const start = async (name: string) => {
      const seen = await counted.start(
        { resource: { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Service', metadata: { name }, spec: { workspace: 'api', command: 'exec sleep 305' } }, specHash: 's', env: {}, workdir: rt.workspaceDir },
        { settleMs: 0 },
      );
      pids.add(seen!.pid!);
      expect(seen?.state).toBe('running');
    };
    // The first start on a root may make the node agent's directory (or a shell supervisor its
    // staging one); the next one is a start like any other.
    await start('db');
    await rm(join(bin, 'calls'), { force: true });
    await start('web');
    // The shell supervisor makes its staging directory itself (the mkdir the install made before).
    const calls = await readFile(join(bin, 'calls'), 'utf8').catch(() => '');
    expect(calls).toBe(mode === 'agent' ? '' : 'mkdir\n');
    await driver.delete(ctx, 'api');
  });

  it("a person's command (exec, shell) gets the workspace's env and directory, nothing of the caller's", async () => {
    await driver.create(ctx, { resource: workspace('api'), specHash: 'ws-hash', env: {}, owner: OWNER });
    const rt = await driver.runtime(ctx, 'api');
    process.env.VENDETTA_TEST_CALLER_SECRET = 'leaked';
    try {
      const proc = await rt.spawn(['sh', '-c', 'env; pwd'], { env: { GREETING: "it's \"q\" $HOME", EMPTY: '' }, asWorkspace: true });
      proc.stdin.end();
      let out = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      expect(await proc.wait()).toBe(0);
      const lines = out.trim().split('\n');
      expect(lines).toContain(`GREETING=it's "q" $HOME`);
      expect(lines).toContain('EMPTY=');
      expect(lines.some((l) => l.startsWith('PATH='))).toBe(true);
      expect(lines.some((l) => l.startsWith('HOME='))).toBe(true);
      expect(out).not.toContain('VENDETTA_TEST_CALLER_SECRET');
      expect(lines.at(-1)).toBe(rt.workspaceDir);
      // Without the flag (vendetta's own commands) the transport's environment stays.
      const own = await rt.spawn(['env'], {});
      own.stdin.end();
      let ownOut = '';
      own.stdout.on('data', (d: Buffer) => (ownOut += d.toString()));
      await own.wait();
      expect(ownOut).toContain('VENDETTA_TEST_CALLER_SECRET=leaked');
    } finally {
      delete process.env.VENDETTA_TEST_CALLER_SECRET;
    }
  });

  it('creates a stopped workspace with an empty directory when there is no source', async () => {
    const ws = workspace('idle');
    ws.spec.state = 'stopped';
    await driver.create(ctx, { resource: ws, specHash: 'h', env: {}, owner: OWNER });
    const [observed] = await driver.observe(ctx);
    expect(observed).toMatchObject({ name: 'idle', running: false, services: [] });
    expect((await stat(join(root, 'idle', 'workspace'))).isDirectory()).toBe(true);
    await driver.delete(ctx, 'idle');
    await expect(stat(join(root, 'idle'))).rejects.toThrow();
  });

  it('observeServices reads many workspaces in one exec; deleteMany stops and removes them in one exec', { timeout: 30_000 }, async () => {
    const names = ['ns-a', 'ns-b', 'ns-c'];
    const sups: number[] = [];
    for (const name of names) {
      await driver.create(ctx, { resource: workspace(name), specHash: 'h', env: {}, owner: OWNER });
      const rt = await driver.runtime(ctx, name);
      await createServiceManager(rt).start({
        resource: { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Service', metadata: { name: 'web' }, spec: { workspace: name, command: 'exec sleep 300' } },
        specHash: `svc-${name}`,
        env: {},
        workdir: rt.workspaceDir,
      });
      const sup = Number(await readFile(join(rt.stateDir, 'services', 'web', 'supervisor.pid'), 'utf8'));
      pids.add(sup);
      sups.push(sup);
    }
    // Counted at the transport: one exec for all of them.
    let execs = 0;
    const counting: DriverContext = { ...ctx, transport: Object.assign(Object.create(transport) as LocalTransport, { exec: (a: string[], o?: object) => (execs++, transport.exec(a, o)) }) };
    const read = await driver.observeServices!(counting, ['ns-a', 'ns-c', 'ns-missing']);
    expect(execs).toBe(1);
    expect(read.get('ns-a')).toMatchObject([{ name: 'web', specHash: 'svc-ns-a', state: 'running' }]);
    expect(read.get('ns-c')).toMatchObject([{ name: 'web', specHash: 'svc-ns-c', state: 'running' }]);
    expect(read.get('ns-missing')).toEqual([]);
    expect(read.has('ns-b')).toBe(false);
    for (const s of read.get('ns-a')!) pids.add(s.pid!);

    execs = 0;
    const errors = await driver.deleteMany!(counting, [...names, 'ns-never-made']);
    expect(execs).toBe(1);
    expect(errors.size).toBe(0);
    for (const sup of sups) expect(unsupervised(sup)).toBe(true);
    for (const name of names) await expect(stat(join(root, name))).rejects.toThrow();
    expect(await driver.observe(ctx)).toEqual([]);
  });

  it('start of a missing workspace says so', async () => {
    await expect(driver.start(ctx, 'ghost')).rejects.toThrow(/workspace ghost not found on node local/);
  });
});
