#!/usr/bin/env node
// Side by side, in one run: the same docker workspaces converged by
//   - vendetta (the built CLI),
//   - the floor: the raw Docker calls, every node in parallel, straight to each node's socket,
//   - Ansible: community.docker.docker_container over SSH (Debian's ansible, installed by
//     bench/ansible.sh),
//   - a naive loop: one `ssh node docker …` per call, one after the other.
// Each converges M busybox httpd containers per node, each publishing a port on its node's
// address, "until every port answers"; then a converged no-op. Medians of --runs, and ratios.
// Not a test: it prints Markdown for docs/benchmarks.md.
//
//   sudo bash test/infra/up.sh && npm run build && sudo bash bench/ansible.sh   # once
//   node bench/compare.mjs [--nodes 3] [--per-node 1] [--runs 5] [--only vendetta,floor,ansible,ssh]
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'dist/vendetta.js');
const E2E_DIR = process.env.VENDETTA_E2E_DIR ?? '/tmp/vendetta-e2e';
const PORT_BASE = 19100;

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    'per-node': { type: 'string', default: '1' },
    runs: { type: 'string', default: '5' },
    only: { type: 'string', default: 'vendetta,floor,ansible,ssh' },
  },
});
const NODES = Number(args.nodes);
const PER_NODE = Number(args['per-node']);
const RUNS = Number(args.runs);
const ONLY = new Set(args.only.split(','));

const infra = JSON.parse(readFileSync(join(E2E_DIR, 'env.json'), 'utf8'));
if (NODES > infra.nodes.length) throw new Error(`the e2e infra has ${infra.nodes.length} nodes; asked for ${NODES}`);
const nodes = infra.nodes.slice(0, NODES);
/** Every container of the run: its node, name and published port. */
const containers = nodes.flatMap((n, i) =>
  Array.from({ length: PER_NODE }, (_, k) => ({ node: n, name: `cmp-${n.name}-${k + 1}`, port: PORT_BASE + i * 100 + k + 1 })),
);

