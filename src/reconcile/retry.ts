// Retry policy shared by the machines: exponential backoff from an attempt count, and the errors
// that must never be retried.
import { HostKeyMismatchError } from '../transport/types.js';
import { ProviderError } from '../providers/types.js';

export interface RetryPolicy {
  /** Attempts per step before the machine gives up (first try included). */
  maxAttempts: number;
  /** Delay after the first failure; doubled after each further failure. */
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseMs: 500, capMs: 8000 };

/** Delay before retry number `attempt` (1 = after the first failure): 0.5s, 1s, 2s… capped. */
export function backoffMs(attempt: number, policy: Pick<RetryPolicy, 'baseMs' | 'capMs'> = DEFAULT_RETRY): number {
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
}

/** A failure retrying cannot fix (a dependency operation failed, a driver is missing…). */
export class TerminalError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'TerminalError';
  }
}

export function isTerminal(err: unknown): boolean {
  return err instanceof TerminalError || err instanceof HostKeyMismatchError || (err instanceof ProviderError && err.permanent);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
