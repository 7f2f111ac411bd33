import { describe, expect, it } from 'vitest';
import { serviceSpecHash } from '../../../src/model/hash.js';
import { desiredService, desiredWorkspace, serviceEnv, serviceWorkdir } from '../../../src/plan/desired.js';
import type { LoadedSet } from '../../../src/reconcile/api.js';
import { TEST_IDENTITY, loaded, service, workspace } from './builders.js';

describe('serviceEnv', () => {
  const set = loaded(
    [
      workspace('api', { env: { NODE_ENV: 'development', SHARED: 'from-workspace', TOKEN: { fromEnv: 'TOKEN' } } }),
      service('web', 'api', { ports: [3000, 9229], env: { SHARED: 'from-service', PORT: '3000' } }),
      service('db-main', 'api', { ports: [5432] }),
      service('worker', 'api', { env: { VENDETTA_SERVICE_WEB_PORT: 'user-set' } }),
      workspace('other'),
      service('cache', 'other', { ports: [6379] }),
    ],
    { TOKEN: 's3cret' },
  );

  it('layers workspace env, service env, then discovery of the same workspace', () => {
    expect(serviceEnv(set, 'web')).toEqual({
      NODE_ENV: 'development',
      SHARED: 'from-service',
      TOKEN: 's3cret',
      PORT: '3000',
      VENDETTA_SERVICE_DB_MAIN_HOST: '127.0.0.1',
      VENDETTA_SERVICE_DB_MAIN_PORT: '5432',
      VENDETTA_SERVICE_DB_MAIN_URL: 'http://127.0.0.1:5432',
      VENDETTA_SERVICE_WEB_HOST: '127.0.0.1',
      VENDETTA_SERVICE_WEB_PORT: '3000',
      VENDETTA_SERVICE_WEB_URL: 'http://127.0.0.1:3000',
    });
  });

  it('gives discovery the last word and leaves out services without ports or of other workspaces', () => {
    const env = serviceEnv(set, 'worker');
    expect(env.VENDETTA_SERVICE_WEB_PORT).toBe('3000');
    expect(Object.keys(env).filter((k) => k.startsWith('VENDETTA_SERVICE_WORKER'))).toEqual([]);
    expect(Object.keys(env).filter((k) => k.startsWith('VENDETTA_SERVICE_CACHE'))).toEqual([]);
    expect(serviceEnv(set, 'cache')).toEqual({
      VENDETTA_SERVICE_CACHE_HOST: '127.0.0.1',
      VENDETTA_SERVICE_CACHE_PORT: '6379',
      VENDETTA_SERVICE_CACHE_URL: 'http://127.0.0.1:6379',
    });
  });

  it('uses literal env when the loader left no resolved entry, and refuses unresolved references', () => {
    const bare: LoadedSet = {
      desired: {
        nodes: new Map(),
        workspaces: new Map([['api', workspace('api', { env: { A: '1' } })]]),
        services: new Map([['web', service('web', 'api', { env: { B: { fromFile: '/run/b' } } })]]),
      },
      env: new Map(),
    };
    expect(desiredWorkspace(bare, 'api', TEST_IDENTITY).env).toEqual({ A: '1' });
    expect(() => serviceEnv(bare, 'web')).toThrow(/env B of service\/web references fromFile \/run\/b but was not resolved/);
  });
});

describe('desiredWorkspace', () => {
  it('carries resolved env (secrets included, for the driver) and the spec hash', () => {
    const set = loaded([workspace('api', { env: { TOKEN: { fromEnv: 'T' } } })], { T: 'v1' });
    const dw = desiredWorkspace(set, 'api', TEST_IDENTITY);
    expect(dw.env).toEqual({ TOKEN: 'v1' });
    expect(dw.specHash).not.toBe(desiredWorkspace(loaded([workspace('api', { env: { TOKEN: { fromEnv: 'T' } } })], { T: 'v2' }), 'api', TEST_IDENTITY).specHash);
    expect(() => desiredWorkspace(set, 'nope', TEST_IDENTITY)).toThrow('workspace nope is not in the desired set');
  });
});

describe('serviceWorkdir', () => {
  const root = '/home/dev/.vendetta/ws/api';
  it.each([
    [undefined, root],
    ['', root],
    ['app', `${root}/app`],
    ['./app/../src', `${root}/src`],
    ['/workspace', root],
    ['/workspace/', root],
    ['/workspace/app/web', `${root}/app/web`],
    ['/workspaces/x', '/workspaces/x'],
    ['/opt/tool', '/opt/tool'],
  ])('%s → %s', (workdir, expected) => {
    expect(serviceWorkdir(workdir, root)).toBe(expected);
  });

  it('is the identity for containers, whose tree is /workspace', () => {
    expect(serviceWorkdir('/workspace/app', '/workspace')).toBe('/workspace/app');
    expect(serviceWorkdir(undefined, '/workspace')).toBe('/workspace');
  });
});

describe('desiredService', () => {
  it('computes env, workdir and a hash over both', () => {
    const set = loaded([workspace('api'), service('web', 'api', { workdir: 'web', ports: [3000] })]);
    const ds = desiredService(set, 'web', '/srv/api', TEST_IDENTITY.key);
    expect(ds.workdir).toBe('/srv/api/web');
    expect(ds.env.VENDETTA_SERVICE_WEB_URL).toBe('http://127.0.0.1:3000');
    expect(ds.specHash).toBe(serviceSpecHash(ds.resource, ds.env, TEST_IDENTITY.key));
    expect(() => desiredService(set, 'nope', '/srv', TEST_IDENTITY.key)).toThrow('service nope is not in the desired set');
  });
});
