// An http.Agent whose connections are unix-socket streams opened on a node through its Transport
// (stream-local forwarding on SSH): how the Docker and LXD REST clients reach their daemons.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Transport } from './types.js';

// http.ClientRequest and http.Agent call these socket methods; an ssh2 channel lacks them.
function asSocket(stream: Duplex): Duplex {
  const s = stream as Duplex & Record<string, unknown>;
  for (const method of ['setNoDelay', 'setKeepAlive', 'setTimeout', 'ref', 'unref']) {
    if (typeof s[method] !== 'function') s[method] = () => s;
  }
  return s;
}

export class TransportUnixAgent extends http.Agent {
  constructor(
    private readonly transport: Transport,
    private readonly socketPath: string,
  ) {
    // One connection per request: hijacked exec streams take their connection away anyway, and
    // opening a stream-local channel on an open SSH connection is cheap.
    super({ keepAlive: false });
  }

  override createConnection(_options: unknown, callback: (err: Error | null, socket?: Duplex) => void): undefined {
    this.transport.connectUnix(this.socketPath).then(
      (stream) => callback(null, asSocket(stream)),
      (err: Error) => callback(err),
    );
    return undefined;
  }
}

/** One request through such an agent, its whole answer read as text (the REST clients parse it). */
export function requestText(
  agent: http.Agent,
  options: { host: string; path: string; method: string; headers?: http.OutgoingHttpHeaders },
  payload?: string | Buffer,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}
