// One service during one reconcile pass.
//
// Health comes from the verdict the supervisor records on the node (waitingHealthy polls it);
// without one, from checks the controller runs and counts itself.
//
//   pending → waitingWorkspace → waitingDependencies → operating → confirmingRunning → waitingHealthy → ready
//                             ↘ (no operation this pass) ─────────↗
//                                                                 ↘ completed (exited 0)   ↘ failed (reason)
// Services that should stop or go away skip the waits: they do not need a ready workspace.
//
// The engine tells the machine what happens elsewhere with WORKSPACE_READY / WORKSPACE_FAILED and
// DEPENDENCY_CHANGED; the machine reports what a user should see through emitted events.
import { assign, emit, enqueueActions, fromPromise, setup } from 'xstate';
import type { DependsOnCondition, ObservedService } from '../model/types.js';
import type { HealthResult } from '../services/types.js';
import { classifyServiceFailure, logTailText } from '../services/failure.js';
import { backoffMs, DEFAULT_RETRY, errorMessage, isTerminal, type RetryPolicy } from './retry.js';

export type ServiceOperation = 'start' | 'restart' | 'stop' | 'delete';
export type ServiceTarget = 'running' | 'stopped' | 'deleted';
/** How far a dependency got in this pass, as the engine reports it. */
export type DependencyState = 'pending' | 'started' | 'healthy' | 'completed' | 'failed';

export interface Dependency {
  service: string;
  condition: DependsOnCondition;
}

/**
 * What a probe found. `verdict` is set when it is the supervisor's own verdict, recorded on the
 * node (it counted retries and the start period itself): unhealthy is final, starting means look
 * again soon. Without it, it is one check the controller ran, and the machine counts.
 */
export interface ProbeResult extends HealthResult {
  verdict?: 'starting' | 'healthy' | 'unhealthy';
  /** Consecutive failed checks the supervisor counted. */
  failures?: number;
  /** The service as the read that carried the verdict saw it. */
  observed?: ObservedService;
}

export interface HealthTiming {
  intervalMs: number;
  /** Consecutive failures (after startPeriod) that make the service failed. */
  retries: number;
  /** Failures during this long after probing starts do not count. */
  startPeriodMs: number;
}

/** What the machine does to the world, supplied by the executor (see WorkspaceIo). */
export interface ServiceIo {
  operate(operation: ServiceOperation): Promise<void>;
  observe(): Promise<ObservedService | undefined>;
  probe(): Promise<ProbeResult>;
}

export interface ServiceMachineInput {
  io?: ServiceIo;
  name: string;
  operation?: ServiceOperation;
  target: ServiceTarget;
  dependsOn?: Dependency[];
  /** Present when the service has a healthcheck. */
  health?: HealthTiming;
  workspaceReady?: boolean;
  retry?: Partial<RetryPolicy>;
  /** Gap between observations while confirming the process stays up. */
  pollMs?: number;
  /** Consecutive "running" observations (with no restart between) that count as started. */
  stableObservations?: number;
  /**
   * ... spanning at least this long (default 250 ms here; the engine passes 0, since a start's
   * "ready" already says its command was found): a process that dies at once is still seen dying,
   * while polling stays quick enough to see a crash within pollMs.
   */
  stableMs?: number;
  /** Give up confirming after this many observations. */
  maxPolls?: number;
  /**
   * Another service waits for this one to complete (`condition: completed`): confirm its start
   * until it exits, however long it runs (the apply's timeout bounds it), not until it has run
   * stably — a migration that runs for a second is not "started", it is not done yet.
   */
  untilExit?: boolean;
  /** The service's declared ports, to name the one "address already in use" is about. */
  ports?: number[];
}

