#!/usr/bin/env node
// The side-by-side matrix, in one run: vendetta vs the floor vs Ansible vs a naive ssh loop, at
// N nodes × M workspaces per node, for docker and process workspaces. Each workspace is one
// busybox httpd; "ready" = its port answers an HTTP request.
//
//   sudo bash test/infra/up.sh          # the e2e user, key and busybox image (once)
//   sudo bash bench/infra.sh up 10      # bench nodes b1..b10, each with its own dockerd
//   sudo bash bench/ansible.sh          # Debian's ansible + python3-docker
//   node scripts/build.mjs              # dist/vendetta.js
//   node bench/matrix.mjs --full --docs # the whole matrix (see docs/benchmarks.md for its duration);
//                                       # --docs also writes docs/benchmarks-growth-<N>nodes.svg
//   node bench/matrix.mjs --nodes 1,3 --per-node 1,10 --runs 3   # a small one
//   node bench/matrix.mjs --render bench/results/matrix-….json   # Markdown + SVG again from a result
//
// Flags (defaults without --full in brackets): --nodes 1,3,10 [1,3]  --per-node 1,10,30,100 [1,10]
//   --providers docker,process  --tools vendetta,floor,ansible,ssh  --runs 5 [3]
//   --cap TOOL=ABOVE:RUNS (repeatable; --full: ansible and ssh 1 run above 30 workspaces, none above 100)
//   --floor-concurrency 8  --timeout 1800 (s, per command)  --serve-window 30 [20] (s)
//   --serve-at max|all|none  --watch-saves 5 [3]  --out bench/results  --label TEXT
//   --docs (also write docs/benchmarks-growth-<N>nodes.svg)  --render RESULT.json  --help
//
// Contenders (each has cold, noop, diff, delete):
//   vendetta  the built CLI: apply / apply again / diff / delete -f, each under /usr/bin/time (peak RSS)
//   floor     docker: the Engine API straight on each node's socket (create+start, list, list,
//             rm -f), every node in parallel, --floor-concurrency calls at a time per node.
//             process: ONE ssh per node running `sh -c '… &'` for all of its httpds (start, kill -0,
//             kill -0, kill + rm)
//   ansible   docker: community.docker.docker_container over SSH; process: a shell task per item
//             (no diff: a shell task does nothing in --check mode)
//   ssh       one `ssh node …` per workspace and step, one after the other
// vendetta also gets, once per size: watch latency (manifest save → first event of the changed
// service, default debounce), and `vendetta serve` CPU (utime+stime over a window, default resync).
// Interleaved rounds: each round runs every contender once, in a rotating order. Caps (--cap)
// lower the runs, or skip a contender, above a number of workspaces; the output records them.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { connect } from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { markdown, svgs } from './report.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'dist/vendetta.js');
const BENCH_DIR = process.env.VENDETTA_BENCH_DIR ?? '/tmp/vendetta-bench';
const TOOLS = ['vendetta', 'floor', 'ansible', 'ssh'];
const HTTPD = 'httpd -f -p 80 -h /var/www';
const PORT_BASE = 20000;
const CLK_TCK = 100; // getconf CLK_TCK on Linux x86_64

const { values: args } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    nodes: { type: 'string' },
    'per-node': { type: 'string' },
    providers: { type: 'string' },
    tools: { type: 'string' },
    runs: { type: 'string' },
    cap: { type: 'string', multiple: true },
    'floor-concurrency': { type: 'string', default: '8' },
    'serve-window': { type: 'string' },
    'serve-at': { type: 'string' },
    'watch-saves': { type: 'string' },
    timeout: { type: 'string', default: '1800' },
    out: { type: 'string', default: join(REPO, 'bench/results') },
    render: { type: 'string' },
    label: { type: 'string', default: '' },
    docs: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

