// Chaos 1: `kill -9` of `vendetta apply` at seeded moments of a cold converge over three nodes
// (a docker workspace with a service on each, one health-checked, plus a process workspace with a
// service). After each kill the next apply must converge to exactly the declared objects.
//
// Reproduce one run: CHAOS_SEEDS=3 npx vitest run --project e2e test/chaos/kill-apply.test.ts
// (CHAOS_KILL_SPAN_MS stretches the window the kill moments are spread over, default 9000).
import { afterEach, beforeAll, describe, it } from 'vitest';
import { loadInfra, type Infra } from '../e2e/helpers/infra.js';
import { requireBuiltCli } from '../e2e/support/cli.js';
import { disposeAndVerify, expectConverges, laptop, type Laptop } from './helpers/harness.js';
import { killDelayMs, seedsFromEnv } from './helpers/seeds.js';
import { dockerWorkspace, NODES, processWorkspace, type Decl } from './helpers/world.js';

const SEEDS = seedsFromEnv(process.env.CHAOS_SEEDS, [1, 2, 3, 4, 5]);
const SPAN_MS = Number(process.env.CHAOS_KILL_SPAN_MS ?? 9000);

const decl: Decl = {
  nodes: NODES,
  workspaces: [
    dockerWorkspace('chaos-k-d1', 'n1', { healthcheck: true }),
    dockerWorkspace('chaos-k-d2', 'n2'),
    dockerWorkspace('chaos-k-d3', 'n3'),
    processWorkspace('chaos-k-p1', 'n1'),
  ],
};

describe('chaos: kill -9 of apply during a cold converge', () => {
  let infra: Infra;
  let current: Laptop | undefined;
  beforeAll(() => {
    requireBuiltCli();
    infra = loadInfra();
  });
  afterEach(async () => {
    await disposeAndVerify(current);
    current = undefined;
  });

  for (const seed of SEEDS) {
    const delay = killDelayMs(seed, SPAN_MS);
    it(`seed ${seed}: kill -9 after ${delay} ms, then the next apply converges`, async () => {
      const l = (current = await laptop(infra));
      l.write(decl);
      const run = l.start('apply', '-f', l.dir);
      await new Promise((r) => setTimeout(r, delay));
      run.kill('SIGKILL');
      const { signal } = await run.exited;
      // Not an assertion on time: a slow machine may finish first, which only makes the run weaker.
      const when = signal === 'SIGKILL' ? 'killed' : 'had already exited';
      await expectConverges(l, decl, [], `apply ${when} at ${delay} ms (seed ${seed}); its output:\n${run.output()}`);
    });
  }
});
