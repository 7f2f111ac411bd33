// The web dashboard's files: one HTML page, one ES module and one stylesheet (src/server/ui/,
// copied to dist/ui/ by scripts/build.mjs), served at `/` and `/ui/…` without a token: they hold
// no data. The page asks for a token and sends it as `Authorization: Bearer` on every API call.
import { existsSync, promises as fs } from 'node:fs';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';

/** The only files served, by URL path: nothing else under ui/ is reachable (no path traversal). */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * Same origin only, no inline script or style: a token typed into the page can only go back to
 * this server.
 */
const HEADERS = {
  'cache-control': 'no-cache',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Where the files are: src/server/ui beside this module when run from source (tests), dist/ui
 * when bundled (this code sits in dist/ or dist/chunks/).
 */
export function uiDir(): string {
  const candidates = ['./ui/', '../ui/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  const found = candidates.find((dir) => existsSync(`${dir}index.html`));
  if (!found) throw new Error(`the dashboard's files are missing (looked in ${candidates.join(' and ')}): rebuild with \`npm run build\``);
  return found;
}

export function isDashboardPath(pathname: string): boolean {
  return pathname in FILES || pathname.startsWith('/ui/');
}

/** Answers a request for one of the dashboard's files (GET or HEAD). */
export async function serveDashboard(method: string, pathname: string, res: http.ServerResponse, dir = uiDir()): Promise<void> {
  const entry = FILES[pathname];
  if (!entry) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS });
    return void res.end(`no such file ${pathname}: the dashboard is at /\n`);
  }
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' });
    return void res.end(`use GET ${pathname}\n`);
  }
  const body = await fs.readFile(`${dir}${entry.file}`);
  res.writeHead(200, { 'content-type': entry.type, 'content-length': body.length, ...HEADERS });
  res.end(method === 'HEAD' ? undefined : body);
}