// --full: the issue's matrix. Ansible and the ssh loop are slow by nature (seconds per workspace):
// above 30 workspaces in all they run once, and above 100 not at all.
const FULL = { nodes: '1,3,10', perNode: '1,10,30,100', providers: 'docker,process', runs: '5', caps: ['ansible=30:1', 'ansible=100:0', 'ssh=30:1', 'ssh=100:0'], serveWindow: '30', serveAt: 'max', watchSaves: '5' };
const SMALL = { nodes: '1,3', perNode: '1,10', providers: 'docker,process', runs: '3', caps: [], serveWindow: '20', serveAt: 'max', watchSaves: '3' };
const D = args.full ? FULL : SMALL;
const cfg = {
  nodes: (args.nodes ?? D.nodes).split(',').map(Number),
  perNode: (args['per-node'] ?? D.perNode).split(',').map(Number),
  providers: (args.providers ?? D.providers).split(','),
  tools: (args.tools ?? TOOLS.join(',')).split(','),
  runs: Number(args.runs ?? D.runs),
  // "tool=ABOVE:RUNS": with more than ABOVE workspaces in all, the tool runs RUNS times (0 = skipped)
  caps: (args.cap ?? D.caps).map((c) => {
    const m = /^(\w+)=(\d+):(\d+)$/.exec(c);
    if (!m) throw new Error(`--cap ${c}: expected TOOL=ABOVE:RUNS, e.g. ansible=100:1`);
    return { tool: m[1], above: Number(m[2]), runs: Number(m[3]) };
  }),
  floorConcurrency: Number(args['floor-concurrency']),
  serveWindowS: Number(args['serve-window'] ?? D.serveWindow),
  serveAt: args['serve-at'] ?? D.serveAt, // "max": the largest per-node size of each node count; "all"; "none"
  watchSaves: Number(args['watch-saves'] ?? D.watchSaves),
  timeoutS: Number(args.timeout),
};

// ---- small helpers --------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] : null);
const log = (m) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);

function run(cmd, argv, { env = {}, timeoutS = cfg.timeoutS, input } = {}) {
  return new Promise((ok, fail) => {
    const child = execFile(cmd, argv, { env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 256 << 20, timeout: timeoutS * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) fail(Object.assign(new Error(`${cmd} ${argv.slice(0, 6).join(' ')}${argv.length > 6 ? ' …' : ''}: ${err.killed ? `killed after ${timeoutS} s` : err.message}\n${String(stdout).slice(-2000)}\n${String(stderr).slice(-2000)}`), { stdout, stderr }));
      else ok({ stdout, stderr });
    });
    if (input != null) child.stdin.end(input);
  });
}
async function timed(fn) {
  const t0 = performance.now();
  const extra = await fn();
  return { ms: performance.now() - t0, extra };
}
async function pool(items, limit, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

/** Docker Engine API on a unix socket, no client process: what the floor pays. */
function dockerApi(socket, method, path, body) {
  return new Promise((ok, fail) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = http.request({ socketPath: socket, method, path: `/v1.41${path}`, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode >= 300 && res.statusCode !== 304 ? fail(new Error(`docker ${method} ${path}: ${res.statusCode} ${text}`)) : ok(text ? JSON.parse(text) : null)));
    });
    req.on('error', fail);
    req.end(data);
  });
}

/** One HTTP answer from host:port (any status): the service is up. docker-proxy accepts TCP before the container listens, so a bare connect is not enough. */
function httpAnswers(host, port) {
  return new Promise((res) => {
    const s = connect({ host, port });
    let got = '';
    const done = (v) => (s.destroy(), res(v));
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => s.write('GET / HTTP/1.0\r\n\r\n'));
    s.on('data', (d) => { got += d; if (got.length >= 5) done(got.startsWith('HTTP/')); });
    s.once('error', () => done(false));
    s.once('close', () => done(got.startsWith('HTTP/')));
  });
}
/** Waits until every item's port answers (polled, 64 at a time) or throws after timeoutS. */
async function allAnswer(items, timeoutS = cfg.timeoutS) {
  let pending = items;
  const until = Date.now() + timeoutS * 1000;
  for (;;) {
    const still = [];
    await pool(pending, 64, async (it) => { if (!(await httpAnswers(it.address, it.port))) still.push(it); });
    if (still.length === 0) return;
    if (Date.now() > until) throw new Error(`${still.length} ports never answered, e.g. ${still[0].address}:${still[0].port}`);
    pending = still;
    await sleep(50);
  }
}
async function noneAnswer(items) {
  const up = [];
  await pool(items, 64, async (it) => { if (await httpAnswers(it.address, it.port)) up.push(it); });
  if (up.length) throw new Error(`${up.length} ports still answer after delete, e.g. ${up[0].address}:${up[0].port}`);
}

