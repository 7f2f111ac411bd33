// The chaos suite's model of "what should be on the nodes" and the invariant checker.
//
// A Decl lists what a test declares (nodes, workspaces, their services). renderManifests turns it
// into YAML; observeWorld looks at the real nodes from OUTSIDE the CLI (docker on each node's own
// dockerd, the process workspaces' directories, /proc) and worldProblems compares the two (pure).
// Everything a chaos test creates is named `chaos-…`, so anything with that prefix that the
// current Decl does not declare is an orphan — also one left over by an earlier scenario.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { infraNode, type Infra } from '../../e2e/helpers/infra.js';
import { dockerOn, nodeYaml } from '../../e2e/helpers/remote.js';

export const PREFIX = 'chaos-';
export const NODES = ['n1', 'n2', 'n3'] as const;
/** Env var every chaos service carries: /proc/PID/environ tells which service a process belongs to. */
export const MARK = 'CHAOS_SERVICE';

export interface ServiceDecl {
  name: string;
  command: string;
  /** Extra env; CHAOS_* values are also checked on the running processes (the new copy runs). */
  env?: Record<string, string>;
  /** YAML flow mapping for spec.healthcheck. */
  healthcheck?: string;
}

export interface WorkspaceDecl {
  name: string;
  node: string;
  provider: 'docker' | 'process';
  env?: Record<string, string>;
  services: ServiceDecl[];
}

export interface Decl {
  nodes: readonly string[];
  workspaces: WorkspaceDecl[];
}

