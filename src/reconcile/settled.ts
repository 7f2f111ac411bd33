// Resources a pass leaves alone whose observation already decides what their machine would
// conclude. Their machine would take one look (the pass's own observation), find them running
// (and healthy, by the verdict the supervisor recorded) and stop: a conclusion with no I/O and no
// wait. The executor takes it from here instead of starting two XState actors per workspace,
// which on a first no-op after a cold apply of 1,000 workspaces cost ~0.6 s of CPU. Anything
// else (an operation, a service to watch again, a verdict still to come) gets its machine. Pure.
//
// test/unit/reconcile/settled.test.ts runs the executor with and without this shortcut over the
// same observations and checks the outcomes are the same.
import type { ObservedService, ObservedWorkspace } from '../model/types.js';
import type { HealthResult } from '../services/types.js';
import { answeredObservation } from './observe.js';

/** The final state a machine would have reached, with what it would have kept in its context. */
export interface Settled {
  state: 'ready' | 'stopped';
  observed?: ObservedService;
  lastHealth?: HealthResult;
}

/** A workspace with no operation: stopped as wanted, or running and answering (its services were listed). */
export function settledWorkspace(target: 'running' | 'stopped' | 'deleted', hasOperation: boolean, observed: ObservedWorkspace | undefined): Settled | undefined {
  if (hasOperation) return undefined;
  if (target === 'stopped') return { state: 'stopped' };
  if (target === 'running' && answeredObservation(observed)) return { state: 'ready' };
  return undefined;
}

export interface ServiceLook {
  target: 'running' | 'stopped' | 'deleted';
  hasOperation: boolean;
  /** Its workspace was settled ready (a workspace with a machine may still fail). */
  workspaceSettled: boolean;
  /** It failed in the previous pass: watched for the full window, not trusted from one look. */
  recheck: boolean;
  /** Another service waits for it to complete: watched until it exits. */
  untilExit: boolean;
  /** It has a health probe. */
  probed: boolean;
  /** The pass's observation of it. */
  seen: ObservedService | undefined;
}

/** A service with no operation: stopped as wanted, or running (and healthy by a current verdict). */
export function settledService(s: ServiceLook): Settled | undefined {
  if (s.hasOperation) return undefined;
  if (s.target === 'stopped') return { state: 'stopped' };
  if (s.target !== 'running' || !s.workspaceSettled || s.recheck || s.untilExit) return undefined;
  const seen = s.seen;
  if (seen?.state !== 'running') return undefined;
  if (!s.probed) return { state: 'ready', observed: seen };
  const h = seen.health;
  if (h?.status !== 'healthy' || staleVerdict(h.checkedAt, seen.startedAt)) return undefined;
  return { state: 'ready', observed: seen, lastHealth: { ok: true, message: h.message } };
}

/** Was the health verdict checked before the service's current run started? (Both are node times.) */
export function staleVerdict(checkedAt: string | undefined, startedAt: string | undefined): boolean {
  if (!checkedAt || !startedAt) return false;
  const checked = Date.parse(checkedAt);
  const started = Date.parse(startedAt);
  return Number.isFinite(checked) && Number.isFinite(started) && checked < started;
}