// ---- the nodes ------------------------------------------------------------------------------

const infraPath = join(BENCH_DIR, 'env.json');
function loadInfra() {
  if (!existsSync(infraPath)) throw new Error(`no bench nodes (${infraPath}): run sudo bash bench/infra.sh up ${Math.max(...cfg.nodes)}`);
  const infra = JSON.parse(readFileSync(infraPath, 'utf8'));
  if (Math.max(...cfg.nodes) > infra.nodes.length) throw new Error(`bench/infra.sh started ${infra.nodes.length} nodes; this run needs ${Math.max(...cfg.nodes)}: sudo bash bench/infra.sh up ${Math.max(...cfg.nodes)}`);
  return infra;
}
const vdtestUid = () => Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('vdtest:')).split(':')[2]);
const vdtestHome = () => readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('vdtest:')).split(':')[5];

/** Removes every trace of every contender from the nodes: all containers of the bench dockerds, every test-user process whose cwd is under a node's process root, and those roots' content. */
async function clearNodes(nodes) {
  await Promise.all(nodes.map(async (n) => {
    const all = await dockerApi(n.dockerSocket, 'GET', '/containers/json?all=1');
    await pool(all, 16, (c) => dockerApi(n.dockerSocket, 'DELETE', `/containers/${c.Id}?force=1&v=1`).catch(() => undefined));
  }));
  const uid = vdtestUid();
  const victims = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (statSync(`/proc/${p}`).uid !== uid) continue;
      const cwd = readlinkSync(`/proc/${p}/cwd`);
      if (nodes.some((n) => cwd.startsWith(n.processRoot + '/'))) victims.push(Number(p));
    } catch { /* gone */ }
  }
  for (const p of victims) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  for (const n of nodes) for (const e of readdirSync(n.processRoot)) rmSync(join(n.processRoot, e), { recursive: true, force: true });
  // a docker workspace's node-side state dir (issue 10) lives in the test user's home, per node
  for (const n of nodes) rmSync(join(vdtestHome(), '.vendetta/docker', n.name), { recursive: true, force: true });
}

// ---- the contenders -------------------------------------------------------------------------

