// Users and roles of the coordination server (pure: no I/O). A token is 32 random bytes; the
// store keeps only its SHA-256, so a leaked store grants nothing. The owner's server.token is an
// implicit admin named "owner".
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role, TokenRecord } from '../store/types.js';

export const ROLES: readonly Role[] = ['view', 'edit', 'admin'];
export const OWNER = 'owner';

/** Who sent a request: the token's name and role. */
export interface Principal {
  name: string;
  role: Role;
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function parseRole(text: string): Role {
  if (!(ROLES as string[]).includes(text)) throw new Error(`unknown role "${text}": use view, edit or admin`);
  return text as Role;
}

/** Names as they appear in events and `token list`; "owner" is the server.token's. */
export function checkTokenName(name: string): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/i.test(name)) throw new Error(`invalid token name "${name}": letters, digits, ".", "_" and "-", at most 63`);
  if (name === OWNER) throw new Error(`"${OWNER}" is the server.token's name: pick another`);
}

/** The bearer token of an `Authorization: Bearer …` header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Who holds `given`: the owner (server.token), or the stored token with its hash. Every
 * comparison is constant-time and every record is compared (no early exit on a match), so the
 * time taken says nothing about which hash was close. A revoked token is `revoked`.
 */
export function identify(given: string | undefined, ownerToken: string, tokens: TokenRecord[]): Principal | 'revoked' | undefined {
  if (!given) return undefined;
  if (sameBytes(Buffer.from(given), Buffer.from(ownerToken))) return { name: OWNER, role: 'admin' };
  const hash = Buffer.from(hashToken(given), 'hex');
  let found: TokenRecord | undefined;
  for (const t of tokens) {
    if (sameBytes(hash, Buffer.from(t.hash, 'hex')) && !found) found = t;
  }
  if (!found) return undefined;
  return found.revoked ? 'revoked' : { name: found.name, role: found.role };
}

/** The role a request needs: reads are `view` (plan too: it changes nothing), every other change `edit`. */
export function requiredRole(method: string, route: string): Role {
  if (method === 'GET' || method === 'HEAD') return 'view';
  if (method === 'POST' && route === '/plan') return 'view';
  return 'edit';
}

export function allows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
