#!/usr/bin/env node
// Benchmark: vendetta (built CLI) vs the same work done naively with sequential `ssh … docker …`
// commands, on 3 and 10 SSH nodes. Not a test: it prints a Markdown report (machine, date,
// medians, ratios) for docs/benchmarks.md.
//
//   sudo bash test/infra/up.sh && npm run build     # once
//   node bench/run.mjs [--nodes 3|3,10] [--per-node 2] [--runs 3]
//
// Above 3 nodes it uses the bench nodes b1..b10 instead (each with its own dockerd): start them
// first with `sudo bash bench/infra.sh up 10`. bench/matrix.mjs supersedes this script.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'dist/vendetta.js');
const E2E_DIR = process.env.VENDETTA_E2E_DIR ?? '/tmp/vendetta-e2e';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    'per-node': { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
  },
});
const NODE_COUNTS = args.nodes.split(',').map(Number);
const PER_NODE = Number(args['per-node']);
const RUNS = Number(args.runs);

function run(cmd, argv, env = {}) {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, argv, { env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${argv.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolvePromise(stdout);
    });
  });
}

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- the nodes ------------------------------------------------------------------------------

function loadNodes(count) {
  const infra = JSON.parse(readFileSync(join(E2E_DIR, 'env.json'), 'utf8'));
  let nodes = infra.nodes.map((n) => ({ name: n.name, address: n.address, socket: n.dockerSocket }));
  if (count > nodes.length) {
    const benchEnv = join(process.env.VENDETTA_BENCH_DIR ?? '/tmp/vendetta-bench', 'env.json');
    nodes = JSON.parse(readFileSync(benchEnv, 'utf8')).nodes.map((n) => ({ name: n.name, address: n.address, socket: n.dockerSocket }));
  }
  if (count > nodes.length) throw new Error(`only ${nodes.length} nodes available, asked for ${count}`);
  return { infra, nodes: nodes.slice(0, count) };
}

function manifest(infra, nodes) {
  const docs = [];
  for (const n of nodes) {
    docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: ${n.name}}
spec: {address: ${n.address}, port: 2222, user: ${infra.user}, identityFile: ${infra.clientKey}, providers: {docker: {socket: ${n.socket}}}}
`);
    for (const ws of workspaceNames(n)) {
      docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${ws}}
spec: {node: ${n.name}, provider: docker, image: ${infra.image}, pull: never}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${ws}-httpd}
spec: {workspace: ${ws}, command: httpd -f -p 80 -h /var/www}
`);
    }
  }
  return docs.join('---\n');
}

function workspaceNames(node) {
  return Array.from({ length: PER_NODE }, (_, k) => `bench-${node.name}-${k + 1}`);
}

// ---- vendetta -------------------------------------------------------------------------------

async function benchVendetta(infra, nodes) {
  const home = mkdtempSync(join(tmpdir(), 'vendetta-bench-'));
  const env = { VENDETTA_HOME: home, VENDETTA_KNOWN_HOSTS: join(home, 'known_hosts'), VENDETTA_SSH_DIR: join(home, 'ssh') };
  writeFileSync(env.VENDETTA_KNOWN_HOSTS, '');
  const file = join(home, 'bench.yaml');
  writeFileSync(file, manifest(infra, nodes));
  const cli = (...a) => run(process.execPath, [CLI, ...a], env);
  const cold = [];
  const noop = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      cold.push(await timed(() => cli('apply', '-f', file)));
      for (let i = 0; i < RUNS; i++) {
        let out = '';
        noop.push(await timed(async () => (out = await cli('apply', '-f', file, '-o', 'json'))));
        const ops = JSON.parse(out).operationsRun;
        if (ops !== 0) throw new Error(`no-op apply ran ${ops} operations`);
      }
      await cli('delete', '-f', file);
    }
  } finally {
    await cli('delete', '-f', file).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
  return { cold: median(cold), noop: median(noop) };
}

// ---- naive: one ssh command per docker call, one after the other ----------------------------

const SSH_OPTS = ['-p', '2222', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];

function ssh(infra, node, command) {
  return run('ssh', ['-i', infra.clientKey, ...SSH_OPTS, `${infra.user}@${node.address}`, `docker -H unix://${node.socket} ${command}`]);
}

async function benchNaive(infra, nodes) {
  const cold = [];
  const noop = [];
  const all = nodes.flatMap((n) => workspaceNames(n).map((ws) => ({ node: n, name: `naive-${ws}` })));
  // A container left behind (a failed rm, an interrupted earlier run) would make the next
  // `docker create` of that name fail: say why, and clear leftovers before timing anything.
  const cleanup = async () => {
    for (const c of all) {
      await ssh(infra, c.node, `rm -f ${c.name}`).catch((e) =>
        process.stderr.write(`bench: removing ${c.name} on ${c.node.name} failed: ${e.message.trim().split('\n').pop()}\n`),
      );
    }
  };
  try {
    await cleanup();
    for (let r = 0; r < RUNS; r++) {
      cold.push(await timed(async () => {
        for (const c of all) {
          await ssh(infra, c.node, `create --name ${c.name} --label bench=naive ${infra.image} httpd -f -p 80 -h /var/www`);
          await ssh(infra, c.node, `start ${c.name}`);
        }
      }));
      for (let i = 0; i < RUNS; i++) {
        noop.push(await timed(async () => {
          for (const n of nodes) {
            await ssh(infra, n, 'ps --filter label=bench=naive --format {{.Names}}');
            for (const c of all.filter((x) => x.node === n)) await ssh(infra, n, `inspect --format {{.State.Running}} ${c.name}`);
          }
        }));
      }
      await cleanup();
    }
  } finally {
    await cleanup();
  }
  return { cold: median(cold), noop: median(noop) };
}

// ---- report ---------------------------------------------------------------------------------

const s = (ms) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  const rows = [];
  for (const count of NODE_COUNTS) {
    const { infra, nodes } = loadNodes(count);
    process.stderr.write(`bench: ${count} nodes × ${PER_NODE} workspaces…\n`);
    const v = await benchVendetta(infra, nodes);
    const n = await benchNaive(infra, nodes);
    rows.push({ count, workspaces: count * PER_NODE, v, n });
  }
  const version = (await run(process.execPath, [CLI, 'version'])).trim();
  const lines = [
    `Run: ${new Date().toISOString()} — ${version}`,
    `Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory (${(freemem() / 2 ** 30).toFixed(1)} GiB free), Linux ${release()}`,
    `Median of ${RUNS} runs (no-op: ${RUNS}×${RUNS}).`,
    '',
    '| nodes | workspaces | vendetta cold apply | naive ssh create+start | ratio | vendetta no-op apply | naive ssh ps+inspect | ratio |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.count} | ${r.workspaces} | ${s(r.v.cold)} | ${s(r.n.cold)} | ${(r.n.cold / r.v.cold).toFixed(1)}× | ${s(r.v.noop)} | ${s(r.n.noop)} | ${(r.n.noop / r.v.noop).toFixed(1)}× |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e.message}\n`);
  process.exit(1);
});
