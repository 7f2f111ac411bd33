// Ownership between vendetta stores, keyed spec hashes and half-made workspaces, on the real
// docker node n1 and (process provider) over SSH, through the built CLI as a user runs it.
// Infra: test/infra/up.sh. Names start with "own-": other suites share the nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifests } from '../../src/manifest/load.js';
import { desiredWorkspace } from '../../src/plan/desired.js';
import type { StoreIdentity } from '../../src/store/types.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { infraNode, loadInfra, makeKnownHosts, makeTempHome, nodeResource, type Infra, type TempHome } from './helpers/infra.js';
import { dockerOn, nodeYaml } from './helpers/remote.js';
import { CLI, REPO, eventually, requireBuiltCli, runCli } from './support/cli.js';

const WS = 'own-api';
const HALF = 'own-half';
const PROC = 'own-proc';

function workspaceYaml(infra: Infra, name: string, env: Record<string, string>, extra = ''): string {
  return `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${name}}
spec:
  node: n1
  provider: docker
  image: ${infra.image}
  pull: never
  env: ${JSON.stringify(env)}
${extra}`;
}

function identityOf(home: TempHome): StoreIdentity {
  return JSON.parse(readFileSync(join(home.dir, 'identity.json'), 'utf8')) as StoreIdentity;
}

