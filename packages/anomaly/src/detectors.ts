/**
 * Detectors: each is a pair of small pure functions, `create…State(options)` and
 * `step…(state, value, timeMs)`. A step reads and updates only the state it is handed (no clock,
 * no I/O, no randomness), so the same inputs always give the same verdicts and a detector can be
 * replayed, tested and benchmarked alone. State is updated in place because a step runs once per
 * sample per rule, and allocating a fresh state each time would cost more than the arithmetic.
 */

/** Which side of the baseline counts as anomalous. */
export type Direction = 'above' | 'below' | 'both';

/** What one step says about the sample it saw. */
export interface Verdict {
  /** The condition holds for this sample. */
  anomalous: boolean;
  /** How far out the sample is, in the detector's own unit (see each detector). 0 while warming up. */
  score: number;
}

const NORMAL: Verdict = Object.freeze({ anomalous: false, score: 0 });

function outside(direction: Direction, deviation: number, limit: number): boolean {
  if (direction === 'above') return deviation > limit;
  if (direction === 'below') return deviation < -limit;
  return Math.abs(deviation) > limit;
}

/** Welford running mean and variance, used by the warm-up of EWMA and CUSUM. */
interface Moments {
  n: number;
  mean: number;
  m2: number;
}

function addMoment(moments: Moments, value: number): void {
  moments.n += 1;
  const delta = value - moments.mean;
  moments.mean += delta / moments.n;
  moments.m2 += delta * (value - moments.mean);
}

function spread(moments: Moments, minStd: number, minRelativeStd: number): number {
  const std = moments.n > 1 ? Math.sqrt(moments.m2 / (moments.n - 1)) : 0;
  return Math.max(std, minStd, Math.abs(moments.mean) * minRelativeStd);
}

/** The learnt baseline EWMA and CUSUM share: warm-up moments, then a slowly adapted mean and variance. */
interface LearntBaseline {
  readonly baseline: Moments;
  readonly warmup: number;
  readonly adapt: number;
  readonly minStd: number;
  readonly minRelativeStd: number;
  mean: number;
  variance: number;
}

/** Feeds the warm-up; true while it is still running (the sample is then not judged). */
function warmingUp(state: LearntBaseline, value: number): boolean {
  const baseline = state.baseline;
  if (baseline.n >= state.warmup) return false;
  addMoment(baseline, value);
  if (baseline.n === state.warmup) {
    state.mean = baseline.mean;
    const std = spread(baseline, state.minStd, state.minRelativeStd);
    state.variance = std * std;
  }
  return true;
}

function baselineStd(state: LearntBaseline): number {
  return Math.max(Math.sqrt(state.variance), state.minStd, Math.abs(state.mean) * state.minRelativeStd);
}

/**
 * Moves the baseline toward a sample judged normal. Only normal samples count, so a lasting
 * anomaly is not learnt as normal; all of them count, since adapting on a biased subset (say,
 * samples near the mean) would shrink the variance until noise alarms.
 */
function adaptBaseline(state: LearntBaseline, value: number): void {
  if (state.adapt <= 0) return;
  const delta = value - state.mean;
  state.mean += state.adapt * delta;
  state.variance = (1 - state.adapt) * (state.variance + state.adapt * delta * delta);
}

// ---------------------------------------------------------------------------------------------
// Static threshold

export interface ThresholdOptions {
  /** The limit, in the series' unit. */
  limit: number;
  /** Default `'above'`: anomalous when value > limit; `'below'`: value < limit; `'both'`: |value| > limit. */
  direction?: Direction;
  /** The condition must hold this long (ms) before the verdict turns anomalous. Default 0. */
  forMs?: number;
}

export interface ThresholdState {
  readonly limit: number;
  readonly direction: Direction;
  readonly forMs: number;
  /** Time the condition started holding, or NaN when it does not hold. */
  since: number;
}

export function createThresholdState(options: ThresholdOptions): ThresholdState {
  return { limit: options.limit, direction: options.direction ?? 'above', forMs: Math.max(0, options.forMs ?? 0), since: Number.NaN };
}

