/**
 * Seeded pseudo-random numbers for fuzz tests (mulberry32): a seed gives the
 * same inputs on every machine and every run, so a failure reproduces.
 */

/** Returns a generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed a fuzz test uses: `TSBPF_FUZZ_SEED` when set (to explore or reproduce), else the test's own. */
export function fuzzSeed(defaultSeed: number): number {
  const fromEnv = process.env.TSBPF_FUZZ_SEED;
  if (fromEnv === undefined || fromEnv === '') return defaultSeed;
  const seed = Number(fromEnv);
  if (!Number.isInteger(seed)) throw new Error(`TSBPF_FUZZ_SEED must be an integer, got '${fromEnv}'`);
  return seed;
}