function run(cmd, argv, env = {}) {
  return new Promise((ok, fail) => {
    execFile(cmd, argv, { env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${cmd} ${argv.join(' ')}: ${err.message}\n${stdout}\n${stderr}`));
      else ok(stdout);
    });
  });
}
const docker = (node, ...argv) => run('docker', ['-H', `unix://${node.dockerSocket}`, ...argv]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Resolves once host:port accepts a TCP connection (polled every 20 ms, 60 s at most). */
async function answers(host, port) {
  const until = Date.now() + 60_000;
  for (;;) {
    const ok = await new Promise((res) => {
      const s = connect({ host, port });
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${host}:${port} never answered`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const allAnswer = () => Promise.all(containers.map((c) => answers(c.node.address, c.port)));

/** Removes every container of this bench on every node (labelled bench=compare), in parallel. */
async function clearNodes() {
  await Promise.all(
    nodes.map(async (n) => {
      const ids = (await docker(n, 'ps', '-aq', '--filter', 'label=bench=compare')).split('\n').filter(Boolean);
      const managed = (await docker(n, 'ps', '-aq', '--filter', 'label=vendetta.dev/managed=true', '--filter', 'name=cmp-')).split('\n').filter(Boolean);
      if (ids.length + managed.length > 0) await docker(n, 'rm', '-f', ...ids, ...managed);
    }),
  );
}

const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/var/www'];

// ---- the four contenders: each has cold() (create + start, until every port answers) and noop()

function floor() {
  // What the daemons need: create + start per container, every node in parallel, no SSH.
  return {
    cold: async () => {
      await Promise.all(
        nodes.map(async (n) => {
          for (const c of containers.filter((x) => x.node === n)) {
            await docker(n, 'run', '-d', '--name', c.name, '--label', 'bench=compare', '-p', `${n.address}:${c.port}:80`, infra.image, ...HTTPD);
          }
        }),
      );
      await allAnswer();
    },
    // A no-op needs one listing per node.
    noop: () => Promise.all(nodes.map((n) => docker(n, 'ps', '--filter', 'label=bench=compare', '--format', '{{.Names}} {{.State}}'))),
  };
}

function sshLoop() {
  const SSH = ['-p', '2222', '-i', infra.clientKey, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];
  const ssh = (n, cmd) => run('ssh', [...SSH, `${infra.user}@${n.address}`, cmd]);
  return {
    // What a user writes first: for each container, is it there? if not, run it.
    cold: async () => {
      for (const c of containers) {
        const there = (await ssh(c.node, `docker ps -q --filter name=^${c.name}$`)).trim();
        if (!there) await ssh(c.node, `docker run -d --name ${c.name} --label bench=compare -p ${c.node.address}:${c.port}:80 ${infra.image} ${HTTPD.join(' ')}`);
      }
      await allAnswer();
    },
    noop: async () => {
      for (const c of containers) await ssh(c.node, `docker ps -q --filter name=^${c.name}$`);
    },
  };
}

function ansible(dir) {
  const inventory = join(dir, 'inventory.ini');
  writeFileSync(
    inventory,
    '[nodes]\n' +
      nodes
        .map((n) => `${n.name} ansible_host=${n.address} ansible_port=2222 ansible_user=${infra.user} ansible_ssh_private_key_file=${infra.clientKey} docker_socket=${n.dockerSocket}`)
        .join('\n') +
      '\n',
  );
  const playbook = join(dir, 'playbook.yml');
  const items = (n) => containers.filter((c) => c.node === n).map((c) => ({ name: c.name, port: c.port }));
  writeFileSync(
    playbook,
    `- hosts: nodes
  gather_facts: false
  tasks:
    - name: httpd containers
      community.docker.docker_container:
        docker_host: "unix://{{ docker_socket }}"
        name: "{{ item.name }}"
        image: ${infra.image}
        command: ${JSON.stringify(HTTPD.join(' '))}
        labels: {bench: compare}
        published_ports: ["{{ ansible_host }}:{{ item.port }}:80"]
        state: started
      loop: "{{ per_node[inventory_hostname] }}"
  vars:
    per_node: ${JSON.stringify(Object.fromEntries(nodes.map((n) => [n.name, items(n)])))}
`,
  );
  const env = { ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_PIPELINING: 'True', ANSIBLE_STDOUT_CALLBACK: 'default', ANSIBLE_RETRY_FILES_ENABLED: 'False', ANSIBLE_FORKS: '10' };
  const play = () => run('ansible-playbook', ['-i', inventory, playbook], env);
  return {
    cold: async () => {
      await play();
      await allAnswer();
    },
    noop: play,
  };
}

function vendetta(dir) {
  const home = join(dir, 'home');
  const env = { VENDETTA_HOME: home, VENDETTA_KNOWN_HOSTS: join(dir, 'known_hosts'), VENDETTA_SSH_DIR: join(dir, 'ssh') };
  writeFileSync(env.VENDETTA_KNOWN_HOSTS, '');
  const file = join(dir, 'compare.yaml');
  const docs = nodes.map(
    (n) => `apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: ${n.name}}
spec: {address: ${n.address}, port: 2222, user: ${infra.user}, identityFile: ${infra.clientKey}, providers: {docker: {socket: ${n.dockerSocket}}}}
`,
  );
  for (const c of containers) {
    docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${c.name}}
spec: {node: ${c.node.name}, provider: docker, image: ${infra.image}, pull: never, ports: ["${c.node.address}:${c.port}:80"]}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${c.name}-httpd}
spec: {workspace: ${c.name}, command: ${HTTPD.join(' ')}}
`);
  }
  writeFileSync(file, docs.join('---\n'));
  const cli = (...a) => run(process.execPath, [CLI, ...a], env);
  return {
    cold: async () => {
      await cli('apply', '-f', file);
      await allAnswer();
    },
    noop: async () => {
      const out = JSON.parse(await cli('apply', '-f', file, '-o', 'json'));
      if (out.operationsRun !== 0) throw new Error(`vendetta no-op apply ran ${out.operationsRun} operations`);
    },
    teardown: () => cli('delete', '-f', file),
  };
}

// ---- the run --------------------------------------------------------------------------------

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-compare-'));
  const contenders = { vendetta: vendetta(dir), floor: floor(), ansible: ansible(dir), ssh: sshLoop() };
  const results = {};
  try {
    await clearNodes();
    // Interleaved rounds: each round runs every contender once, so drift in the machine's load
    // hits all of them alike.
    for (let r = 0; r < RUNS; r++) {
      for (const [name, c] of Object.entries(contenders)) {
        if (!ONLY.has(name)) continue;
        const res = (results[name] ??= { cold: [], noop: [] });
        res.cold.push(await timed(c.cold));
        res.noop.push(await timed(c.noop));
        if (c.teardown) await c.teardown();
        await clearNodes();
        process.stderr.write(`round ${r + 1}/${RUNS} ${name}: cold ${(res.cold.at(-1) / 1000).toFixed(2)} s, no-op ${(res.noop.at(-1) / 1000).toFixed(2)} s\n`);
      }
    }
  } finally {
    await contenders.vendetta.teardown().catch(() => undefined);
    await clearNodes().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const fl = results.floor && { cold: median(results.floor.cold), noop: median(results.floor.noop) };
  const rows = Object.entries(results).map(([name, r]) => {
    const cold = median(r.cold);
    const noop = median(r.noop);
    const v = results.vendetta && { cold: median(results.vendetta.cold), noop: median(results.vendetta.noop) };
    return `| ${name} | ${s(cold)} | ${fl ? (cold / fl.cold).toFixed(1) + '×' : '—'} | ${v ? (cold / v.cold).toFixed(1) + '×' : '—'} | ${s(noop)} | ${v ? (noop / v.noop).toFixed(1) + '×' : '—'} |`;
  });
  process.stdout.write(
    [
      `Run: ${new Date().toISOString()}; ${NODES} nodes × ${PER_NODE} docker workspaces; median of ${RUNS} interleaved rounds.`,
      `Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}.`,
      '',
      '| contender | cold, until every port answers | × floor | × vendetta | converged no-op | × vendetta |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