/** Score: value minus limit (positive when over an `above` limit). */
export function stepThreshold(state: ThresholdState, value: number, timeMs: number): Verdict {
  const breached =
    state.direction === 'above' ? value > state.limit : state.direction === 'below' ? value < state.limit : Math.abs(value) > state.limit;
  if (!breached) {
    state.since = Number.NaN;
    return NORMAL;
  }
  if (Number.isNaN(state.since)) state.since = timeMs;
  return { anomalous: timeMs - state.since >= state.forMs, score: value - state.limit };
}

// ---------------------------------------------------------------------------------------------
// EWMA control chart

export interface EwmaOptions {
  /** Smoothing weight of the newest sample, 0 < λ ≤ 1. Default 0.2 (NIST: 0.2–0.3; smaller finds smaller shifts). */
  lambda?: number;
  /** Width of the control limits, in standard deviations of the EWMA statistic. Default 3. */
  k?: number;
  /** Samples used to learn the baseline mean and deviation before judging. Default 30. */
  warmup?: number;
  /** How fast the baseline follows normal samples after warm-up (0 freezes it). Default 0.01. */
  adapt?: number;
  direction?: Direction;
  /** Floor of the baseline deviation, in the series' unit, so a flat series does not alarm on noise. Default 1e-9. */
  minStd?: number;
  /** Floor of the deviation as a fraction of the baseline mean. Default 0. */
  minRelativeStd?: number;
}

export interface EwmaState {
  readonly lambda: number;
  readonly k: number;
  readonly warmup: number;
  readonly adapt: number;
  readonly direction: Direction;
  readonly minStd: number;
  readonly minRelativeStd: number;
  readonly baseline: Moments;
  /** Baseline after warm-up (adapted slowly by normal samples). */
  mean: number;
  variance: number;
  /** The EWMA statistic z_t. */
  z: number;
  /** Samples charted since warm-up, for the early-sample limit factor 1-(1-λ)^{2t}. */
  t: number;
}

export function createEwmaState(options: EwmaOptions = {}): EwmaState {
  const lambda = options.lambda ?? 0.2;
  return {
    lambda: Math.min(1, Math.max(1e-6, lambda)),
    k: options.k ?? 3,
    warmup: Math.max(2, Math.floor(options.warmup ?? 30)),
    adapt: Math.min(1, Math.max(0, options.adapt ?? 0.01)),
    direction: options.direction ?? 'above',
    minStd: options.minStd ?? 1e-9,
    minRelativeStd: options.minRelativeStd ?? 0,
    baseline: { n: 0, mean: 0, m2: 0 },
    mean: 0,
    variance: 0,
    z: 0,
    t: 0,
  };
}

/** Score: (z − mean) / σ_z, the EWMA's distance from the baseline in its own standard deviations. */
export function stepEwma(state: EwmaState, value: number): Verdict {
  if (warmingUp(state, value)) {
    state.z = state.mean;
    return NORMAL;
  }
  const lambda = state.lambda;
  state.z = lambda * value + (1 - lambda) * state.z;
  state.t += 1;
  const std = baselineStd(state);
  const early = 1 - Math.pow(1 - lambda, 2 * state.t);
  const sigmaZ = std * Math.sqrt((lambda / (2 - lambda)) * early);
  const score = (state.z - state.mean) / sigmaZ;
  const anomalous = outside(state.direction, score, state.k);
  if (!anomalous) adaptBaseline(state, value);
  return { anomalous, score };
}

// ---------------------------------------------------------------------------------------------
// Two-sided tabular CUSUM

export interface CusumOptions {
  /** Slack K in baseline standard deviations: half the shift to detect. Default 0.5 (a 1σ shift). */
  k?: number;
  /** Decision interval H in baseline standard deviations. Default 5 (Montgomery: 4–5). */
  h?: number;
  /** Samples used to learn the baseline before judging. Default 30. */
  warmup?: number;
  /** How fast the baseline follows samples outside an alarm (0 freezes it). Default 0.01. */
  adapt?: number;
  direction?: Direction;
  minStd?: number;
  minRelativeStd?: number;
}

