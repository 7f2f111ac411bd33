// Watch latency: manifest saved → first provider operation. Runs `apply --watch` (built CLI) on a
// local process workspace, rewrites the manifest N times with a new env value, and reads the
// "Restarted" event's timestamp from the store's events.jsonl. Usage: node bench/watch-latency.mjs [runs]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '../dist/vendetta.js');
const runs = Number(process.argv[2] ?? 5);
const home = mkdtempSync(join(tmpdir(), 'vendetta-bench-watch-'));
const file = join(home, 'set.yaml');
const manifest = (v) => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: bench-watch}
spec: {node: local, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: bench-watch-svc}
spec: {workspace: bench-watch, env: {V: "${v}"}, command: exec sleep 600}
`;
const events = () => (existsSync(join(home, 'events.jsonl')) ? readFileSync(join(home, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : []);
const until = async (f) => { for (;;) { const v = f(); if (v) return v; await new Promise((r) => setTimeout(r, 20)); } };

writeFileSync(file, manifest(0));
const env = { ...process.env, VENDETTA_HOME: home, NO_COLOR: '1' };
const child = spawn(process.execPath, [CLI, 'apply', '--watch', '-f', file, '--resync', '60s'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
let err = '';
child.stderr.on('data', (d) => (err += d));
await until(() => /watching/.test(err));
const latencies = [];
for (let i = 1; i <= runs; i++) {
  const seen = events().length;
  const written = Date.now();
  writeFileSync(file, manifest(i));
  const op = await until(() => events().slice(seen).find((e) => e.reason === 'Restarted'));
  latencies.push(Date.parse(op.time) - written);
  await until(() => err.split('watching').length - 1 > i); // the loop resumed
}
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));
spawn(process.execPath, [CLI, 'delete', 'workspace', 'bench-watch'], { env, stdio: 'ignore' }).on('exit', () => rmSync(home, { recursive: true, force: true }));
latencies.sort((a, b) => a - b);
console.log(JSON.stringify({ bench: 'watch-latency', runs, debounceMs: 300, msSavedToFirstOperation: latencies, median: latencies[Math.floor(runs / 2)], cpus: cpus().length, date: new Date().toISOString() }));
