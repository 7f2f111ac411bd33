// Cost of one resync pass: `vendetta serve --resync 0ms` runs passes back to back over a set of
// docker workspaces on 1 or 3 infra nodes (test/infra/up.sh), with nothing drifting; the pass
// duration is the window divided by the passes /healthz counted in it.
// Usage: node bench/resync.mjs [workspacesPerNode] [windowSeconds]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '../dist/vendetta.js');
const perNode = Number(process.argv[2] ?? 3);
const windowMs = Number(process.argv[3] ?? 10) * 1000;
const infra = JSON.parse(readFileSync(join(process.env.VENDETTA_E2E_DIR ?? '/tmp/vendetta-e2e', 'env.json'), 'utf8'));

async function measure(nodeCount) {
  const home = mkdtempSync(join(tmpdir(), 'vendetta-bench-resync-'));
  const ssh = join(home, 'ssh');
  mkdirSync(ssh);
  copyFileSync(infra.clientKey, join(ssh, 'id_ed25519'));
  writeFileSync(join(ssh, 'known_hosts'), infra.nodes.map((n) => `[${n.address}]:${n.port} ${n.hostKeyPub}\n`).join(''));
  const env = { ...process.env, VENDETTA_HOME: home, VENDETTA_SSH_DIR: ssh, VENDETTA_KNOWN_HOSTS: join(ssh, 'known_hosts'), NO_COLOR: '1' };
  const docs = [];
  for (const n of infra.nodes.slice(0, nodeCount)) {
    docs.push(`apiVersion: vendetta.dev/v1alpha1\nkind: Node\nmetadata: {name: ${n.name}}\nspec: {address: ${n.address}, port: ${n.port}, user: ${infra.user}, identityFile: ${infra.clientKey}, providers: {docker: {socket: ${n.dockerSocket}}}}`);
    for (let i = 0; i < perNode; i++) {
      docs.push(`apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: bench-rs-${n.name}-${i}}\nspec: {node: ${n.name}, provider: docker, image: ${infra.image}, pull: never}`);
      docs.push(`apiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: bench-rs-${n.name}-${i}-svc}\nspec: {workspace: bench-rs-${n.name}-${i}, command: exec sleep 600}`);
    }
  }
  const file = join(home, 'set.yaml');
  writeFileSync(file, docs.join('\n---\n') + '\n');
  const applied = spawnSync(process.execPath, [CLI, 'apply', '-f', file], { env, encoding: 'utf8' });
  if (applied.status !== 0) throw new Error(applied.stdout + applied.stderr);
  const server = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--resync', '0ms'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise((r) => { let out = ''; server.stdout.on('data', (d) => { out += d; const m = /listening on (\S+)/.exec(out); if (m) r(m[1]); }); });
  const token = readFileSync(join(home, 'server.token'), 'utf8').trim();
  const passes = async () => (await (await fetch(`${url}/api/v1/healthz`, { headers: { authorization: `Bearer ${token}` } })).json()).passes;
  while ((await passes()) < 2) await new Promise((r) => setTimeout(r, 100));
  const p0 = await passes(); const t0 = Date.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const p1 = await passes(); const t1 = Date.now();
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  spawnSync(process.execPath, [CLI, 'delete', '-f', file], { env });
  rmSync(home, { recursive: true, force: true });
  return { nodes: nodeCount, workspaces: nodeCount * perNode, passes: p1 - p0, msPerPass: Math.round(((t1 - t0) / (p1 - p0)) * 10) / 10 };
}

const results = [];
for (const n of [1, 3]) results.push(await measure(n));
console.log(JSON.stringify({ bench: 'resync', perNode, windowMs, results, cpus: cpus().length, date: new Date().toISOString() }));
