import { createRandom } from './random.js';

export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Population standard deviation (numpy's default, as vLLM reports it). */
export function std(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const m = mean(values);
  let sum = 0;
  for (const value of values) sum += (value - m) ** 2;
  return Math.sqrt(sum / values.length);
}

/** Percentile `p` (0..100) of already sorted values, linear interpolation (numpy's default). */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = sorted[low]!;
  const b = sorted[high]!;
  return a + (b - a) * (rank - low);
}

export function percentile(values: readonly number[], p: number): number {
  return percentileSorted([...values].sort((a, b) => a - b), p);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** A difference B − A with a bootstrap confidence interval. */
export interface BootstrapInterval {
  estimate: number;
  low: number;
  high: number;
}

/**
 * Percentile bootstrap of `statistic(b) − statistic(a)`: both samples resampled with replacement
 * `rounds` times. `confidence` 0.95 gives the 2.5th and 97.5th percentiles. Seeded.
 */
export function bootstrapDifference(
  a: readonly number[],
  b: readonly number[],
  statistic: (values: readonly number[]) => number,
  options: { rounds?: number; confidence?: number; seed?: number } = {},
): BootstrapInterval {
  const rounds = options.rounds ?? 2000;
  const confidence = options.confidence ?? 0.95;
  const random = createRandom(options.seed ?? 1);
  const estimate = statistic(b) - statistic(a);
  if (a.length === 0 || b.length === 0) return { estimate, low: Number.NaN, high: Number.NaN };
  const differences: number[] = new Array<number>(rounds);
  const sampleA = new Array<number>(a.length);
  const sampleB = new Array<number>(b.length);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < a.length; i++) sampleA[i] = a[Math.floor(random.next() * a.length)]!;
    for (let i = 0; i < b.length; i++) sampleB[i] = b[Math.floor(random.next() * b.length)]!;
    differences[round] = statistic(sampleB) - statistic(sampleA);
  }
  differences.sort((x, y) => x - y);
  const tail = ((1 - confidence) / 2) * 100;
  return { estimate, low: percentileSorted(differences, tail), high: percentileSorted(differences, 100 - tail) };
}

/**
 * One-sample Kolmogorov–Smirnov statistic D of `values` against the CDF `cdf`, and the
 * asymptotic p-value (Kolmogorov distribution). Used by tests to check arrival processes.
 */
export function kolmogorovSmirnov(values: readonly number[], cdf: (x: number) => number): { statistic: number; pValue: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i]!);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  const lambda = (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n)) * d;
  let p = 0;
  for (let k = 1; k <= 100; k++) p += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * lambda * lambda);
  return { statistic: d, pValue: Math.min(1, Math.max(0, p)) };
}
