import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, serviceSpecHash, workspaceShapeHash, workspaceSpecHash } from '../../../src/model/hash.js';
import { TEST_IDENTITY, service, workspace } from './builders.js';

const wsHash = (...a: [Parameters<typeof workspaceSpecHash>[0], Parameters<typeof workspaceSpecHash>[1]]) => workspaceSpecHash(...a, TEST_IDENTITY.key);
const svcHash = (...a: [Parameters<typeof serviceSpecHash>[0], Parameters<typeof serviceSpecHash>[1]]) => serviceSpecHash(...a, TEST_IDENTITY.key);

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
    expect(wsHash(a, {})).toMatch(/^[0-9a-f]{16}$/);
    expect(wsHash(a, {})).toBe(wsHash(b, {}));
  });

  it('lifecycle: only onCreate/postCreate count, and a workspace without hooks keeps its hash', () => {
    const base = wsHash(workspace('api'), {});
    expect(wsHash(workspace('api', { lifecycle: {} }), {})).toBe(base);
    expect(wsHash(workspace('api', { lifecycle: { postStart: ['a'], postAttach: ['b'], postCreate: [] } }), {})).toBe(base);
    expect(wsHash(workspace('api', { devcontainer: { path: '.devcontainer/devcontainer.json' } }), {})).toBe(base);
    expect(wsHash(workspace('api', { lifecycle: { postCreate: ['npm ci'] } }), {})).not.toBe(base);
    expect(wsHash(workspace('api', { lifecycle: { onCreate: ['x'] } }), {})).not.toBe(wsHash(workspace('api', { lifecycle: { postCreate: ['x'] } }), {}));
  });

  it('excludes state: starting or stopping is not a recreate', () => {
    expect(wsHash(workspace('api', { state: 'running' }), {})).toBe(
      wsHash(workspace('api', { state: 'stopped' }), {}),
    );
  });

  it('changes with any other spec field', () => {
    const base = wsHash(workspace('api', { image: 'a' }), {});
    expect(wsHash(workspace('api', { image: 'b' }), {})).not.toBe(base);
    expect(wsHash(workspace('api', { image: 'a', ports: ['8080:80'] }), {})).not.toBe(base);
    expect(wsHash(workspace('api', { image: 'a', node: 'other' }), {})).not.toBe(base);
  });

  it('includes resolved env values (a changed secret recreates) without exposing them', () => {
    const ws = workspace('api', { env: { TOKEN: { fromEnv: 'TOKEN' } } });
    const h1 = wsHash(ws, { TOKEN: secret('hunter2') });
    const h2 = wsHash(ws, { TOKEN: secret('hunter3') });
    expect(h1).not.toBe(h2);
    expect(h1).not.toContain('hunter2');
  });

  it('hashes values, not references: the same value through another reference is the same workspace', () => {
    const a = workspace('api', { env: { TOKEN: { fromEnv: 'A' } } });
    const b = workspace('api', { env: { TOKEN: { fromFile: '/run/token' } } });
    expect(wsHash(a, { TOKEN: secret('x') })).toBe(wsHash(b, { TOKEN: secret('x') }));
    expect(wsHash(a, { TOKEN: secret('x') })).toBe(wsHash(workspace('api', { env: { TOKEN: 'x' } }), { TOKEN: plain('x') }));
  });
});

describe('workspaceShapeHash', () => {
  const K = TEST_IDENTITY.key;
  it('leaves out env everywhere, and ports for qemu only (its forwards change live)', () => {
    const proc = (spec: object) => workspaceShapeHash(workspace('w', spec), K);
    expect(proc({ env: { A: '1' } })).toBe(proc({ env: { A: '2' } }));
    expect(proc({ ports: ['8080'] })).not.toBe(proc({ ports: ['8081'] }));
    const vm = (spec: object) => workspaceShapeHash(workspace('w', { provider: 'qemu', vm: { kernel: '/k' }, ...spec }), K);
    expect(vm({ ports: ['8080'] })).toBe(vm({ ports: ['8081'] }));
    expect(vm({ ports: ['8080'] })).toBe(vm({}));
    expect(vm({ resources: { memory: '1Gi' } })).not.toBe(vm({}));
  });

  it('a process workspace keeps the shape hash it had before live fields existed', () => {
    const ws = workspace('w', { ports: ['8080'], env: { A: '1' } });
    const { state: _s, env: _e, volumes: _v, ...rest } = ws.spec;
    const before = createHmac('sha256', Buffer.from(K, 'base64')).update(canonicalJson({ kind: 'WorkspaceShape', spec: rest })).digest('hex').slice(0, 16);
    expect(workspaceShapeHash(ws, K)).toBe(before);
  });
});

