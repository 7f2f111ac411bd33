// Tokens and roles (pure): hashing, lookup by hash, the owner's token, what each role may do.
import { describe, expect, it } from 'vitest';
import { allows, bearer, checkTokenName, hashToken, identify, newToken, parseRole, requiredRole } from '../../../src/server/auth.js';
import type { TokenRecord } from '../../../src/store/types.js';

const record = (name: string, token: string, role: TokenRecord['role'], revoked?: string): TokenRecord => ({ name, role, hash: hashToken(token), created: 't', ...(revoked ? { revoked } : {}) });

describe('tokens', () => {
  it('are 32 random bytes (base64url), never the same twice; the stored hash is their SHA-256', () => {
    const a = newToken();
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(newToken()).not.toBe(a);
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashToken(a)).not.toContain(a);
  });

  it('identify: the owner token is admin "owner"; a stored token by its hash; revoked; unknown', () => {
    const tokens = [record('alice', 'tok-a', 'edit'), record('bob', 'tok-b', 'view'), record('carol', 'tok-c', 'admin', '2026-12-01T00:00:00Z')];
    expect(identify('owner-secret', 'owner-secret', tokens)).toEqual({ name: 'owner', role: 'admin' });
    expect(identify('tok-a', 'owner-secret', tokens)).toEqual({ name: 'alice', role: 'edit' });
    expect(identify('tok-b', 'owner-secret', tokens)).toEqual({ name: 'bob', role: 'view' });
    expect(identify('tok-c', 'owner-secret', tokens)).toBe('revoked');
    expect(identify('tok-x', 'owner-secret', tokens)).toBeUndefined();
    expect(identify(undefined, 'owner-secret', tokens)).toBeUndefined();
    // The hash itself is not a token.
    expect(identify(hashToken('tok-a'), 'owner-secret', tokens)).toBeUndefined();
  });

  it('bearer reads only "Bearer <token>"', () => {
    expect(bearer('Bearer abc')).toBe('abc');
    expect(bearer('bearer  abc')).toBe('abc');
    expect(bearer('abc')).toBeUndefined();
    expect(bearer('Basic abc')).toBeUndefined();
    expect(bearer(undefined)).toBeUndefined();
  });

  it('names and roles are checked; "owner" is taken', () => {
    expect(() => checkTokenName('alice.w-1_x')).not.toThrow();
    expect(() => checkTokenName('owner')).toThrow(/server.token/);
    expect(() => checkTokenName('a b')).toThrow(/invalid token name/);
    expect(() => checkTokenName('')).toThrow(/invalid token name/);
    expect(parseRole('edit')).toBe('edit');
    expect(() => parseRole('root')).toThrow(/view, edit or admin/);
  });
});

describe('roles', () => {
  it('reads (and plan) need view; every change needs edit', () => {
    expect(requiredRole('GET', '/resources')).toBe('view');
    expect(requiredRole('GET', '/events')).toBe('view');
    expect(requiredRole('POST', '/plan')).toBe('view');
    expect(requiredRole('POST', '/apply')).toBe('edit');
    expect(requiredRole('POST', '/delete')).toBe('edit');
    expect(requiredRole('DELETE', '/resources/workspace/api')).toBe('edit');
    expect(requiredRole('PUT', '/anything')).toBe('edit');
  });

  it('each role may do what the roles below it may', () => {
    expect(allows('view', 'view')).toBe(true);
    expect(allows('view', 'edit')).toBe(false);
    expect(allows('edit', 'edit')).toBe(true);
    expect(allows('edit', 'admin')).toBe(false);
    expect(allows('admin', 'edit')).toBe(true);
    expect(allows('admin', 'admin')).toBe(true);
  });
});
