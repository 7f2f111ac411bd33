// Volumes on docker and process workspaces of a remote SSH node, through the built CLI: data in a
// volume survives a recreate (image change for docker, source change for process: an env change
// alone updates a process workspace in place, its files all kept) and a plain
// delete; `delete --volumes` and `apply --prune --volumes` remove it; plain --prune keeps it and
// says so. Infra: test/infra/up.sh (n1 with its own dockerd).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, managedContainers, nodeYaml } from './helpers/remote.js';
import { requireBuiltCli, runCli } from './support/cli.js';

const IMAGE_V2 = 'vendetta-test/vol-busybox:2';

describe('volumes on docker and process workspaces (n1, built CLI)', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-volumes-'));
  const pruneDir = mkdtempSync(join(tmpdir(), 'vendetta-volumes-prune-'));
  const sources = mkdtempSync(join(tmpdir(), 'vendetta-volumes-src-'));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    expect(r.code, `vendetta ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r;
  };

  function writeManifests(opts: { image: string; env: string }): void {
    // The process workspace's source follows the round: a new source path replaces it.
    const source = join(sources, `src-${opts.env}`);
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, 'round.txt'), opts.env);
    writeFileSync(
      join(dir, 'ws.yaml'),
      [
        nodeYaml(infra, 'n1'),
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: vol-d1}
spec:
  node: n1
  provider: docker
  image: ${opts.image}
  pull: never
  volumes:
    - {name: data, path: /data, size: 64Mi}
`,
        `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: vol-p1}
spec:
  node: n1
  provider: process
  env: {ROUND: "${opts.env}"}
  source: {path: ${source}}
  volumes:
    - {name: data, path: data}
`,
      ].join('---\n'),
    );
  }

  /** The file in each workspace's volume ('' when missing). */
  async function files(): Promise<{ docker: string; process: string }> {
    const d = await cli('exec', 'vol-d1', '--', 'sh', '-c', 'cat /data/f 2>/dev/null; true');
    const p = await cli('exec', 'vol-p1', '--', 'sh', '-c', 'cat data/f 2>/dev/null; true');
    expect(d.code, d.stderr).toBe(0);
    expect(p.code, p.stderr).toBe(0);
    return { docker: d.stdout.trim(), process: p.stdout.trim() };
  }

  async function dockerVolumes(): Promise<string[]> {
    const out = await dockerOn(infra, 'n1', ['volume', 'ls', '-q', '--filter', 'label=vendetta.dev/workspace=vol-d1']);
    return out.trim().split('\n').filter(Boolean);
  }

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    await dockerOn(infra, 'n1', ['tag', infra.image, IMAGE_V2]);
    writeManifests({ image: infra.image, env: '1' });
  });

  afterAll(async () => {
    if (home) {
      await cli('delete', '-f', dir, '--volumes', '--ignore-not-found');
      await cli('delete', '-f', pruneDir, '--volumes', '--ignore-not-found');
      await home.cleanup();
    }
    if (infra) await dockerOn(infra, 'n1', ['rmi', IMAGE_V2]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(pruneDir, { recursive: true, force: true });
    rmSync(sources, { recursive: true, force: true });
  });

  it('keeps volume data through a recreate and a plain delete; delete --volumes removes it', async () => {
    await ok('apply', '-f', dir);
    expect(await dockerVolumes()).toEqual(['vendetta-vol-d1.data']);
    const labels = JSON.parse(await dockerOn(infra, 'n1', ['volume', 'inspect', '--format', '{{json .Labels}}', 'vendetta-vol-d1.data'])) as Record<string, string>;
    expect(labels).toMatchObject({ 'vendetta.dev/managed': 'true', 'vendetta.dev/node': 'n1', 'vendetta.dev/workspace': 'vol-d1', 'vendetta.dev/volume': 'data', 'vendetta.dev/size': '64Mi' });
    await ok('exec', 'vol-d1', '--', 'sh', '-c', 'echo kept-docker > /data/f && echo lost > /outside');
    await ok('exec', 'vol-p1', '--', 'sh', '-c', 'echo kept-process > data/f && echo lost > outside');
    const before = (await managedContainers(infra, 'n1')).get('vendetta-vol-d1');

    // Image (docker) and source (process) change: both are recreated.
    writeManifests({ image: IMAGE_V2, env: '2' });
    const recreate = await ok('apply', '-f', dir);
    expect(recreate.stdout).toContain('2 to recreate');
    const after = (await managedContainers(infra, 'n1')).get('vendetta-vol-d1');
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(await files()).toEqual({ docker: 'kept-docker', process: 'kept-process' });
    // What is outside the volume went with the old workspace.
    expect((await cli('exec', 'vol-d1', '--', 'sh', '-c', 'cat /outside 2>/dev/null; true')).stdout.trim()).toBe('');
    expect((await cli('exec', 'vol-p1', '--', 'sh', '-c', 'cat outside 2>/dev/null; true')).stdout.trim()).toBe('');

    // describe lists the volumes with their size (process: the usage it measured).
    const described = await ok('describe', 'workspace', 'vol-p1');
    expect(described.stdout).toMatch(/Volumes:\n\s+NAME\s+PATH\s+SIZE\s+USED\n\s+data\s+data\s+-\s+\d+(\.\d+)?\s?[KMG]?i?B/);
    const describedDocker = await ok('describe', 'workspace', 'vol-d1');
    expect(describedDocker.stdout).toMatch(/\s+data\s+\/data\s+64Mi \(not enforced\)/);

    // Plain delete keeps the data; the next apply finds it again.
    const deleted = await ok('delete', '-f', dir);
    expect(deleted.stdout).not.toContain('volume');
    expect(await dockerVolumes()).toEqual(['vendetta-vol-d1.data']);
    await ok('apply', '-f', dir);
    expect(await files()).toEqual({ docker: 'kept-docker', process: 'kept-process' });

    // delete --volumes removes it: the next apply starts empty.
    const purged = await ok('delete', '-f', dir, '--volumes');
    expect(purged.stdout).toContain('workspace/vol-d1 volume data deleted from node n1');
    expect(purged.stdout).toContain('workspace/vol-p1 volume data deleted from node n1');
    expect(await dockerVolumes()).toEqual([]);
    await ok('apply', '-f', dir);
    expect(await files()).toEqual({ docker: '', process: '' });
  });

  it('finds the volumes of a workspace deleted earlier (no record, no manifest) with delete KIND NAME --volumes', async () => {
    await ok('apply', '-f', dir);
    await ok('exec', 'vol-d1', '--', 'sh', '-c', 'echo orphan > /data/f');
    // By name: the node stays known (vol-p1 is still on it), the workspace's record goes.
    await ok('delete', 'workspace', 'vol-d1');
    expect((await cli('get', 'workspace', 'vol-d1')).code).not.toBe(0);
    expect(await dockerVolumes()).toEqual(['vendetta-vol-d1.data']);
    const purged = await ok('delete', 'workspace', 'vol-d1', '--volumes');
    expect(purged.stdout).toContain('workspace/vol-d1 volume data deleted from node n1');
    expect(await dockerVolumes()).toEqual([]);
  });

  it('plain --prune keeps the volumes of pruned workspaces and says so; --prune --volumes removes them', async () => {
    const workspace = (name: string) => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${name}}
spec:
  node: n1
  provider: process
  volumes:
    - {name: cache, path: .cache}
`;
    const write = (names: string[]) => writeFileSync(join(pruneDir, 'ws.yaml'), [nodeYaml(infra, 'n1'), ...names.map(workspace)].join('---\n'));
    const read = async () => (await ok('exec', 'vol-pr2', '--', 'sh', '-c', 'cat .cache/f 2>/dev/null; true')).stdout.trim();
    const apply = (...extra: string[]) => ok('apply', '-f', pruneDir, '--applyset', 'vol-prune', ...extra);

    write(['vol-pr1', 'vol-pr2']);
    await apply();
    await ok('exec', 'vol-pr2', '--', 'sh', '-c', 'echo pruned-but-kept > .cache/f');

    write(['vol-pr1']);
    const kept = await apply('--prune');
    expect(kept.stdout).toContain('kept volume data of workspace vol-pr2 (cache on node n1): delete with vendetta delete workspace vol-pr2 --volumes');
    write(['vol-pr1', 'vol-pr2']);
    await apply();
    expect(await read()).toBe('pruned-but-kept');

    write(['vol-pr1']);
    const removed = await apply('--prune', '--volumes');
    expect(removed.stdout).toContain('deleted volume cache of pruned workspace vol-pr2 on node n1');
    write(['vol-pr1', 'vol-pr2']);
    await apply();
    expect(await read()).toBe('');
  });

  it('refuses --volumes without --prune, changing nothing', async () => {
    const r = await cli('apply', '-f', dir, '--volumes');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--volumes deletes the volumes of pruned workspaces: use it with --prune');
  });
});
