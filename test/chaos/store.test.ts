// Chaos 5: a damaged store (VENDETTA_HOME): a corrupt record, a truncated inventory, a corrupt lock
// file, a read-only home. apply stops with an error that names the file and what to do, before touching any node;
// after the repair the error suggests, apply converges.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadInfra, type Infra } from '../e2e/helpers/infra.js';
import { dockerEvents, dockerTime, mutatingEvents } from '../e2e/helpers/remote.js';
import { requireBuiltCli } from '../e2e/support/cli.js';
import { disposeAndVerify, expectConverges, laptop, type Laptop } from './helpers/harness.js';
import { dockerWorkspace, NODES, observeWorld, processWorkspace, type Decl } from './helpers/world.js';

const execFileP = promisify(execFile);
const NODES_USED = ['n1', 'n2'];

const decl: Decl = {
  nodes: NODES,
  workspaces: [dockerWorkspace('chaos-t-d1', 'n1'), processWorkspace('chaos-t-p2', 'n2')],
};

describe('chaos: a corrupt, a truncated and a read-only store', () => {
  let infra: Infra;
  let l: Laptop;
  let mounted: string | undefined;
  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    l = await laptop(infra);
    l.write(decl);
    await expectConverges(l, decl);
  });
  afterEach(async () => {
    if (mounted) await execFileP('umount', [mounted]).catch(() => undefined);
    mounted = undefined;
  });
  afterAll(async () => disposeAndVerify(l));

  /** Runs apply on the damaged store: exit 1, and not one change on any node. */
  async function applyChangesNothing(): Promise<string> {
    const before = await observeWorld(infra);
    const since = dockerTime();
    const r = await l.cli('apply', '-f', l.dir);
    const until = dockerTime();
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(1);
    expect(out, 'an explanation, not a stack trace').not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/);
    for (const n of NODES_USED) expect(mutatingEvents(await dockerEvents(infra, n, since, until)), `docker on ${n}`).toEqual([]);
    const after = await observeWorld(infra);
    expect(after.containers).toEqual(before.containers);
    expect(after.supervisors).toEqual(before.supervisors);
    expect(after.processWorkspaces).toEqual(before.processWorkspaces);
    return out;
  }

  it('a corrupt record: the error names it and says to fix or delete it; deleting it repairs', async () => {
    const file = join(l.home.dir, 'resources', 'workspace', 'chaos-t-d1.json');
    writeFileSync(file, '{"id": "workspace/chaos-t-d1", \u0000\u0001 garbage ]]');
    const out = await applyChangesNothing();
    expect(out).toContain(file);
    expect(out).toMatch(/fix|delete|remove/i);
    rmSync(file);
    await expectConverges(l, decl);
  });

  it('a truncated inventory: the error names it; restoring it repairs', async () => {
    const file = join(l.home.dir, 'inventory', 'default.json');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.slice(0, Math.floor(good.length / 2)));
    const out = await applyChangesNothing();
    expect(out).toContain(file);
    expect(out).toMatch(/fix|delete|remove/i);
    writeFileSync(file, good);
    await expectConverges(l, decl);
  });

  it('a corrupt lock file: refused at once (no one would release it), naming it; deleting it repairs', async () => {
    const file = join(l.home.dir, 'lock');
    writeFileSync(file, '{"pid": 4');
    const out = await applyChangesNothing();
    expect(out).toContain(file);
    expect(out).toMatch(/delete/i);
    rmSync(file);
    await expectConverges(l, decl);
  });

  it('a read-only home: the error names it and what to do; get still works; once writable, converges', async () => {
    // A read-only bind mount: this suite runs as root, which file modes would not stop.
    await execFileP('mount', ['--bind', l.home.dir, l.home.dir]);
    mounted = l.home.dir;
    await execFileP('mount', ['-o', 'remount,bind,ro', l.home.dir]);
    const out = await applyChangesNothing();
    expect(out).toContain(l.home.dir);
    expect(out).toMatch(/read-only/i); // what is wrong
    expect(out).toMatch(/writable/i); // what to do
    const get = await l.cli('get', '-o', 'json');
    expect(get.code, get.stderr).toBe(0);
    await execFileP('umount', [l.home.dir]);
    mounted = undefined;
    await expectConverges(l, decl);
  });
});
