/**
 * A fixed-size log-scale histogram for percentile estimates: bin i covers
 * [MIN * GROWTH^i, MIN * GROWTH^(i+1)). With GROWTH 1.04 an estimate is within about 2% of the
 * true value. Recording is O(1); merging and reading are O(bins).
 */
const MIN = 0.01; // smallest distinguished value (ms when used for latencies)
const GROWTH = 1.04;
const LOG_GROWTH = Math.log(GROWTH);
/** Bins up to MIN * GROWTH^BINS ≈ 1.1e7 (about three hours in ms); larger values land in the last bin. */
export const LOG_HISTOGRAM_BINS = 530;

export function binOf(value: number): number {
  if (value <= MIN) return 0;
  const bin = Math.floor(Math.log(value / MIN) / LOG_GROWTH);
  return bin >= LOG_HISTOGRAM_BINS ? LOG_HISTOGRAM_BINS - 1 : bin;
}

/** Geometric middle of a bin. */
export function binValue(bin: number): number {
  return MIN * GROWTH ** (bin + 0.5);
}

/**
 * Value at quantile q (0..1) of merged bin counts, clamped to [min, max] of what was seen.
 * Returns NaN when the counts are empty.
 */
export function quantile(counts: Uint32Array, total: number, q: number, min: number, max: number): number {
  if (total === 0) return Number.NaN;
  // Nearest-rank: the smallest value with at least ceil(q * total) observations at or below it.
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let bin = 0; bin < counts.length; bin++) {
    seen += counts[bin] ?? 0;
    if (seen >= rank) return Math.min(max, Math.max(min, binValue(bin)));
  }
  return max;
}
