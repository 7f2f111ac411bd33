// The supervisor's prober with real processes on 127.0.0.1: health checks run in the workspace,
// their verdict read back through service_status (ObservedService.health), with nothing probing
// from here. Under the machine's /bin/sh (dash on Debian, with bash, wget and curl at hand), and
// in a busybox-only chroot (no bash, no curl, no /proc: busybox nc and wget).
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HealthcheckSpec, ObservedHealth, ServiceSpec } from '../../src/model/types.js';
import type { WorkspaceRuntime } from '../../src/providers/types.js';
import { createServiceManager } from '../../src/services/manager.js';
import { stopAllServicesArgv } from '../../src/services/supervisor.js';
import type { DesiredService, ServiceManager } from '../../src/services/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { isAlive, killIfAlive, localRuntime, tempDir, until } from './helpers.js';

const t = new LocalTransport();

function service(name: string, workdir: string, spec: Partial<ServiceSpec>, env: Record<string, string> = {}): DesiredService {
  return {
    resource: { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Service', metadata: { name }, spec: { workspace: 'ws', command: 'true', ...spec } },
    specHash: `hash-${name}`,
    env,
    workdir,
  };
}

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Every verdict the prober writes, read through service_status every 50 ms until `done` says so. */
async function watchHealth(
  manager: ServiceManager,
  name: string,
  done: (h: ObservedHealth) => boolean,
  timeoutMs = 20_000,
): Promise<ObservedHealth[]> {
  const seen: ObservedHealth[] = [];
  await until(
    `${name} health`,
    async () => {
      const h = (await manager.observe()).find((s) => s.name === name)?.health;
      if (h && (seen.length === 0 || JSON.stringify(seen.at(-1)) !== JSON.stringify(h))) seen.push(h);
      return h !== undefined && done(h);
    },
    timeoutMs,
  );
  return seen;
}

describe('prober under /bin/sh on this machine', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let stateDir: string;
  let manager: ServiceManager;
  let http: Server;
  let httpPort: number;
  let status = 500;
  const pids = new Set<number>();

  const svcDir = (name: string) => join(stateDir, 'services', name);
  const idPid = async (name: string, file: string) => Number((await readFile(join(svcDir(name), file), 'utf8')).split(' ')[0]);

  beforeAll(async () => {
    http = createServer((req, res) => {
      res.statusCode = req.url === '/ok' ? 200 : status;
      res.end('x');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    httpPort = (http.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => http.close(() => r())));

  beforeEach(async () => {
    dir = await tempDir('prober');
    stateDir = join(dir.path, 'state');
    manager = createServiceManager(localRuntime(t, dir.path, stateDir));
  });
  afterEach(async () => {
    await t.exec(stopAllServicesArgv(stateDir));
    for (const pid of pids) killIfAlive(pid);
    pids.clear();
    await dir.cleanup();
  }, 60_000);

  it('a tcp check becomes healthy on its own, from inside the workspace', async () => {
    const port = await freePort();
    // The server listens only once the test says so: a verdict before that must be "starting",
    // however slow the machine.
    const go = join(dir.path, 'pr-tcp.go');
    await manager.start(
      service('pr-tcp', dir.path, {
        command: `while [ ! -f ${go} ]; do sleep 0.05; done; exec busybox httpd -f -p 127.0.0.1:${port} -h .`,
        healthcheck: { tcp: { port }, interval: '300ms' },
      }),
    );
    const before = await watchHealth(manager, 'pr-tcp', () => true);
    await writeFile(go, '');
    const seen = [...before, ...(await watchHealth(manager, 'pr-tcp', (h) => h.status === 'healthy'))];
    expect(seen[0]).toMatchObject({ status: 'starting', failures: 0 });
    expect(seen.at(-1)).toMatchObject({ status: 'healthy', failures: 0, message: `tcp 127.0.0.1:${port}: connected` });
    expect(seen.at(-1)!.checkedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }, 30_000);

  it('an http 500 is unhealthy after `retries` counted failures, and healthy again once it answers 200', async () => {
    status = 500;
    const hc: HealthcheckSpec = { http: { port: httpPort, path: '/status' }, interval: '200ms', retries: 3 };
    await manager.start(service('pr-http', dir.path, { command: 'exec sleep 300', healthcheck: hc }));
    const seen = await watchHealth(manager, 'pr-http', (h) => h.status === 'unhealthy');
    expect(seen.filter((h) => h.status === 'healthy')).toEqual([]);
    // Counted failures go on after the verdict; none before it reached `retries`.
    expect(seen.filter((h) => h.status !== 'unhealthy').every((h) => h.failures < 3)).toBe(true);
    expect(seen.find((h) => h.status === 'unhealthy')).toMatchObject({ message: `http://127.0.0.1:${httpPort}/status → 500` });
    expect(seen.find((h) => h.status === 'unhealthy')!.failures).toBeGreaterThanOrEqual(3);
    status = 204;
    const after = await watchHealth(manager, 'pr-http', (h) => h.status === 'healthy');
    expect(after.at(-1)).toMatchObject({ failures: 0, message: `http://127.0.0.1:${httpPort}/status → 204` });
  }, 30_000);

  it('failures within startPeriod do not count; without it the same failures do', async () => {
    const [slowPort, closed] = [await freePort(), await freePort()];
    // Start periods far longer than this test: within them, whatever the machine's load.
    const timing = { interval: '200ms', retries: 1 };
    const slow = `sleep 2; exec busybox httpd -f -p 127.0.0.1:${slowPort} -h .`;
    await manager.start(service('pr-graced', dir.path, { command: slow, healthcheck: { tcp: { port: slowPort }, ...timing, startPeriod: '5m' } }));
    await manager.start(service('pr-grace-down', dir.path, { command: 'exec sleep 300', healthcheck: { tcp: { port: closed }, ...timing, startPeriod: '5m' } }));
    await manager.start(service('pr-plain-down', dir.path, { command: 'exec sleep 300', healthcheck: { tcp: { port: closed }, ...timing } }));
    const [g, plain] = await Promise.all([
      watchHealth(manager, 'pr-graced', (h) => h.status === 'healthy'),
      watchHealth(manager, 'pr-plain-down', (h) => h.status === 'unhealthy'),
    ]);
    expect(g.filter((h) => h.status === 'unhealthy' || h.failures > 0)).toEqual([]);
    expect(g.at(-1)).toMatchObject({ status: 'healthy', failures: 0 });
    expect(plain.at(-1)!.message).toBe(`tcp 127.0.0.1:${closed}: connection refused`);
    const down = (await manager.observe()).find((s) => s.name === 'pr-grace-down')?.health;
    expect(down).toMatchObject({ status: 'starting', failures: 0, message: `tcp 127.0.0.1:${closed}: connection refused` });
  }, 30_000);

  it('an exec check runs in the workdir with the service env, within its timeout', async () => {
    await mkdir(join(dir.path, 'app'));
    await manager.start(
      service('pr-exec', join(dir.path, 'app'), { command: 'exec sleep 300', healthcheck: { exec: { command: 'test -f "$READY_FILE"' }, interval: '200ms', retries: 1 } }, { READY_FILE: 'ready' }),
    );
    const before = await watchHealth(manager, 'pr-exec', (h) => h.status === 'unhealthy');
    expect(before.at(-1)).toMatchObject({ message: 'exec "test -f "$READY_FILE"" → exit 1' });
    await writeFile(join(dir.path, 'app', 'ready'), '');
    const after = await watchHealth(manager, 'pr-exec', (h) => h.status === 'healthy');
    expect(after.at(-1)!.message).toBe('exec "test -f "$READY_FILE"" → exit 0');

    // A check that hangs is cut at its timeout and counts as a failure.
    await manager.start(service('pr-hang', dir.path, { command: 'exec sleep 300', healthcheck: { exec: { command: 'sleep 30' }, interval: '200ms', timeout: '300ms', retries: 1 } }));
    const hung = await watchHealth(manager, 'pr-hang', (h) => h.status === 'unhealthy');
    expect(hung.at(-1)!.message).toBe('exec "sleep 30": no result after 0.300 s');
  }, 30_000);

  it('the prober stops with its supervisor, exits when the supervisor is killed, and a restart forgets the old verdict', async () => {
    await manager.start(service('pr-life', dir.path, { command: 'exec sleep 300', healthcheck: { http: { port: httpPort, path: '/ok' }, interval: '200ms' } }));
    await watchHealth(manager, 'pr-life', (h) => h.status === 'healthy');
    const prober = await idPid('pr-life', 'prober.id');
    pids.add(prober);
    expect(isAlive(prober)).toBe(true);
    await manager.stop('pr-life');
    expect(isAlive(prober)).toBe(false);
    expect((await manager.observe()).find((s) => s.name === 'pr-life')?.health).toBeUndefined();

    await manager.start(service('pr-life', dir.path, { command: 'exec sleep 300', healthcheck: { http: { port: httpPort, path: '/ok' }, interval: '200ms' } }));
    await watchHealth(manager, 'pr-life', (h) => h.status === 'healthy');
    const sup = await idPid('pr-life', 'supervisor.id');
    const prober2 = await idPid('pr-life', 'prober.id');
    pids.add(sup).add(prober2).add(await idPid('pr-life', 'pid.id'));
    process.kill(sup, 'SIGKILL');
    await until('the orphaned prober to exit', () => !isAlive(prober2));

    // Restarted with a check that cannot pass: the healthy verdict of before is gone at once.
    status = 500;
    await manager.start(service('pr-life', dir.path, { command: 'exec sleep 300', healthcheck: { http: { port: httpPort, path: '/no' }, interval: '5s' } }));
    const first = (await manager.observe()).find((s) => s.name === 'pr-life')?.health;
    expect(first?.status).toBe('starting');
  }, 30_000);

  it('a service without a check has no probe file, no prober and no verdict', async () => {
    await manager.start(service('pr-none', dir.path, { command: 'exec sleep 300', healthcheck: { tcp: { port: 1 } } }));
    await until('a probe file', async () => (await readFile(join(svcDir('pr-none'), 'probe'), 'utf8').catch(() => '')) || undefined);
    await manager.start(service('pr-none', dir.path, { command: 'exec sleep 300' }));
    await until('running', async () => (await manager.observe()).find((s) => s.name === 'pr-none')?.pid);
    await expect(readFile(join(svcDir('pr-none'), 'probe'))).rejects.toThrow(/ENOENT/);
    await expect(readFile(join(svcDir('pr-none'), 'prober.id'))).rejects.toThrow(/ENOENT/);
    expect((await manager.observe()).find((s) => s.name === 'pr-none')?.health).toBeUndefined();
  }, 30_000);
});

// Like supervisor-busybox.test.ts: chroot needs root; CI runs as root, so there it never skips.
describe.runIf(process.getuid?.() === 0 || Boolean(process.env.CI))('prober in a busybox chroot (no bash, no curl, no /proc)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let rt: WorkspaceRuntime;
  let manager: ServiceManager;
  const inRoot = (argv: string[]) => ['chroot', dir.path, ...argv];

  beforeAll(async () => {
    dir = await tempDir('prober-busybox');
    for (const d of ['bin', 'dev', 'workspace', 'www/cgi-bin']) await mkdir(join(dir.path, d), { recursive: true });
    await copyFile('/usr/bin/busybox', join(dir.path, 'bin', 'busybox'));
    const setup = await t.exec(['/bin/sh', '-c', 'chroot "$1" /bin/busybox --install -s /bin && mknod -m 666 "$1/dev/null" c 1 3', 'sh', dir.path]);
    expect(setup.stderr).toBe('');
    await writeFile(join(dir.path, 'www', 'index.html'), 'hi\n');
    await writeFile(join(dir.path, 'www', 'cgi-bin', 'fail'), '#!/bin/sh\nprintf "Status: 500 Boom\\r\\n\\r\\n"\n', { mode: 0o755 });
    rt = {
      workspaceDir: '/workspace',
      stateDir: '/state',
      address: '127.0.0.1',
      exec: (argv, opts) => t.exec(inRoot(argv), opts),
      spawn: (argv, opts) => t.spawn(inRoot(argv), opts),
    };
    manager = createServiceManager(rt);
  });

  // Without /proc a zombie child looks alive: each stop waits out its grace period.
  afterAll(async () => {
    await rt.exec(stopAllServicesArgv('/state'));
    await dir.cleanup();
  }, 120_000);

  it('has no bash and no curl, so these checks use busybox nc and wget', async () => {
    const tools = await rt.exec(['/bin/sh', '-c', 'for t in bash curl nc wget timeout; do command -v $t >/dev/null && echo "$t yes" || echo "$t no"; done']);
    expect(tools.stdout).toBe('bash no\ncurl no\nnc yes\nwget yes\ntimeout yes\n');
  });

  it('tcp and http checks become healthy, and an http 500 unhealthy after retries', async () => {
    const [port, bad] = [await freePort(), await freePort()];
    await manager.start(
      service('pr-bb-web', '/workspace', { command: `exec httpd -f -p 127.0.0.1:${port} -h /www`, healthcheck: { http: { port, path: '/' }, interval: '200ms' } }),
    );
    await manager.start(service('pr-bb-tcp', '/workspace', { command: 'exec sleep 300', healthcheck: { tcp: { port }, interval: '200ms' } }));
    await manager.start(
      service('pr-bb-500', '/workspace', { command: `exec httpd -f -p 127.0.0.1:${bad} -h /www`, healthcheck: { http: { port: bad, path: '/cgi-bin/fail' }, interval: '200ms', retries: 2 } }),
    );
    const [web, tcp, fail] = await Promise.all([
      watchHealth(manager, 'pr-bb-web', (h) => h.status === 'healthy'),
      watchHealth(manager, 'pr-bb-tcp', (h) => h.status === 'healthy'),
      watchHealth(manager, 'pr-bb-500', (h) => h.status === 'unhealthy'),
    ]);
    expect(web.at(-1)!.message).toBe(`http://127.0.0.1:${port}/ → 200`);
    expect(tcp.at(-1)!.message).toBe(`tcp 127.0.0.1:${port}: connected`);
    expect(fail.at(-1)).toMatchObject({ message: `http://127.0.0.1:${bad}/cgi-bin/fail → 500` });
    expect(fail.at(-1)!.failures).toBeGreaterThanOrEqual(2);
    expect(fail.filter((h) => h.status !== 'unhealthy').every((h) => h.failures < 2)).toBe(true);
  }, 30_000);

  it('without any tool for the check the verdict is unknown, naming what to install', async () => {
    await rm(join(dir.path, 'bin', 'nc'));
    await rm(join(dir.path, 'bin', 'wget'));
    await manager.start(service('pr-bb-none', '/workspace', { command: 'exec sleep 300', healthcheck: { tcp: { port: 1 }, interval: '200ms' } }));
    const seen = await watchHealth(manager, 'pr-bb-none', (h) => h.status === 'unknown');
    expect(seen.at(-1)).toMatchObject({ failures: 0, message: expect.stringContaining('install bash, nc or wget') });
  }, 30_000);
});
