// quietKey (src/reconcile/observe.ts): when a resync pass may keep the last quiet pass's result.
import { describe, expect, it } from 'vitest';
import type { ObservedNode, ObservedSet } from '../../../src/model/types.js';
import { quietKey } from '../../../src/reconcile/observe.js';

const node = (name: string, pid: number, checkedAt = '2026-11-30T10:00:00Z'): ObservedNode => ({
  name,
  reachable: true,
  workspaces: [
    {
      name: `w-${name}`,
      provider: 'process',
      specHash: 'h',
      running: true,
      services: [{ name: 's', specHash: 'x', state: 'running', pid, restarts: 0, health: { status: 'healthy', failures: 0, message: 'ok', checkedAt } }],
    },
  ],
});
const set = (...nodes: ObservedNode[]): ObservedSet => new Map(nodes.map((n) => [n.name, n]));

describe('quietKey', () => {
  it('does not depend on the order in which nodes answered', () => {
    expect(quietKey([], set(node('b', 1), node('a', 2)))).toBe(quietKey([], set(node('a', 2), node('b', 1))));
  });

  it('ignores when a health check last ran, not what it found or anything else observed', () => {
    const before = quietKey([], set(node('a', 1)));
    expect(quietKey([], set(node('a', 1, '2026-11-30T10:00:10Z')))).toBe(before);
    expect(quietKey([], set(node('a', 2)))).not.toBe(before);
    const unhealthy = node('a', 1);
    unhealthy.workspaces[0]!.services[0]!.health!.status = 'unhealthy';
    expect(quietKey([], set(unhealthy))).not.toBe(before);
  });
});
