// Shared helpers for tests that run real local processes.
import { readFileSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceSpec } from '../../src/model/types.js';
import type { WorkspaceRuntime } from '../../src/providers/types.js';
import type { DesiredService } from '../../src/services/types.js';
import { LocalTransport } from '../../src/transport/local.js';

/** Alive and not a zombie (this machine's PID 1 may reap orphans late). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Poll until check() returns a value other than undefined/false, or fail after timeoutMs. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function tempDir(prefix: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await realpath(await mkdtemp(join(tmpdir(), `vendetta-${prefix}-`)));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export function localRuntime(transport: LocalTransport, workspaceDir: string, stateDir: string): WorkspaceRuntime {
  return {
    workspaceDir,
    stateDir,
    address: '127.0.0.1',
    exec: (argv, opts) => transport.exec(argv, opts),
    spawn: (argv, opts) => transport.spawn(argv, opts),
  };
}

/** Kill a PID we started, if it is still there. */
export function killIfAlive(pid: number | undefined): void {
  if (pid && isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone in between
    }
  }
}

/** A Service of workspace "ws" as the engine hands it to a service manager (command `true` unless set). */
export function desiredService(name: string, spec: Partial<ServiceSpec>, env: Record<string, string>, workdir: string): DesiredService {
  return {
    resource: { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Service', metadata: { name }, spec: { workspace: 'ws', command: 'true', ...spec } },
    specHash: `hash-${name}`,
    env,
    workdir,
  };
}
