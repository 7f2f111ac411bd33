import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { MAX_TIMER_MS, setLongTimeout, sleepMs } from '../../../src/model/timers.js';

const HOUR = 3_600_000;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('setLongTimeout', () => {
  test('a wait beyond 2^31-1 ms fires at its time, not at once', () => {
    const fn = vi.fn();
    setLongTimeout(fn, 1000 * HOUR);
    vi.advanceTimersByTime(1);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000 * HOUR - MAX_TIMER_MS - 2);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10_000 * HOUR);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  test('never arms a timer Node would overflow', () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    setLongTimeout(() => {}, 10 * MAX_TIMER_MS);
    vi.advanceTimersByTime(10 * MAX_TIMER_MS);
    const delays = spy.mock.calls.map((c) => c[1] as number);
    expect(delays.length).toBeGreaterThanOrEqual(10);
    for (const d of delays) expect(d).toBeLessThanOrEqual(MAX_TIMER_MS);
    spy.mockRestore();
  });

  test('short waits behave like setTimeout', () => {
    const fn = vi.fn();
    setLongTimeout(fn, 500);
    vi.advanceTimersByTime(499);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  test('clear stops it, in any chunk', () => {
    const fn = vi.fn();
    const t = setLongTimeout(fn, 3 * MAX_TIMER_MS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 5);
    t.clear();
    vi.advanceTimersByTime(5 * MAX_TIMER_MS);
    expect(fn).not.toHaveBeenCalled();
  });

  test('refuses a delay that is not a finite number ≥ 0', () => {
    expect(() => setLongTimeout(() => {}, Infinity)).toThrow(/invalid timer delay/);
    expect(() => setLongTimeout(() => {}, -1)).toThrow(/invalid timer delay/);
    expect(() => setLongTimeout(() => {}, NaN)).toThrow(/invalid timer delay/);
  });
});

describe('sleepMs', () => {
  test('resolves after a long wait, not before', async () => {
    let done = false;
    void sleepMs(30 * 24 * HOUR).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(29 * 24 * HOUR);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(24 * HOUR);
    expect(done).toBe(true);
  });

  test('an abort ends the wait at once, and an aborted signal does not wait at all', async () => {
    const ac = new AbortController();
    let done = false;
    void sleepMs(1000 * HOUR, ac.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    await expect(sleepMs(1000 * HOUR, ac.signal)).resolves.toBeUndefined();
  });
});
