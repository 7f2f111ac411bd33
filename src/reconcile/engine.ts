// The engine with its real parts: the planner, desired-state builders, the service supervisor,
// health checks. The logic lives in ./reconciler.ts; this file only wires.
import { parsePortSpec } from '../model/ports.js';
import { parseDuration } from '../model/quantity.js';
import { desiredService, desiredWorkspace, hashDesired } from '../plan/desired.js';
import { plan, planDeletion } from '../plan/plan.js';
import { applyTargets, deleteTargets } from '../plan/targets.js';
import { checkHealth } from '../services/health.js';
import { createServiceManager } from '../services/manager.js';
import { createEngineWith, type Engine, type EngineDeps, type EngineOptions } from './reconciler.js';

export type { Engine, EngineOptions, LoopOptions } from './reconciler.js';

export const realEngineDeps: EngineDeps = {
  plan,
  planDeletion,
  applyTargets,
  deleteTargets,
  desiredWorkspace,
  desiredService,
  hashDesired,
  serviceManager: createServiceManager,
  checkHealth,
  parseDuration,
  parsePortSpec,
};

export function createEngine(opts: EngineOptions): Engine {
  return createEngineWith(realEngineDeps, opts);
}
