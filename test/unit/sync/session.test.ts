import { describe, expect, it } from 'vitest';
import { describeBatch } from '../../../src/sync/session.js';

const outcome = { sent: 3, deleted: 1, bytes: 100, full: false, unchanged: false };

describe('describeBatch', () => {
  it('says what was sent, removed and restarted, in one line', () => {
    expect(describeBatch({ workspace: 'api', outcome, ms: 42, restarted: [], rebuildFor: [] })).toBe('synced 3 files, deleted 1 to api (42 ms)');
    expect(describeBatch({ workspace: 'api', outcome: { ...outcome, sent: 1, deleted: 0 }, ms: 7, restarted: ['web', 'worker'], rebuildFor: [] })).toBe(
      'synced 1 file to api (7 ms), restarted web, worker',
    );
  });
  it('says which services asked for a rebuild', () => {
    expect(describeBatch({ workspace: 'api', outcome: { ...outcome, deleted: 0 }, ms: 9, restarted: [], rebuildFor: ['build'] })).toBe('synced 3 files to api (9 ms), rebuild asked by build');
  });
  it('says when the whole tree went (the workspace did not hold the recorded sync)', () => {
    expect(describeBatch({ workspace: 'api', outcome: { ...outcome, full: true, deleted: 0 }, ms: 5, restarted: [], rebuildFor: [] })).toBe('synced 3 files to api (full) (5 ms)');
  });
});
