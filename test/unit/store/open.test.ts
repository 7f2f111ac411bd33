import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStoreFrom, parseStoreSpec, StoreSpecError } from '../../../src/store/open.js';

describe('--store URL', () => {
  it('no value: the file store in VENDETTA_HOME; file:PATH: that directory (~ expanded)', () => {
    expect(parseStoreSpec(undefined, '/h')).toEqual({ backend: 'file', home: '/h' });
    expect(parseStoreSpec('', '/h')).toEqual({ backend: 'file', home: '/h' });
    expect(parseStoreSpec('file:/srv/vendetta')).toEqual({ backend: 'file', home: '/srv/vendetta' });
    expect(parseStoreSpec('file:///srv/vendetta')).toEqual({ backend: 'file', home: '/srv/vendetta' });
    expect(parseStoreSpec('file:~/v')).toEqual({ backend: 'file', home: path.join(os.homedir(), 'v') });
    expect(parseStoreSpec('file:rel')).toEqual({ backend: 'file', home: path.resolve('rel') });
  });

  it('etcd://HOST:PORT,…: the members', () => {
    expect(parseStoreSpec('etcd://h1:2379,h2:2379,10.0.0.3:2379')).toEqual({ backend: 'etcd', endpoints: ['h1:2379', 'h2:2379', '10.0.0.3:2379'] });
    expect(parseStoreSpec('etcd://127.0.0.1:2379/')).toEqual({ backend: 'etcd', endpoints: ['127.0.0.1:2379'] });
    expect(parseStoreSpec('etcd://[::1]:2379')).toEqual({ backend: 'etcd', endpoints: ['[::1]:2379'] });
  });

  it.each([
    ['etcd://', /needs at least one HOST:PORT/],
    ['etcd://h1', /"h1" is not HOST:PORT/],
    ['etcd://h1:2379,,h2:2379', /"" is not HOST:PORT/],
    ['etcd://h1:99999', /"h1:99999" is not HOST:PORT/],
    ['etcd://user@h1:2379', /is not HOST:PORT/],
    ['etcd://h1:2379/prefix', /is not HOST:PORT/],
    ['http://h1:2379', /expected file:PATH or etcd:\/\/HOST:PORT/],
    ['file:', /file: needs a directory/],
  ])('%s is refused, naming the flag and an example', (spec, why) => {
    let error: unknown;
    try {
      parseStoreSpec(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreSpecError);
    expect((error as Error).message).toContain(`invalid --store "${spec}"`);
    expect((error as Error).message).toMatch(why);
    expect((error as Error).message).toContain('e.g. --store etcd://127.0.0.1:2379');
  });

  it('openStoreFrom without a value opens the file store', async () => {
    const store = await openStoreFrom(undefined, '/nonexistent/vendetta-home');
    expect(store.home).toBe('/nonexistent/vendetta-home');
  });
});
