// A service as the supervisor should run it: the resource plus what the engine computed.
import type { ServiceResource } from '../model/types.js';

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
