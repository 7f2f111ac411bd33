// Which nodes a command observes: only those it may act on, so an unreachable node holding
// unrelated records never fails it.
import { describe, expect, it } from 'vitest';
import { applyTargets, deleteTargets, type ObservationTargets } from '../../../src/plan/targets.js';
import { appliedRecords, loaded, service, workspace } from './builders.js';

const plain = (t: ObservationTargets) => Object.fromEntries([...t].map(([n, p]) => [n, [...p].sort()]));

describe('applyTargets', () => {
  const other = appliedRecords(loaded([workspace('box', { node: 'gone', provider: 'docker', image: 'busybox' }), service('x', 'box')]), 'other');

  it('observes the declared nodes, not the nodes of unrelated records', () => {
    const set = loaded([workspace('api'), service('web', 'api')]);
    const applied = [...appliedRecords(set), ...other];
    expect(plain(applyTargets({ set, applied, applySet: 'default', prune: false }))).toEqual({ local: ['process'] });
    // Another apply set's records are not pruned by this one either.
    expect(plain(applyTargets({ set, applied, applySet: 'default', prune: true }))).toEqual({ local: ['process'] });
  });

  it('observes where the apply set put what it no longer declares, with --prune only', () => {
    const set = loaded([workspace('api')]);
    const applied = appliedRecords(loaded([workspace('api'), workspace('old', { node: 'n2', provider: 'docker', image: 'b' })]));
    expect(plain(applyTargets({ set, applied, applySet: 'default', prune: false }))).toEqual({ local: ['process'] });
    expect(plain(applyTargets({ set, applied, applySet: 'default', prune: true }))).toEqual({ local: ['process'], n2: ['docker'] });
  });

  it('observes the nodes a workspace moved away from, and an old provider on its node', () => {
    const set = loaded([workspace('api', { node: 'n2', provider: 'docker', image: 'b' })]);
    const [rec] = appliedRecords(set);
    const moved = [{ ...rec!, previousNodes: [{ node: 'n1', provider: 'process' as const }] }];
    expect(plain(applyTargets({ set, applied: moved, applySet: 'default', prune: false }))).toEqual({ n1: ['process'], n2: ['docker'] });
    // As diff sees a move (not recorded yet) or a provider change: the record's own placement.
    const old = appliedRecords(loaded([workspace('api', { node: 'n2', provider: 'process' })]));
    expect(plain(applyTargets({ set, applied: old, applySet: 'default', prune: false }))).toEqual({ n2: ['docker', 'process'] });
  });

  it('observes the old workspace of a moved service', () => {
    const set = loaded([workspace('one', { node: 'n1' }), workspace('two', { node: 'n2' }), service('web', 'two')]);
    const applied = appliedRecords(set).map((r) => (r.kind === 'Service' ? { ...r, previousWorkspaces: ['one'] } : r));
    expect(plain(applyTargets({ set, applied, applySet: 'default', prune: false }))).toEqual({ n1: ['process'], n2: ['process'] });
  });
});

describe('deleteTargets', () => {
  it('observes only where the targets may be', () => {
    const set = loaded([workspace('api', { node: 'n1' }), service('web', 'api'), workspace('db', { node: 'n2' })]);
    const applied = appliedRecords(set).map((r) => (r.id === 'workspace/api' ? { ...r, previousNodes: [{ node: 'n0', provider: 'docker' as const }] } : r));
    expect(plain(deleteTargets({ ids: ['workspace/api'], applied }))).toEqual({ n0: ['docker'], n1: ['process'] });
    expect(plain(deleteTargets({ ids: ['service/web'], applied }))).toEqual({ n0: ['docker'], n1: ['process'] });
    expect(plain(deleteTargets({ ids: ['workspace/nope', 'node/n2'], applied }))).toEqual({});
    // delete -f without records: where the manifests put it.
    expect(plain(deleteTargets({ ids: ['workspace/db'], applied: [], set }))).toEqual({ n2: ['process'] });
  });
});
