// The chaos suite's invariant checker and seeded timing are pure: check that they catch what they
// must (an invariant that cannot fail would make every chaos scenario pass).
import { describe, expect, it } from 'vitest';
import { killDelayMs, seedsFromEnv, STRATA } from '../../chaos/helpers/seeds.js';
import { worldProblems, type Decl, type WorldSnapshot } from '../../chaos/helpers/world.js';

const decl: Decl = {
  nodes: ['n1', 'n2'],
  workspaces: [
    { name: 'chaos-a', node: 'n1', provider: 'docker', services: [{ name: 'chaos-a-web', command: 'x', env: { CHAOS_GEN: '2' } }] },
    { name: 'chaos-p', node: 'n2', provider: 'process', services: [{ name: 'chaos-p-svc', command: 'y' }] },
  ],
};

function healthy(): WorldSnapshot {
  return {
    containers: [{ node: 'n1', id: 'c1', name: 'vendetta-chaos-a', state: 'running', labels: { 'vendetta.dev/managed': 'true', 'vendetta.dev/name': 'chaos-a' } }],
    processWorkspaces: [{ node: 'n2', name: 'chaos-p', hasMeta: true }],
    supervisors: [{ pid: 10, service: 'chaos-a-web' }, { pid: 20, service: 'chaos-p-svc' }],
    serviceProcs: [
      { pid: 11, pgid: 11, service: 'chaos-a-web', env: { CHAOS_GEN: '2' } },
      { pid: 12, pgid: 11, service: 'chaos-a-web', env: { CHAOS_GEN: '2' } },
      { pid: 21, pgid: 21, service: 'chaos-p-svc', env: {} },
    ],
  };
}

describe('worldProblems', () => {
  it('a world that matches the manifests has no problems', () => {
    expect(worldProblems(decl, healthy())).toEqual([]);
  });

  it('finds a duplicate, a stopped and an orphaned container', () => {
    const w = healthy();
    w.containers.push({ ...w.containers[0]!, id: 'c2', state: 'exited' });
    w.containers.push({ node: 'n2', id: 'c3', name: 'vendetta-chaos-a', state: 'running', labels: {} });
    const problems = worldProblems(decl, w);
    expect(problems).toContain('workspace chaos-a: 2 containers on n1, want 1');
    expect(problems).toContain('container vendetta-chaos-a on n1 is exited, want running');
    expect(problems).toContain('orphaned container vendetta-chaos-a (c3, running) on n2');
  });

  it('finds a half-made and an orphaned process workspace', () => {
    const w = healthy();
    w.processWorkspaces = [{ node: 'n2', name: 'chaos-p', hasMeta: false }, { node: 'n1', name: 'chaos-gone', hasMeta: true }];
    expect(worldProblems(decl, w)).toEqual([
      'process workspace chaos-p on n2: no meta.json (half made)',
      'orphaned process workspace chaos-gone on n1',
    ]);
  });

  it('finds two copies of a service, an old copy, an orphaned supervisor and a stray process', () => {
    const w = healthy();
    w.supervisors.push({ pid: 30, service: 'chaos-a-web' }, { pid: 40, service: 'chaos-old' });
    w.serviceProcs.push({ pid: 31, pgid: 31, service: 'chaos-a-web', env: { CHAOS_GEN: '1' } }, { pid: 41, pgid: 41, service: 'chaos-old', env: {} });
    expect(worldProblems(decl, w)).toEqual([
      'service chaos-a-web: 2 supervisors (pids 10 30), want 1',
      'service chaos-a-web: 2 running copies (process groups 11 31), want 1',
      'service chaos-a-web: pids 31 run with CHAOS_GEN=1, want 2',
      'orphaned supervisor pid 40 of undeclared service chaos-old',
      'stray process pid 41 of undeclared service chaos-old',
    ]);
  });

  it('a service that is not running at all is a problem', () => {
    const w = healthy();
    w.supervisors = w.supervisors.filter((s) => s.service !== 'chaos-p-svc');
    w.serviceProcs = w.serviceProcs.filter((p) => p.service !== 'chaos-p-svc');
    expect(worldProblems(decl, w)).toEqual([
      'service chaos-p-svc: 0 supervisors (pids none), want 1',
      'service chaos-p-svc: 0 running copies (process groups none), want 1',
    ]);
  });
});

describe('seeded kill delays', () => {
  it('are the same for the same seed and spread the first STRATA seeds over the span', () => {
    expect(killDelayMs(3, 9000)).toBe(killDelayMs(3, 9000));
    const delays = Array.from({ length: STRATA }, (_, i) => killDelayMs(i + 1, 10_000));
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(i * 2000);
      expect(d).toBeLessThan((i + 1) * 2000);
    });
  });

  it('CHAOS_SEEDS parses a list and refuses anything else', () => {
    expect(seedsFromEnv(undefined, [1])).toEqual([1]);
    expect(seedsFromEnv('3, 7', [1])).toEqual([3, 7]);
    expect(() => seedsFromEnv('3,x', [1])).toThrow(/CHAOS_SEEDS/);
  });
});