function sshArgs(infra, n) {
  return ['-p', String(n.port), '-i', infra.clientKey, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', `${infra.user}@${n.address}`];
}
const sh = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function floor(ctx) {
  const { nodes, items, provider, infra } = ctx;
  const mine = (n) => items.filter((it) => it.node === n);
  if (provider === 'docker') {
    const list = (n) => dockerApi(n.dockerSocket, 'GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: ['bench=floor'] }))}`);
    return {
      cold: async () => {
        await Promise.all(nodes.map((n) => pool(mine(n), cfg.floorConcurrency, async (it) => {
          await dockerApi(n.dockerSocket, 'POST', `/containers/create?name=${it.name}`, {
            Image: infra.image, Cmd: HTTPD.split(' '), Labels: { bench: 'floor' }, ExposedPorts: { '80/tcp': {} },
            HostConfig: { PortBindings: { '80/tcp': [{ HostIp: n.address, HostPort: String(it.port) }] } },
          });
          await dockerApi(n.dockerSocket, 'POST', `/containers/${it.name}/start`);
        })));
        await allAnswer(items);
      },
      // one listing per node; a converged set needs nothing else
      noop: () => Promise.all(nodes.map(list)),
      diff: () => Promise.all(nodes.map(list)),
      delete: () => Promise.all(nodes.map((n) => pool(mine(n), cfg.floorConcurrency, (it) => dockerApi(n.dockerSocket, 'DELETE', `/containers/${it.name}?force=1`)))),
    };
  }
  // process: one ssh per node, all of its httpds in one `sh -c`
  const dir = (n) => `${n.processRoot}/floor`;
  const ssh = (n, script) => run('ssh', [...sshArgs(infra, n), script]);
  const check = (n) => ssh(n, `cd ${dir(n)} && for d in */; do read p < "$d/pid" && kill -0 "$p" || echo "dead $d"; done`);
  return {
    cold: async () => {
      await Promise.all(nodes.map((n) => ssh(n, `mkdir -p ${dir(n)} && cd ${dir(n)} && for x in ${mine(n).map((it) => `${it.name}:${it.port}`).join(' ')}; do ` +
        `w=\${x%:*}; mkdir -p "$w"; (cd "$w" && { setsid busybox httpd -f -p ${n.address}:\${x#*:} -h . </dev/null >/dev/null 2>&1 & echo $! > pid; }); done`)));
      await allAnswer(items);
    },
    noop: () => Promise.all(nodes.map(check)),
    diff: () => Promise.all(nodes.map(check)),
    // every process of the node signalled at once, then one wait for them all (a process that is
    // stopped one by one, with a fork of sleep per check, made an easy floor to beat)
    delete: () => Promise.all(nodes.map((n) => ssh(n, `cd ${dir(n)} && ps=''; for d in */; do read p < "$d/pid" && ps="$ps $p"; done; ` +
      `kill $ps 2>/dev/null; any() { for p in $ps; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }; ` +
      `while any; do sleep 0.01; done; cd .. && rm -rf floor`))),
  };
}

function sshLoop(ctx) {
  const { items, provider, infra } = ctx;
  const ssh = (n, script) => run('ssh', [...sshArgs(infra, n), script]);
  if (provider === 'docker') {
    const check = async () => { for (const it of items) await ssh(it.node, `docker ps -q --filter name=^${it.name}$`); };
    return {
      // what a user writes first: for each container, is it there? if not, run it
      cold: async () => {
        for (const it of items) {
          const there = (await ssh(it.node, `docker ps -q --filter name=^${it.name}$`)).stdout.trim();
          if (!there) await ssh(it.node, `docker run -d --name ${it.name} --label bench=ssh -p ${it.node.address}:${it.port}:80 ${infra.image} ${HTTPD}`);
        }
        await allAnswer(items);
      },
      noop: check,
      diff: check,
      delete: async () => { for (const it of items) await ssh(it.node, `docker rm -f ${it.name}`); },
    };
  }
  const dir = (it) => `${it.node.processRoot}/ssh/${it.name}`;
  const check = async () => { for (const it of items) await ssh(it.node, `kill -0 $(cat ${dir(it)}/pid)`); };
  return {
    cold: async () => {
      for (const it of items) {
        await ssh(it.node, `mkdir -p ${dir(it)} && cd ${dir(it)} && { test -f pid && kill -0 $(cat pid) 2>/dev/null || { setsid busybox httpd -f -p ${it.node.address}:${it.port} -h . </dev/null >/dev/null 2>&1 & echo $! > pid; }; }`);
      }
      await allAnswer(items);
    },
    noop: check,
    diff: check,
    delete: async () => { for (const it of items) await ssh(it.node, `p=$(cat ${dir(it)}/pid); kill $p; while kill -0 $p 2>/dev/null; do sleep 0.01; done; rm -rf ${dir(it)}`); },
  };
}

function ansible(ctx) {
  const { nodes, items, provider, infra, dir } = ctx;
  const inventory = join(dir, 'inventory.ini');
  writeFileSync(inventory, '[nodes]\n' + nodes.map((n) => `${n.name} ansible_host=${n.address} ansible_port=${n.port} ansible_user=${infra.user} ansible_ssh_private_key_file=${infra.clientKey} docker_socket=${n.dockerSocket} process_root=${n.processRoot}`).join('\n') + '\n');
  const perNode = JSON.stringify(Object.fromEntries(nodes.map((n) => [n.name, items.filter((it) => it.node === n).map((it) => ({ name: it.name, port: it.port }))])));
  const play = (tasks) => `- hosts: nodes\n  gather_facts: false\n  vars:\n    per_node: ${perNode}\n  tasks:\n${tasks}`;
  const book = (name, text) => (writeFileSync(join(dir, name), text), join(dir, name));
  let up, down;
  if (provider === 'docker') {
    const task = (state) => `    - community.docker.docker_container:
        docker_host: "unix://{{ docker_socket }}"
        name: "{{ item.name }}"
        image: ${infra.image}
        command: ${JSON.stringify(HTTPD)}
        labels: {bench: ansible}
        published_ports: ["{{ ansible_host }}:{{ item.port }}:80"]
        state: ${state}
      loop: "{{ per_node[inventory_hostname] }}"
`;
    up = book('up.yml', play(task('started')));
    down = book('down.yml', play(task('absent')));
  } else {
    up = book('up.yml', play(`    - ansible.builtin.shell: |
        mkdir -p {{ process_root }}/ansible/{{ item.name }} && cd {{ process_root }}/ansible/{{ item.name }}
        if test -f pid && kill -0 "$(cat pid)" 2>/dev/null; then echo unchanged; else
          setsid busybox httpd -f -p {{ ansible_host }}:{{ item.port }} -h . </dev/null >/dev/null 2>&1 & echo $! > pid; echo started; fi
      register: r
      changed_when: "'started' in r.stdout"
      loop: "{{ per_node[inventory_hostname] }}"
`));
    down = book('down.yml', play(`    - ansible.builtin.shell: |
        cd {{ process_root }}/ansible/{{ item.name }} && p=$(cat pid) && kill $p; while kill -0 $p 2>/dev/null; do sleep 0.01; done; rm -rf {{ process_root }}/ansible/{{ item.name }}
      loop: "{{ per_node[inventory_hostname] }}"
`));
  }
  const env = { ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_PIPELINING: 'True', ANSIBLE_STDOUT_CALLBACK: 'default', ANSIBLE_RETRY_FILES_ENABLED: 'False', ANSIBLE_FORKS: '10', ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-tmp') };
  const pb = (...a) => run('ansible-playbook', ['-i', inventory, ...a], { env });
  return {
    cold: async () => { await pb(up); await allAnswer(items); },
    noop: () => pb(up),
    // a shell task does nothing in --check mode: there is no process diff to time
    diff: provider === 'docker' ? () => pb('--check', '--diff', up) : null,
    delete: () => pb(down),
  };
}

function vendetta(ctx) {
  const { nodes, items, provider, infra, dir } = ctx;
  let home, env;
  const file = join(dir, 'set.yaml');
  const manifest = (watchValue) => {
    const docs = nodes.map((n) => `apiVersion: vendetta.dev/v1alpha1
kind: Node
metadata: {name: ${n.name}}
spec: {address: ${n.address}, port: ${n.port}, user: ${infra.user}, identityFile: ${infra.clientKey}, hostKey: "${n.hostKeyPub}", providers: {docker: {socket: ${n.dockerSocket}}, process: {root: ${n.processRoot}}}}
`);
    items.forEach((it, i) => {
      const ws = provider === 'docker'
        ? `spec: {node: ${it.node.name}, provider: docker, image: ${infra.image}, pull: never, ports: ["${it.node.address}:${it.port}:80"]}`
        : `spec: {node: ${it.node.name}, provider: process}`;
      const cmd = provider === 'docker' ? HTTPD : `exec busybox httpd -f -p ${it.node.address}:${it.port} -h .`;
      const env = i === 0 && watchValue != null ? `, env: {BENCH_SAVE: "${watchValue}"}` : '';
      docs.push(`apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: ${it.name}}\n${ws}\n---\napiVersion: vendetta.dev/v1alpha1\nkind: Service\nmetadata: {name: ${it.name}-httpd}\nspec: {workspace: ${it.name}, command: ${cmd}${env}}\n`);
    });
    return docs.join('---\n');
  };
  /** One CLI command under GNU time: its wall time is the caller's; returns the peak RSS in KiB. */
  const cli = async (...a) => {
    const { stdout, stderr } = await run('/usr/bin/time', ['-f', 'BENCH_MAXRSS_KB=%M', process.execPath, CLI, ...a], { env });
    const m = /BENCH_MAXRSS_KB=(\d+)\s*$/.exec(stderr);
    return { stdout, rssKb: m ? Number(m[1]) : null };
  };
  const t = `${Math.max(60, cfg.timeoutS)}s`;
  return {
    fresh: () => {
      home = mkdtempSync(join(dir, 'home-'));
      env = { VENDETTA_HOME: home, VENDETTA_KNOWN_HOSTS: join(home, 'known_hosts'), VENDETTA_SSH_DIR: join(home, 'ssh') };
      writeFileSync(file, manifest(null));
    },
    cold: async () => { const r = await cli('apply', '-f', file, '--timeout', t); await allAnswer(items); return { rssKb: r.rssKb }; },
    noop: async () => {
      const r = await cli('apply', '-f', file, '-o', 'json', '--timeout', t);
      const ops = JSON.parse(r.stdout).operationsRun;
      return { rssKb: r.rssKb, operationsRun: ops };
    },
    diff: async () => ({ rssKb: (await cli('diff', '-f', file)).rssKb }),
    delete: async () => ({ rssKb: (await cli('delete', '-f', file, '--timeout', t)).rssKb }),
    watch: () => watchLatency(env, file, manifest, items[0], provider),
    serve: () => serveCpu(env, home),
  };
}

/** Host pid of the workspace's httpd: docker via the container's /top, process by its command line. */
async function httpdPid(it, provider) {
  if (provider === 'docker') {
    const [c] = await dockerApi(it.node.dockerSocket, 'GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ name: [`${it.name}$`] }))}`);
    if (!c) throw new Error(`no container for ${it.name}`);
    const top = await dockerApi(it.node.dockerSocket, 'GET', `/containers/${c.Id}/top?ps_args=-eo%20pid,args`);
    const row = top.Processes.find((p) => /^httpd /.test(p.at(-1)));
    if (!row) throw new Error(`no httpd in ${it.name}`);
    return Number(row[0]);
  }
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes('httpd') && cmd.includes(`-p ${it.address}:${it.port} `)) return Number(p);
    } catch { /* gone */ }
  }
  throw new Error(`no httpd for ${it.name}`);
}
const dead = (pid) => {
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] === 'Z'; } catch { return true; }
};

