// Deleting, forgetting and moving through the built CLI, against the real nodes:
//  - a node that cannot be reached never wedges the store: what sits on it is kept and marked
//    DeletePending, unrelated applies still work, --force forgets it naming what may be left;
//  - deleting what does not exist is NotFound (exit 1) unless --ignore-not-found;
//  - moving a workspace to another node removes it from the old node (docker n1 → n2, and a
//    process workspace local → n3): exactly one copy runs.
// Every name starts with "dlx-" so nothing here collides with other suites' objects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { managedContainers, nodeYaml } from './helpers/remote.js';
import { freePort, requireBuiltCli, runCli, type CliResult } from './support/cli.js';

const NODES = ['n1', 'n2', 'n3'];

interface Env {
  home: TempHome;
  dir: string;
  cli: (...args: string[]) => Promise<CliResult>;
  /** Writes a manifest file (one per name) and returns its path. */
  write: (name: string, docs: string[]) => string;
}

async function env(infra: Infra, prefix: string): Promise<Env> {
  const home = await makeTempHome(infra);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    home,
    dir,
    cli: (...args) => runCli(args, { home: home.dir, env: home.env }),
    write: (name, docs) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, docs.join('---\n'));
      return file;
    },
  };
}

function dockerWorkspace(infra: Infra, name: string, node: string, service = true): string {
  const ws = `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${name}}
spec: {node: ${node}, provider: docker, image: ${infra.image}, pull: never}
`;
  if (!service) return ws;
  return `${ws}---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${name}-httpd}
spec:
  workspace: ${name}
  command: exec httpd -f -p 80 -h /var/www
  healthcheck: {http: {port: 80, path: /}, interval: 500ms, timeout: 2s, retries: 20}
`;
}

function processWorkspace(name: string, node: string, command: string): string {
  return `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${name}}
spec: {node: ${node}, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${name}-svc}
spec: {workspace: ${name}, command: ${JSON.stringify(command)}, restart: always}
`;
}

/** A Node named `name` that reaches infra node `infraName`, or nothing at all (a closed loopback port). */
function nodeAt(infra: Infra, name: string, target: { infraName: string } | { closedPort: number }): string {
  if ('infraName' in target) return nodeYaml(infra, name, { infraName: target.infraName });
  return `apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: ${name}}
spec: {address: 127.0.0.1, port: ${target.closedPort}, user: ${infra.user}, identityFile: ${infra.clientKey}}
`;
}

/** Where a container named `name` exists, over every infra node (read from each dockerd, not the CLI). */
async function nodesWithContainer(infra: Infra, name: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of NODES) if ((await managedContainers(infra, n)).has(name)) out.push(n);
  return out;
}

/** Live (non-zombie) processes whose argv is exactly `argv`, whoever runs them. */
function processesWithArgv(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') !== want) continue;
      if (/\) Z /.test(readFileSync(`/proc/${entry}/stat`, 'utf8'))) continue;
      pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

interface GetItem {
  kind?: string;
  metadata: { name: string };
  status?: { phase: string; conditions: { type: string; status: string; reason: string; message: string }[] };
}

async function items(e: Env, kind: string): Promise<GetItem[]> {
  const r = await e.cli('get', kind, '-o', 'json');
  expect(r.code, r.stdout + r.stderr).toBe(0);
  // The built-in node `local` is always listed; these tests are about what the store holds.
  return (JSON.parse(r.stdout).items as GetItem[]).filter((i) => !(i.kind === 'Node' && i.metadata.name === 'local'));
}

