// One-shot "migration": creates the data file the API needs, then exits 0.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';

mkdirSync('data', { recursive: true });
if (!existsSync('data/todos.json')) writeFileSync('data/todos.json', JSON.stringify([{ id: 1, title: 'try vendetta', done: false }]));
console.log('migration complete');