/**
 * apply --watch on the converged set: saves the manifest with a new env value for the first
 * service, `saves` times. Latency = save → the old httpd process of that service is gone (polled
 * every 2 ms): the first provider operation's effect, the same for docker and process, whatever the
 * engine does in between.
 */
async function watchLatency(env, file, manifest, first, provider) {
  const child = spawn(process.execPath, [CLI, 'apply', '--watch', '-f', file], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const until = async (f, what, s = 600) => {
    const end = Date.now() + s * 1000;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (child.exitCode != null) throw new Error(`apply --watch exited while waiting for ${what}:\n${err.slice(-2000)}`);
      if (Date.now() > end) throw new Error(`apply --watch: no ${what} after ${s} s:\n${err.slice(-2000)}`);
      await sleep(2);
    }
  };
  const latencies = [];
  try {
    await until(() => /watching/.test(err), 'first "watching"');
    for (let i = 1; i <= cfg.watchSaves; i++) {
      const watching = err.split('watching').length - 1;
      const pid = await httpdPid(first, provider);
      const written = Date.now();
      writeFileSync(file, manifest(i));
      const gone = await until(() => (dead(pid) ? Date.now() : 0), 'the old service process to stop');
      latencies.push(gone - written);
      // the pass ends once the new httpd answers; the loop says "watching" again (waited for up
      // to 5 s, so a CLI that words it differently costs 5 s, not a failure)
      await until(async () => (await httpdPid(first, provider).catch(() => pid)) !== pid && (await httpAnswers(first.address, first.port)), 'the restarted service to answer');
      const resumed = Date.now() + 5000;
      while (err.split('watching').length - 1 <= watching && Date.now() < resumed) await sleep(10);
    }
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => (child.exitCode != null ? r() : child.on('exit', r)));
  }
  writeFileSync(file, manifest(null));
  return { ms: latencies };
}

const procTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  return Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]); // utime stime cutime cstime
};
const procStatusKb = (pid, key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** `vendetta serve` with the default resync on the converged set: CPU (utime+stime) over a window after its first pass. */
async function serveCpu(env, home) {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0'], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    let url;
    for (let i = 0; !(url = /listening on (\S+)/.exec(out)?.[1]); i++) {
      if (child.exitCode != null || i > 3000) throw new Error(`vendetta serve did not start:\n${out.slice(-2000)}`);
      await sleep(20);
    }
    const token = readFileSync(join(home, 'server.token'), 'utf8').trim();
    const health = async () => (await (await fetch(`${url}/api/v1/healthz`, { headers: { authorization: `Bearer ${token}` } })).json());
    const end = Date.now() + cfg.timeoutS * 1000;
    // after its first pass; a /healthz without a pass count: after one default resync period
    if ((await health()).passes === undefined) await sleep(15_000);
    else while ((await health()).passes < 1) {
      if (Date.now() > end) throw new Error('vendetta serve: no pass done');
      await sleep(200);
    }
    const p0 = (await health()).passes, c0 = procTicks(child.pid), t0 = performance.now();
    await sleep(cfg.serveWindowS * 1000);
    const p1 = (await health()).passes, c1 = procTicks(child.pid), t1 = performance.now();
    return { cpuPercent: Math.round(((c1 - c0) / CLK_TCK / ((t1 - t0) / 1000)) * 1000) / 10, windowS: cfg.serveWindowS, passes: p0 === undefined ? null : p1 - p0, peakRssKb: procStatusKb(child.pid, 'VmHWM') };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode != null ? r() : child.on('exit', r)));
  }
}