export interface CusumState {
  readonly k: number;
  readonly h: number;
  readonly warmup: number;
  readonly adapt: number;
  readonly direction: Direction;
  readonly minStd: number;
  readonly minRelativeStd: number;
  readonly baseline: Moments;
  mean: number;
  variance: number;
  /** Upper and lower cumulative sums, in standard deviations. */
  high: number;
  low: number;
  /** In alarm: stays so until the watched sums fall back to H/2 (no chattering around H). */
  alarm: boolean;
}

export function createCusumState(options: CusumOptions = {}): CusumState {
  return {
    k: options.k ?? 0.5,
    h: options.h ?? 5,
    warmup: Math.max(2, Math.floor(options.warmup ?? 30)),
    adapt: Math.min(1, Math.max(0, options.adapt ?? 0.01)),
    direction: options.direction ?? 'above',
    minStd: options.minStd ?? 1e-9,
    minRelativeStd: options.minRelativeStd ?? 0,
    baseline: { n: 0, mean: 0, m2: 0 },
    mean: 0,
    variance: 0,
    high: 0,
    low: 0,
    alarm: false,
  };
}

/** Score: the larger watched sum (S_H for above, −S_L for below), in standard deviations. Anomalous above H, held until under H/2. */
export function stepCusum(state: CusumState, value: number): Verdict {
  if (warmingUp(state, value)) return NORMAL;
  const x = (value - state.mean) / baselineStd(state);
  state.high = Math.max(0, state.high + x - state.k);
  state.low = Math.max(0, state.low - x - state.k);
  const watchHigh = state.direction !== 'below';
  const watchLow = state.direction !== 'above';
  // Signal above H; once signalled, hold until the sum is back under H/2, so a sum hovering at H
  // is one alarm, not many.
  const limit = state.alarm ? state.h / 2 : state.h;
  const anomalous = (watchHigh && state.high > limit) || (watchLow && state.low > limit);
  state.alarm = anomalous;
  const score = watchHigh && (!watchLow || state.high >= state.low) ? state.high : -state.low;
  if (!anomalous) adaptBaseline(state, value);
  return { anomalous, score };
}

// ---------------------------------------------------------------------------------------------
// Robust band: median ± k·MAD over a rolling window of normal samples

export interface MadOptions {
  /** Band half-width in scaled MADs (MAD × 1.4826 ≈ σ for normal data). Default 3. */
  k?: number;
  /** Samples in the rolling baseline. Default 60. */
  window?: number;
  /** Fewest baseline samples before judging. Default min(window, 10). */
  minSamples?: number;
  /** Smallest half-width as a fraction of the median (Grafana's "margin"; 0.5 = ±50%). Default 0. */
  margin?: number;
  /** Smallest half-width in the series' unit. Default 1e-9. */
  minWidth?: number;
  /** Recompute median and MAD every this many baseline changes (amortizes the O(n) walk). Default 8. */
  recomputeEvery?: number;
  direction?: Direction;
}

export interface MadState {
  readonly k: number;
  readonly margin: number;
  readonly minWidth: number;
  readonly minSamples: number;
  readonly recomputeEvery: number;
  readonly direction: Direction;
  /** Ring of baseline samples. */
  readonly ring: Float64Array;
  size: number;
  next: number;
  changes: number;
  median: number;
  /** Scaled MAD (×1.4826). */
  mad: number;
  /** The same samples as the ring, kept sorted. */
  readonly sorted: Float64Array;
}

export function createMadState(options: MadOptions = {}): MadState {
  const window = Math.max(3, Math.floor(options.window ?? 60));
  return {
    k: options.k ?? 3,
    margin: Math.max(0, options.margin ?? 0),
    minWidth: options.minWidth ?? 1e-9,
    minSamples: Math.min(window, Math.max(3, Math.floor(options.minSamples ?? Math.min(window, 10)))),
    recomputeEvery: Math.max(1, Math.floor(options.recomputeEvery ?? 8)),
    direction: options.direction ?? 'above',
    ring: new Float64Array(window),
    size: 0,
    next: 0,
    changes: 0,
    median: Number.NaN,
    mad: Number.NaN,
    sorted: new Float64Array(window),
  };
}

