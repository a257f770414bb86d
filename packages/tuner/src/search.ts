import { InvalidRequestError } from '@muai/core';
import type { TunerObjective } from './types.js';

/** Candidate values per knob (e.g. `{ max_batch_size: [1, 4, 16], threads: [1, 2] }`), tried in this order. */
export type SearchSpace = Record<string, readonly number[]>;

/** One point of the space: a value per knob. */
export type SearchPoint = Record<string, number>;

/** What one trial measured. Latencies in ms, rates per second. */
export interface TrialMeasure {
  /** Completed requests per second. */
  requestThroughput: number;
  /** Generated tokens per second. */
  outputThroughput: number;
  /** Requests per second that met every SLO (DistServe's goodput); null without SLOs. */
  goodput: number | null;
  p99LatencyMs: number;
  p99TtftMs: number | null;
  /** Resident memory of the serving process during the trial, MiB, when known. */
  memoryMb?: number;
  failed: number;
}

/** Upper limits a chosen point must respect; unset means unchecked. */
export interface SearchConstraints {
  maxP99LatencyMs?: number;
  maxTtftMs?: number;
  maxMemoryMb?: number;
}

export interface Trial {
  /** 1-based. */
  index: number;
  point: SearchPoint;
  measure: TrialMeasure;
  /** Wall time of the trial, ms. */
  durationMs: number;
  feasible: boolean;
  /** Why it broke a constraint (empty when feasible). */
  violations: string[];
  score: number;
  /**
   * Quick search with `reference`: a run of the current point between candidates, the baseline the
   * candidate before it is judged against (not a candidate itself: never chosen, not on the front).
   */
  reference?: boolean;
}

/** Where to stop: after this many trials or this much wall time, whichever first. */
export interface SearchBudget {
  trials?: number;
  timeMs?: number;
}

export interface SearchOptions {
  space: SearchSpace;
  /** 'brute': every point of the grid; 'quick': coordinate hill climbing from `start` with early stop. */
  mode: 'brute' | 'quick';
  objective: TunerObjective;
  constraints?: SearchConstraints;
  budget?: SearchBudget;
  /** Starting point of the quick search (the current settings); default: the first value of each knob. */
  start?: SearchPoint;
  /**
   * Quick search: the least relative gain that counts (a move to a neighbour, a pass over the
   * knobs). Raised to the measured noise when that is larger: quick measures its start point twice,
   * and a neighbour that beats the current point by less than the two measurements of one point
   * differ is not evidence of a better point. Default 0.02.
   */
  minGain?: number;
  /** Runs one trial. */
  evaluate: (point: SearchPoint, index: number) => Promise<TrialMeasure>;
  /**
   * Quick search: measures the current point again, cheaply (e.g. one run where a trial repeats
   * runs until stable), after every new candidate; the candidate is judged against the mean of the
   * current point's measurements just before and just after it, so that a slow drift of the machine
   * (measured: ±3-5 % over seconds) cancels, as in the paired rounds of an A/B comparison. Without
   * it, candidates are compared with the current point's trial, however long ago it ran.
   */
  reference?: (point: SearchPoint) => Promise<TrialMeasure>;
  /** Called after every trial. */
  onTrial?: (trial: Trial, planned: number) => void;
  /** Clock, ms. Default performance.now. */
  now?: () => number;
  signal?: AbortSignal;
}

export interface SearchResult {
  mode: 'brute' | 'quick';
  objective: TunerObjective;
  constraints: SearchConstraints;
  space: SearchSpace;
  /** Points in the full grid. */
  gridSize: number;
  trials: Trial[];
  /** The best feasible trial, or undefined when none met the constraints. */
  best: Trial | undefined;
  /** Trials no other trial beats on both throughput (higher) and p99 latency (lower). */
  pareto: Trial[];
  /** Why the search ended. */
  stoppedBy: 'exhausted' | 'converged' | 'budget-trials' | 'budget-time' | 'aborted';
  /** Quick only: relative difference of the start point's two measurements (the noise a move must beat). */
  noise?: number;
  durationMs: number;
}

