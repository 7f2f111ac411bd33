// The server's owner token: generated once into $VENDETTA_HOME/server.token (mode 0600). Requests
// are checked against it, and against the stored tokens, in ./auth.ts.
import { randomBytes } from 'node:crypto';
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
