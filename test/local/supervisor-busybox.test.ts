// The supervisor inside a busybox-only root (chroot): no dash, no coreutils, no /proc — the
// environment of a minimal container. chroot and mknod need root, so this file runs as root only.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceManager } from '../../src/services/manager.js';
import { stopAllServicesArgv } from '../../src/services/supervisor.js';
import type { WorkspaceRuntime } from '../../src/providers/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { isAlive, killIfAlive, tempDir, until } from './helpers.js';

const BUSYBOX = '/usr/bin/busybox';
const t = new LocalTransport();

// CI runs as root: there it must run (and fail loudly), never skip.
describe.runIf(process.getuid?.() === 0 || Boolean(process.env.CI))('supervisor in a busybox chroot', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let rt: WorkspaceRuntime;
  const pids = new Set<number>();

  beforeAll(async () => {
    dir = await tempDir('busybox');
    await mkdir(join(dir.path, 'bin'));
    await mkdir(join(dir.path, 'dev'));
    await mkdir(join(dir.path, 'workspace'));
    await copyFile(BUSYBOX, join(dir.path, 'bin', 'busybox'));
    const setup = await t.exec(['/bin/sh', '-c', 'chroot "$1" /bin/busybox --install -s /bin && mknod -m 666 "$1/dev/null" c 1 3', 'sh', dir.path]);
    expect(setup.stderr).toBe('');
    const inRoot = (argv: string[]) => ['chroot', dir.path, ...argv];
    rt = {
      workspaceDir: '/workspace',
      stateDir: '/state',
      address: '127.0.0.1',
      exec: (argv, opts) => t.exec(inRoot(argv), opts),
      spawn: (argv, opts) => t.spawn(inRoot(argv), opts),
    };
  });

  afterAll(async () => {
    await rt.exec(stopAllServicesArgv('/state'));
    for (const pid of pids) killIfAlive(pid);
    await dir.cleanup();
  });

  it('runs, restarts and stops a service tree with busybox sh only', async () => {
    expect((await rt.exec(['/bin/sh', '-c', 'readlink /bin/sh; test -d /proc/self || echo no-proc'])).stdout).toBe('/bin/busybox\nno-proc\n');
    const services = createServiceManager(rt);
    await services.start({
      resource: {
        apiVersion: 'vendetta.dev/v1alpha1',
        kind: 'Service',
        metadata: { name: 'web' },
        spec: { workspace: 'w', command: `echo "$GREETING"; sleep 300 & echo $! > grandchild; wait`, restart: 'always' },
      },
      specHash: 'h',
      env: { GREETING: `it's "busybox" $HOME` },
      workdir: '/workspace',
    });
    const first = await until('child', async () => (await services.observe())[0]?.pid);
    pids.add(first);
    const grandchildFile = join(dir.path, 'workspace', 'grandchild');
    const grandchild = await until('grandchild', async () => Number((await readFile(grandchildFile, 'utf8').catch(() => '')).trim()) || undefined);
    pids.add(grandchild);
    expect(await services.logs('web')).toMatch(/^it's "busybox" \$HOME\n/);

    process.kill(first, 'SIGKILL');
    const second = await until('restart', async () => {
      const s = (await services.observe())[0];
      return s?.state === 'running' && s.restarts === 1 && s.pid !== first ? s.pid : undefined;
    });
    pids.add(second!);
    const supervisor = Number(await readFile(join(dir.path, 'state', 'services', 'web', 'supervisor.pid'), 'utf8'));
    pids.add(supervisor);
    const grandchild2 = await until('new grandchild', async () => {
      const n = Number((await readFile(grandchildFile, 'utf8').catch(() => '')).trim());
      return n && n !== grandchild ? n : undefined;
    });
    pids.add(grandchild2);

    await services.stop('web');
    expect(isAlive(second!)).toBe(false);
    expect(isAlive(grandchild2)).toBe(false);
    expect(isAlive(supervisor)).toBe(false);
    expect((await services.observe())[0]?.state).toBe('stopped');
    // Without /proc a zombie child looks alive, so stop waits out the 5 s grace period.
  }, 30_000);
});
