// Node access through the server: the frames (pure), and the refusals before the 101 over real
// HTTP on loopback (token, role, unknown names, malformed paths) as the client sees them. The
// streams themselves run against real nodes in test/e2e/serve-access.test.ts.
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachAccess } from '../../../src/server/access.js';
import { openStream } from '../../../src/server/access-client.js';
import { hashToken, newToken } from '../../../src/server/auth.js';
import { ServerError } from '../../../src/server/client.js';
import { authorize, listen } from '../../../src/server/http.js';
import { encode, encodeJson, Frame, FrameError, FrameReader, MAX_FRAME_BYTES, UPGRADE_PROTOCOL } from '../../../src/server/stream.js';
import { openStore } from '../../../src/store/file-store.js';
import type { Store } from '../../../src/store/types.js';
import { TransportPool } from '../../../src/transport/pool.js';
import type { EventRecord } from '../../../src/model/types.js';

describe('stream frames', () => {
  it('come out of a FrameReader whole, however the bytes are cut', () => {
    const frames = [encode(Frame.Stdout, 'hello'), encode(Frame.StdinEnd), encodeJson(Frame.Exit, { code: 3 }), encode(Frame.Stderr, Buffer.alloc(9_000, 7))];
    const bytes = Buffer.concat(frames);
    for (const cut of [1, 2, 5, 6, 13, 4096, bytes.length]) {
      const reader = new FrameReader();
      const out: { type: number; payload: Buffer }[] = [];
      for (let i = 0; i < bytes.length; i += cut) out.push(...reader.push(bytes.subarray(i, i + cut)));
      expect(out.map((f) => f.type)).toEqual([Frame.Stdout, Frame.StdinEnd, Frame.Exit, Frame.Stderr]);
      expect(out[0]!.payload.toString()).toBe('hello');
      expect(out[1]!.payload.length).toBe(0);
      expect(JSON.parse(out[2]!.payload.toString())).toEqual({ code: 3 });
      expect(out[3]!.payload.equals(Buffer.alloc(9_000, 7))).toBe(true);
      expect(reader.pending).toBe(0);
    }
  });

  it('refuse a frame that announces more than the limit', () => {
    const head = Buffer.alloc(5);
    head.writeUInt8(Frame.Stdin, 0);
    head.writeUInt32BE(MAX_FRAME_BYTES + 1, 1);
    expect(() => new FrameReader().push(head)).toThrow(FrameError);
  });
});

describe('access endpoints: refusals before the stream opens', () => {
  let home: string;
  let store: Store;
  let server: http.Server;
  let url: string;
  let owner: string;
  const tokens: Record<string, string> = {};
  const recorded: EventRecord[] = [];
  const pool = new TransportPool({});

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'vendetta-unit-access-'));
    store = await openStore(home);
    owner = newToken();
    for (const [name, role] of [['vera', 'view'], ['ed', 'edit']] as const) {
      tokens[name] = newToken();
      await store.createToken({ name, role, hash: hashToken(tokens[name]!), created: new Date().toISOString() });
    }
    server = http.createServer((_req, res) => res.end());
    attachAccess(server, { store, pool, authorize: (req, needed, what) => authorize({ token: owner, store }, req, needed, what), record: (e) => recorded.push(e) });
    url = await listen(server, '127.0.0.1', 0);
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await pool.closeAll();
    await rm(home, { recursive: true, force: true });
  });

  const refusal = async (token: string, path: string) => {
    const err = await openStream({ url, token }, path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerError);
    return err as ServerError;
  };

  it('an unknown token is 401 with where tokens come from', async () => {
    const e = await refusal('nope', '/exec/api');
    expect(e.status).toBe(401);
    expect(e.message).toContain('missing or unknown bearer token');
    expect(e.hint).toContain('server.token');
  });

  it('a view token is 403 on exec, shell and port-forward, naming the role needed', async () => {
    for (const path of ['/exec/api', '/shell/api', '/port-forward/api/80']) {
      const e = await refusal(tokens.vera!, path);
      expect(e.status).toBe(403);
      expect(e.message).toMatch(/token "vera" has role view; (exec|shell|port-forward) \(\/api\/v1\/.*\) needs role edit \(HTTP 403\)/);
      expect(e.hint).toContain('--role edit');
    }
  });

  it('a view token may open logs: an unknown service is then a 404 with a hint', async () => {
    const e = await refusal(tokens.vera!, '/logs/web');
    expect(e.status).toBe(404);
    expect(e.message).toContain('service "web" has not been applied on this server');
    expect(e.hint).toContain('vendetta get services');
  });

  it('an unknown workspace is a 404; a bad port or path a 400/404 saying what is valid', async () => {
    expect((await refusal(tokens.ed!, '/exec/api')).message).toContain('workspace "api" has not been applied on this server');
    const port = await refusal(tokens.ed!, '/port-forward/api/70000');
    expect(port.status).toBe(400);
    expect(port.message).toContain('invalid port "70000"');
    const path = await refusal(owner, '/exec');
    expect(path.status).toBe(404);
    expect(path.hint).toContain('/api/v1/port-forward/NAME/PORT');
  });

  it('a request that is not an Upgrade to our protocol is refused with 400', async () => {
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${url}/api/v1/exec/api`, { headers: { authorization: `Bearer ${owner}`, connection: 'Upgrade', upgrade: 'websocket' } });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status.status).toBe(400);
    expect(JSON.parse(status.body).error).toContain(`Upgrade: ${UPGRADE_PROTOCOL}`);
    expect(recorded).toEqual([]);
  });
});
