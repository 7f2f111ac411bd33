// The web page: lists the todos it reads from the API (found via VENDETTA_SERVICE_TODO_API_URL).
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
createServer(async (_req, res) => {
  try {
    const todos = await fetch(`${process.env.VENDETTA_SERVICE_TODO_API_URL}/todos`).then((r) => r.json());
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<h1>${process.env.TITLE}</h1><ul>${todos.map((t) => `<li>${t.title}</li>`).join('')}</ul>`);
  } catch (e) {
    res.writeHead(502).end(String(e));
  }
}).listen(port, '127.0.0.1', () => console.log(`web on :${port}`));
