// Chaos 7: services that fight being stopped — one ignores SIGTERM, one forks (a background job
// and a double fork) — in a process workspace (host processes on n1) and a docker workspace (n2).
// A restart-triggering change leaves exactly one copy running (the new one), deleting a service
// leaves no stray process, and deleting everything leaves nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInfra, type Infra } from '../e2e/helpers/infra.js';
import { requireBuiltCli } from '../e2e/support/cli.js';
import { disposeAndVerify, expectConverges, expectWorld, laptop, type Laptop } from './helpers/harness.js';
import { NODES, observeWorld, worldProblems, type Decl, type WorkspaceDecl } from './helpers/world.js';

// `sleep` in the loop, not a busy loop: SIGTERM kills the sleep, the shell ignores it and goes on.
const STUBBORN = `trap '' TERM; while :; do sleep 1; done`;
// A background job, a double fork (its parent exits at once: reparented, same process group),
// and the main process.
const FORKER = `sleep 100001 & (sleep 100002 &); exec sleep 100003`;

function stubbornWorkspace(name: string, node: string, provider: 'docker' | 'process', gen: string, only?: string[]): WorkspaceDecl {
  const services = [
    { name: `${name}-stubborn`, command: STUBBORN, env: { CHAOS_GEN: gen } },
    { name: `${name}-forker`, command: FORKER, env: { CHAOS_GEN: gen } },
  ].filter((s) => !only || only.includes(s.name));
  return { name, node, provider, services };
}

const declGen = (gen: string, only?: string[]): Decl => ({
  nodes: NODES,
  workspaces: [stubbornWorkspace('chaos-v-p', 'n1', 'process', gen, only), stubbornWorkspace('chaos-v-d', 'n2', 'docker', gen, only)],
});

describe('chaos: services that ignore SIGTERM or fork', () => {
  let infra: Infra;
  let l: Laptop;
  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    l = await laptop(infra);
  });
  afterAll(async () => disposeAndVerify(l));

  it('start: each service is one process group; the forker runs its three processes', async () => {
    const decl = declGen('1');
    l.write(decl);
    await expectConverges(l, decl);
    const world = await observeWorld(infra);
    for (const ws of ['chaos-v-p', 'chaos-v-d']) {
      expect(world.serviceProcs.filter((p) => p.service === `${ws}-forker`).length, `${ws}-forker processes`).toBeGreaterThanOrEqual(3);
    }
  });

  it('a restart-triggering change (env): exactly one copy runs afterwards, the new one', async () => {
    const decl = declGen('2');
    l.write(decl);
    // expectConverges checks one process group per service, all with CHAOS_GEN=2: an old copy
    // that survived its stop (the TERM-ignoring loop, a forked child) would show up here.
    await expectConverges(l, decl);
  });

  it('deleting one service of each workspace leaves no stray process; the others keep running', async () => {
    const keep = ['chaos-v-p-forker', 'chaos-v-d-stubborn'];
    const before = await observeWorld(infra);
    const r = await l.cli('delete', 'service', 'chaos-v-p-stubborn', 'chaos-v-d-forker');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const decl = declGen('2', keep);
    await expectWorld(infra, decl);
    // The kept services were not restarted by the delete.
    const after = await observeWorld(infra);
    for (const name of keep) {
      expect(after.supervisors.filter((s) => s.service === name)).toEqual(before.supervisors.filter((s) => s.service === name));
    }
    l.write(decl);
    await expectConverges(l, decl);
  });

  it('deleting the workspaces leaves no process of any of their services', async () => {
    const r = await l.cli('delete', '-f', l.dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(worldProblems({ nodes: NODES, workspaces: [] }, await observeWorld(infra))).toEqual([]);
  });
});
