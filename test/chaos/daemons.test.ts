// Chaos 2: the daemons on a node die in the middle of an apply — n2's sshd (listener and every
// session), then n3's dockerd (SIGKILL: its containers die with it; restarted with up.sh's
// command line). The apply may fail; once the daemon is back the next apply converges.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInfra, nodeCtl, type Infra } from '../e2e/helpers/infra.js';
import { eventually, requireBuiltCli } from '../e2e/support/cli.js';
import { disposeAndVerify, expectConverges, laptop, type Laptop } from './helpers/harness.js';
import { dockerWorkspace, NODES, processWorkspace, type Decl } from './helpers/world.js';

const base: Decl = {
  nodes: NODES,
  workspaces: [
    dockerWorkspace('chaos-s-d1', 'n1'),
    dockerWorkspace('chaos-s-d2', 'n2', { healthcheck: true }),
    processWorkspace('chaos-s-p2', 'n2'),
    dockerWorkspace('chaos-s-d3', 'n3'),
  ],
};

describe('chaos: sshd and dockerd killed mid-apply', () => {
  let infra: Infra;
  let l: Laptop;
  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    l = await laptop(infra);
  });
  afterAll(async () => {
    // Whatever happened, every daemon is back before anything else runs.
    await nodeCtl('start', 'n2');
    await nodeCtl('dockerd-start', 'n3');
    await disposeAndVerify(l);
  });

  it("n2's sshd stopped while n2's workspaces are being created: once it is back, apply converges", async () => {
    l.write(base);
    const run = l.start('apply', '-f', l.dir, '--timeout', '60s');
    // The plan is out and the creates are in flight on every node.
    await eventually(() => /workspace\/chaos-s-(d1|d3|p2) Created/.test(run.output()), 60_000, `a create to finish (output: ${run.output()})`);
    await nodeCtl('stop', 'n2');
    const { code } = await run.exited;
    await nodeCtl('start', 'n2');
    // A failure must name the node; success is possible when n2 had finished before the stop.
    if (code !== 0) expect(run.output()).toMatch(/n2/);
    await expectConverges(l, base, [], `interrupted apply (exit ${code}):\n${run.output()}`);
  });

  it("n3's dockerd killed and restarted while a workspace is created there: apply converges", async () => {
    const grown: Decl = { ...base, workspaces: [...base.workspaces, dockerWorkspace('chaos-s-e3', 'n3', { healthcheck: true })] };
    l.write(grown);
    const run = l.start('apply', '-f', l.dir, '--timeout', '60s');
    await eventually(() => /Plan:/.test(run.output()), 60_000, `the plan (output: ${run.output()})`);
    await nodeCtl('dockerd-kill', 'n3');
    await nodeCtl('dockerd-start', 'n3');
    const { code } = await run.exited;
    // The crash also took chaos-s-d3's container and its service down: all of n3 is repaired.
    await expectConverges(l, grown, [], `interrupted apply (exit ${code}):\n${run.output()}`);
  });
});