describe('serviceSpecHash', () => {
  it('covers the spec', () => {
    expect(svcHash(service('web', 'api', { command: 'a' }), {})).not.toBe(svcHash(service('web', 'api', { command: 'b' }), {}));
    expect(svcHash(service('web', 'api', { restart: 'always' }), {})).not.toBe(
      svcHash(service('web', 'api', { restart: 'never' }), {}),
    );
  });

  it('leaves out onSync: what a sync does is not how the service runs', () => {
    expect(svcHash(service('web', 'api', { onSync: 'restart' }), {})).toBe(svcHash(service('web', 'api'), {}));
  });

  it('covers the full computed env, discovery included', () => {
    const svc = service('web', 'api');
    const env = { PORT: '3000', VENDETTA_SERVICE_DB_PORT: '5432' };
    expect(svcHash(svc, env)).toBe(svcHash(svc, { VENDETTA_SERVICE_DB_PORT: '5432', PORT: '3000' }));
    expect(svcHash(svc, env)).not.toBe(svcHash(svc, { ...env, VENDETTA_SERVICE_DB_PORT: '5433' }));
  });

  it('differs from a workspace hash of the same shape', () => {
    const asWs = wsHash(workspace('x'), {});
    expect(svcHash(service('x', 'x'), {})).not.toBe(asWs);
  });
});

describe('keyed spec hashes (labels never let a secret be guessed offline)', () => {
  const pinWorkspace = workspace('api', { image: 'busybox', env: { PIN: { fromEnv: 'PIN' } } });
  const envWith = (pin: string) => ({ PIN: secret(pin) });
  const otherKey = Buffer.alloc(32, 9).toString('base64');

  /** What vendetta labelled objects with before: sha256 of the canonical spec, no key. */
  function unkeyed(pin: string): string {
    const { state: _s, env: _e, ...spec } = pinWorkspace.spec;
    return createHash('sha256').update(canonicalJson({ kind: 'Workspace', spec, env: { PIN: pin } })).digest('hex').slice(0, 16);
  }
  const bruteForce = (label: string) => {
    for (let i = 0; i <= 9999; i++) {
      const pin = String(i).padStart(4, '0');
      if (unkeyed(pin) === label) return pin;
    }
    return undefined;
  };

  it('depends on the key', () => {
    expect(workspaceSpecHash(pinWorkspace, envWith('4711'), TEST_IDENTITY.key)).not.toBe(workspaceSpecHash(pinWorkspace, envWith('4711'), otherKey));
    expect(serviceSpecHash(service('web', 'api'), { PIN: '4711' }, TEST_IDENTITY.key)).not.toBe(serviceSpecHash(service('web', 'api'), { PIN: '4711' }, otherKey));
  });

  it('the unkeyed formula brute-forces a 4-digit PIN, and finds nothing against the keyed label', () => {
    expect(bruteForce(unkeyed('4711'))).toBe('4711'); // the attack the old labels allowed
    const label = workspaceSpecHash(pinWorkspace, envWith('4711'), TEST_IDENTITY.key);
    expect(label).toMatch(/^[0-9a-f]{16}$/);
    expect(bruteForce(label)).toBeUndefined();
  });

  it('refuses a key that is not the store key (too short)', () => {
    expect(() => workspaceSpecHash(pinWorkspace, envWith('1'), '')).toThrow(/at least 16 bytes/);
  });
});

describe('workspaceSpecHash with spec.build', () => {
  it('is unchanged for a workspace without build (no recreate on upgrade)', () => {
    const ws = workspace('api', { image: 'node:22' });
    expect(workspaceSpecHash(ws, {}, TEST_IDENTITY.key, undefined)).toBe(wsHash(ws, {}));
  });

  it('follows the build hash, not the context path', () => {
    const at = (context: string) => workspace('api', { provider: 'docker', build: { context, args: { A: '1' } } });
    const h = (ws: ReturnType<typeof at>, build: string) => workspaceSpecHash(ws, {}, TEST_IDENTITY.key, build);
    expect(h(at('/home/a/app'), 'b1')).toBe(h(at('/srv/checkout/app'), 'b1'));
    expect(h(at('/home/a/app'), 'b1')).not.toBe(h(at('/home/a/app'), 'b2'));
  });
});
