// What `vendetta delete` prints per resource, and kubectl's NotFound wording.
import { describe, expect, it } from 'vitest';
import { notFoundMessage, renderDeletion } from '../../../src/cli/delete.js';
import { detectStyle } from '../../../src/output/style.js';
import type { ApplyResult } from '../../../src/reconcile/api.js';

const plain = detectStyle({ isTTY: false } as NodeJS.WriteStream, { NO_COLOR: '1' });
const base: ApplyResult = { converged: true, plan: { operations: [], unreachable: [] }, operationsRun: 1, statuses: new Map(), failures: [], endpoints: new Map() };

describe('delete output', () => {
  it('says NotFound like kubectl', () => {
    expect(notFoundMessage('workspace/nope')).toBe('workspace "nope" not found');
  });

  it('prints one line per resource, forgotten ones as warnings naming what may be left', () => {
    const out = renderDeletion(
      {
        ...base,
        deletion: {
          deleted: [{ id: 'workspace/api', nodes: ['n1', 'n2'] }, { id: 'service/web', nodes: [] }, { id: 'node/n1', nodes: [] }],
          forgotten: [{ id: 'workspace/db', node: 'n3', leftover: 'docker container vendetta-db' }],
          notFound: [],
          pending: [],
        },
      },
      1234,
      plain,
    );
    expect(out).toBe(
      [
        'workspace/api deleted from node n1, n2',
        'service/web deleted (already gone from its node)',
        'node/n1 forgotten (no workspace uses it)',
        '! workspace/db forgotten without deleting it: node n3 could not be reached; it may still have docker container vendetta-db',
        '✓ deleted in 1.2s (1 operation); 1 forgotten with --force, see the warnings above',
        '',
      ].join('\n'),
    );
  });

  it('lists what was kept and why, and says nothing converged when nothing existed', () => {
    const kept = renderDeletion(
      {
        ...base,
        converged: false,
        failures: [{ resource: 'workspace/db', node: 'n3', reason: 'node n3 could not be reached: not deleted, kept in the store as DeletePending', hint: 'run vendetta delete again' }],
        deletion: { deleted: [], forgotten: [], notFound: [], pending: [{ id: 'workspace/db', node: 'n3' }] },
      },
      800,
      plain,
    );
    expect(kept).toContain('✗ not all deleted after 0.8s:\n  workspace/db (node n3): node n3 could not be reached: not deleted, kept in the store as DeletePending\n      → run vendetta delete again');
    const none = renderDeletion({ ...base, converged: false, deletion: { deleted: [], forgotten: [], notFound: ['workspace/x'], pending: [] } }, 10, plain);
    expect(none).toBe('');
    expect(none).not.toMatch(/converged/);
  });
});
