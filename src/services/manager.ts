// ServiceManager on top of a WorkspaceRuntime: every call is one exec of an argv from
// ./supervisor.ts, so it works the same on the host, in containers and in VMs. Where the runtime
// has a node-side view of its state dir (Docker's bind mount), files are installed and state is
// read from the node; supervisors still start (and stop) inside the workspace.
import type { ObservedService } from '../model/types.js';
import { parseQuantity } from '../model/quantity.js';
import type { WorkspaceRuntime } from '../providers/types.js';
import type { ExecOptions, ExecResult, SpawnedProcess } from '../transport/types.js';
import type { DesiredService, ServiceManager } from './types.js';
import { probeSpec, renderProbeFile } from './probe-script.js';
import {
  installAndStartArgv,
  installServiceArgv,
  parseServiceStatus,
  removeServiceArgv,
  renderEnvFile,
  serviceLogsArgv,
  serviceStatusArgv,
  startServiceArgv,
  stopServiceArgv,
} from './supervisor.js';

export { serviceStatusArgv, stopAllServicesArgv, parseServiceStatus } from './supervisor.js';

const DEFAULT_TAIL = 100;
/** The smallest log size before rotation (spec.logs.maxSize). */
export const MIN_LOG_BYTES = 4096;

/**
 * The services of one running workspace, read in one exec: what container/VM drivers call from
 * observe. `exec` runs inside the workspace; `where` names it in errors ("workspace api on node n1").
 */
export async function readServiceStatus(
  exec: (argv: string[]) => Promise<ExecResult>,
  stateDir: string,
  where: string,
): Promise<ObservedService[]> {
  const result = await exec(serviceStatusArgv(stateDir));
  if (result.code !== 0) {
    throw new Error(`reading service status in ${where} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return parseServiceStatus(result.stdout);
}

function probeFile(name: string, svc: DesiredService): string {
  try {
    return renderProbeFile(probeSpec(svc.resource.spec.healthcheck));
  } catch (err) {
    throw new Error(`service ${name}: ${(err as Error).message}`);
  }
}

/** The shell line a service runs: command (or the image's ENTRYPOINT, else its CMD) + args quoted. */
export function serviceCommand(spec: { command?: string; args?: string[] }, image: WorkspaceRuntime['image']): string {
  const args = spec.args ?? [];
  const quoted = args.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  const head = spec.command ?? [image?.entrypoint, spec.args === undefined ? image?.cmd : undefined].filter((p) => p).join(' ');
  return [head, quoted].filter((p) => p).join(' ');
}

export function createServiceManager(rt: WorkspaceRuntime): ServiceManager {
  async function run(what: string, argv: string[], opts?: ExecOptions, where: 'workspace' | 'node' = 'workspace', before?: string[]): Promise<ExecResult> {
    const onNode = where === 'node' && rt.nodeState;
    const res = onNode ? await rt.nodeState!.exec(argv, opts) : rt.serviceExec ? await rt.serviceExec(argv, opts, before) : await rt.exec(argv, opts);
    if (res.code !== 0) {
      const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
      throw new Error(`${what} failed in ${onNode ? `${rt.nodeState!.dir} on the node` : rt.stateDir}: ${detail}`);
    }
    return res;
  }

  return {
    async start(svc: DesiredService, opts?: { settleMs?: number }): Promise<ObservedService | undefined> {
      const name = svc.resource.metadata.name;
      const logs = svc.resource.spec.logs;
      // No command (docker only): the image's own ENTRYPOINT with args, else with its CMD, in its
      // WORKDIR unless one is set.
      const command = serviceCommand(svc.resource.spec, rt.image);
      if (command === '') {
        throw new Error(`service ${name} has no command and its workspace's image defines none (no ENTRYPOINT or CMD); set spec.command`);
      }
      const workdir = svc.resource.spec.command === undefined && svc.resource.spec.workdir === undefined && rt.image?.workdir ? rt.image.workdir : svc.workdir;
      const files = {
        command,
        workdir,
        restart: svc.resource.spec.restart ?? 'always',
        hash: svc.specHash,
        // Below a few KiB rotation would be all the writer does.
        ...(logs?.maxSize !== undefined ? { logMaxBytes: Math.max(MIN_LOG_BYTES, parseQuantity(logs.maxSize)) } : {}),
        ...(logs?.maxFiles !== undefined ? { logFiles: logs.maxFiles } : {}),
        // The supervisor runs the health check in the workspace and records its verdict.
        probe: probeFile(name, svc),
      };
      const env = { stdin: renderEnvFile(svc.env) };
      const envBase = rt.serviceEnv ?? 'clean';
      let res: ExecResult;
      if (rt.nodeState && rt.serviceExec) {
        // Files from the node, as the login user, then the supervisor started inside by the
        // runtime's own way: one round trip (Docker: the workspace's agent). The env file goes
        // on stdin, which every exec closes after writing it.
        res = await run(`starting service ${name}`, startServiceArgv(rt.stateDir, name, envBase, opts?.settleMs), env, 'workspace', installServiceArgv(rt.nodeState.dir, name, files));
      } else if (rt.nodeState) {
        // Files from the node (one SSH exec, as the login user), the supervisor started inside
        // the workspace. The env file goes on stdin, which every exec closes after writing it
        // (a `cat` must never wait for more).
        await run(`installing service ${name}`, installServiceArgv(rt.nodeState.dir, name, files), env, 'node');
        res = await run(`starting service ${name}`, startServiceArgv(rt.stateDir, name, envBase, opts?.settleMs));
      } else {
        // The exec sees the state dir itself: install and start in one round trip.
        res = await run(`starting service ${name}`, installAndStartArgv(rt.stateDir, name, files, envBase, opts?.settleMs, rt.serviceLiveness, rt.nodeAgent), env);
      }
      return opts?.settleMs !== undefined ? parseServiceStatus(res.stdout).find((s) => s.name === name) : undefined;
    },

    async restart(name: string): Promise<void> {
      await run(`restarting service ${name}`, startServiceArgv(rt.stateDir, name, rt.serviceEnv ?? 'clean', undefined, rt.serviceLiveness, rt.nodeAgent));
    },

    async stop(name: string): Promise<void> {
      await run(`stopping service ${name}`, stopServiceArgv(rt.stateDir, name));
    },

    async remove(name: string): Promise<void> {
      await run(`removing service ${name}`, removeServiceArgv(rt.stateDir, name));
    },

    async observe(): Promise<ObservedService[]> {
      if (rt.nodeState) {
        const res = await run('reading service status', serviceStatusArgv(rt.nodeState.dir, rt.nodeState.liveness), undefined, 'node');
        return parseServiceStatus(res.stdout);
      }
      const res = await run('reading service status', serviceStatusArgv(rt.stateDir));
      return parseServiceStatus(res.stdout);
    },

    async logs(name: string, opts?: { tail?: number }): Promise<string> {
      const res = await rt.exec(serviceLogsArgv(rt.stateDir, name, opts?.tail ?? DEFAULT_TAIL, false));
      // No log yet (never started) reads as empty, not as an error.
      return res.code === 0 ? res.stdout : '';
    },

    followLogs(name: string, opts?: { tail?: number }): Promise<SpawnedProcess> {
      return rt.spawn(serviceLogsArgv(rt.stateDir, name, opts?.tail ?? DEFAULT_TAIL, true));
    },
  };
}
