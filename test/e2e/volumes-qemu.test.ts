// Volumes on a QEMU workspace (direct kernel boot under TCG, on node n1 over SSH), through the
// built CLI: the volume disk is formatted on first use and mounted by the guest side of the
// provider; its data survives an env change (a recreate: a new VM) and a plain delete; `delete
// --volumes` removes the disk. Two boots in all. Infra: test/infra/up.sh (qemu.sh, and
// qemu-volumes.sh: the test initramfs plus the ext4 module).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuiltCli, runCli, type CliResult } from './support/cli.js';
import { infraDir, loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';

function loadJson<T>(file: string, how: string): T {
  const path = join(infraDir(), file);
  if (!existsSync(path)) throw new Error(`QEMU e2e infra is missing: ${path} does not exist. Build it with: ${how}`);
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

describe('volumes on a qemu workspace (n1, built CLI)', () => {
  let infra: Infra;
  let qemu: { kernel: string; append?: string };
  let initrd: string;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-volumes-qemu-'));
  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(args, { home: home.dir, env: { ...home.env, VENDETTA_QEMU_POWERDOWN_TIMEOUT: '2s', VENDETTA_QEMU_BOOT_TIMEOUT: '120s' }, timeoutMs: 170_000 });
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    expect(r.code, `vendetta ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r;
  };
  const disk = () => `/home/${infra.user}/.vendetta/qemu/n1/.volumes/vol-q1/data.qcow2`;

  function write(round: string): void {
    writeFileSync(
      join(dir, 'vm.yaml'),
      [
        nodeYaml(infra, 'n1', { pinHostKey: true, providers: '{}' }),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: vol-q1}
spec:
  node: n1
  provider: qemu
  # A new memory size recreates the VM (an env change alone is an update in place on qemu).
  resources: {cpus: 1, memory: ${round === '1' ? '256Mi' : '288Mi'}}
  env: {ROUND: "${round}"}
  volumes:
    - {name: data, path: /srv/data, size: 32Mi}
  vm:
    network: isolated
    kernel: ${qemu.kernel}
    initrd: ${initrd}
    append: ${JSON.stringify(qemu.append ?? 'console=ttyS0')}
`,
      ].join('---\n'),
    );
  }

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    qemu = loadJson('qemu.json', 'sudo bash test/infra/qemu.sh up');
    initrd = loadJson<{ initrd: string }>('qemu-volumes.json', 'sudo bash test/infra/qemu-volumes.sh up').initrd;
    home = await makeTempHome(infra);
    write('1');
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir, '--volumes', '--ignore-not-found');
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('formats the disk once, keeps its data through a recreate and a plain delete; delete --volumes removes it', async () => {
    await ok('apply', '-f', dir);
    expect(existsSync(disk())).toBe(true);
    const mounted = await ok('exec', 'vol-q1', '--', 'sh', '-c', 'grep " /srv/data " /proc/mounts && echo kept-qemu > /srv/data/f && echo lost > /workspace/outside');
    expect(mounted.stdout).toMatch(/^\/dev\/vd[a-z] \/srv\/data ext[24] /);

    write('2');
    const recreated = await ok('apply', '-f', dir);
    expect(recreated.stdout).toContain('1 to recreate');
    const after = await ok('exec', 'vol-q1', '--', 'sh', '-c', 'cat /srv/data/f; cat /workspace/outside 2>/dev/null; true');
    expect(after.stdout.trim()).toBe('kept-qemu');

    const described = await ok('describe', 'workspace', 'vol-q1');
    expect(described.stdout).toMatch(/\s+data\s+\/srv\/data\s+32Mi\s+\d+(\.\d+)?(B|KiB|MiB)/);

    // A plain delete keeps the disk (the recreate above already showed a kept disk is mounted again).
    await ok('delete', '-f', dir);
    expect(existsSync(disk())).toBe(true);
    const purged = await ok('delete', '-f', dir, '--volumes');
    expect(purged.stdout).toContain('workspace/vol-q1 volume data deleted from node n1');
    expect(existsSync(disk())).toBe(false);
  });
});
