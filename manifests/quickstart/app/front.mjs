// A front page that calls the API it depends on, found through service discovery env vars.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 18080);
const api = process.env.VENDETTA_SERVICE_API_URL ?? 'http://127.0.0.1:18081';

createServer(async (req, res) => {
  try {
    const reply = await fetch(`${api}/api/greeting`).then((r) => r.json());
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<h1>${reply.greeting} from vendetta</h1><p>the API has been called ${reply.hits} times</p>\n`);
  } catch (e) {
    res.writeHead(502, { 'content-type': 'text/plain' }).end(`api unreachable at ${api}: ${e.message}\n`);
  }
}).listen(port, '127.0.0.1', () => console.log(`front listening on http://127.0.0.1:${port} (api: ${api})`));
