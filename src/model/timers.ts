// Timers for user-controlled durations. Node's setTimeout stores the delay in a signed 32-bit
// int: anything over 2^31-1 ms (~24.8 days) is replaced by 1 ms, with only a warning, so
// `--timeout 1000h` fired at once and `--resync 1000h` spun. These split a long wait into
// chunks that never overflow.

/** The longest delay setTimeout honours, in ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** Like setTimeout(fn, ms), for any finite ms ≥ 0 (a non-finite or negative ms is refused). */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`invalid timer delay ${ms}ms`);
  const due = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (remaining: number) => {
    timer = setTimeout(() => {
      if (cleared) return;
      // Chunks are measured against the clock, so the total wait does not drift.
      const left = due - Date.now();
      if (remaining > MAX_TIMER_MS && left > 0) arm(left);
      else fn();
    }, Math.min(remaining, MAX_TIMER_MS));
  };
  arm(ms);
  return {
    clear() {
      cleared = true;
      clearTimeout(timer);
    },
  };
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleepMs(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setLongTimeout(done, ms);
    function done() {
      timer.clear();
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
