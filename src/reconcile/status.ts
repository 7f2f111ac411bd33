// Kubernetes-style status from machine snapshots. Pure: the executor gathers the facts, these
// functions turn them into phases, conditions and details.
import type { Condition, Phase, ResourceStatus } from '../model/types.js';
import type { ServiceOperation } from './service-machine.js';
import type { WorkspaceOperation } from './workspace-machine.js';

export function condition(type: string, ok: boolean | 'Unknown', reason: string, message: string, now: string): Condition {
  return { type, status: ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False', reason, message, lastTransitionTime: now };
}

/** Keeps lastTransitionTime of conditions whose status did not change since `previous`. */
export function carryTransitionTimes(next: ResourceStatus, previous: ResourceStatus | undefined): ResourceStatus {
  if (!previous) return next;
  return {
    ...next,
    conditions: next.conditions.map((c) => {
      const old = previous.conditions.find((p) => p.type === c.type);
      return old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
    }),
  };
}

/** The top-level state name of a snapshot value ("waitingHealthy" for {waitingHealthy: "probing"}). */
export function topState(value: unknown): string {
  return typeof value === 'string' ? value : Object.keys(value as object)[0];
}

/** The phase of a resource while an operation works on it (`create-workspace` → `create` → Creating). */
export const OPERATION_PHASE: Record<WorkspaceOperation | ServiceOperation, Phase> = {
  create: 'Creating',
  recreate: 'Creating',
  update: 'Starting',
  start: 'Starting',
  restart: 'Starting',
  stop: 'Stopping',
  delete: 'Deleting',
};

export function workspacePhase(state: string, operation: WorkspaceOperation | undefined): Phase {
  switch (state) {
    case 'pending':
      return 'Pending';
    case 'operating':
    case 'operateBackoff':
      return operation ? OPERATION_PHASE[operation] : 'Pending';
    case 'verifying':
    case 'verifyBackoff':
      return 'Starting';
    case 'ready':
      return 'Ready';
    case 'stopped':
      return 'Stopped';
    case 'deleted':
      return 'Deleting';
    default:
      return 'Failed';
  }
}

export function servicePhase(state: string, operation: ServiceOperation | undefined): Phase {
  switch (state) {
    case 'pending':
    case 'waitingWorkspace':
    case 'workspaceReady':
      return 'Pending';
    case 'waitingDependencies':
      return 'WaitingDependencies';
    case 'operating':
    case 'operateBackoff':
      return operation ? OPERATION_PHASE[operation] : 'Pending';
    case 'confirmingRunning':
    case 'started':
      return 'Starting';
    case 'waitingHealthy':
      return 'WaitingHealthy';
    case 'ready':
      return 'Ready';
    case 'completed':
      return 'Completed';
    case 'stopped':
      return 'Stopped';
    case 'deleted':
      return 'Deleting';
    default:
      return 'Failed';
  }
}

/** Ready and Completed are the phases a converged resource may be in (Stopped when asked for). */
export function settledOk(phase: Phase): boolean {
  return phase === 'Ready' || phase === 'Completed' || phase === 'Stopped';
}

/** "http://<address>:<port>"; IPv6 addresses in brackets. */
export function httpEndpoint(address: string, port: number): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  return `http://${host}:${port}`;
}

/** The address a published port answers on: its bind IP unless that is "any", else the node's. */
export function publishedHost(bindIp: string | undefined, nodeAddress: string): string {
  if (bindIp && bindIp !== '0.0.0.0' && bindIp !== '::') return bindIp;
  return nodeAddress === 'local' ? '127.0.0.1' : nodeAddress;
}

export function failureSignature(failures: { resource: string; reason: string }[]): string {
  return failures
    .map((f) => `${f.resource}\u0000${f.reason}`)
    .sort()
    .join('\n');
}
