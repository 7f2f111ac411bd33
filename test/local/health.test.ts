import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth } from '../../src/services/health.js';
import { LocalTransport } from '../../src/transport/local.js';
import { localRuntime, tempDir, until } from './helpers.js';

const t = new LocalTransport();
let dir: { path: string; cleanup: () => Promise<void> };
let http: Server;
let httpPort: number;
let silent: import('node:net').Server;
let silentPort: number;
let closedPort: number;
let silentClosed = 0;

function listening(server: import('node:net').Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

beforeAll(async () => {
  dir = await tempDir('health');
  http = createServer((req, res) => {
    if (req.url === '/health') res.end('ok');
    else if (req.url === '/moved') res.writeHead(302, { Location: '/health' }).end();
    else res.writeHead(503).end('down');
  });
  httpPort = await listening(http);
  // Accepts connections and never answers: an HTTP check must time out, not hang.
  silent = createTcpServer((c) => {
    c.resume(); // read, so a client that gives up is noticed
    c.on('close', () => silentClosed++);
  });
  silentPort = await listening(silent);
  const probe = createTcpServer();
  closedPort = await listening(probe);
  await new Promise((r) => probe.close(r));
});

afterAll(async () => {
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
  await new Promise((r) => silent.close(r));
  await dir.cleanup();
});

const rt = () => localRuntime(t, dir.path, `${dir.path}/state`);

describe('checkHealth', () => {
  it('exec: exit 0 is healthy, anything else is not', async () => {
    expect(await checkHealth({ exec: { command: 'test -d .' } }, rt(), t, 2000)).toEqual({ ok: true, message: 'exec "test -d ." → exit 0' });
    const bad = await checkHealth({ exec: { command: 'echo not ready >&2; exit 2' } }, rt(), t, 2000);
    expect(bad).toEqual({ ok: false, message: 'exec "echo not ready >&2; exit 2" → exit 2: not ready' });
  });

  it('exec: times out cleanly', async () => {
    const res = await checkHealth({ exec: { command: 'sleep 30' } }, rt(), t, 200);
    expect(res.ok).toBe(false);
    expect(res.message).toMatch(/timed out after 200ms/);
  });

  it('tcp: connects to an open port, reports a closed one as refused', async () => {
    expect(await checkHealth({ tcp: { port: httpPort } }, rt(), t, 2000)).toEqual({ ok: true, message: `tcp 127.0.0.1:${httpPort}: connected` });
    expect(await checkHealth({ tcp: { port: closedPort } }, rt(), t, 2000)).toEqual({
      ok: false,
      message: `tcp 127.0.0.1:${closedPort}: connection refused`,
    });
  });

  it('http: 2xx and 3xx are healthy, 5xx is not', async () => {
    expect(await checkHealth({ http: { port: httpPort, path: '/health' } }, rt(), t, 2000)).toEqual({
      ok: true,
      message: `http://127.0.0.1:${httpPort}/health → 200`,
    });
    expect((await checkHealth({ http: { port: httpPort, path: '/moved' } }, rt(), t, 2000)).ok).toBe(true);
    expect(await checkHealth({ http: { port: httpPort, path: '/fail' } }, rt(), t, 2000)).toEqual({
      ok: false,
      message: `http://127.0.0.1:${httpPort}/fail → 503`,
    });
  });

  it('http: refused and silent servers fail with a clear message', async () => {
    expect(await checkHealth({ http: { port: closedPort } }, rt(), t, 2000)).toEqual({
      ok: false,
      message: `http://127.0.0.1:${closedPort}/: connection refused`,
    });
    expect(await checkHealth({ http: { port: silentPort, path: '/health' } }, rt(), t, 300)).toEqual({
      ok: false,
      message: `http://127.0.0.1:${silentPort}/health: no response after 300ms`,
    });
    // The check closed its connection instead of leaking it.
    await until('connection closed', () => silentClosed === 1, 2000);
  });

  it('no check configured counts as healthy', async () => {
    expect((await checkHealth({}, rt(), t, 100)).ok).toBe(true);
  });
});
