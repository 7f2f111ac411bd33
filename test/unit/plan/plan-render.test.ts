import { describe, expect, it } from 'vitest';
import { planSummary, renderPlan } from '../../../src/output/plan-render.js';
import type { Operation, Plan } from '../../../src/plan/types.js';

const op = (type: Operation['type'], name: string, extra: Partial<Operation> = {}): Operation => ({
  id: `${type}:${name}`,
  type,
  kind: type.endsWith('-service') ? 'Service' : 'Workspace',
  name,
  resource: `${type.endsWith('-service') ? 'service' : 'workspace'}/${name}`,
  node: 'local',
  provider: 'process',
  workspace: type.endsWith('-service') ? 'api' : undefined,
  cause: 'because',
  dependsOn: [],
  ...extra,
});

describe('renderPlan', () => {
  const plan: Plan = {
    operations: [
      op('start-workspace', 'api'),
      op('restart-service', 'web', { changes: [{ path: 'spec.ports', to: '[3000]' }, { path: 'spec.env.TOKEN', from: '(secret)' }] }),
      op('stop-workspace', 'db'),
    ],
    unreachable: [{ node: 'far', error: 'timeout' }],
  };

  it('is plain text unless asked for color', () => {
    const text = renderPlan(plan);
    expect(text).not.toContain('\x1b[');
    expect(text).toBe(
      [
        '  ~ workspace/api  start    on local (process): because',
        '  ~ service/web    restart  in workspace api: because',
        '        ports: (none) → [3000]',
        '        env.TOKEN: (secret) → (none)',
        '  - workspace/db   stop     on local (process): because',
        '  ! node/far       unreachable: timeout',
        '',
      ].join('\n'),
    );
  });

  it('colors symbols and resources green, yellow, red', () => {
    const text = renderPlan({ operations: [op('create-workspace', 'a'), op('restart-service', 'b'), op('delete-workspace', 'c')], unreachable: [] }, { color: true });
    expect(text).toContain('\x1b[32m  + workspace/a\x1b[0m');
    expect(text).toContain('\x1b[33m  ~ service/b  \x1b[0m');
    expect(text).toContain('\x1b[31m  - workspace/c\x1b[0m');
  });

  it('renders nothing for an empty plan', () => {
    expect(renderPlan({ operations: [], unreachable: [] })).toBe('');
  });
});

describe('planSummary', () => {
  it('counts by verb in a fixed order', () => {
    const p: Plan = {
      operations: [op('delete-service', 'x'), op('recreate-workspace', 'r'), op('restart-service', 'y'), op('create-workspace', 'c'), op('start-service', 's')],
      unreachable: [],
    };
    expect(planSummary(p)).toBe('Plan: 1 to create, 1 to start, 1 to restart, 1 to recreate, 1 to delete.');
  });

  it('says when nothing changes, and when that is only because nodes were unreachable', () => {
    expect(planSummary({ operations: [], unreachable: [] })).toBe('No changes: everything is up to date.');
    expect(planSummary({ operations: [], unreachable: [{ node: 'b', error: 'x' }, { node: 'c', error: 'y' }] })).toBe(
      'No changes on reachable nodes. Not planned, unreachable: node/b, node/c.',
    );
  });
});

describe('ownership conflicts', () => {
  it('lists each conflict with its message and says it was not planned', () => {
    const message = 'workspace api on node n1 is managed by another vendetta (owner dev@laptop-2:/h); nothing was changed: delete it from there, or take it over with --adopt';
    const p: Plan = {
      operations: [op('create-workspace', 'db', { cause: 'not found on node n1' })],
      unreachable: [],
      conflicts: [{ resource: 'workspace/api', node: 'n1', provider: 'docker', owner: { id: 'b', name: 'dev@laptop-2:/h' }, message }],
    };
    expect(renderPlan(p)).toBe(
      '  + workspace/db   create  on local (process): not found on node n1\n' +
        `  ! workspace/api  conflict: ${message}\n`,
    );
    expect(planSummary(p)).toBe('Plan: 1 to create. Not planned, managed by another vendetta: workspace/api.');
  });
});
