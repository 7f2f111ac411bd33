// One workspace during one reconcile pass: run the planned operation (if any), then check the
// workspace really answers (an exec of `true`) before its services may start.
//
//   pending → operating ⇄ operateBackoff → verifying ⇄ verifyBackoff → ready
//                      ↘ stopped | deleted                          ↘ failed (reason)
import { assign, emit, fromPromise, setup } from 'xstate';
import { backoffMs, DEFAULT_RETRY, errorMessage, isTerminal, type RetryPolicy } from './retry.js';

export type WorkspaceOperation = 'create' | 'recreate' | 'update' | 'start' | 'stop' | 'delete';
/** Where the workspace should end up in this pass. */
export type WorkspaceTarget = 'running' | 'stopped' | 'deleted';

/**
 * What the machine does to the world, supplied by the executor in the input: one machine
 * definition serves every unit (building a machine per unit with `provide` cost about 0.5 ms each,
 * a second at 1,000 workspaces). Tests may still `provide` the actors instead.
 */
export interface WorkspaceIo {
  operate(operation: WorkspaceOperation): Promise<void>;
  verify(): Promise<void>;
}

export interface WorkspaceMachineInput {
  io?: WorkspaceIo;
  name: string;
  operation?: WorkspaceOperation;
  target: WorkspaceTarget;
  retry?: Partial<RetryPolicy>;
}

export interface WorkspaceContext {
  io?: WorkspaceIo;
  name: string;
  operation?: WorkspaceOperation;
  target: WorkspaceTarget;
  retry: RetryPolicy;
  /** Failed attempts of the current step. */
  attempts: number;
  /** Why the workspace failed, or the last transient error while retrying. */
  reason?: string;
}

export type WorkspaceEmitted =
  | { type: 'operated'; operation: WorkspaceOperation }
  | { type: 'retrying'; step: 'operate' | 'verify'; attempt: number; delayMs: number; error: string };

export const workspaceMachine = setup({
  types: {
    context: {} as WorkspaceContext,
    input: {} as WorkspaceMachineInput,
    emitted: {} as WorkspaceEmitted,
  },
  actors: {
    operate: fromPromise<void, { name: string; operation: WorkspaceOperation; io?: WorkspaceIo }>(async ({ input }) => {
      if (!input.io) throw new Error('workspace machine: no io for operate');
      return input.io.operate(input.operation);
    }),
    verify: fromPromise<void, { name: string; io?: WorkspaceIo }>(async ({ input }) => {
      if (!input.io) throw new Error('workspace machine: no io for verify');
      return input.io.verify();
    }),
  },
  guards: {
    hasOperation: ({ context }) => context.operation !== undefined,
    targetRunning: ({ context }) => context.target === 'running',
    targetStopped: ({ context }) => context.target === 'stopped',
    canRetry: ({ context }, params: { error: unknown }) =>
      !isTerminal(params.error) && context.attempts + 1 < context.retry.maxAttempts,
  },
  delays: {
    backoff: ({ context }) => backoffMs(context.attempts, context.retry),
  },
  actions: {
    resetAttempts: assign({ attempts: 0, reason: undefined }),
    noteRetry: assign(({ context }, params: { error: unknown }) => ({
      attempts: context.attempts + 1,
      reason: errorMessage(params.error),
    })),
    emitRetrying: emit(({ context }, params: { step: 'operate' | 'verify' }) => ({
      type: 'retrying' as const,
      step: params.step,
      attempt: context.attempts,
      delayMs: backoffMs(context.attempts, context.retry),
      error: context.reason ?? '',
    })),
    fail: assign(({ context }, params: { step: string; error: unknown }) => ({
      attempts: context.attempts + 1,
      reason: isTerminal(params.error)
        ? `${params.step} failed: ${errorMessage(params.error)}`
        : `${params.step} failed after ${context.attempts + 1} attempt${context.attempts ? 's' : ''}: ${errorMessage(params.error)}`,
    })),
    emitOperated: emit(({ context }) => ({ type: 'operated' as const, operation: context.operation! })),
  },
}).createMachine({
  id: 'workspace',
  context: ({ input }) => ({
    io: input.io,
    name: input.name,
    operation: input.operation,
    target: input.target,
    retry: { ...DEFAULT_RETRY, ...input.retry },
    attempts: 0,
  }),
  initial: 'pending',
  states: {
    pending: {
      always: [
        { guard: 'hasOperation', target: 'operating' },
        { guard: 'targetRunning', target: 'verifying' },
        { guard: 'targetStopped', target: 'stopped' },
        { target: 'deleted' },
      ],
    },
    operating: {
      invoke: {
        src: 'operate',
        input: ({ context }) => ({ name: context.name, operation: context.operation!, io: context.io }),
        onDone: [
          { guard: 'targetRunning', target: 'verifying', actions: ['emitOperated', 'resetAttempts'] },
          { guard: 'targetStopped', target: 'stopped', actions: 'emitOperated' },
          { target: 'deleted', actions: 'emitOperated' },
        ],
        onError: [
          {
            guard: { type: 'canRetry', params: ({ event }) => ({ error: event.error }) },
            target: 'operateBackoff',
            actions: [
              { type: 'noteRetry', params: ({ event }) => ({ error: event.error }) },
              { type: 'emitRetrying', params: { step: 'operate' } },
            ],
          },
          {
            target: 'failed',
            actions: { type: 'fail', params: ({ context, event }) => ({ step: context.operation!, error: event.error }) },
          },
        ],
      },
    },
    operateBackoff: { after: { backoff: 'operating' } },
    verifying: {
      invoke: {
        src: 'verify',
        input: ({ context }) => ({ name: context.name, io: context.io }),
        onDone: { target: 'ready', actions: 'resetAttempts' },
        onError: [
          {
            guard: { type: 'canRetry', params: ({ event }) => ({ error: event.error }) },
            target: 'verifyBackoff',
            actions: [
              { type: 'noteRetry', params: ({ event }) => ({ error: event.error }) },
              { type: 'emitRetrying', params: { step: 'verify' } },
            ],
          },
          {
            target: 'failed',
            // A lifecycle hook runs in verify, once the workspace answers: its failure is the operation's.
            actions: {
              type: 'fail',
              params: ({ context, event }) => ({
                step: (event.error as Error | undefined)?.name === 'HookError' ? (context.operation ?? 'start') : 'reaching the workspace',
                error: event.error,
              }),
            },
          },
        ],
      },
    },
    verifyBackoff: { after: { backoff: 'verifying' } },
    ready: { type: 'final' },
    stopped: { type: 'final' },
    deleted: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type WorkspaceMachine = typeof workspaceMachine;
