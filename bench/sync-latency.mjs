// Sync latency: a file saved under source.path → the file present in the workspace on the node.
// Runs `apply --watch` (built CLI) on a process workspace on the e2e node n1 (test/infra/up.sh),
// saves N new files one after the other, and times each until a shell loop ON THE NODE (one ssh
// session, polling every 10 ms) reports it there. Same machine, same clock. Side by side, in the
// same run: the floor (each saved file sent at once by one `ssh cat` over an open OpenSSH master
// connection) and what a user scripts instead (`rsync -a` of the tree over that connection on
// each save; its watcher's delay is not counted).
// Usage: node bench/sync-latency.mjs [runs=20]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '../dist/vendetta.js');
const runs = Number(process.argv[2] ?? 20);
const infra = JSON.parse(readFileSync(join(process.env.VENDETTA_E2E_DIR ?? '/tmp/vendetta-e2e', 'env.json'), 'utf8'));
const n1 = infra.nodes.find((n) => n.name === 'n1');
const home = mkdtempSync(join(tmpdir(), 'vendetta-bench-sync-'));
const src = join(home, 'src');
mkdirSync(join(src, 'app'), { recursive: true });
// A small project: a few hundred files, so each batch's scan is not of an empty tree.
for (let i = 0; i < 300; i++) writeFileSync(join(src, 'app', `m${i}.js`), `export const x${i} = ${i};\n`);
writeFileSync(join(src, '.gitignore'), 'node_modules/\n');
const WS = 'bench-sync';
writeFileSync(join(home, 'set.yaml'), `apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec: {address: ${n1.address}, port: ${n1.port}, user: ${infra.user}, identityFile: ${infra.clientKey}, hostKey: ${n1.hostKeyPub}}
---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${WS}}
spec: {node: n1, provider: process, source: {path: ${src}}}
`);
const env = { ...process.env, VENDETTA_HOME: home, NO_COLOR: '1' };
const until = async (f) => { for (;;) { const v = f(); if (v) return v; await new Promise((r) => setTimeout(r, 5)); } };

const child = spawn(process.execPath, [CLI, 'apply', '--watch', '-f', join(home, 'set.yaml'), '--resync', '600s'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
child.stdout.on('data', (d) => (out += d));
child.stderr.on('data', (d) => (out += d));
await until(() => /watching .* for changes/.test(out));
await new Promise((r) => setTimeout(r, 1000)); // the source watcher's first run

// On the node: print i as soon as <prefix><i>.txt exists, for i = 1..runs.
const dir = `.vendetta/workspaces/${WS}/workspace`;
const sshBase = ['-i', infra.clientKey, '-p', String(n1.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes'];
const target = `${infra.user}@${n1.address}`;

/** Saves `runs` new files one after the other; `push(i)` is what the tool does on a save (none: vendetta watches). */
async function measure(prefix, push) {
  const loop = `i=1; while [ $i -le ${runs} ]; do while [ ! -e "${dir}/${prefix}$i.txt" ]; do sleep 0.01; done; echo $i; i=$((i+1)); done`;
  const probe = spawn('ssh', [...sshBase, target, loop], { stdio: ['ignore', 'pipe', 'inherit'] });
  const seenAt = new Map();
  let buf = '';
  probe.stdout.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) seenAt.set(Number(l), Date.now());
  });
  await new Promise((r) => setTimeout(r, 500)); // the probe's session is up
  const latencies = [];
  for (let i = 1; i <= runs; i++) {
    const saved = Date.now();
    writeFileSync(join(src, `${prefix}${i}.txt`), `save ${i}\n`);
    if (push) await push(`${prefix}${i}.txt`);
    await until(() => seenAt.has(i));
    latencies.push(seenAt.get(i) - saved);
    await new Promise((r) => setTimeout(r, 150)); // saves apart, as a person makes them
  }
  probe.kill();
  const sorted = [...latencies].sort((a, b) => a - b);
  return { ms: latencies, median: sorted[Math.floor(runs / 2)], max: sorted[runs - 1] };
}

const run = (cmd, args) => new Promise((res, rej) => spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] }).on('exit', (c) => (c === 0 ? res() : rej(new Error(`${cmd} exited ${c}`)))));
const vendetta = await measure('v');
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));

// The other tools reuse one OpenSSH master connection, as vendetta reuses its own: no handshake per save.
const ctl = join(home, 'ctl');
const master = spawn('ssh', [...sshBase, '-M', '-S', ctl, '-N', target], { stdio: 'ignore' });
await until(() => existsSync(ctl));
const viaMaster = ['-S', ctl, ...sshBase];
// The floor: the saved file's bytes in one exec over the open connection, at once (no watching, no scan).
const floor = await measure('f', (name) => new Promise((res, rej) => {
  const c = spawn('ssh', [...viaMaster, target, `cat > ${dir}/${name}`], { stdio: ['pipe', 'ignore', 'inherit'] });
  c.stdin.end(readFileSync(join(src, name)));
  c.on('exit', (code) => (code === 0 ? res() : rej(new Error(`ssh cat exited ${code}`))));
}));
// What a user scripts: rsync of the tree over ssh on every save (called at once: its watcher's delay not counted).
const rsync = await measure('r', () => run('rsync', ['-a', '--exclude=node_modules/', '-e', `ssh ${viaMaster.join(' ')}`, `${src}/`, `${target}:${dir}/`]));
master.kill();

await new Promise((r) => spawn(process.execPath, [CLI, 'delete', '-f', join(home, 'set.yaml')], { env, stdio: 'ignore' }).on('exit', r));
rmSync(home, { recursive: true, force: true });
console.log(JSON.stringify({ bench: 'sync-latency', node: 'n1 (ssh, process workspace)', runs, vendetta, floor, rsync, ratios: { vendettaToFloor: +(vendetta.median / floor.median).toFixed(2), vendettaToRsync: +(vendetta.median / rsync.median).toFixed(2) }, cpus: cpus().length, date: new Date().toISOString() }));