describe('delete and moves (built CLI, real nodes)', () => {
  let infra: Infra;
  beforeAll(() => {
    requireBuiltCli();
    infra = loadInfra();
  });

  describe('a node that cannot be reached', () => {
    let e: Env;
    let good: string;
    let unreachable: string;
    let local: string;
    const container = 'vendetta-dlx-wedge';

    beforeAll(async () => {
      e = await env(infra, 'vendetta-dlx-wedge-');
      const closed = await freePort(); // nothing listens there
      good = e.write('good', [nodeAt(infra, 'dlx-far', { infraName: 'n3' }), dockerWorkspace(infra, 'dlx-wedge', 'dlx-far', false)]);
      unreachable = e.write('unreachable', [nodeAt(infra, 'dlx-far', { closedPort: closed }), dockerWorkspace(infra, 'dlx-wedge', 'dlx-far', false)]);
      local = e.write('local', [processWorkspace('dlx-local', 'local', 'exec sleep 86321')]);
    });
    afterAll(async () => {
      if (!e) return;
      await e.cli('delete', '--ignore-not-found', '-f', good);
      await e.cli('delete', '--ignore-not-found', '-f', local);
      await e.home.cleanup();
      rmSync(e.dir, { recursive: true, force: true });
    });

    /** Applied while reachable, then applied again with the node's address pointing nowhere: the store holds an unreachable node. */
    async function applyThenLoseNode(): Promise<void> {
      const r = await e.cli('apply', '-f', good);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await nodesWithContainer(infra, container)).toEqual(['n3']);
      const lost = await e.cli('apply', '-f', unreachable);
      expect(lost.code, lost.stdout + lost.stderr).toBe(1);
      expect(lost.stdout + lost.stderr).toMatch(/dlx-far/);
    }

    it('delete -f exits 1, keeps the records marked DeletePending, and names what to do', async () => {
      await applyThenLoseNode();
      const r = await e.cli('delete', '-f', unreachable);
      const out = r.stdout + r.stderr;
      expect(r.code, out).toBe(1);
      expect(out).toMatch(/workspace\/dlx-wedge.*could not be reached.*DeletePending/);
      expect(out).toContain(`docker container ${container}`);
      expect(out).toContain('--force');
      const ws = (await items(e, 'workspaces')).find((i) => i.metadata.name === 'dlx-wedge');
      expect(ws?.status?.phase).toBe('DeletePending');
      expect(ws?.status?.conditions).toContainEqual(expect.objectContaining({ type: 'Deleted', status: 'False', reason: 'NodeUnreachable' }));
      // The node is not forgotten while a workspace record still places something on it.
      expect((await items(e, 'nodes')).map((i) => i.metadata.name)).toContain('dlx-far');
      // `get` shows it too.
      expect((await e.cli('get', 'workspaces')).stdout).toMatch(/dlx-wedge\s+dlx-far\s+docker\s+DeletePending/);
      // Nothing was deleted on the node.
      expect(await nodesWithContainer(infra, container)).toEqual(['n3']);
    });

    it('an unrelated apply, diff and delete still work', async () => {
      const apply = await e.cli('apply', '-f', local);
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      expect(processesWithArgv(['sleep', '86321'])).toHaveLength(1);
      const diff = await e.cli('diff', '-f', local);
      expect(diff.code, diff.stdout + diff.stderr).toBe(0);
      const del = await e.cli('delete', '-f', local);
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(del.stdout).toMatch(/workspace\/dlx-local deleted from node local/);
      expect(processesWithArgv(['sleep', '86321'])).toEqual([]);
      expect(existsSync(join(e.home.dir, 'workspaces', 'dlx-local'))).toBe(false);
    });

    it('once the node answers again, a plain delete removes the object and forgets the records', async () => {
      const r = await e.cli('delete', '-f', good);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/workspace\/dlx-wedge deleted from node dlx-far/);
      expect(await nodesWithContainer(infra, container)).toEqual([]);
      expect(await items(e, 'workspaces')).toEqual([]);
      expect(await items(e, 'nodes')).toEqual([]);
    });

    it('delete --force forgets what is on the unreachable node, naming what may be left there', async () => {
      await applyThenLoseNode();
      const r = await e.cli('delete', '--force', '-f', unreachable);
      const out = r.stdout + r.stderr;
      expect(r.code, out).toBe(0);
      expect(out).toMatch(new RegExp(`workspace/dlx-wedge forgotten without deleting it: node dlx-far could not be reached; it may still have docker container ${container}`));
      expect(await items(e, 'workspaces')).toEqual([]);
      expect(await items(e, 'nodes')).toEqual([]);
      // As warned, the container is still on the node; the manifests can still find and remove it.
      expect(await nodesWithContainer(infra, container)).toEqual(['n3']);
      const again = await e.cli('delete', '-f', good);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(await nodesWithContainer(infra, container)).toEqual([]);
    });
  });

  describe('deleting what does not exist', () => {
    let e: Env;
    let file: string;
    beforeAll(async () => {
      e = await env(infra, 'vendetta-dlx-nf-');
      file = e.write('nf', [processWorkspace('dlx-nf', 'local', 'exec sleep 86322')]);
    });
    afterAll(async () => {
      if (!e) return;
      await e.cli('delete', '--ignore-not-found', '-f', file);
      await e.home.cleanup();
      rmSync(e.dir, { recursive: true, force: true });
    });

    it('is NotFound: exit 1, nothing changed', async () => {
      const r = await e.cli('delete', 'workspace', 'dlx-nope');
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toContain('Error: workspace "dlx-nope" not found');
      expect(r.stdout).not.toMatch(/converged/);
      expect(existsSync(join(e.home.dir, 'resources'))).toBe(false);
    });

    it('with --ignore-not-found exits 0', async () => {
      const r = await e.cli('delete', '--ignore-not-found', 'service', 'dlx-nope');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/not found/);
    });

    it('with several names deletes those that exist and reports the others', async () => {
      const apply = await e.cli('apply', '-f', file);
      expect(apply.code, apply.stdout + apply.stderr).toBe(0);
      expect(processesWithArgv(['sleep', '86322'])).toHaveLength(1);
      const r = await e.cli('delete', 'workspace', 'dlx-nf', 'dlx-nope');
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/workspace\/dlx-nf deleted from node local/);
      expect(r.stderr).toContain('Error: workspace "dlx-nope" not found');
      expect(processesWithArgv(['sleep', '86322'])).toEqual([]);
      expect(await items(e, 'workspaces')).toEqual([]);
      expect(await items(e, 'services')).toEqual([]);
    });
  });

  describe('moving a docker workspace from n1 to n2', () => {
    let e: Env;
    let file: string;
    const container = 'vendetta-dlx-mv';
    const write = (node: string) => e.write('mv', [nodeYaml(infra, 'n1'), nodeYaml(infra, 'n2'), dockerWorkspace(infra, 'dlx-mv', node)]);
    beforeAll(async () => {
      e = await env(infra, 'vendetta-dlx-mv-');
      file = write('n1');
    });
    afterAll(async () => {
      if (!e) return;
      await e.cli('delete', '--ignore-not-found', '-f', file);
      await e.home.cleanup();
      rmSync(e.dir, { recursive: true, force: true });
    });

    it('diff shows the removal from n1, apply leaves exactly one container, on n2', async () => {
      const first = await e.cli('apply', '-f', file);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(await nodesWithContainer(infra, container)).toEqual(['n1']);

      write('n2');
      const diff = await e.cli('diff', '-f', file);
      expect(diff.code, diff.stdout + diff.stderr).toBe(1);
      expect(diff.stdout).toMatch(/- workspace\/dlx-mv\s+delete\s+on n1 \(docker\): moved to node n2/);
      expect(diff.stdout).toMatch(/\+ workspace\/dlx-mv\s+create\s+on n2 \(docker\): moved from node n1/);

      const moved = await e.cli('apply', '-f', file);
      expect(moved.code, moved.stdout + moved.stderr).toBe(0);
      expect(await nodesWithContainer(infra, container)).toEqual(['n2']);
      // Settled: nothing more to do, and the store no longer remembers n1.
      const again = await e.cli('apply', '-f', file, '-o', 'json');
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).operationsRun).toBe(0);
      const record = JSON.parse(readFileSync(join(e.home.dir, 'resources', 'workspace', 'dlx-mv.json'), 'utf8'));
      expect(record.previousNodes).toBeUndefined();
    });

    it('delete after the move leaves nothing on either node', async () => {
      const r = await e.cli('delete', '-f', file);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await nodesWithContainer(infra, container)).toEqual([]);
      expect(await items(e, 'workspaces')).toEqual([]);
    });
  });

  describe('moving a process workspace from the local node to n3', () => {
    let e: Env;
    let file: string;
    const argv = ['sleep', '86323'];
    const write = (node: string) => e.write('pmv', [nodeYaml(infra, 'n3'), processWorkspace('dlx-pmv', node, `exec ${argv.join(' ')}`)]);
    beforeAll(async () => {
      e = await env(infra, 'vendetta-dlx-pmv-');
      file = write('local');
    });
    afterAll(async () => {
      if (!e) return;
      await e.cli('delete', '--ignore-not-found', '-f', file);
      await e.home.cleanup();
      rmSync(e.dir, { recursive: true, force: true });
    });

    it('runs exactly one copy of the service, on n3, and delete stops it', async () => {
      const first = await e.cli('apply', '-f', file);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(processesWithArgv(argv)).toHaveLength(1);
      expect(existsSync(join(e.home.dir, 'workspaces', 'dlx-pmv'))).toBe(true);

      write('n3');
      const moved = await e.cli('apply', '-f', file);
      expect(moved.code, moved.stdout + moved.stderr).toBe(0);
      expect(processesWithArgv(argv)).toHaveLength(1);
      // The one left is n3's: the local copy and its directory are gone.
      expect(existsSync(join(e.home.dir, 'workspaces', 'dlx-pmv'))).toBe(false);
      const svc = (await items(e, 'services')).find((i) => i.metadata.name === 'dlx-pmv-svc');
      expect(svc?.status?.phase).toBe('Ready');

      const del = await e.cli('delete', '-f', file);
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(processesWithArgv(argv)).toEqual([]);
    });
  });
});
