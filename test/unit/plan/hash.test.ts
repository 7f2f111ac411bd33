import { describe, expect, it } from 'vitest';
import { canonicalJson, serviceSpecHash, workspaceSpecHash } from '../../../src/model/hash.js';
import { service, workspace } from './builders.js';

const plain = (v: string) => ({ value: v, secret: false });
const secret = (v: string) => ({ value: v, secret: true });

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[2,{"y":2,"z":1}]},"b":1}');
  });
});

describe('workspaceSpecHash', () => {
  it('is 16 hex chars and ignores key order', () => {
    const a = workspace('api', { image: 'node:22', resources: { cpus: 2, memory: '1Gi' } });
    const b = workspace('api', { resources: { memory: '1Gi', cpus: 2 }, image: 'node:22' });
    expect(workspaceSpecHash(a, {})).toMatch(/^[0-9a-f]{16}$/);
    expect(workspaceSpecHash(a, {})).toBe(workspaceSpecHash(b, {}));
  });

  it('excludes state: starting or stopping is not a recreate', () => {
    expect(workspaceSpecHash(workspace('api', { state: 'running' }), {})).toBe(
      workspaceSpecHash(workspace('api', { state: 'stopped' }), {}),
    );
  });

  it('changes with any other spec field', () => {
    const base = workspaceSpecHash(workspace('api', { image: 'a' }), {});
    expect(workspaceSpecHash(workspace('api', { image: 'b' }), {})).not.toBe(base);
    expect(workspaceSpecHash(workspace('api', { image: 'a', ports: ['8080:80'] }), {})).not.toBe(base);
    expect(workspaceSpecHash(workspace('api', { image: 'a', node: 'other' }), {})).not.toBe(base);
  });

  it('includes resolved env values (a changed secret recreates) without exposing them', () => {
    const ws = workspace('api', { env: { TOKEN: { fromEnv: 'TOKEN' } } });
    const h1 = workspaceSpecHash(ws, { TOKEN: secret('hunter2') });
    const h2 = workspaceSpecHash(ws, { TOKEN: secret('hunter3') });
    expect(h1).not.toBe(h2);
    expect(h1).not.toContain('hunter2');
  });

  it('hashes values, not references: the same value through another reference is the same workspace', () => {
    const a = workspace('api', { env: { TOKEN: { fromEnv: 'A' } } });
    const b = workspace('api', { env: { TOKEN: { fromFile: '/run/token' } } });
    expect(workspaceSpecHash(a, { TOKEN: secret('x') })).toBe(workspaceSpecHash(b, { TOKEN: secret('x') }));
    expect(workspaceSpecHash(a, { TOKEN: secret('x') })).toBe(workspaceSpecHash(workspace('api', { env: { TOKEN: 'x' } }), { TOKEN: plain('x') }));
  });
});

describe('serviceSpecHash', () => {
  it('covers the spec', () => {
    expect(serviceSpecHash(service('web', 'api', { command: 'a' }), {})).not.toBe(serviceSpecHash(service('web', 'api', { command: 'b' }), {}));
    expect(serviceSpecHash(service('web', 'api', { restart: 'always' }), {})).not.toBe(
      serviceSpecHash(service('web', 'api', { restart: 'never' }), {}),
    );
  });

  it('covers the full computed env, discovery included', () => {
    const svc = service('web', 'api');
    const env = { PORT: '3000', VENDETTA_SERVICE_DB_PORT: '5432' };
    expect(serviceSpecHash(svc, env)).toBe(serviceSpecHash(svc, { VENDETTA_SERVICE_DB_PORT: '5432', PORT: '3000' }));
    expect(serviceSpecHash(svc, env)).not.toBe(serviceSpecHash(svc, { ...env, VENDETTA_SERVICE_DB_PORT: '5433' }));
  });

  it('differs from a workspace hash of the same shape', () => {
    const asWs = workspaceSpecHash(workspace('x'), {});
    expect(serviceSpecHash(service('x', 'x'), {})).not.toBe(asWs);
  });
});