export interface ServiceContext {
  io?: ServiceIo;
  name: string;
  operation?: ServiceOperation;
  target: ServiceTarget;
  dependsOn: Dependency[];
  dependencies: Record<string, { state: DependencyState; reason?: string }>;
  health?: HealthTiming;
  workspaceReady: boolean;
  retry: RetryPolicy;
  pollMs: number;
  stableObservations: number;
  stableMs: number;
  maxPolls: number;
  untilExit: boolean;
  ports: number[];
  attempts: number;
  polls: number;
  runningStreak: number;
  /** When the current streak of running observations began (controller clock). */
  runningSince: number;
  observed?: ObservedService;
  probeStartedAt: number;
  healthFailures: number;
  lastHealth?: HealthResult;
  reason?: string;
}

export type ServiceEvent =
  | { type: 'WORKSPACE_READY' }
  | { type: 'WORKSPACE_FAILED'; reason: string }
  | { type: 'DEPENDENCY_CHANGED'; service: string; state: DependencyState; reason?: string };

export type ServiceEmitted =
  | { type: 'waitingForDependencies'; unmet: Dependency[] }
  | { type: 'dependencyReady'; dependency: Dependency }
  | { type: 'operated'; operation: ServiceOperation }
  | { type: 'started'; observed: ObservedService }
  | { type: 'healthy'; message: string }
  | { type: 'unhealthy'; message: string; failures: number; counted: boolean }
  | { type: 'retrying'; step: string; attempt: number; delayMs: number; error: string };

const SATISFIES: Record<DependsOnCondition, DependencyState[]> = {
  started: ['started', 'healthy', 'completed'],
  healthy: ['healthy'],
  completed: ['completed'],
};

export function dependencySatisfied(dep: Dependency, state: DependencyState): boolean {
  return SATISFIES[dep.condition].includes(state);
}

export function describeCondition(condition: DependsOnCondition): string {
  return condition === 'started' ? 'started' : condition === 'healthy' ? 'healthy' : 'completed successfully';
}

function unmetDependencies(context: ServiceContext): Dependency[] {
  return context.dependsOn.filter((d) => !dependencySatisfied(d, context.dependencies[d.service]?.state ?? 'pending'));
}

function failedDependency(context: ServiceContext): Dependency | undefined {
  return context.dependsOn.find((d) => {
    const state = context.dependencies[d.service]?.state ?? 'pending';
    // A dependency that completed can never become healthy; one that failed can satisfy nothing.
    return state === 'failed' || (state === 'completed' && d.condition === 'healthy');
  });
}

function isPermanentFailure(observed: ObservedService | undefined, ports: number[]): boolean {
  return !!observed && !!classifyServiceFailure(observed, ports)?.permanent;
}