/** Throws InvalidRequestError when the space, constraints, objective or budget cannot give a result; runs before any trial. */
export function validateSearch(options: Pick<SearchOptions, 'space' | 'objective' | 'constraints' | 'budget' | 'start'>): void {
  const problems: string[] = [];
  const names = Object.keys(options.space);
  if (names.length === 0) problems.push('the search space is empty: give at least one knob with candidate values');
  for (const name of names) {
    const values = options.space[name] ?? [];
    if (values.length === 0) problems.push(`knob ${name} has no candidate values`);
    if (values.some((value) => !Number.isFinite(value))) problems.push(`knob ${name} has a value that is not a number`);
    const start = options.start?.[name];
    if (start !== undefined && !values.includes(start)) problems.push(`the start value of ${name} (${start}) is not among its candidates ${values.join(', ')}`);
  }
  const constraints = options.constraints ?? {};
  for (const [key, value] of Object.entries(constraints)) {
    if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) problems.push(`constraint ${key} must be a number > 0 (got ${String(value)})`);
  }
  if (constraints.maxTtftMs !== undefined && constraints.maxP99LatencyMs !== undefined && constraints.maxTtftMs > constraints.maxP99LatencyMs) {
    // TTFT is part of the end-to-end latency: a TTFT bound above the latency bound can never bind, which is almost always a unit mix-up.
    problems.push(`--max-ttft (${constraints.maxTtftMs} ms) is above --max-p99-latency (${constraints.maxP99LatencyMs} ms): the first token cannot arrive after the whole response; check the units`);
  }
  if (options.objective === 'goodput' && constraints.maxP99LatencyMs === undefined && constraints.maxTtftMs === undefined) {
    problems.push('objective goodput counts requests within an SLO: give --max-p99-latency or --max-ttft');
  }
  const budget = options.budget ?? {};
  if (budget.trials !== undefined && !(Number.isInteger(budget.trials) && budget.trials >= 1)) problems.push(`the trial budget must be an integer >= 1 (got ${String(budget.trials)})`);
  if (budget.timeMs !== undefined && !(budget.timeMs > 0)) problems.push(`the time budget must be > 0 (got ${String(budget.timeMs)})`);
  if (problems.length > 0) throw new InvalidRequestError(`Cannot start the search: ${problems.join('; ')}.`, { details: { problems } });
}

/**
 * Where quick search starts: per knob, the candidate nearest its default (the first candidate when
 * it has none). The load's `max_concurrency`, when `max_batch_size` is searched too, follows Triton
 * Model Analyzer's concurrency formula instead (`use_concurrency_formula`: 2 × max_batch_size ×
 * instance count, one instance here): enough requests in flight to fill one batch while the next
 * waits, so the start measures the batch it names rather than a load that never fills it.
 */
export function startPoint(space: SearchSpace, defaults: Readonly<Record<string, number>> = {}): SearchPoint {
  const nearest = (name: string, target: number | undefined): number => {
    const values = space[name] ?? [];
    if (target === undefined) return values[0]!;
    return values.reduce((best, value) => (Math.abs(value - target) < Math.abs(best - target) ? value : best), values[0]!);
  };
  const start: SearchPoint = {};
  for (const name of Object.keys(space)) start[name] = nearest(name, defaults[name]);
  if (start['max_batch_size'] !== undefined && start['max_concurrency'] !== undefined) start['max_concurrency'] = nearest('max_concurrency', 2 * start['max_batch_size']);
  return start;
}

/** Every point of the grid, the last knob varying fastest. */
export function gridPoints(space: SearchSpace): SearchPoint[] {
  let points: SearchPoint[] = [{}];
  for (const [name, values] of Object.entries(space)) {
    const next: SearchPoint[] = [];
    for (const point of points) for (const value of values) next.push({ ...point, [name]: value });
    points = next;
  }
  return points;
}

/** Which limits a measure breaks. */
export function violationsOf(measure: TrialMeasure, constraints: SearchConstraints): string[] {
  const violations: string[] = [];
  if (measure.requestThroughput <= 0) violations.push('no request completed');
  if (constraints.maxP99LatencyMs !== undefined && measure.p99LatencyMs > constraints.maxP99LatencyMs) violations.push(`p99 latency ${measure.p99LatencyMs.toFixed(1)} ms > ${constraints.maxP99LatencyMs} ms`);
  if (constraints.maxTtftMs !== undefined && (measure.p99TtftMs ?? Infinity) > constraints.maxTtftMs) violations.push(`p99 TTFT ${measure.p99TtftMs?.toFixed(1) ?? 'unknown'} ms > ${constraints.maxTtftMs} ms`);
  if (constraints.maxMemoryMb !== undefined && measure.memoryMb !== undefined && measure.memoryMb > constraints.maxMemoryMb) violations.push(`memory ${measure.memoryMb.toFixed(0)} MiB > ${constraints.maxMemoryMb} MiB`);
  return violations;
}

