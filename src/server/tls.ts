// TLS for the server API. The server side is https.createServer with --tls-cert/--tls-key
// (./http.ts). The client side: Node's fetch trusts only its bundled CAs (plus NODE_EXTRA_CA_CERTS,
// read at process start), and takes no per-request CA without the undici package, so a server
// with its own CA (VENDETTA_SERVER_CA=file) is reached through this small fetch over node:https.
import https from 'node:https';
import { Readable } from 'node:stream';

/** A fetch (the subset ApiClient uses: method, headers, body, signal) that trusts `ca` (PEM). */
export function fetchTrusting(ca: string | Buffer): typeof fetch {
  return ((input: string | URL, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(String(input));
      if (url.protocol !== 'https:') return reject(new TypeError(`fetch failed`, { cause: new Error(`VENDETTA_SERVER_CA is set but ${url.origin} is not https`) }));
      const method = init.method ?? 'GET';
      const req = https.request(url, { method, headers: init.headers as Record<string, string>, ca, signal: init.signal ?? undefined }, (res) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        const status = res.statusCode ?? 502;
        const empty = method === 'HEAD' || status === 204 || status === 304;
        if (empty) res.resume();
        resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream), { status, statusText: res.statusMessage, headers }));
      });
      // The same shape as fetch's failure: ApiClient reports err.cause.message.
      req.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
      req.end(init.body as string | Buffer | undefined);
    })) as typeof fetch;
}