// ---- the run --------------------------------------------------------------------------------

function runsFor(tool, total) {
  let runs = cfg.runs;
  for (const c of cfg.caps) if (c.tool === tool && total > c.above) runs = Math.min(runs, c.runs);
  return runs;
}

async function measureSize(infra, provider, nodeCount, perNode, result, save) {
  const nodes = infra.nodes.slice(0, nodeCount);
  const items = nodes.flatMap((n, i) => Array.from({ length: perNode }, (_, k) => ({ node: n, name: `bm-${n.name}-${k + 1}`, address: n.address, port: PORT_BASE + i * 200 + k + 1 })));
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-matrix-'));
  const ctx = { nodes, items, provider, infra, dir };
  const make = { vendetta, floor, ansible, ssh: sshLoop };
  const contenders = Object.fromEntries(cfg.tools.map((t) => [t, make[t](ctx)]));
  const total = items.length;
  const cell = { provider, nodes: nodeCount, perNode, workspaces: total, tools: {}, vendetta: {} };
  result.sizes.push(cell);
  for (const t of cfg.tools) cell.tools[t] = { runsPlanned: runsFor(t, total), cold: [], noop: [], diff: [], delete: [], errors: [] };
  const t0 = Date.now();
  try {
    await clearNodes(nodes);
    for (let r = 0; r < cfg.runs; r++) {
      // rotating order: drift in the machine's load hits every contender alike
      const order = cfg.tools.map((_, i) => cfg.tools[(i + r) % cfg.tools.length]);
      for (const t of order) {
        const c = contenders[t];
        const rec = cell.tools[t];
        if (r >= rec.runsPlanned) continue;
        try {
          c.fresh?.();
          for (const stage of ['cold', 'noop', 'diff']) {
            if (!c[stage]) continue;
            const { ms, extra } = await timed(c[stage]);
            rec[stage].push(Math.round(ms));
            if (extra?.rssKb) (rec.rssKb ??= []).push(extra.rssKb);
            if (stage === 'noop' && extra?.operationsRun != null) (rec.noopOperations ??= []).push(extra.operationsRun);
            // the nodes' memory with every container of this size running, once per size
            if (stage === 'cold' && provider === 'docker' && !cell.nodeMemory) cell.nodeMemory = await nodeMemory();
          }
          if (t === 'vendetta' && r === 0) {
            if (cfg.watchSaves > 0) {
              try { const w = await c.watch(); cell.vendetta.watchMs = w.ms; } catch (e) { cell.vendetta.watchError = e.message.slice(0, 500); log(`watch: ${e.message}`); }
            }
            if (cfg.serveAt === 'all' || (cfg.serveAt === 'max' && perNode === Math.max(...cfg.perNode))) {
              try { cell.vendetta.serve = await c.serve(); } catch (e) { cell.vendetta.serveError = e.message.slice(0, 500); log(`serve: ${e.message}`); }
            }
          }
          const { ms, extra } = await timed(c.delete);
          rec.delete.push(Math.round(ms));
          if (extra?.rssKb) (rec.rssKb ??= []).push(extra.rssKb);
          await noneAnswer(items);
        } catch (e) {
          rec.errors.push(e.message.slice(0, 1000));
          log(`${t} ${provider} ${nodeCount}×${perNode} round ${r + 1}: ${e.message.split('\n')[0]}`);
        }
        await clearNodes(nodes);
        const f = (xs) => (xs.length ? `${(xs.at(-1) / 1000).toFixed(2)}` : '—');
        save(); // after every contender's round: a run stopped early keeps what it measured
        log(`${provider} ${nodeCount}×${perNode} round ${r + 1}/${cfg.runs} ${t}: cold ${f(rec.cold)} noop ${f(rec.noop)} diff ${f(rec.diff)} delete ${f(rec.delete)} s`);
      }
    }
  } finally {
    await clearNodes(nodes).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    cell.wallS = Math.round((Date.now() - t0) / 1000);
  }
}

