// Durations ("500ms", "2s", "1h30m") and byte quantities ("512Mi", "2Gi", "1G"), as written in
// manifests. The schemas carry the same grammar as regex patterns; test/unit/manifest checks
// that both agree.

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)/y;
const DURATION_HINT = 'use a number and a unit (ms, s, m, h), e.g. "500ms", "2s", "1h30m"';

/**
 * The schemas' `maxDuration` keyword: is `text` at most `max`? Text that is not a duration passes
 * (the schema's pattern reports it).
 */
export function durationWithin(text: string, max: string): boolean {
  try {
    return parseDuration(text) <= parseDuration(max);
  } catch {
    return true;
  }
}

/** "1h30m" → 5400000. Throws when the text is not a duration. */
export function parseDuration(text: string): number {
  const fail = (): never => {
    throw new Error(`${JSON.stringify(text)} is not a valid duration: ${DURATION_HINT}`);
  };
  if (typeof text !== 'string' || text === '') fail();
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const match = DURATION_PART.exec(text);
    if (!match) fail();
    total += Number(match![1]) * DURATION_UNITS_MS[match![2]!]!;
  }
  return Math.round(total);
}

// Binary units (Ki, Mi…) are powers of 1024, decimal ones (k/K, M, G…) powers of 1000, as in
// Kubernetes and Docker.
const QUANTITY_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$/;
const QUANTITY_HINT = 'use a number with an optional unit (K, M, G, T or Ki, Mi, Gi, Ti), e.g. "512Mi", "2Gi", "1G"';

/** "512Mi" → 536870912 bytes. Throws when the text is not a quantity. */
export function parseQuantity(text: string): number {
  const match = typeof text === 'string' ? QUANTITY.exec(text) : null;
  if (!match) throw new Error(`${JSON.stringify(text)} is not a valid quantity: ${QUANTITY_HINT}`);
  return Math.round(Number(match[1]) * QUANTITY_UNITS[match[2] ?? '']!);
}