export const serviceMachine = setup({
  types: {
    context: {} as ServiceContext,
    input: {} as ServiceMachineInput,
    events: {} as ServiceEvent,
    emitted: {} as ServiceEmitted,
  },
  actors: {
    operate: fromPromise<void, { name: string; operation: ServiceOperation; io?: ServiceIo }>(async ({ input }) => {
      if (!input.io) throw new Error('service machine: no io for operate');
      return input.io.operate(input.operation);
    }),
    observe: fromPromise<ObservedService | undefined, { name: string; io?: ServiceIo }>(async ({ input }) => {
      if (!input.io) throw new Error('service machine: no io for observe');
      return input.io.observe();
    }),
    probe: fromPromise<ProbeResult, { name: string; io?: ServiceIo }>(async ({ input }) => {
      if (!input.io) throw new Error('service machine: no io for probe');
      return input.io.probe();
    }),
  },
  guards: {
    targetRunning: ({ context }) => context.target === 'running',
    targetStopped: ({ context }) => context.target === 'stopped',
    hasOperation: ({ context }) => context.operation !== undefined,
    workspaceReady: ({ context }) => context.workspaceReady,
    dependencyFailed: ({ context }) => failedDependency(context) !== undefined,
    dependenciesMet: ({ context }) => unmetDependencies(context).length === 0,
    hasHealthcheck: ({ context }) => context.health !== undefined,
    canRetry: ({ context }, params: { error: unknown }) =>
      !isTerminal(params.error) && context.attempts + 1 < context.retry.maxAttempts,
    exitedZero: ({ context }) => context.observed?.state === 'exited' && context.observed.exitCode === 0,
    exitedNonZero: ({ context }) => context.observed?.state === 'exited',
    // Command not found, port taken: restarts cannot fix it, so do not watch them happen.
    permanentFailure: ({ context }) => isPermanentFailure(context.observed, context.ports),
    observedPermanentFailure: ({ context }, params: { observed: ObservedService | undefined }) =>
      isPermanentFailure(params.observed, context.ports),
    runningStable: ({ context }) =>
      !context.untilExit &&
      context.runningStreak >= context.stableObservations && (context.stableObservations <= 1 || Date.now() - context.runningSince >= context.stableMs),
    pollsExhausted: ({ context }) => !context.untilExit && context.polls >= context.maxPolls,
    healthOk: (_, params: { result: HealthResult }) => params.result.ok,
    recordedUnhealthy: (_, params: { result: ProbeResult }) => params.result.verdict === 'unhealthy',
    recordedStarting: (_, params: { result: ProbeResult }) => params.result.verdict === 'starting',
    inStartPeriod: ({ context }) => Date.now() - context.probeStartedAt < (context.health?.startPeriodMs ?? 0),
    retriesExhausted: ({ context }) => context.healthFailures + 1 >= (context.health?.retries ?? 1),
  },
  delays: {
    backoff: ({ context }) => backoffMs(context.attempts, context.retry),
    poll: ({ context }) => context.pollMs,
    healthInterval: ({ context }) => context.health?.intervalMs ?? 1000,
  },
  actions: {
    resetAttempts: assign({ attempts: 0 }),
    noteRetry: assign(({ context }, params: { error: unknown }) => ({
      attempts: context.attempts + 1,
      reason: errorMessage(params.error),
    })),
    emitRetrying: emit(({ context }, params: { step: string }) => ({
      type: 'retrying' as const,
      step: params.step,
      attempt: context.attempts,
      delayMs: backoffMs(context.attempts, context.retry),
      error: context.reason ?? '',
    })),
    failStep: assign(({ context }, params: { step: string; error: unknown }) => ({
      reason: isTerminal(params.error)
        ? `${params.step} failed: ${errorMessage(params.error)}`
        : `${params.step} failed after ${context.attempts + 1} attempt${context.attempts ? 's' : ''}: ${errorMessage(params.error)}`,
    })),
    setReason: assign((_, params: { reason: string }) => ({ reason: params.reason })),
    markWorkspaceReady: assign({ workspaceReady: true }),
    noteDependency: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'DEPENDENCY_CHANGED') return;
      const before = context.dependencies[event.service]?.state ?? 'pending';
      enqueue.assign({
        dependencies: { ...context.dependencies, [event.service]: { state: event.state, reason: event.reason } },
      });
      for (const dep of context.dependsOn) {
        if (dep.service === event.service && !dependencySatisfied(dep, before) && dependencySatisfied(dep, event.state)) {
          enqueue.emit({ type: 'dependencyReady', dependency: dep });
        }
      }
    }),
    emitWaiting: enqueueActions(({ context, enqueue }) => {
      const unmet = unmetDependencies(context);
      if (unmet.length > 0 && failedDependency(context) === undefined) enqueue.emit({ type: 'waitingForDependencies', unmet });
    }),
    failDependency: assign(({ context }) => {
      const dep = failedDependency(context)!;
      const info = context.dependencies[dep.service];
      const why = info?.state === 'completed' ? 'exited before becoming healthy' : (info?.reason ?? 'failed');
      return { reason: `dependency ${dep.service} cannot become ${describeCondition(dep.condition)}: ${why}` };
    }),
    emitOperated: emit(({ context }) => ({ type: 'operated' as const, operation: context.operation! })),
    startConfirming: assign({ polls: 0, runningStreak: 0, observed: undefined, attempts: 0 }),
    recordObservation: assign(({ context }, params: { observed: ObservedService | undefined }) => {
      const stillSameRun =
        params.observed?.state === 'running' &&
        (context.observed === undefined || context.observed.state !== 'running' || context.observed.restarts === params.observed.restarts);
      let runningStreak = params.observed?.state === 'running' ? (stillSameRun ? context.runningStreak + 1 : 1) : 0;
      let runningSince = runningStreak === 1 ? Date.now() : context.runningSince;
      // A start that watched its run on the node for the whole window is confirmed at once.
      const settled = params.observed?.state === 'running' ? params.observed.settledMs : undefined;
      if (settled !== undefined && settled >= context.stableMs) {
        runningStreak = Math.max(runningStreak, context.stableObservations);
        runningSince = Date.now() - settled;
      }
      return {
        polls: context.polls + 1,
        observed: params.observed,
        runningStreak,
        runningSince,
        attempts: 0,
      };
    }),
    emitStarted: emit(({ context }) => ({ type: 'started' as const, observed: context.observed! })),
    failExited: assign(({ context }) => ({
      reason: `exited with code ${context.observed?.exitCode ?? 'unknown'}${logTailText(context.observed)}`,
    })),
    failPermanent: assign(({ context }) => {
      const failure = classifyServiceFailure(context.observed!, context.ports)!;
      return { reason: `${failure.summary}${logTailText(context.observed, failure.evidence)}` };
    }),
    failNotRunning: assign(({ context }) => {
      const o = context.observed;
      const detail = !o
        ? 'no supervisor state found'
        : o.state === 'backoff'
          ? `restarting after exit code ${o.exitCode ?? 'unknown'} (${o.restarts} restarts)`
          : o.state === 'running'
            ? `kept restarting (${o.restarts} restarts)`
            : `state ${o.state}`;
      return { reason: `did not stay running: ${detail}${logTailText(o)}` };
    }),
    noteObserved: assign((_, params: { observed: ObservedService | undefined }) => ({ observed: params.observed })),
    startProbing: assign({ probeStartedAt: () => Date.now(), healthFailures: 0, lastHealth: undefined }),
    noteHealth: assign((_, params: { result: HealthResult }) => ({ lastHealth: { ok: params.result.ok, message: params.result.message } })),
    countHealthFailure: assign(({ context }) => ({ healthFailures: context.healthFailures + 1 })),
    emitHealthy: emit(({ context }) => ({ type: 'healthy' as const, message: context.lastHealth?.message ?? '' })),
    emitUnhealthy: emit(({ context }, params: { counted: boolean }) => ({
      type: 'unhealthy' as const,
      message: context.lastHealth?.message ?? '',
      failures: context.healthFailures,
      counted: params.counted,
    })),
    noteRecordedUnhealthy: assign((_, params: { result: ProbeResult }) => ({
      lastHealth: { ok: false, message: params.result.message },
      healthFailures: params.result.failures ?? 0,
      observed: params.result.observed,
    })),
    noteObservedFrom: assign(({ context }, params: { result: ProbeResult }) => ({ observed: params.result.observed ?? context.observed })),
    failUnhealthy: assign(({ context }) => ({
      reason: `unhealthy after ${context.healthFailures} consecutive failed checks: ${context.lastHealth?.message ?? 'no result'}`,
    })),
  },
}).createMachine({
  id: 'service',
  context: ({ input }) => ({
    io: input.io,
    name: input.name,
    operation: input.operation,
    target: input.target,
    dependsOn: input.dependsOn ?? [],
    dependencies: {},
    health: input.health,
    workspaceReady: input.workspaceReady ?? false,
    retry: { ...DEFAULT_RETRY, ...input.retry },
    pollMs: input.pollMs ?? 250,
    stableObservations: input.stableObservations ?? 2,
    stableMs: input.stableMs ?? 250,
    maxPolls: input.maxPolls ?? 40,
    untilExit: input.untilExit ?? false,
    ports: input.ports ?? [],
    attempts: 0,
    polls: 0,
    runningStreak: 0,
    runningSince: 0,
    probeStartedAt: 0,
    healthFailures: 0,
  }),
  initial: 'pending',
  // Dependencies can change at any time; only waitingDependencies acts on them.
  on: { DEPENDENCY_CHANGED: { actions: 'noteDependency' } },
  states: {
    pending: {
      always: [
        { guard: 'targetRunning', target: 'waitingWorkspace' },
        { guard: 'hasOperation', target: 'operating' },
        { guard: 'targetStopped', target: 'stopped' },
        { target: 'deleted' },
      ],
    },
    waitingWorkspace: {
      always: { guard: 'workspaceReady', target: 'workspaceReady' },
      on: {
        WORKSPACE_READY: { target: 'workspaceReady', actions: 'markWorkspaceReady' },
        WORKSPACE_FAILED: {
          target: 'failed',
          actions: { type: 'setReason', params: ({ event }) => ({ reason: `workspace not ready: ${event.reason}` }) },
        },
      },
    },
    // dependsOn gates starting: a service this pass does not start or restart has nothing to wait for.
    workspaceReady: {
      always: [{ guard: 'hasOperation', target: 'waitingDependencies' }, { target: 'confirmingRunning' }],
    },
    waitingDependencies: {
      entry: 'emitWaiting',
      always: [
        { guard: 'dependencyFailed', target: 'failed', actions: 'failDependency' },
        { guard: 'dependenciesMet', target: 'operating' },
      ],
    },
    operating: {
      invoke: {
        src: 'operate',
        input: ({ context }) => ({ name: context.name, operation: context.operation!, io: context.io }),
        onDone: [
          { guard: 'targetRunning', target: 'confirmingRunning', actions: ['emitOperated', 'resetAttempts'] },
          { guard: 'targetStopped', target: 'stopped', actions: 'emitOperated' },
          { target: 'deleted', actions: 'emitOperated' },
        ],
        onError: [
          {
            guard: { type: 'canRetry', params: ({ event }) => ({ error: event.error }) },
            target: 'operateBackoff',
            actions: [
              { type: 'noteRetry', params: ({ event }) => ({ error: event.error }) },
              { type: 'emitRetrying', params: ({ context }) => ({ step: context.operation! }) },
            ],
          },
          {
            target: 'failed',
            actions: { type: 'failStep', params: ({ context, event }) => ({ step: context.operation!, error: event.error }) },
          },
        ],
      },
    },
    operateBackoff: { after: { backoff: 'operating' } },
    // A process that exits right after starting is not "started": watch it for a moment.
    confirmingRunning: {
      entry: 'startConfirming',
      initial: 'observing',
      states: {
        observing: {
          invoke: {
            src: 'observe',
            input: ({ context }) => ({ name: context.name, io: context.io }),
            onDone: { target: 'deciding', actions: { type: 'recordObservation', params: ({ event }) => ({ observed: event.output }) } },
            onError: [
              {
                guard: { type: 'canRetry', params: ({ event }) => ({ error: event.error }) },
                target: 'observeBackoff',
                actions: [
                  { type: 'noteRetry', params: ({ event }) => ({ error: event.error }) },
                  { type: 'emitRetrying', params: { step: 'observe' } },
                ],
              },
              {
                target: '#service.failed',
                actions: { type: 'failStep', params: ({ event }) => ({ step: 'observing the service', error: event.error }) },
              },
            ],
          },
        },
        observeBackoff: { after: { backoff: 'observing' } },
        deciding: {
          always: [
            { guard: 'exitedZero', target: '#service.completed' },
            { guard: 'permanentFailure', target: '#service.failed', actions: 'failPermanent' },
            { guard: 'exitedNonZero', target: '#service.failed', actions: 'failExited' },
            { guard: 'runningStable', target: '#service.started', actions: 'emitStarted' },
            { guard: 'pollsExhausted', target: '#service.failed', actions: 'failNotRunning' },
            { target: 'waiting' },
          ],
        },
        waiting: { after: { poll: 'observing' } },
      },
    },
    started: {
      always: [{ guard: 'hasHealthcheck', target: 'waitingHealthy' }, { target: 'ready' }],
    },
    waitingHealthy: {
      entry: 'startProbing',
      initial: 'probing',
      states: {
        probing: {
          invoke: {
            src: 'probe',
            input: ({ context }) => ({ name: context.name, io: context.io }),
            onDone: [
              {
                guard: { type: 'healthOk', params: ({ event }) => ({ result: event.output }) },
                target: '#service.ready',
                actions: [{ type: 'noteHealth', params: ({ event }) => ({ result: event.output }) }, 'emitHealthy'],
              },
              // The supervisor's verdict already counted its retries: unhealthy is final.
              {
                guard: { type: 'recordedUnhealthy', params: ({ event }) => ({ result: event.output }) },
                target: '#service.failed',
                actions: [
                  { type: 'noteRecordedUnhealthy', params: ({ event }) => ({ result: event.output }) },
                  { type: 'emitUnhealthy', params: { counted: true } },
                  'failUnhealthy',
                ],
              },
              // No verdict yet: unless the process cannot run at all, look again soon.
              {
                guard: { type: 'recordedStarting', params: ({ event }) => ({ result: event.output }) },
                target: 'awaitingVerdict',
                actions: { type: 'noteObservedFrom', params: ({ event }) => ({ result: event.output }) },
              },
              {
                target: 'inspecting',
                actions: { type: 'noteHealth', params: ({ event }) => ({ result: event.output }) },
              },
            ],
            // A probe that throws is a failed check, not a crash of the machine.
            onError: {
              target: 'inspecting',
              actions: {
                type: 'noteHealth',
                params: ({ event }) => ({ result: { ok: false, message: errorMessage(event.error) } }),
              },
            },
          },
        },
        awaitingVerdict: {
          always: [
            { guard: 'permanentFailure', target: '#service.failed', actions: 'failPermanent' },
            { guard: 'exitedNonZero', target: '#service.failed', actions: 'failExited' },
          ],
          after: { poll: 'probing' },
        },
        // A failed check may come from a process that cannot start (command not found, port
        // taken): look at it, and say so at once instead of counting checks.
        inspecting: {
          invoke: {
            src: 'observe',
            input: ({ context }) => ({ name: context.name, io: context.io }),
            onDone: [
              {
                guard: { type: 'observedPermanentFailure', params: ({ event }) => ({ observed: event.output }) },
                target: '#service.failed',
                actions: [{ type: 'noteObserved', params: ({ event }) => ({ observed: event.output }) }, 'failPermanent'],
              },
              { target: 'judging' },
            ],
            // Not being able to look is no reason to fail: the checks decide.
            onError: { target: 'judging' },
          },
        },
        judging: {
          always: [
            { guard: 'inStartPeriod', target: 'waiting', actions: { type: 'emitUnhealthy', params: { counted: false } } },
            {
              guard: 'retriesExhausted',
              target: '#service.failed',
              actions: ['countHealthFailure', { type: 'emitUnhealthy', params: { counted: true } }, 'failUnhealthy'],
            },
            { target: 'waiting', actions: ['countHealthFailure', { type: 'emitUnhealthy', params: { counted: true } }] },
          ],
        },
        waiting: { after: { healthInterval: 'probing' } },
      },
    },
    ready: { type: 'final' },
    completed: { type: 'final' },
    stopped: { type: 'final' },
    deleted: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type ServiceMachine = typeof serviceMachine;
