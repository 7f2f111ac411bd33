// Health checks made from the controller: the fallback for when the supervisor's own prober
// (./probe-script.ts) has no verdict, e.g. no tool for the check in the workspace (status
// 'unknown'). `exec` runs inside the workspace; `tcp` and `http` go through the node's transport
// (direct-tcpip on SSH) to the workspace address.
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HealthcheckSpec } from '../model/types.js';
import type { WorkspaceRuntime } from '../providers/types.js';
import type { Transport } from '../transport/types.js';
import type { HealthResult } from './types.js';

class HealthTimeout extends Error {}

/** Reject with HealthTimeout after ms, calling onTimeout first (to close what is pending). */
function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new HealthTimeout());
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** "connection refused" reads the same from net (ECONNREFUSED) and ssh2 ("Connection refused"). */
function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  const text = [e?.code, e?.message, (e?.cause as Error | undefined)?.message].filter(Boolean).join(' ');
  if (/ECONNREFUSED|refused/i.test(text)) return 'connection refused';
  if (/EHOSTUNREACH|unreachable/i.test(text)) return 'host unreachable';
  return e?.message ?? String(err);
}

async function execCheck(command: string, rt: WorkspaceRuntime, timeoutMs: number): Promise<HealthResult> {
  const label = `exec ${JSON.stringify(command)}`;
  try {
    const res = await rt.exec(['/bin/sh', '-c', command], { timeoutMs, cwd: rt.workspaceDir });
    if (res.code === 0) return { ok: true, message: `${label} → exit 0` };
    const output = (res.stderr || res.stdout).trim().split('\n').slice(-3).join(' ');
    return { ok: false, message: `${label} → exit ${res.code}${output ? `: ${output}` : ''}` };
  } catch (err) {
    return { ok: false, message: `${label}: ${describeError(err)}` };
  }
}

async function connect(transport: Transport, host: string, port: number, timeoutMs: number): Promise<Duplex> {
  let abandoned = false;
  const pending = transport.connectTcp(host, port);
  // A connection that arrives after the timeout is closed, not leaked.
  pending.then((s) => abandoned && s.destroy(), () => {});
  return withTimeout(pending, timeoutMs, () => {
    abandoned = true;
  });
}

async function tcpCheck(host: string, port: number, transport: Transport, timeoutMs: number): Promise<HealthResult> {
  const label = `tcp ${host}:${port}`;
  try {
    const socket = await connect(transport, host, port, timeoutMs);
    socket.destroy();
    return { ok: true, message: `${label}: connected` };
  } catch (err) {
    if (err instanceof HealthTimeout) return { ok: false, message: `${label}: no connection after ${timeoutMs}ms` };
    return { ok: false, message: `${label}: ${describeError(err)}` };
  }
}

async function httpCheck(
  host: string,
  port: number,
  path: string,
  transport: Transport,
  timeoutMs: number,
): Promise<HealthResult> {
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = `http://${authority}${path}`;
  const started = Date.now();
  let socket: Duplex | undefined;
  try {
    socket = await connect(transport, host, port, timeoutMs);
    const stream = socket;
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host,
            port,
            path,
            method: 'GET',
            headers: { Host: authority, Connection: 'close', 'User-Agent': 'vendetta-healthcheck' },
            // Our own stream (an SSH channel on remote nodes) instead of a socket node opens.
            createConnection: () => stream as unknown as import('node:net').Socket,
          },
          (res) => {
            res.resume(); // the body does not matter, only the status
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      }),
      Math.max(1, timeoutMs - (Date.now() - started)),
      () => stream.destroy(),
    );
    const ok = status >= 200 && status < 400;
    return { ok, message: `${url} → ${status}` };
  } catch (err) {
    if (err instanceof HealthTimeout) return { ok: false, message: `${url}: no response after ${timeoutMs}ms` };
    return { ok: false, message: `${url}: ${describeError(err)}` };
  } finally {
    socket?.destroy();
  }
}

/** Run one health check once. Never throws: a failure is a result with a message. */
export async function checkHealth(
  hc: HealthcheckSpec,
  rt: WorkspaceRuntime,
  transport: Transport,
  timeoutMs: number,
): Promise<HealthResult> {
  if (hc.exec) return execCheck(hc.exec.command, rt, timeoutMs);
  if (hc.tcp) return tcpCheck(rt.address, hc.tcp.port, transport, timeoutMs);
  if (hc.http) {
    const path = hc.http.path ?? '/';
    return httpCheck(rt.address, hc.http.port, path.startsWith('/') ? path : `/${path}`, transport, timeoutMs);
  }
  return { ok: true, message: 'no health check configured' };
}
