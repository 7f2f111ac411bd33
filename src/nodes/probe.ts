// Live checks of one node for `node status` and `node test`: each check says what it found and,
// when it failed, what to do about it.
import { connect as netConnect } from 'node:net';
import { LOCAL_ADDRESS, type NodeResource, type ProviderName } from '../model/types.js';
import type { ProviderDriver } from '../providers/types.js';
import type { Transport } from '../transport/types.js';
import { HostKeyMismatchError, TransportError } from '../transport/types.js';
import type { TransportPool } from '../transport/pool.js';
import type { SshHop } from '../transport/ssh-config.js';

export interface NodeCheck {
  check: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

export interface NodeProbe {
  reachable: boolean;
  /** Round trip of one `true` exec, in ms. */
  latencyMs?: number;
  error?: string;
  hint?: string;
}

/** Connect (or reuse the pooled connection) and time one trivial exec. */
export async function probeNode(node: NodeResource, pool: TransportPool): Promise<NodeProbe> {
  try {
    const transport = await pool.get(node);
    const started = performance.now();
    const r = await transport.exec(['true'], { timeoutMs: 10_000 });
    if (r.code !== 0) return { reachable: false, error: `\`true\` exited ${r.code} on ${node.metadata.name}: ${r.stderr.trim()}` };
    return { reachable: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (e) {
    return { reachable: false, error: (e as Error).message, hint: e instanceof TransportError ? e.hint : undefined };
  }
}

function tcpReachable(host: string, port: number, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    const done = (err?: string) => {
      socket.destroy();
      resolve(err);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000}s`));
    socket.once('connect', () => done());
    socket.once('error', (e) => done(e.message));
  });
}

/** Parses `df -Pk DIR | tail -1` and /proc/meminfo lines (pure, for tests). */
export function parseResources(text: string): { diskFreeMiB?: number; memTotalMiB?: number; memAvailableMiB?: number } {
  const out: { diskFreeMiB?: number; memTotalMiB?: number; memAvailableMiB?: number } = {};
  for (const line of text.split('\n')) {
    const mem = /^(MemTotal|MemAvailable):\s+(\d+) kB/.exec(line);
    if (mem) {
      const mib = Math.round(Number(mem[2]) / 1024);
      if (mem[1] === 'MemTotal') out.memTotalMiB = mib;
      else out.memAvailableMiB = mib;
      continue;
    }
    const df = line.trim().split(/\s+/);
    if (df.length >= 6 && /^\d+$/.test(df[3]!)) out.diskFreeMiB = Math.round(Number(df[3]) / 1024);
  }
  return out;
}

export async function testNode(
  node: NodeResource,
  pool: TransportPool,
  drivers: Partial<Record<ProviderName, ProviderDriver>>,
): Promise<NodeCheck[]> {
  const checks: NodeCheck[] = [];
  const remote = node.spec.address !== LOCAL_ADDRESS;
  let user = node.spec.user;
  if (remote) {
    // Through ~/.ssh/config: the first machine dialled is the first jump host, if any.
    const { resolveNodeRoute } = await import('../transport/ssh.js');
    let first: SshHop;
    try {
      const route = resolveNodeRoute(node);
      first = route.jumps[0] ?? route.target;
      user = route.target.user;
    } catch (e) {
      checks.push({ check: 'ssh config', ok: false, detail: (e as Error).message, hint: e instanceof TransportError ? e.hint : undefined });
      return checks;
    }
    const { host: address, port } = first;
    const via = first.name === node.spec.address ? '' : ` (jump host ${first.name})`;
    const err = await tcpReachable(address, port);
    checks.push(
      err
        ? { check: 'reachable', ok: false, detail: `${address}:${port}${via}: ${err}`, hint: `is sshd running on ${address}:${port}, and is the port open from here?` }
        : { check: 'reachable', ok: true, detail: `${address}:${port}${via} accepts TCP connections` },
    );
    if (err) return checks;
  }
  let transport: Transport;
  try {
    transport = await pool.get(node);
    if (remote) {
      checks.push({ check: 'host key', ok: true, detail: 'matches known_hosts / the pinned key (or was trusted on first use)' });
      checks.push({ check: 'auth', ok: true, detail: `logged in as ${user ?? 'the current user'}` });
    }
  } catch (e) {
    const hint = e instanceof TransportError ? e.hint : undefined;
    if (e instanceof HostKeyMismatchError) checks.push({ check: 'host key', ok: false, detail: e.message, hint });
    else if (/authentication/i.test((e as Error).message)) {
      checks.push({ check: 'host key', ok: true, detail: 'verified' });
      checks.push({ check: 'auth', ok: false, detail: (e as Error).message, hint });
    } else checks.push({ check: 'connect', ok: false, detail: (e as Error).message, hint });
    return checks;
  }
  for (const [name, driver] of Object.entries(drivers)) {
    try {
      const a = await driver!.availability({ node, transport, applySet: 'default' });
      checks.push({
        check: `provider ${name}`,
        ok: a.available,
        detail: a.available ? [a.version, a.detail].filter(Boolean).join(', ') || 'available' : a.detail ?? 'not available',
        hint: a.available ? undefined : a.hint,
      });
    } catch (e) {
      checks.push({ check: `provider ${name}`, ok: false, detail: (e as Error).message });
    }
  }
  try {
    const r = await transport.exec(['sh', '-c', 'df -Pk "$HOME" | tail -n 1; grep -E "^(MemTotal|MemAvailable):" /proc/meminfo'], { timeoutMs: 10_000 });
    const res = parseResources(r.stdout);
    const lowDisk = res.diskFreeMiB !== undefined && res.diskFreeMiB < 1024;
    checks.push({
      check: 'disk',
      ok: !lowDisk,
      detail: res.diskFreeMiB === undefined ? 'unknown' : `${gib(res.diskFreeMiB)} GiB free in the login user's home`,
      hint: lowDisk ? 'free some space on the node: images and workspaces need room' : undefined,
    });
    checks.push({
      check: 'memory',
      ok: true,
      detail: res.memTotalMiB === undefined ? 'unknown' : `${gib(res.memAvailableMiB)} GiB available of ${gib(res.memTotalMiB)} GiB`,
    });
  } catch (e) {
    checks.push({ check: 'resources', ok: false, detail: (e as Error).message });
  }
  return checks;
}

const gib = (mib: number | undefined) => (mib === undefined ? '?' : (mib / 1024).toFixed(1));
