// A tiny JSON API: GET /health and GET /api/greeting. Needs nothing but Node.js.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 18081);
let hits = 0;

createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (req.url === '/api/greeting') {
    hits += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ greeting: process.env.GREETING ?? 'hello', hits }) + '\n');
    return;
  }
  res.writeHead(404).end('not found\n');
}).listen(port, '127.0.0.1', () => console.log(`api listening on http://127.0.0.1:${port}`));
