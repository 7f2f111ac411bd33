import { describe, expect, test } from 'vitest';
import { MAX_DURATION_MS, parseFlagDuration } from '../../../src/cli/options.js';
import { UsageError } from '../../../src/cli/errors.js';

function usage(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a UsageError');
}

describe('duration flags', () => {
  test('valid values within bounds', () => {
    expect(parseFlagDuration('--timeout', '5m')).toBe(300_000);
    expect(parseFlagDuration('--timeout', '24h')).toBe(MAX_DURATION_MS);
    expect(parseFlagDuration('--debounce', '0ms')).toBe(0);
    expect(parseFlagDuration('--resync', '1s')).toBe(1000);
  });

  test.each(['--timeout', '--lock-timeout', '--resync', '--debounce'])('%s over 24h names the flag and the maximum', (flag) => {
    const err = usage(() => parseFlagDuration(flag, '1000h'));
    expect(err.message).toBe(`${flag} 1000h is too long: the maximum is 24h`);
    expect(usage(() => parseFlagDuration(flag, '24h1ms')).message).toMatch(/too long/);
    // Beyond what a double holds exactly, still a clear message rather than an overflow.
    expect(usage(() => parseFlagDuration(flag, `${'9'.repeat(400)}h`)).message).toMatch(/too long: the maximum is 24h/);
  });

  test('--resync below 1s is refused (it would keep every node busy)', () => {
    expect(usage(() => parseFlagDuration('--resync', '0s')).message).toBe('--resync 0s is too short: the minimum is 1s (each resync re-observes every node)');
    expect(usage(() => parseFlagDuration('--resync', '10ms')).message).toMatch(/too short/);
  });

  test('not a duration', () => {
    expect(usage(() => parseFlagDuration('--timeout', 'soon')).message).toBe('invalid duration for --timeout: "soon"');
  });
});