/** Higher is better: output tokens/s, minus p99 latency, or goodput (requests/s within the SLOs). */
export function scoreOf(measure: TrialMeasure, objective: TunerObjective): number {
  if (objective === 'latency') return -measure.p99LatencyMs;
  if (objective === 'goodput') return measure.goodput ?? 0;
  return measure.outputThroughput;
}

/** Trials not dominated on (request throughput ↑, p99 latency ↓), sorted by latency. */
export function paretoFront(trials: readonly Trial[]): Trial[] {
  const front = trials.filter(
    (a) =>
      a.measure.requestThroughput > 0 &&
      !trials.some(
        (b) =>
          b !== a &&
          b.measure.requestThroughput >= a.measure.requestThroughput &&
          b.measure.p99LatencyMs <= a.measure.p99LatencyMs &&
          (b.measure.requestThroughput > a.measure.requestThroughput || b.measure.p99LatencyMs < a.measure.p99LatencyMs),
      ),
  );
  return front.sort((a, b) => a.measure.p99LatencyMs - b.measure.p99LatencyMs);
}

/** Joint moves quick search tries in all (when a pass moves nowhere). */
const MAX_JOINT_MOVES = 3;

/** Subsets of two or more knobs, by the mean `gain` of their members (highest first; on a tie the larger subset first). */
function jointMoves(names: readonly string[], gain: (name: string) => number): string[][] {
  const subsets: string[][] = [];
  for (let mask = 1; mask < 1 << names.length; mask++) {
    const subset = names.filter((_, index) => (mask >> index) & 1);
    if (subset.length >= 2) subsets.push(subset);
  }
  const mean = (subset: readonly string[]): number => subset.reduce((sum, name) => sum + gain(name), 0) / subset.length;
  return subsets.sort((a, b) => mean(b) - mean(a) || b.length - a.length);
}

const keyOf = (point: SearchPoint): string => JSON.stringify(Object.entries(point).sort(([a], [b]) => a.localeCompare(b)));

/**
 * Runs trials over the space and picks the best feasible point. Brute tries the whole grid (in
 * order, until the budget ends). Quick is coordinate hill climbing as Triton Model Analyzer's
 * quick mode: from the start point, try each knob's neighbouring candidates one knob at a time,
 * move to any that scores clearly better (by more than `minGain` and than the measured noise), and
 * stop when a whole pass moves nowhere (from the start point only: after trying combinations of the
 * knobs' best neighbours, at most three, most promising first: knobs that only help together).
 */
