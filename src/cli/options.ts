// Flag parsers shared by commands.
import { Option } from 'commander';
import { parseDuration } from '../model/quantity.js';
import { UsageError } from './errors.js';

/** `-f` is repeatable: `-f a.yaml -f dir/`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function outputOption(formats: string[], fallback: string): Option {
  return new Option('-o, --output <format>', `output format: ${formats.join('|')}`).choices(formats).default(fallback);
}

export function requireFiles(files: string[] | undefined): string[] {
  if (!files?.length) throw new UsageError('no manifests given', 'pass -f FILE_OR_DIR (repeatable)');
  return files;
}

/** Longest duration any flag or manifest field accepts (docs/manifest-reference.md, "Durations"). */
export const MAX_DURATION_MS = 24 * 3_600_000;
export const MAX_DURATION_TEXT = '24h';

/** Per-flag lower bounds; every duration flag has MAX_DURATION_MS as its upper bound. */
const DURATION_FLAG_MIN: Record<string, { ms: number; text: string; why: string }> = {
  // A resync re-observes every node: a tiny period keeps them busy for nothing.
  '--resync': { ms: 1000, text: '1s', why: 'each resync re-observes every node' },
};

/** A duration flag ("90s", "5m") in ms, within its bounds, with the flag named in any error. */
export function parseFlagDuration(flag: string, value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new UsageError(`invalid duration for ${flag}: "${value}"`, 'use a number and a unit (ms, s, m, h), e.g. 500ms, 90s, 5m, 1h30m');
  }
  if (ms > MAX_DURATION_MS) {
    throw new UsageError(`${flag} ${value} is too long: the maximum is ${MAX_DURATION_TEXT}`, `use a duration up to ${MAX_DURATION_TEXT}, e.g. ${flag} 1h`);
  }
  const min = DURATION_FLAG_MIN[flag];
  if (min && ms < min.ms) {
    throw new UsageError(`${flag} ${value} is too short: the minimum is ${min.text} (${min.why})`, `use e.g. ${flag} 10s`);
  }
  return ms;
}

/** A flag duration ("90s", "5m") in ms, with the flag named in the error. */
export function flagDuration(flag: string, value: string | undefined, fallbackMs: number): number {
  return value === undefined ? fallbackMs : parseFlagDuration(flag, value);
}