/** Containers of one workspace (any name, any state): name → id. */
async function containersOf(infra: Infra, workspace: string): Promise<Map<string, string>> {
  const out = await dockerOn(infra, 'n1', ['ps', '-a', '--no-trunc', '--filter', `label=vendetta.dev/name=${workspace}`, '--format', '{{.Names}} {{.ID}}']);
  return new Map(out.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

async function labels(infra: Infra, container: string): Promise<Record<string, string>> {
  return JSON.parse(await dockerOn(infra, 'n1', ['inspect', '--format', '{{json .Config.Labels}}', container])) as Record<string, string>;
}

describe('two vendetta stores and one workspace (docker, node n1)', () => {
  let infra: Infra;
  let homeA: TempHome;
  let homeB: TempHome;
  const dirA = mkdtempSync(join(tmpdir(), 'vd-own-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'vd-own-b-'));
  const cliA = (...args: string[]) => runCli(args, { home: homeA.dir, env: homeA.env });
  const cliB = (...args: string[]) => runCli(args, { home: homeB.dir, env: { ...homeB.env, OWN_PIN: '4711' } });

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    homeA = await makeTempHome(infra);
    homeB = await makeTempHome(infra);
    for (const [name] of await containersOf(infra, WS)) await dockerOn(infra, 'n1', ['rm', '-f', name]);
    // Same names, different env: two laptops with diverging manifests.
    writeFileSync(join(dirA, 'm.yaml'), [nodeYaml(infra, 'n1'), workspaceYaml(infra, WS, { WHO: 'laptop-a' })].join('---\n'));
    writeFileSync(
      join(dirB, 'm.yaml'),
      [nodeYaml(infra, 'n1'), workspaceYaml(infra, WS, { WHO: 'laptop-b' }).replace(/  env: .*\n/, '  env: {WHO: laptop-b, PIN: {fromEnv: OWN_PIN}}\n')].join('---\n'),
    );
  });

  afterAll(async () => {
    if (infra) for (const [name] of await containersOf(infra, WS)) await dockerOn(infra, 'n1', ['rm', '-f', name]).catch(() => undefined);
    await homeA?.cleanup();
    await homeB?.cleanup();
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  });

  it('the first store creates it, labelled with its owner and a keyed spec hash', async () => {
    const r = await cliA('apply', '-f', dirA);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const containers = await containersOf(infra, WS);
    expect([...containers.keys()]).toEqual([`vendetta-${WS}`]);
    const id = identityOf(homeA);
    const l = await labels(infra, `vendetta-${WS}`);
    expect(l['vendetta.dev/owner']).toBe(id.id);
    expect(l['vendetta.dev/owner-name']).toBe(id.name);
    // The label is the HMAC with this store's key, nothing an outsider can recompute.
    const loaded = await loadManifests([dirA]);
    if (!loaded.ok) throw new Error('manifests did not load');
    expect(l['vendetta.dev/spec-hash']).toBe(desiredWorkspace(loaded.set, WS, id).specHash);
  });

  it('the second store refuses to touch it: apply exits 1 naming the owner, diff exits 2, the container stays', async () => {
    const before = await containersOf(infra, WS);
    const owner = identityOf(homeA).name;

    const diff = await cliB('diff', '-f', dirB);
    expect(diff.code, diff.stdout + diff.stderr).toBe(2);
    expect(diff.stdout).toContain(`! workspace/${WS}  conflict: workspace ${WS} on node n1 is managed by another vendetta (owner ${owner})`);

    const r = await cliB('apply', '-f', dirB);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const text = r.stdout + r.stderr;
    expect(text).toContain(
      `workspace ${WS} on node n1 is managed by another vendetta (owner ${owner}); nothing was changed: delete it from there, or take it over with --adopt`,
    );
    expect(await containersOf(infra, WS)).toEqual(before);
    expect((await dockerOn(infra, 'n1', ['exec', `vendetta-${WS}`, 'sh', '-c', 'echo $WHO'])).trim()).toBe('laptop-a');

    // And the first store, applying again, changes nothing.
    const again = await cliA('apply', '-f', dirA);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('(0 operations)');
    expect(await containersOf(infra, WS)).toEqual(before);
  });

  it('--adopt takes it over (replaced, relabelled); then the first store is the one refused', async () => {
    const before = await containersOf(infra, WS);
    const preview = await cliB('diff', '--adopt', '-f', dirB);
    expect(preview.code, preview.stdout + preview.stderr).toBe(1);
    expect(preview.stdout).toContain(`-/+ workspace/${WS}  recreate  on n1 (docker): adopt from owner ${identityOf(homeA).name}`);
    expect(await containersOf(infra, WS)).toEqual(before);

    const r = await cliB('apply', '--adopt', '-f', dirB);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await containersOf(infra, WS);
    expect([...after.keys()]).toEqual([`vendetta-${WS}`]);
    expect(after.get(`vendetta-${WS}`)).not.toBe(before.get(`vendetta-${WS}`));
    const l = await labels(infra, `vendetta-${WS}`);
    expect(l['vendetta.dev/owner']).toBe(identityOf(homeB).id);
    expect((await dockerOn(infra, 'n1', ['exec', `vendetta-${WS}`, 'sh', '-c', 'echo $WHO'])).trim()).toBe('laptop-b');
    // The secret is in the hash input, but the label is keyed: not the unkeyed digest, and
    // exactly what B's key gives.
    const loaded = await loadManifests([dirB], { environ: { OWN_PIN: '4711' } });
    if (!loaded.ok) throw new Error('manifests did not load');
    expect(l['vendetta.dev/spec-hash']).toBe(desiredWorkspace(loaded.set, WS, identityOf(homeB)).specHash);
    expect(l['vendetta.dev/spec-hash']).not.toBe(desiredWorkspace(loaded.set, WS, identityOf(homeA)).specHash);

    const a = await cliA('apply', '-f', dirA);
    expect(a.code).toBe(1);
    expect(a.stdout + a.stderr).toContain(`is managed by another vendetta (owner ${identityOf(homeB).name})`);
    expect(await containersOf(infra, WS)).toEqual(after);
  });
});

describe('a docker workspace whose create was killed mid-upload', () => {
  let infra: Infra;
  let home: TempHome;
  const dir = mkdtempSync(join(tmpdir(), 'vd-own-half-'));
  const source = join(dir, 'src');
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  const SIZE = 96 << 20;

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    for (const [name] of await containersOf(infra, HALF)) await dockerOn(infra, 'n1', ['rm', '-f', name]);
    mkdirSync(source);
    writeFileSync(join(source, 'big.bin'), randomBytes(SIZE)); // random: does not compress, uploads take a while
    writeFileSync(join(source, 'last.txt'), 'the end\n');
    writeFileSync(join(dir, 'm.yaml'), [nodeYaml(infra, 'n1'), workspaceYaml(infra, HALF, {}, `  source: {path: ./src}\n`)].join('---\n'));
  });

  afterAll(async () => {
    if (infra) for (const [name] of await containersOf(infra, HALF)) await dockerOn(infra, 'n1', ['rm', '-f', name]).catch(() => undefined);
    await home?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is observed as incomplete and recreated with the full source', async () => {
    // Start an apply and kill -9 it as soon as its container exists: the upload is under way.
    const child = spawn(process.execPath, [CLI, 'apply', '-f', dir], {
      cwd: REPO,
      env: { ...process.env, ...home.env, NO_COLOR: '1' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await eventually(async () => (await containersOf(infra, HALF)).size > 0, 60_000, 'the container of the killed apply');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // What the killed create left: a container still under its temporary name.
    const left = await containersOf(infra, HALF);
    expect([...left.keys()]).toEqual([`vendetta-${HALF}.creating`]);

    const diff = await cli('diff', '-f', dir);
    expect(diff.stdout).toContain(`-/+ workspace/${HALF}  recreate  on n1 (docker): creation was interrupted`);

    const r = await cli('apply', '-f', dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await containersOf(infra, HALF);
    expect([...after.keys()]).toEqual([`vendetta-${HALF}`]);
    expect(after.get(`vendetta-${HALF}`)).not.toBe(left.get(`vendetta-${HALF}.creating`));
    const size = await dockerOn(infra, 'n1', ['exec', `vendetta-${HALF}`, 'wc', '-c', '/workspace/big.bin']);
    expect(size.trim()).toBe(`${SIZE} /workspace/big.bin`);
    expect(await dockerOn(infra, 'n1', ['exec', `vendetta-${HALF}`, 'cat', '/workspace/last.txt'])).toBe('the end\n');
  });
});

describe('a process workspace after an interrupted upload (over SSH)', () => {
  let infra: Infra;
  let home: TempHome;
  let transport: SshTransport;
  let knownHosts: Awaited<ReturnType<typeof makeKnownHosts>>;
  const dir = mkdtempSync(join(tmpdir(), 'vd-own-proc-'));
  const cli = (...args: string[]) => runCli(args, { home: home.dir, env: home.env });
  let root: string;

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    home = await makeTempHome(infra);
    knownHosts = await makeKnownHosts(infra, ['n1']);
    transport = new SshTransport(nodeResource(infra, 'n1', { hostKey: infraNode(infra, 'n1').hostKeyPub }), { knownHostsPath: knownHosts.path, strictHostKeys: true });
    root = `${await transport.home()}/.vendetta/workspaces`;
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'hello.txt'), 'hello\n');
    writeFileSync(
      join(dir, 'm.yaml'),
      [
        nodeYaml(infra, 'n1', { providers: '{}' }),
        `apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: ${PROC}}\nspec: {node: n1, provider: process, source: {path: ./src}}\n`,
      ].join('---\n'),
    );
    await transport.exec(['rm', '-rf', '--', `${root}/${PROC}`]);
  });

  afterAll(async () => {
    if (home) await cli('delete', '-f', dir);
    await transport?.exec(['rm', '-rf', '--', `${root}/${PROC}`]).catch(() => undefined);
    await transport?.close();
    await knownHosts?.cleanup();
    await home?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the next apply removes the upload temp dir the interrupted one left', async () => {
    // What a kill -9 during the SFTP upload leaves: the workspace directory without meta.json
    // and the upload's temp tree beside the target.
    const leftover = `${root}/${PROC}/workspace.vendetta-tmp-0badf00d`;
    // And what one during today's tar upload leaves: a partial workspace directory.
    const made = await transport.exec(['/bin/sh', '-c', 'mkdir -p "$1/state" "$1/workspace" "$2" && echo partial > "$2/hello.txt" && echo stale > "$1/workspace/stale.txt"', 'sh', `${root}/${PROC}`, leftover]);
    expect(made.code, made.stderr).toBe(0);

    const r = await cli('apply', '-f', dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const ls = await transport.exec(['ls', '-A', `${root}/${PROC}`]);
    expect(ls.stdout.trim().split('\n').sort()).toEqual(['meta.json', 'state', 'workspace']);
    expect((await transport.readFile(`${root}/${PROC}/workspace/hello.txt`)).toString()).toBe('hello\n');
    expect((await transport.exec(['test', '-e', `${root}/${PROC}/workspace/stale.txt`])).code).not.toBe(0);
    const meta = JSON.parse((await transport.readFile(`${root}/${PROC}/meta.json`)).toString()) as { owner: { id: string } };
    expect(meta.owner.id).toBe(identityOf(home).id);
  });
});
