// Volumes on an lxc workspace of a remote SSH node, through the built CLI: a custom storage volume
// in the instance's pool survives an image change (a recreate) and a plain delete, and goes with
// `delete --volumes`. Infra: test/infra/up.sh + test/infra/lxd.sh (LXD) and
// test/infra/incus.sh (Incus), sockets usable by vdtest. Runs once per daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { daemonCli, lxcDaemons, type LxcInfra } from './helpers/lxc.js';
import { nodeYaml } from './helpers/remote.js';
import { requireBuiltCli, runCli } from './support/cli.js';

describe.each(lxcDaemons())('volumes on an lxc workspace (n1, built CLI), $flavor', (lxd: LxcInfra) => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-volumes-lxc-'));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    expect(r.code, `vendetta ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r;
  };

  async function lxcQuery(path: string): Promise<unknown> {
    return JSON.parse(await daemonCli(lxd, ['query', path]));
  }

  /** Our custom volumes of workspace vol-l1 (name → config), wherever their pool is. */
  async function customVolumes(): Promise<Map<string, Record<string, string>>> {
    const pools = (await lxcQuery('/1.0/storage-pools?recursion=1')) as { name: string }[];
    const out = new Map<string, Record<string, string>>();
    for (const pool of pools) {
      const list = (await lxcQuery(`/1.0/storage-pools/${pool.name}/volumes/custom?recursion=1`)) as { name: string; config: Record<string, string> }[];
      for (const v of list) if (v.config['user.vendetta.workspace'] === 'vol-l1') out.set(v.name, v.config);
    }
    return out;
  }

  function write(image: string): void {
    writeFileSync(
      join(dir, 'ws.yaml'),
      [
        nodeYaml(infra, 'n1', { providers: `{lxc: {socket: ${lxd.socket}}}` }),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: vol-l1}
spec:
  node: n1
  provider: lxc
  image: ${image}
  volumes:
    - {name: data, path: /srv/data, size: 64Mi}
`,
      ].join('---\n'),
    );
  }

  const read = async () => {
    const r = await cli('exec', 'vol-l1', '--', 'sh', '-c', 'cat /srv/data/f 2>/dev/null; true');
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    write(lxd.image);
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir, '--volumes', '--ignore-not-found');
      await home.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a custom volume through an image change and a plain delete; delete --volumes removes it', async () => {
    await ok('apply', '-f', dir);
    const made = await customVolumes();
    expect([...made.keys()]).toEqual(['vendetta-vol-l1.data']);
    expect(made.get('vendetta-vol-l1.data')).toMatchObject({ 'user.vendetta.managed': 'true', 'user.vendetta.node': 'n1', 'user.vendetta.volume': 'data', size: `${64 * 1024 * 1024}B` });
    await ok('exec', 'vol-l1', '--', 'sh', '-c', 'echo kept-lxc > /srv/data/f');

    write(lxd.image2);
    const recreated = await ok('apply', '-f', dir);
    expect(recreated.stdout).toContain('1 to recreate');
    expect(await read()).toBe('kept-lxc');

    await ok('delete', '-f', dir);
    expect([...(await customVolumes()).keys()]).toEqual(['vendetta-vol-l1.data']);
    await ok('apply', '-f', dir);
    expect(await read()).toBe('kept-lxc');

    const purged = await ok('delete', '-f', dir, '--volumes');
    expect(purged.stdout).toContain('workspace/vol-l1 volume data deleted from node n1');
    expect((await customVolumes()).size).toBe(0);
    await ok('apply', '-f', dir);
    expect(await read()).toBe('');
  });
});
