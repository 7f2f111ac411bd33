// diff --refresh: a workspace whose source.git branch moved upstream is replaced; without the
// upstream map (no --refresh) nothing about git is planned.
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from '../../../src/plan/plan.js';
import { TEST_IDENTITY, appliedRecords, converged, loaded, observedWorkspace, service, workspace } from './builders.js';

const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);

function setup() {
  const set = loaded([workspace('api', { source: { git: { url: 'ssh://git@example.invalid/r.git', ref: 'main' } } }), service('web', 'api')]);
  const observed = converged(set);
  observedWorkspace(observed, 'api').gitCommit = OLD;
  const input: PlanInput = { set, observed, applied: appliedRecords(set), applySet: 'default', prune: false, identity: TEST_IDENTITY };
  return input;
}

describe('plan with upstream commits (diff --refresh)', () => {
  it('replaces a workspace whose branch moved, saying from which commit to which', () => {
    const p = plan({ ...setup(), upstream: new Map([['api', NEW]]) });
    expect(p.operations.map((o) => [o.id, o.cause])).toEqual([
      ['recreate-workspace:api', 'git ref main moved aaaaaaa→bbbbbbb'],
      ['start-service:web', 'workspace is being recreated'],
    ]);
  });

  it('changes nothing when the branch is where it was, or when nothing was asked', () => {
    expect(plan({ ...setup(), upstream: new Map([['api', OLD]]) }).operations).toEqual([]);
    expect(plan(setup()).operations).toEqual([]);
  });

  it('changes nothing for a workspace without a recorded commit (made before source.git was recorded)', () => {
    const input = setup();
    delete observedWorkspace(input.observed, 'api').gitCommit;
    expect(plan({ ...input, upstream: new Map([['api', NEW]]) }).operations).toEqual([]);
  });
});
