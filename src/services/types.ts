// A service as the supervisor should run it: the resource plus what the engine computed.
import type { ObservedService, ServiceResource } from '../model/types.js';

export interface DesiredService {
  resource: ServiceResource;
  specHash: string;
  /**
   * Full environment for the process: workspace env, service env (references resolved, may hold
   * secrets) and the discovery variables VENDETTA_SERVICE_<NAME>_HOST/_PORT/_URL.
   */
  env: Record<string, string>;
  /** Absolute working directory inside the workspace. */
  workdir: string;
}

export interface HealthResult {
  ok: boolean;
  /** "http 127.0.0.1:3000/health → 200", "tcp 127.0.0.1:5432: connection refused". */
  message: string;
}

/**
 * Runs services inside one workspace through the POSIX-sh supervisor. Implemented once
 * (src/services/manager.ts) on top of a WorkspaceRuntime, so every provider shares it.
 */
export interface ServiceManager {
  /**
   * Write the supervisor + this service's command/env files, then start its supervisor. With
   * `settleMs` (0 included), the node waits for the child's "ready" (its command found, about to
   * become the service), watches the new run that long, and the service's status comes back (its
   * `settledMs` set when the run lasted): the start confirms itself, nobody polls.
   */
  start(svc: DesiredService, opts?: { settleMs?: number }): Promise<ObservedService | undefined>;
  /**
   * Start an installed service again, with the files it has (a source sync changed what it
   * runs, not how): its supervisor and child are stopped first.
   */
  restart(name: string): Promise<void>;
  /** Stop the supervisor and the process group of its child; keeps logs. Missing is fine. */
  stop(name: string): Promise<void>;
  /** Stop and remove the service's state directory. */
  remove(name: string): Promise<void>;
  /** State of every service under the workspace's state dir, one exec. */
  observe(): Promise<import('../model/types.js').ObservedService[]>;
  /** Last `tail` lines of the service's log (stdout+stderr). */
  logs(name: string, opts?: { tail?: number }): Promise<string>;
  /** `tail -f` of the log, for `vendetta logs -f`. */
  followLogs(name: string, opts?: { tail?: number }): Promise<import('../transport/types.js').SpawnedProcess>;
}