export async function runSearch(options: SearchOptions): Promise<SearchResult> {
  validateSearch(options);
  const now = options.now ?? (() => performance.now());
  const startedAt = now();
  const constraints = options.constraints ?? {};
  const budget = options.budget ?? {};
  const grid = gridPoints(options.space);
  const trials: Trial[] = [];
  const seen = new Map<string, Trial>();
  let stoppedBy: SearchResult['stoppedBy'] = 'exhausted';
  let noise: number | undefined;
  let quickChoice: Trial | undefined;
  const planned = options.mode === 'brute' ? Math.min(grid.length, budget.trials ?? Infinity) : Math.min(grid.length, budget.trials ?? Infinity);

  const outOfBudget = (): SearchResult['stoppedBy'] | undefined => {
    if (options.signal?.aborted) return 'aborted';
    if (budget.trials !== undefined && trials.length >= budget.trials) return 'budget-trials';
    if (budget.timeMs !== undefined && now() - startedAt >= budget.timeMs) return 'budget-time';
    return undefined;
  };
  /** Runs one trial of `point` and records it. */
  const measureOnce = async (point: SearchPoint, reference?: (point: SearchPoint) => Promise<TrialMeasure>): Promise<Trial> => {
    const began = now();
    const measure = reference ? await reference(point) : await options.evaluate(point, trials.length + 1);
    const violations = violationsOf(measure, constraints);
    const result: Trial = { index: trials.length + 1, point, measure, durationMs: now() - began, feasible: violations.length === 0, violations, score: scoreOf(measure, options.objective), ...(reference ? { reference: true } : {}) };
    trials.push(result);
    options.onTrial?.(result, planned);
    return result;
  };
  /** Sets stoppedBy and returns true when the budget is spent. */
  const spent = (): boolean => {
    const stop = outOfBudget();
    if (stop !== undefined) stoppedBy = stop;
    return stop !== undefined;
  };
  /** The trial `trial` measured last (not recalled), until it is judged. */
  let fresh: Trial | undefined;
  /** Runs (or recalls) one point; undefined when the budget is spent. */
  const trial = async (point: SearchPoint): Promise<Trial | undefined> => {
    const known = seen.get(keyOf(point));
    if (known !== undefined) return known;
    if (spent()) return undefined;
    const result = await measureOnce(point);
    seen.set(keyOf(point), result);
    fresh = result;
    return result;
  };
  /** Feasible beats infeasible; then the score. */
  const better = (a: Trial, b: Trial | undefined): boolean => b === undefined || (a.feasible !== b.feasible ? a.feasible : a.score > b.score);

  if (options.mode === 'brute') {
    for (const point of grid) if ((await trial(point)) === undefined) break;
  } else {
    const names = Object.keys(options.space);
    const start: SearchPoint = {};
    for (const name of names) start[name] = options.start?.[name] ?? options.space[name]![0]!;
    let current = await trial(start);
    /** The current point's latest measurement: its trial, then each reference run after a candidate. */
    let latest = current?.score ?? 0;
    // The start point measured once more (a reference run when given): how far two measurements of
    // one point differ here.
    if (current !== undefined && outOfBudget() === undefined) {
      const repeat = await measureOnce(start, options.reference);
      noise = Math.abs(repeat.score - current.score) / Math.max(Math.abs(repeat.score), Math.abs(current.score), Number.MIN_VALUE);
      // Without references, neighbours are compared with the mean of the two (one low first
      // measurement, e.g. a cold session, would otherwise let any neighbour pass).
      if (current.feasible && repeat.feasible && !options.reference) current = { ...current, score: (current.score + repeat.score) / 2 };
      latest = repeat.score;
    }
    const minGain = Math.max(options.minGain ?? 0.02, noise ?? 0);
    /** Joint moves left (MAX_JOINT_MOVES in a search). */
    let jointLeft = MAX_JOINT_MOVES;
    /** Each candidate's relative gain over the current point when it was judged. */
    const gains = new Map<Trial, number>();
    const relative = (score: number, base: number): number => (score - base) / Math.max(Math.abs(base), Number.MIN_VALUE);
    /**
     * Judges a candidate against the current point: its relative gain, against the current point's
     * measurements just before and after it when it was just measured and references are on (a
     * reference run follows it); undefined when the budget ran out.
     */
    const judge = async (candidate: Trial): Promise<number | undefined> => {
      const against = keyOf(current!.point);
      let gain: number;
      const justMeasured = candidate === fresh;
      fresh = undefined;
      if (justMeasured && options.reference) {
        if (spent()) return undefined;
        const after = await measureOnce(current!.point, options.reference);
        gain = relative(candidate.score, (latest + after.score) / 2);
        latest = after.score;
        paired.set(keyOf(candidate.point), { against, gain });
      } else gain = knownGain(candidate, current!);
      gains.set(candidate, gain);
      return gain;
    };
    /** With references: each fresh candidate's paired gain and the point it was judged against. */
    const paired = new Map<string, { against: string; gain: number }>();
    /**
     * The gain of a point measured earlier over the current one, from their paired gains where they
     * meet (one judged against the other, or both against the same point), else from their trials.
     */
    const knownGain = (candidate: Trial, base: Trial): number => {
      const ofCandidate = paired.get(keyOf(candidate.point));
      const ofBase = paired.get(keyOf(base.point));
      if (ofCandidate?.against === keyOf(base.point)) return ofCandidate.gain;
      if (ofBase?.against === keyOf(candidate.point)) return 1 / (1 + ofBase.gain) - 1;
      if (ofCandidate && ofBase && ofCandidate.against === ofBase.against) return (1 + ofCandidate.gain) / (1 + ofBase.gain) - 1;
      return relative(candidate.score, base.score);
    };
    /** Feasible beats infeasible; then the larger gain (as `better` with scores). */
    const gainsMore = (a: Trial, b: Trial | undefined): boolean => b === undefined || (a.feasible !== b.feasible ? a.feasible : gains.get(a)! > gains.get(b)!);
    /**
     * Points the climb has stood on. It never moves back to one: paired gains need not chain (A over
     * B and B over C, measured at different times, say nothing of C against A), and a point met again
     * with no pair in common is judged by trials taken far apart, so without this a drifting machine
     * can lead it around a loop of known points forever, running no trial that a budget would count.
     */
    const visited = new Set<string>(current ? [keyOf(current.point)] : []);
    /** Not stood on before; feasible beats infeasible; a candidate must gain more than minGain (relative). */
    const clearlyBetter = (candidate: Trial): boolean =>
      !visited.has(keyOf(candidate.point)) && (candidate.feasible !== current!.feasible ? candidate.feasible : gains.get(candidate)! > minGain);
    /** Moves to a candidate: it becomes the current point, its own trial the latest measurement of it. */
    const moveTo = (candidate: Trial): void => {
      current = candidate;
      latest = candidate.score;
      visited.add(keyOf(candidate.point));
    };
    stoppedBy = 'converged';
    search: while (current !== undefined) {
      const passStart: Trial = current;
      /** Per knob, its best feasible neighbour in this pass (whatever its gain: alone it may read lower). */
      const hints = new Map<string, Trial>();
      // Steepest ascent: measure the neighbours along every knob (one step each way; known points are
      // recalled, not re-run), move to the one that gains most if it clearly beats the current point,
      // and keep going that way while each step clearly wins (a line search). Taking the first
      // improvement in knob order was measured to go wrong: from (2 threads, 32 in flight, batch 16)
      // one thread read 3.5 % higher and took the climb away from batch 32, 8 % higher.
      let move: { trial: Trial; name: string; step: number } | undefined;
      for (const name of names) {
        const values = options.space[name]!;
        const at = values.indexOf(passStart.point[name]!);
        for (const step of [1, -1]) {
          if (at + step < 0 || at + step >= values.length) continue;
          const candidate = await trial({ ...passStart.point, [name]: values[at + step]! });
          if (candidate === undefined || (await judge(candidate)) === undefined) break search;
          if (candidate.feasible && gainsMore(candidate, hints.get(name))) hints.set(name, candidate);
          if (clearlyBetter(candidate) && gainsMore(candidate, move?.trial)) move = { trial: candidate, name, step };
        }
      }
      if (move !== undefined) {
        moveTo(move.trial);
        const values = options.space[move.name]!;
        for (let index = values.indexOf(current.point[move.name]!) + move.step; index >= 0 && index < values.length; index += move.step) {
          const candidate = await trial({ ...current.point, [move.name]: values[index]! });
          if (candidate === undefined || (await judge(candidate)) === undefined) break search;
              if (!clearlyBetter(candidate)) break;
          moveTo(candidate);
        }
        continue;
      }
      // Joint moves only to leave the start: once the climb has improved on it, a stuck pass is the
      // end (measured: joint moves tried around a point already reached spent three trials and found
      // nothing, which took quick past a quarter of brute's time).
      if (keyOf(current.point) !== keyOf(start)) break;
      // Knobs can help only together: more threads pay off only with more requests in flight and
      // larger batches, a batch larger than the requests in flight is never filled, and more in
      // flight than the batch takes only queue, so each alone may read a little lower (measured on
      // the small model: 32 in flight alone -3 to -10 %, all three together +5 to +10 %). So when a
      // pass moves nowhere, combinations of two or more knobs' best neighbours are tried (the pattern
      // move of Hooke and Jeeves' search), most promising first (the mean of their neighbours'
      // gains), at most MAX_JOINT_MOVES; the first that clearly wins is taken. (Taking one that wins
      // by any margin was tried: it moved to worse points that read high once, 2 runs of 3.)
      let moved: Trial | undefined;
      for (const subset of jointMoves([...hints.keys()], (name) => gains.get(hints.get(name)!)!)) {
        if (jointLeft === 0) break;
        const combined: SearchPoint = { ...current.point };
        for (const name of subset) combined[name] = hints.get(name)!.point[name]!;
        // Measured before (in an earlier pass): it did not win then.
        if (seen.has(keyOf(combined))) continue;
        jointLeft -= 1;
        const candidate = await trial(combined);
        if (candidate === undefined || (await judge(candidate)) === undefined) break search;
          if (clearlyBetter(candidate)) {
          moved = candidate;
          break;
        }
      }
      if (moved === undefined) break;
      moveTo(moved);
    }
    if (stoppedBy === 'converged' && seen.size === grid.length) stoppedBy = 'exhausted';
    // The point the climb settled on: every move to it beat the noise. (The best single score among
    // the trials would often be a neighbour that measured high by chance.)
    quickChoice = current?.feasible ? current : undefined;
  }
  let best: Trial | undefined = quickChoice;
  const candidates = trials.filter((candidate) => !candidate.reference);
  if (best === undefined) for (const candidate of candidates) if (candidate.feasible && better(candidate, best)) best = candidate;
  return {
    mode: options.mode,
    objective: options.objective,
    constraints,
    space: options.space,
    gridSize: grid.length,
    trials,
    best,
    pareto: paretoFront(candidates),
    stoppedBy,
    ...(noise !== undefined ? { noise } : {}),
    durationMs: now() - startedAt,
  };
}
