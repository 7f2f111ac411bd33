// Chaos 3: concurrent controllers. Two applies on one VENDETTA_HOME serialize on the store lock
// (the second waits, naming the holder). Two VENDETTA_HOMEs ("two laptops") declaring the same
// workspaces differently: the second refuses to touch the first one's objects ("is managed by
// another vendetta", exit 1, nothing recreated) until it is told to take them over (--adopt).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInfra, type Infra } from '../e2e/helpers/infra.js';
import { eventually, requireBuiltCli } from '../e2e/support/cli.js';
import { disposeAndVerify, expectConverges, expectWorld, laptop, type Laptop } from './helpers/harness.js';
import { chaosContainers, dockerWorkspace, NODES, processRootOnDisk, processWorkspace, type Decl } from './helpers/world.js';

describe('chaos: two applies on one VENDETTA_HOME at once', () => {
  let infra: Infra;
  let l: Laptop;
  // The process service turns healthy only after two seconds: the first apply then surely holds
  // the lock when the second asks for it (a cold apply of three workspaces alone can end within
  // the second CLI's start-up).
  const slow = processWorkspace('chaos-c-p3', 'n3', 'sleep 2; : > ready; exec sleep 100000');
  slow.services[0]!.healthcheck = '{exec: {command: "test -e ready"}, interval: 200ms, timeout: 2s, retries: 30}';
  const decl: Decl = {
    nodes: NODES,
    workspaces: [dockerWorkspace('chaos-c-d1', 'n1'), dockerWorkspace('chaos-c-d2', 'n2'), slow],
  };
  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    l = await laptop(infra);
  });
  afterAll(async () => disposeAndVerify(l));

  it('the second waits for the first, naming it; both end converged', async () => {
    l.write(decl);
    const first = l.start('apply', '-f', l.dir);
    // The first holds the lock from before its plan until it exits.
    await eventually(() => /Plan:/.test(first.output()), 60_000, `the first apply's plan (output: ${first.output()})`);
    const second = l.start('apply', '-f', l.dir);
    const [a, b] = await Promise.all([first.exited, second.exited]);
    expect(a.code, first.output()).toBe(0);
    expect(b.code, second.output()).toBe(0);
    expect(second.output()).toMatch(new RegExp(`waiting for the lock held by pid ${first.pid}\\b`));
    // The second found everything done: it converged without creating anything again.
    expect(second.output()).not.toMatch(/Created/);
    await expectConverges(l, decl);
  });
});

describe('chaos: two laptops (two VENDETTA_HOMEs) declare the same workspaces differently', () => {
  let infra: Infra;
  let a: Laptop;
  let b: Laptop;
  const declFor = (owner: string): Decl => ({
    nodes: NODES,
    workspaces: [
      dockerWorkspace('chaos-o-d1', 'n1', { env: { CHAOS_OWNER: owner } }),
      dockerWorkspace('chaos-o-d2', 'n2', { env: { CHAOS_OWNER: owner } }),
      processWorkspace('chaos-o-p3', 'n3', 'exec sleep 100000', { CHAOS_OWNER: owner }),
    ],
  });
  const declA = declFor('laptop-a');
  const declB = declFor('laptop-b');
  /** What identifies the objects on the nodes: container ids, the process workspace's meta.json. */
  const identity = async () => ({
    containers: (await Promise.all(['n1', 'n2'].map((n) => chaosContainers(infra, n)))).flat().map((c) => `${c.node} ${c.name} ${c.id}`).sort(),
    meta: readFileSync(join(processRootOnDisk(infra, 'n3'), 'chaos-o-p3', 'meta.json'), 'utf8'),
  });

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    a = await laptop(infra, 'vendetta-chaos-a-');
    b = await laptop(infra, 'vendetta-chaos-b-');
    a.write(declA);
    b.write(declB);
  });
  afterAll(async () => {
    // b owns everything after --adopt and deletes it; a only forgets its home (its delete would
    // have to refuse objects it does not own).
    await a?.forget();
    await disposeAndVerify(b);
  });

  it('laptop a converges', async () => {
    await expectConverges(a, declA);
  });

  it('laptop b exits 1 with "is managed by another vendetta": nothing recreated, one container per workspace', async () => {
    const before = await identity();
    const r = await b.cli('apply', '-f', b.dir);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/is managed by another vendetta/);
    expect(await identity()).toEqual(before);
    await expectWorld(infra, declA); // a's copies, still running with a's env
  });

  it('laptop b takes the workspaces over with --adopt; then a is the one refused', async () => {
    await expectConverges(b, declB, ['--adopt']);
    await expectConverges(b, declB); // owned now: a plain apply converges too
    const before = await identity();
    const r = await a.cli('apply', '-f', a.dir);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/is managed by another vendetta/);
    expect(await identity()).toEqual(before);
    await expectWorld(infra, declB);
  });
});
