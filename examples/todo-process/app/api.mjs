// A small todo API backed by a JSON file: GET/POST /todos, GET /health.
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';

const port = Number(process.env.PORT);
const load = () => JSON.parse(readFileSync('data/todos.json', 'utf8'));

createServer((req, res) => {
  if (req.url === '/health') return res.writeHead(200).end('ok');
  if (req.url === '/todos' && req.method === 'GET') {
    return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(load()));
  }
  if (req.url === '/todos' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const todos = load();
      const todo = { id: todos.length + 1, title: JSON.parse(body || '{}').title ?? 'untitled', done: false };
      writeFileSync('data/todos.json', JSON.stringify([...todos, todo]));
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(todo));
    });
    return;
  }
  res.writeHead(404).end();
}).listen(port, '127.0.0.1', () => console.log(`todo api on :${port}`));