/** First index in sorted[0..length) whose value is ≥ value (or > value with `after`). */
function bound(sorted: Float64Array, length: number, value: number, after: boolean): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const middle = (low + high) >> 1;
    const item = sorted[middle] as number;
    if (item < value || (after && item === value)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Median and MAD from the window kept sorted: the median is read off, and the median of |x − m|
 * is found by walking outwards from the median (two sorted runs of deviations merged), O(n/2).
 */
function recomputeMad(state: MadState): void {
  const { sorted, size } = state;
  const middle = size >> 1;
  const median = size % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  let right = bound(sorted, size, median, false);
  let left = right - 1;
  let previous = 0;
  let current = 0;
  for (let taken = 0; taken <= middle; taken++) {
    const leftDeviation = left >= 0 ? median - (sorted[left] as number) : Number.POSITIVE_INFINITY;
    const rightDeviation = right < size ? (sorted[right] as number) - median : Number.POSITIVE_INFINITY;
    previous = current;
    if (leftDeviation <= rightDeviation) {
      current = leftDeviation;
      left -= 1;
    } else {
      current = rightDeviation;
      right += 1;
    }
  }
  const mad = size % 2 === 1 ? current : (previous + current) / 2;
  state.median = median;
  state.mad = 1.4826 * mad;
  if (state.mad === 0) {
    // Over half the samples equal the median (discrete series such as queue depths): fall back to
    // the mean absolute deviation (×1.2533 ≈ σ for normal data) so the band is not zero wide.
    let total = 0;
    for (let index = 0; index < size; index++) total += Math.abs((sorted[index] as number) - median);
    state.mad = (1.2533 * total) / size;
  }
  state.changes = 0;
}

/** Puts `value` into the ring and the sorted copy, evicting the oldest sample when full. */
function addToWindow(state: MadState, value: number): void {
  const { ring, sorted } = state;
  if (state.size === ring.length) {
    const old = ring[state.next] as number;
    const at = bound(sorted, state.size, old, false);
    // Plain loops: for windows of ~100, TypedArray.copyWithin's call overhead costs more than the moves.
    for (let index = at; index < state.size - 1; index++) sorted[index] = sorted[index + 1] as number;
    state.size -= 1;
  }
  const at = bound(sorted, state.size, value, true);
  for (let index = state.size; index > at; index--) sorted[index] = sorted[index - 1] as number;
  sorted[at] = value;
  state.size += 1;
  ring[state.next] = value;
  state.next = (state.next + 1) % ring.length;
}

/** Score: (value − median) / (scaled MAD), the robust z-score. */
export function stepMad(state: MadState, value: number): Verdict {
  let verdict = NORMAL;
  if (state.size >= state.minSamples) {
    if (Number.isNaN(state.median)) recomputeMad(state);
    const width = Math.max(state.k * state.mad, state.margin * Math.abs(state.median), state.minWidth);
    const deviation = value - state.median;
    const score = state.mad > 0 ? deviation / state.mad : deviation / state.minWidth;
    verdict = { anomalous: outside(state.direction, deviation, width), score };
  }
  if (!verdict.anomalous) {
    // Anomalous samples stay out of the baseline, so the band does not widen to swallow them.
    addToWindow(state, value);
    state.changes += 1;
    if (state.size >= state.minSamples && (state.changes >= state.recomputeEvery || state.size === state.minSamples)) recomputeMad(state);
  }
  return verdict;
}

// ---------------------------------------------------------------------------------------------
// Rolling z-score (mean ± k·σ over a window), kept for the config's `zscore` detector

export interface ZscoreOptions {
  /** Band half-width in standard deviations. Default 3. */
  k?: number;
  /** Samples in the rolling baseline. Default 60. */
  window?: number;
  minSamples?: number;
  minStd?: number;
  direction?: Direction;
}

export interface ZscoreState {
  readonly k: number;
  readonly minSamples: number;
  readonly minStd: number;
  readonly direction: Direction;
  readonly ring: Float64Array;
  size: number;
  next: number;
  sum: number;
  sumSquares: number;
}

export function createZscoreState(options: ZscoreOptions = {}): ZscoreState {
  const window = Math.max(3, Math.floor(options.window ?? 60));
  return {
    k: options.k ?? 3,
    minSamples: Math.min(window, Math.max(3, Math.floor(options.minSamples ?? Math.min(window, 10)))),
    minStd: options.minStd ?? 1e-9,
    direction: options.direction ?? 'above',
    ring: new Float64Array(window),
    size: 0,
    next: 0,
    sum: 0,
    sumSquares: 0,
  };
}

/** Score: (value − mean) / σ of the rolling baseline (normal samples only). */
export function stepZscore(state: ZscoreState, value: number): Verdict {
  let verdict = NORMAL;
  if (state.size >= state.minSamples) {
    const mean = state.sum / state.size;
    const variance = Math.max(0, state.sumSquares / state.size - mean * mean);
    const std = Math.max(Math.sqrt(variance), state.minStd);
    const score = (value - mean) / std;
    verdict = { anomalous: outside(state.direction, score, state.k), score };
  }
  if (!verdict.anomalous) {
    if (state.size === state.ring.length) {
      const old = state.ring[state.next] as number;
      state.sum -= old;
      state.sumSquares -= old * old;
    } else {
      state.size += 1;
    }
    state.ring[state.next] = value;
    state.sum += value;
    state.sumSquares += value * value;
    state.next = (state.next + 1) % state.ring.length;
  }
  return verdict;
}

// ---------------------------------------------------------------------------------------------
// Multi-window, multi-burn-rate SLO alert (SRE Workbook ch. 5)

/** One long/short window pair: both windows' burn rates must exceed `factor`. */
export interface BurnRateWindow {
  /** Long window, ms. */
  longMs: number;
  /** Short window, ms (the Workbook uses 1/12 of the long one). */
  shortMs: number;
  /** Burn-rate threshold (14.4 means the budget would last 30d/14.4 ≈ 2 days). */
  factor: number;
}

/** Hour in ms, for the classic table below. */
const HOUR = 3_600_000;

/** The Workbook's table for a 30-day SLO, page pairs first: 1h/5m at 14.4×, 6h/30m at 6×. */
export const PAGE_BURN_WINDOWS: readonly BurnRateWindow[] = Object.freeze([
  { longMs: HOUR, shortMs: HOUR / 12, factor: 14.4 },
  { longMs: 6 * HOUR, shortMs: HOUR / 2, factor: 6 },
]);

/** The ticket pair: 3d/6h at 1×. */
export const TICKET_BURN_WINDOWS: readonly BurnRateWindow[] = Object.freeze([{ longMs: 72 * HOUR, shortMs: 6 * HOUR, factor: 1 }]);

export interface BurnRateOptions {
  /** Allowed error ratio, 1 − SLO objective (0.001 for 99.9%). */
  budget: number;
  /** Window pairs; any pair over its factor fires. Default PAGE_BURN_WINDOWS. */
  windows?: readonly BurnRateWindow[];
  /** Multiplies every window, so tests and short demos run in seconds (1/3600 makes 1h one second). Default 1. */
  scale?: number;
}

export interface BurnRateState {
  readonly budget: number;
  readonly windows: readonly BurnRateWindow[];
  readonly horizonMs: number;
  /** Times and running sums of the error-ratio samples, oldest first from `head`. */
  times: number[];
  sums: number[];
  head: number;
  /**
   * First index inside each window (long and short of each pair, in order). Time only moves
   * forward, so each start only moves forward too: O(1) amortized per sample, no search.
   */
  readonly starts: number[];
}

export function createBurnRateState(options: BurnRateOptions): BurnRateState {
  const scale = options.scale ?? 1;
  const windows = (options.windows ?? PAGE_BURN_WINDOWS).map((window) => ({
    longMs: window.longMs * scale,
    shortMs: window.shortMs * scale,
    factor: window.factor,
  }));
  const horizonMs = Math.max(0, ...windows.map((window) => Math.max(window.longMs, window.shortMs)));
  return { budget: options.budget, windows, horizonMs, times: [], sums: [0], head: 0, starts: windows.flatMap(() => [0, 0]) };
}

/** Mean of the samples newer than `timeMs - windowMs` (the newest included); advances starts[slot]. */
function windowMean(state: BurnRateState, slot: number, timeMs: number, windowMs: number): number {
  const { times, sums, starts } = state;
  let start = Math.max(starts[slot] as number, state.head);
  const edge = timeMs - windowMs;
  while (start < times.length && (times[start] as number) <= edge) start += 1;
  starts[slot] = start;
  const count = times.length - start;
  if (count === 0) return 0;
  return ((sums[times.length] as number) - (sums[start] as number)) / count;
}

/**
 * `value` is the error ratio (errors ÷ requests) observed at `timeMs`. Score: the highest burn
 * rate among pairs that fire (min of its two windows), else the highest min over all pairs.
 */
export function stepBurnRate(state: BurnRateState, value: number, timeMs: number): Verdict {
  const { times, sums } = state;
  times.push(timeMs);
  sums.push((sums[sums.length - 1] as number) + value);
  // Drop samples older than the longest window; compact now and then so the arrays stay short.
  while (state.head < times.length - 1 && (times[state.head] as number) <= timeMs - state.horizonMs) state.head += 1;
  if (state.head > 1024 && state.head * 2 > times.length) {
    const base = sums[state.head] as number;
    const shift = state.head;
    state.times = times.slice(shift);
    state.sums = sums.slice(shift).map((sum) => sum - base);
    state.head = 0;
    for (let slot = 0; slot < state.starts.length; slot++) state.starts[slot] = Math.max(0, (state.starts[slot] as number) - shift);
  }
  let anomalous = false;
  let score = 0;
  const budget = state.budget > 0 ? state.budget : Number.MIN_VALUE;
  state.windows.forEach((window, index) => {
    const long = windowMean(state, 2 * index, timeMs, window.longMs);
    const short = windowMean(state, 2 * index + 1, timeMs, window.shortMs);
    const burn = Math.min(long, short) / budget;
    if (burn > window.factor) {
      if (!anomalous || burn > score) score = burn;
      anomalous = true;
    } else if (!anomalous && burn > score) {
      score = burn;
    }
  });
  return { anomalous, score };
}

// ---------------------------------------------------------------------------------------------
// One uniform shape over all of them, for the rule engine and the benchmark

export type DetectorSpec =
  | ({ kind: 'threshold' } & ThresholdOptions)
  | ({ kind: 'ewma' } & EwmaOptions)
  | ({ kind: 'cusum' } & CusumOptions)
  | ({ kind: 'mad' } & MadOptions)
  | ({ kind: 'zscore' } & ZscoreOptions)
  | ({ kind: 'burn_rate' } & BurnRateOptions);

export type DetectorKind = DetectorSpec['kind'];

/** A detector bound to its state: `step(value, timeMs)` runs the matching pure step. */
export interface Detector {
  readonly kind: DetectorKind;
  step(value: number, timeMs: number): Verdict;
}

/** Builds the state for `spec` and returns a stepping closure over it. */
export function createDetector(spec: DetectorSpec): Detector {
  switch (spec.kind) {
    case 'threshold': {
      const state = createThresholdState(spec);
      return { kind: spec.kind, step: (value, timeMs) => stepThreshold(state, value, timeMs) };
    }
    case 'ewma': {
      const state = createEwmaState(spec);
      return { kind: spec.kind, step: (value) => stepEwma(state, value) };
    }
    case 'cusum': {
      const state = createCusumState(spec);
      return { kind: spec.kind, step: (value) => stepCusum(state, value) };
    }
    case 'mad': {
      const state = createMadState(spec);
      return { kind: spec.kind, step: (value) => stepMad(state, value) };
    }
    case 'zscore': {
      const state = createZscoreState(spec);
      return { kind: spec.kind, step: (value) => stepZscore(state, value) };
    }
    case 'burn_rate': {
      const state = createBurnRateState(spec);
      return { kind: spec.kind, step: (value, timeMs) => stepBurnRate(state, value, timeMs) };
    }
  }
}
