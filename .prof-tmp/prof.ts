// Temporary profiler (not committed): times no-op passes and every driver / exec call in them.
import { mkdtempSync, writeFileSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const infra = JSON.parse(readFileSync('/tmp/vendetta-e2e/env.json', 'utf8'));
const nodeCount = Number(process.argv[2] ?? 1), perNode = Number(process.argv[3] ?? 3), hc = process.argv[4] === 'hc';
const home = mkdtempSync(join(tmpdir(), 'vd-prof-'));
const ssh = join(home, 'ssh'); mkdirSync(ssh);
copyFileSync(infra.clientKey, join(ssh, 'id_ed25519'));
writeFileSync(join(ssh, 'known_hosts'), infra.nodes.map((n: any) => `[${n.address}]:${n.port} ${n.hostKeyPub}\n`).join(''));
Object.assign(process.env, { VENDETTA_HOME: home, VENDETTA_SSH_DIR: ssh, VENDETTA_KNOWN_HOSTS: join(ssh, 'known_hosts'), NO_COLOR: '1' });
const docs: string[] = [];
for (const n of infra.nodes.slice(0, nodeCount)) {
  docs.push(`apiVersion: vendetta.dev/v1alpha1\nkind: Node\nmetadata: {name: ${n.name}}\nspec: {address: ${n.address}, port: ${n.port}, user: ${infra.user}, identityFile: ${infra.clientKey}, providers: {docker: {socket: ${n.dockerSocket}}}}`);
  for (let i = 0; i < perNode; i++) {
    docs.push(`apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: prof-${n.name}-${i}}\nspec: {node: ${n.name}, provider: docker, image: ${infra.image}, pull: never}`);
    docs.push(`apiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: prof-${n.name}-${i}-svc}\nspec: {workspace: prof-${n.name}-${i}, command: exec sleep 600${hc ? ', healthcheck: {exec: [\"true\"], interval: 2s}' : ''}}`);
  }
}
const file = join(home, 'set.yaml'); writeFileSync(file, docs.join('\n---\n') + '\n');
const { openEngine, loadOrExit, drivers } = await import('../src/cli/context.js');
const { createEngine } = await import('../src/reconcile/engine.js');
const { openStore } = await import('../src/store/file-store.js');
const { TransportPool } = await import('../src/transport/pool.js');
const t0 = () => performance.now();
let base = t0();
const log = (s: string) => console.log(`${(t0() - base).toFixed(0).padStart(6)} ${s}`);
const ds = drivers();
const docker = ds.docker!;
const wrap = (obj: any, key: string, label: (...a: any[]) => string) => {
  const orig = obj[key].bind(obj);
  obj[key] = async (...a: any[]) => { const s = t0(); try { return await orig(...a); } finally { log(`${label(...a)} ${(t0() - s).toFixed(0)}ms`); } };
};
wrap(docker, 'observe', (c) => `observe ${c.node.metadata.name}`);
const origRt = docker.runtime.bind(docker);
docker.runtime = async (c: any, name: string) => { const s = t0(); const rt = await origRt(c, name); log(`runtime ${name} ${(t0() - s).toFixed(0)}ms`); wrap(rt, 'exec', (argv) => `  exec ${name} ${argv.join(' ').slice(0, 40)}`); return rt; };
const pool = new TransportPool({});
const store = await openStore();
const set = await loadOrExit([file]);
const engine = createEngine({ store, connect: (n) => pool.get(n), drivers: ds, events: {} });
const opts = { applySet: 'default', prune: false, timeoutMs: 120_000 };
let r = await engine.apply(set, opts);
console.log('first apply converged', r.converged);
for (let i = 0; i < 3; i++) {
  base = t0();
  log('--- pass');
  r = await engine.apply(set, opts);
  log(`--- end converged=${r.converged}`);
}
await engine.delete([...set.desired.workspaces.keys()].map((w) => `workspace/${w}`), { timeoutMs: 60_000, set } as any);
await engine.close(); await pool.closeAll?.();
process.exit(0);
