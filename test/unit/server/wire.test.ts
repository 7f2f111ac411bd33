import { describe, expect, it } from 'vitest';
import { API_VERSION, type Resource } from '../../../src/model/types.js';
import { withDefaults } from '../../../src/manifest/defaults.js';
import { fromWireResult, isEmptySet, mergeSets, setFromBundle, toBundle, toWireResult, withoutResources } from '../../../src/server/wire.js';
import type { ApplyResult } from '../../../src/reconcile/api.js';

const at = (line: number) => ({ file: '/m/app.yaml', line, col: 1 });
const ws = (name: string, line = 1): Resource =>
  withDefaults({ apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { node: 'local', provider: 'process', env: { A: '1', S: { fromEnv: 'SECRET' } } }, source: at(line) } as Resource);
const svc = (name: string, workspace: string, line = 10): Resource =>
  withDefaults({ apiVersion: API_VERSION, kind: 'Service', metadata: { name }, spec: { workspace, command: 'sleep 1' }, source: at(line) } as Resource);

describe('setFromBundle', () => {
  it('builds the desired set and keeps the env the client resolved', () => {
    const r = setFromBundle({ resources: [ws('api'), svc('web', 'api')], env: { 'workspace/api': { S: { value: 's3cret', secret: true } } } }, []);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([...r.set.desired.workspaces.keys()]).toEqual(['api']);
    expect(r.set.env.get('workspace/api')).toEqual({ S: { value: 's3cret', secret: true } });
    // Not sent: literal values only (references stay unresolved, never invented).
    expect(r.set.env.get('service/web')).toEqual({});
  });

  it('rejects schema errors and dangling references with the file:line of the document', () => {
    const bad = { ...svc('web', 'nope', 12) } as Resource;
    const broken = { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: 'x' }, spec: { provider: 'vmware' }, source: at(3) } as unknown as Resource;
    const r = setFromBundle({ resources: [broken, bad], env: {} }, []);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.some((e) => e.line === 3 && /provider/.test(e.message))).toBe(true);
    expect(r.errors.some((e) => e.line === 12 && /nope/.test(e.message))).toBe(true);
    expect(r.errors.every((e) => e.file === '/m/app.yaml')).toBe(true);
  });

  it('accepts nodes the server knows without a declaration', () => {
    const onNode = withDefaults({ apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: 'r' }, spec: { node: 'n1', provider: 'docker', image: 'x' }, source: at(1) } as Resource);
    expect(setFromBundle({ resources: [onNode], env: {} }, []).ok).toBe(false);
    const known = { apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.11' } } as const;
    expect(setFromBundle({ resources: [onNode], env: {} }, [known]).ok).toBe(true);
  });

  it('round-trips through toBundle', () => {
    const first = setFromBundle({ resources: [ws('api'), svc('web', 'api')], env: {} }, []);
    if (!first.ok) throw new Error('invalid');
    const again = setFromBundle(JSON.parse(JSON.stringify(toBundle(first.set))), []);
    expect(again.ok && [...again.set.desired.services.keys()]).toEqual(['web']);
  });
});

describe('set algebra', () => {
  const a = setFromBundle({ resources: [ws('a'), svc('a-web', 'a')], env: {} }, []);
  const b = setFromBundle({ resources: [ws('b')], env: {} }, []);
  if (!a.ok || !b.ok) throw new Error('invalid fixtures');

  it('merges apply sets', () => {
    const m = mergeSets([a.set, b.set]);
    expect([...m.desired.workspaces.keys()].sort()).toEqual(['a', 'b']);
    expect([...m.desired.services.keys()]).toEqual(['a-web']);
  });

  it('a deleted workspace takes its services along', () => {
    const rest = withoutResources(a.set, ['workspace/a']);
    expect(rest.desired.services.size).toBe(0);
    expect(isEmptySet(rest)).toBe(true);
    expect(isEmptySet(withoutResources(a.set, ['service/a-web']))).toBe(false);
  });
});

it('results cross the wire with their maps', () => {
  const result: ApplyResult = {
    converged: true,
    plan: { operations: [], unreachable: [] },
    operationsRun: 2,
    statuses: new Map([['service/web', { phase: 'Ready', conditions: [], observedGeneration: 1 }]]),
    failures: [],
    endpoints: new Map([['service/web', 'http://127.0.0.1:3000']]),
  };
  const back = fromWireResult(JSON.parse(JSON.stringify(toWireResult(result))));
  expect(back).toEqual(result);
});
