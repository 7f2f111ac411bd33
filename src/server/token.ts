// The server's bearer token: generated once into $VENDETTA_HOME/server.token (mode 0600).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export function tokenPath(home: string): string {
  return path.join(home, 'server.token');
}

/** Reads the token, creating it (exclusively, 0600) on first start. */
export async function ensureToken(home: string): Promise<string> {
  const file = tokenPath(home);
  try {
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      await handle.writeFile(randomBytes(32).toString('base64url') + '\n');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create ${file}: ${(err as Error).message}`);
  }
  await fs.chmod(file, 0o600); // an existing file with looser permissions is tightened
  const token = (await fs.readFile(file, 'utf8')).trim();
  if (!token) throw new Error(`${file} is empty: delete it and restart vendetta serve to generate a new token`);
  return token;
}

/** Constant-time check of an `Authorization: Bearer …` header. */
export function authorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
