// Deterministic fault timing: a seed always gives the same delay, so a failing run is reproduced
// by its seed alone (printed in the test name).

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The kill moment for a seed within [0, spanMs): seeds 1..STRATA land in different fifths of the
 * span (so five seeds cover the whole converge), jittered within their fifth by the PRNG.
 */
export const STRATA = 5;
export function killDelayMs(seed: number, spanMs: number): number {
  const stratum = (((seed - 1) % STRATA) + STRATA) % STRATA;
  return Math.round((spanMs * (stratum + seededRandom(seed)())) / STRATA);
}

/** "3,7" → [3, 7]; unset → fallback. Refuses anything that is not a list of integers. */
export function seedsFromEnv(value: string | undefined, fallback: number[]): number[] {
  if (value === undefined || value.trim() === '') return fallback;
  const seeds = value.split(',').map((s) => s.trim());
  if (!seeds.every((s) => /^-?\d+$/.test(s))) throw new Error(`CHAOS_SEEDS must be comma-separated integers, got "${value}"`);
  return seeds.map(Number);
}