/** Resident memory of the bench dockerds, containerds, shims and docker-proxies (bench/infra.sh mem), with this size's containers running. */
async function nodeMemory() {
  try { return JSON.parse((await run('bash', [join(REPO, 'bench/infra.sh'), 'mem'])).stdout); } catch (e) { return { error: e.message.slice(0, 200) }; }
}

function machine() {
  const os = readFileSync('/etc/os-release', 'utf8').match(/PRETTY_NAME="(.*)"/)?.[1];
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, os };
}

async function main() {
  if (args.help) {
    // the header comment is the usage
    const head = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l) => l.startsWith('//'));
    return process.stdout.write(head.map((l) => l.slice(3)).join('\n') + '\n');
  }
  if (args.render) return render(JSON.parse(readFileSync(args.render, 'utf8')), args.render.replace(/\.json$/, ''));
  const infra = loadInfra();
  for (const t of cfg.tools) if (!TOOLS.includes(t)) throw new Error(`--tools: unknown ${t} (${TOOLS.join(', ')})`);
  if (cfg.tools.includes('vendetta') && !existsSync(CLI)) throw new Error(`no ${CLI}: run node scripts/build.mjs`);
  const commit = (await run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']).catch(() => ({ stdout: '?' }))).stdout.trim();
  const dirty = (await run('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no']).catch(() => ({ stdout: '' }))).stdout.trim() !== '';
  const docker = await dockerApi(infra.nodes[0].dockerSocket, 'GET', '/version');
  const ansibleVersion = cfg.tools.includes('ansible') ? (await run('ansible-playbook', ['--version'])).stdout.split('\n')[0] : null;
  const result = {
    bench: 'matrix', label: args.label, started: new Date().toISOString(), commit: commit + (dirty ? '+dirty' : ''),
    machine: { ...machine(), loadavgAtStart: loadavg().map((x) => x.toFixed(2)), memAvailableAtStartMiB: Math.round(Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) / 1024) },
    versions: { docker: docker.Version, ansible: ansibleVersion },
    config: cfg, sizes: [],
  };
  mkdirSync(args.out, { recursive: true });
  const base = join(args.out, `matrix-${result.started.replace(/[:.]/g, '-').slice(0, 19)}`);
  const save = () => writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
  // smallest sizes first, both providers at each: a run stopped early still covers both
  for (const n of cfg.nodes) {
    for (const m of cfg.perNode) {
      for (const provider of cfg.providers) {
        log(`== ${provider}: ${n} nodes × ${m} workspaces`);
        await measureSize(infra, provider, n, m, result, save);
        save();
      }
    }
  }
  result.finished = new Date().toISOString();
  save();
  render(result, base);
}

// ---- output ---------------------------------------------------------------------------------

function render(result, base) {
  const md = markdown(result);
  writeFileSync(`${base}.md`, md);
  for (const [n, svg] of Object.entries(svgs(result))) {
    writeFileSync(`${base}-${n}nodes.svg`, svg);
    // --docs: the pictures docs/benchmarks.md shows
    if (args.docs) writeFileSync(join(REPO, 'docs', `benchmarks-growth-${n}nodes.svg`), svg);
  }
  process.stdout.write(md);
  log(`wrote ${base}.md and ${base}-<N>nodes.svg${args.docs ? ' (and docs/benchmarks-growth-<N>nodes.svg)' : ''}`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('matrix.mjs')) {
  main().catch((e) => {
    process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