/** Home of the infra's SSH user on the nodes (all nodes are this machine). */
export function nodeUserHome(infra: Infra): string {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${infra.user}:`));
  if (!line) throw new Error(`user ${infra.user} not found in /etc/passwd: is the e2e infra up?`);
  return line.split(':')[5]!;
}

/**
 * Each node gets its own process root: the three "nodes" are one machine and one user, and a
 * shared ~/.vendetta/workspaces would make every process workspace appear on all three.
 */
export function processRootOnDisk(infra: Infra, node: string): string {
  return join(nodeUserHome(infra), `${PREFIX}ws-${node}`);
}

function nodeDoc(infra: Infra, node: string): string {
  const socket = infraNode(infra, node).dockerSocket;
  return nodeYaml(infra, node, { providers: `{docker: {socket: ${socket}}, process: {root: "~/${PREFIX}ws-${node}"}}` });
}

function flowMap(env: Record<string, string>): string {
  return `{${Object.entries(env).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')}}`;
}

export function renderManifests(infra: Infra, decl: Decl): string {
  const docs = decl.nodes.map((n) => nodeDoc(infra, n));
  for (const ws of decl.workspaces) {
    const image = ws.provider === 'docker' ? `, image: ${infra.image}, pull: never` : '';
    const env = ws.env ? `, env: ${flowMap(ws.env)}` : '';
    docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${ws.name}}
spec: {node: ${ws.node}, provider: ${ws.provider}${image}${env}}
`);
    for (const svc of ws.services) {
      docs.push(`apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${svc.name}}
spec:
  workspace: ${ws.name}
  command: ${JSON.stringify(svc.command)}
  env: ${flowMap({ ...svc.env, [MARK]: svc.name })}
${svc.healthcheck ? `  healthcheck: ${svc.healthcheck}\n` : ''}`);
    }
  }
  return docs.join('---\n');
}

/** A docker workspace with a busybox httpd service (optionally health-checked over HTTP). */
export function dockerWorkspace(name: string, node: string, opts: { healthcheck?: boolean; env?: Record<string, string> } = {}): WorkspaceDecl {
  return {
    name,
    node,
    provider: 'docker',
    services: [
      {
        name: `${name}-web`,
        command: 'exec httpd -f -p 80 -h /var/www',
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.healthcheck ? { healthcheck: '{http: {port: 80, path: /}, interval: 300ms, timeout: 2s, retries: 60}' } : {}),
      },
    ],
  };
}

/** A process workspace with one long-running service. */
export function processWorkspace(name: string, node: string, command = 'exec sleep 100000', env?: Record<string, string>): WorkspaceDecl {
  return { name, node, provider: 'process', services: [{ name: `${name}-svc`, command, ...(env ? { env } : {}) }] };
}

// ----- observation (I/O, read-only) --------------------------------------------------------------

export interface ObservedContainer {
  node: string;
  id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
}

export interface ObservedProc {
  pid: number;
  pgid: number;
  service: string;
  /** The CHAOS_* variables of the process. */
  env: Record<string, string>;
}

export interface WorldSnapshot {
  containers: ObservedContainer[];
  /** Directories named chaos-… under each node's process root, and whether meta.json is there. */
  processWorkspaces: Array<{ node: string; name: string; hasMeta: boolean }>;
  /**
   * Live (not zombie) service supervisors of chaos services: shell supervisors found by their
   * argv, and the node agent (src/services/node-agent.ts) for each service whose process group
   * leader is its child.
   */
  supervisors: Array<{ pid: number; service: string }>;
  /** Live processes carrying CHAOS_SERVICE: the services themselves and everything they forked. */
  serviceProcs: ObservedProc[];
}

/** Containers on a node whose name or vendetta.dev/name label says chaos, labelled or not. */
export async function chaosContainers(infra: Infra, node: string): Promise<ObservedContainer[]> {
  const out = await dockerOn(infra, node, ['ps', '-a', '--no-trunc', '--format', '{{json .}}']);
  const rows = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ID: string; Names: string; State: string; Labels: string });
  return rows
    .map((r) => ({
      node,
      id: r.ID,
      name: r.Names,
      state: r.State,
      labels: Object.fromEntries(
        r.Labels.split(',').filter(Boolean).map((kv) => {
          const eq = kv.indexOf('=');
          return [kv.slice(0, eq), kv.slice(eq + 1)];
        }),
      ),
    }))
    .filter((c) => c.name.startsWith(`vendetta-${PREFIX}`) || (c.labels['vendetta.dev/name'] ?? '').startsWith(PREFIX));
}

interface ProcEntry {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  argv: string[];
}

async function readProc(pid: number): Promise<(ProcEntry & { environ: string[] }) | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')).split('\0');
    return { pid, state: rest[0]!, ppid: Number(rest[1]), pgid: Number(rest[2]), argv, environ };
  } catch {
    return undefined; // exited meanwhile
  }
}

const SUPERVISED_DIR = new RegExp(`/services/(${PREFIX}[a-z0-9-]+)/?$`);

/** Every process on this machine (the nodes' and the containers' processes included). */
export async function scanProcesses(): Promise<{ supervisors: WorldSnapshot['supervisors']; serviceProcs: ObservedProc[] }> {
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
  const candidates: Array<{ pid: number; ppid: number; service: string }> = [];
  const serviceProcs: ObservedProc[] = [];
  const agents = new Set<number>();
  const leaders: Array<{ ppid: number; service: string }> = [];
  for (const pid of pids) {
    const p = await readProc(pid);
    if (!p || p.state === 'Z' || p.state === 'X') continue;
    // A supervisor runs "<sh> …supervisor… <stateDir>/services/<name> [vdsup-TOKEN]"; the
    // controller's own short-lived scripts name the service dir too, but never run a supervisor
    // script file.
    const script = p.argv.findIndex((a) => /supervisor[^/\s]*$/.test(a) && !a.includes('\n'));
    const rest = script >= 0 ? p.argv.slice(script + 1) : [];
    const svc = SUPERVISED_DIR.exec(rest[0] ?? '')?.[1];
    if (svc && (rest.length === 1 || (rest.length === 2 && rest[1]!.startsWith('vdsup-')))) {
      candidates.push({ pid, ppid: p.ppid, service: svc });
    }
    if ((p.argv[0] ?? '').startsWith('vendetta-agent ')) agents.add(pid);
    const mark = p.environ.find((e) => e.startsWith(`${MARK}=`))?.slice(MARK.length + 1);
    if (mark?.startsWith(PREFIX) && p.pgid === pid) leaders.push({ ppid: p.ppid, service: mark });
    if (mark?.startsWith(PREFIX)) {
      const env = Object.fromEntries(p.environ.filter((e) => e.startsWith('CHAOS_')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
      serviceProcs.push({ pid, pgid: p.pgid, service: mark, env });
    }
  }
  // A supervisor's forked subshells (its log writer, a command substitution) carry its argv too:
  // count only the topmost process of each such tree.
  const supervisors = candidates
    .filter((c) => !candidates.some((parent) => parent.pid === c.ppid && parent.service === c.service))
    .map(({ pid, service }) => ({ pid, service }));
  for (const l of leaders) if (agents.has(l.ppid)) supervisors.push({ pid: l.ppid, service: l.service });
  return { supervisors, serviceProcs };
}

export async function observeWorld(infra: Infra, nodes: readonly string[] = NODES): Promise<WorldSnapshot> {
  const containers = (await Promise.all(nodes.map((n) => chaosContainers(infra, n)))).flat();
  const processWorkspaces: WorldSnapshot['processWorkspaces'] = [];
  for (const node of nodes) {
    const root = processRootOnDisk(infra, node);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) {
      if (name.startsWith(PREFIX)) processWorkspaces.push({ node, name, hasMeta: existsSync(join(root, name, 'meta.json')) });
    }
  }
  return { containers, processWorkspaces, ...(await scanProcesses()) };
}

// ----- the invariant (pure) ----------------------------------------------------------------------

/**
 * What is wrong with the nodes for this Decl, one line each (empty: all good). Exactly one
 * object per declared resource, in the right place and running; nothing chaos-… that is not
 * declared (no orphaned container, process workspace, supervisor or service process); every
 * service runs as exactly one copy (one process group), with the declared CHAOS_* env.
 */
export function worldProblems(decl: Decl, world: WorldSnapshot): string[] {
  const problems: string[] = [];
  const docker = decl.workspaces.filter((w) => w.provider === 'docker');
  const proc = decl.workspaces.filter((w) => w.provider === 'process');
  const services = new Map(decl.workspaces.flatMap((w) => w.services.map((s) => [s.name, { ws: w, svc: s }] as const)));

  for (const ws of docker) {
    const mine = world.containers.filter((c) => c.node === ws.node && c.name === `vendetta-${ws.name}`);
    if (mine.length !== 1) problems.push(`workspace ${ws.name}: ${mine.length} containers on ${ws.node}, want 1`);
    for (const c of mine) {
      if (c.labels['vendetta.dev/managed'] !== 'true') problems.push(`container ${c.name} on ${c.node} has no vendetta.dev/managed=true label`);
      if (c.labels['vendetta.dev/name'] !== ws.name) problems.push(`container ${c.name} on ${c.node} is labelled ${c.labels['vendetta.dev/name']}`);
      if (c.state !== 'running') problems.push(`container ${c.name} on ${c.node} is ${c.state}, want running`);
    }
  }
  for (const c of world.containers) {
    if (!docker.some((ws) => ws.node === c.node && c.name === `vendetta-${ws.name}`)) {
      problems.push(`orphaned container ${c.name} (${c.id.slice(0, 12)}, ${c.state}) on ${c.node}`);
    }
  }

  for (const ws of proc) {
    const dir = world.processWorkspaces.find((p) => p.node === ws.node && p.name === ws.name);
    if (!dir) problems.push(`process workspace ${ws.name}: no directory on ${ws.node}`);
    else if (!dir.hasMeta) problems.push(`process workspace ${ws.name} on ${ws.node}: no meta.json (half made)`);
  }
  for (const p of world.processWorkspaces) {
    if (!proc.some((ws) => ws.node === p.node && ws.name === p.name)) problems.push(`orphaned process workspace ${p.name} on ${p.node}`);
  }

  for (const [name, { svc }] of services) {
    const sup = world.supervisors.filter((s) => s.service === name);
    if (sup.length !== 1) problems.push(`service ${name}: ${sup.length} supervisors (pids ${sup.map((s) => s.pid).join(' ') || 'none'}), want 1`);
    const procs = world.serviceProcs.filter((p) => p.service === name);
    const groups = new Set(procs.map((p) => p.pgid));
    if (groups.size !== 1) problems.push(`service ${name}: ${groups.size} running copies (process groups ${[...groups].join(' ') || 'none'}), want 1`);
    for (const [k, v] of Object.entries(svc.env ?? {})) {
      if (!k.startsWith('CHAOS_')) continue;
      const stale = procs.filter((p) => p.env[k] !== v);
      if (stale.length) problems.push(`service ${name}: pids ${stale.map((p) => p.pid).join(' ')} run with ${k}=${stale[0]!.env[k]}, want ${v}`);
    }
  }
  for (const s of world.supervisors) {
    if (!services.has(s.service)) problems.push(`orphaned supervisor pid ${s.pid} of undeclared service ${s.service}`);
  }
  for (const p of world.serviceProcs) {
    if (!services.has(p.service)) problems.push(`stray process pid ${p.pid} of undeclared service ${p.service}`);
  }
  return problems;
}

// ----- cleanup of last resort --------------------------------------------------------------------

/**
 * Removes every chaos-… object the CLI left behind: containers (docker rm -f on the node's own
 * dockerd), supervisors and service processes (SIGKILL by PID, found by scanProcesses), process
 * workspace roots. Returns what it found, so a test can assert that a delete left nothing.
 */
export async function sweep(infra: Infra, nodes: readonly string[] = NODES): Promise<string[]> {
  const world = await observeWorld(infra, nodes);
  const found = worldProblems({ nodes, workspaces: [] }, world);
  for (const c of world.containers) await dockerOn(infra, c.node, ['rm', '-f', c.id]).catch(() => undefined);
  for (const p of [...world.supervisors, ...world.serviceProcs]) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const node of nodes) await rm(processRootOnDisk(infra, node), { recursive: true, force: true });
  return found;
}

/** Peak RSS in KiB of a finished command, from GNU time's -v report on stderr. */
export function peakRssKiB(timeReport: string): number | undefined {
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(timeReport);
  return m ? Number(m[1]) : undefined;
}
