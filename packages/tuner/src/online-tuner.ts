import { ConfigInvalidError } from '@muai/core';
import { LatencyModel } from './latency-model.js';
import type { LatencyFit } from './latency-model.js';
import { TUNER_PARAMETERS } from './types.js';
import type { ParameterBounds, TunerDecision, TunerObjective, TunerParameter, TunerSettings, TunerSignal, TunerSlo } from './types.js';

/** Default range and additive step of each knob. */
export const DEFAULT_BOUNDS: Readonly<Record<TunerParameter, Readonly<ParameterBounds>>> = Object.freeze({
  max_batch_size: Object.freeze({ min: 1, max: 128, step: 2 }),
  batch_timeout_ms: Object.freeze({ min: 0, max: 500, step: 5 }),
  max_concurrency: Object.freeze({ min: 1, max: 64, step: 1 }),
  cache_max_memory_mb: Object.freeze({ min: 64, max: 8192, step: 64 }),
});

/** Knobs whose lower values shorten latency: the ones a breach decreases. A smaller cache never makes a request faster. */
const LATENCY_KNOBS: ReadonlySet<TunerParameter> = new Set(['max_batch_size', 'batch_timeout_ms', 'max_concurrency']);

export interface OnlineTunerOptions {
  /** Knobs to tune (`optimization.tuner.parameters`); at least one. */
  parameters: readonly TunerParameter[];
  /** Starting value of each tuned knob (the configured setting); clamped into its bounds. */
  initial: TunerSettings;
  /** Per-knob overrides of DEFAULT_BOUNDS. */
  bounds?: Partial<Record<TunerParameter, Partial<ParameterBounds>>>;
  /** SLOs; none means the tuner only follows the objective. */
  slo?: TunerSlo;
  /** Default 'throughput'. */
  objective?: TunerObjective;
  /** Multiplicative decrease on a breach: value × factor (at least one unit less). Default 0.8. */
  decreaseFactor?: number;
  /** Increase only while the worst p99/SLO ratio is below this (hysteresis band [lowWater, 1]). Default 0.8. */
  lowWater?: number;
  /** Fewer requests than this in the window: hold (the figures mean nothing). Default 5. */
  minRequests?: number;
  /** A change is reverted when the objective score falls by more than this fraction at the next step. Default 0.05. */
  revertTolerance?: number;
  /** After a revert, that knob is not moved the same way again for this many steps. Default 5. */
  holdAfterRevertSteps?: number;
  /** After a decrease, no increase for this many steps. Default 2. */
  cooldownSteps?: number;
  /** Decisions kept for `state()`. Default 100. */
  historySize?: number;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
}

/** What the tuner knows now (what `GET /v1/tuner` shows). */
export interface OnlineTunerState {
  objective: TunerObjective;
  slo: TunerSlo;
  step: number;
  settings: TunerSettings;
  bounds: Partial<Record<TunerParameter, ParameterBounds>>;
  /** Worst observed p99 / SLO at the last step (0 without SLOs), or null before any. */
  pressure: number | null;
  /** Objective score at the last step, or null. */
  score: number | null;
  /** Batch latency model fitted on recent windows, when it has enough points. */
  latencyModel: LatencyFit | null;
  /** The engine's capacity as estimated from the last saturated windows (their median), req/s; null before any. */
  capacityRps: number | null;
  /** Requests in flight that keep latency at `lowWater` × the latency SLO at that capacity (Little's law); null without both. */
  concurrencyBound: number | null;
  /** Most recent last. */
  decisions: TunerDecision[];
}

interface PendingChange {
  scoreBefore: number;
  /** p99 latency of the window before the change (null when unknown). */
  p99Before: number | null;
  changes: Array<{ parameter: TunerParameter; from: number; to: number; direction: 'up' | 'down' }>;
  /**
   * The window before the change held a load step (its request rate over 1.5× or under 1/1.5 of the
   * window before it): its score is no baseline, and the change is not judged against it.
   */
  loadStep: boolean;
}

/** A window's request rate this many times the previous one's, or less than its inverse, is a load step. */
const LOAD_STEP_RATIO = 1.5;

/**
 * The online controller: pure (no timers, no I/O); call `step(signal)` every interval with the
 * performance monitor's windowed snapshot and apply the returned changes. Policy: additive increase
 * of one knob at a time (round robin) while every p99 is below `lowWater` × its SLO, multiplicative
 * decrease of the latency knobs on a breach (AIMD, as Clipper's batch sizing), nothing in between
 * (hysteresis), and a change followed by a worse objective score is reverted and that direction
 * blocked for a while. Values never leave their bounds.
 */
export class OnlineTuner {
  readonly parameters: readonly TunerParameter[];
  readonly objective: TunerObjective;
  readonly slo: Readonly<TunerSlo>;
  private readonly bounds: Record<TunerParameter, ParameterBounds>;
  private readonly values: TunerSettings = {};
  /** Configured values of knobs not tuned: the latency model still needs the batch size and wait in force. */
  private readonly fixed: TunerSettings;
  private readonly decreaseFactor: number;
  private readonly lowWater: number;
  private readonly minRequests: number;
  private readonly revertTolerance: number;
  private readonly holdAfterRevertSteps: number;
  private readonly cooldownSteps: number;
  private readonly historySize: number;
  private readonly now: () => number;
  private readonly model = new LatencyModel({ capacity: 20, minSamples: 4 });
  private readonly blockedUntil = new Map<string, number>();
  private readonly history: TunerDecision[] = [];
  private stepCount = 0;
  private nextIncrease = 0;
  private lastDecreaseStep = Number.NEGATIVE_INFINITY;
  private pending: PendingChange | undefined;
  private lastPressure: number | null = null;
  private lastScore: number | null = null;
  /** Request rate of the last window with traffic, and whether that window held a load step. */
  private lastRate: number | null = null;
  private loadStep = false;
  /** Estimated capacity, req/s (median of the last three saturated windows in a row). */
  private capacity = 0;
  /** Request rates of the last (up to three) saturated windows in a row. */
  private readonly saturatedRates: number[] = [];
  private saturatedNow = false;
  /** The Little's law bound of the last saturated window. */
  private lastLittle: number | undefined;

  constructor(options: OnlineTunerOptions) {
    const problems: Array<{ path: string; expected: string }> = [];
    const parameters = [...new Set(options.parameters)];
    if (parameters.length === 0) problems.push({ path: 'parameters', expected: 'name at least one knob to tune' });
    for (const parameter of parameters) {
      if (!TUNER_PARAMETERS.includes(parameter)) problems.push({ path: 'parameters', expected: `unknown knob "${String(parameter)}" (known: ${TUNER_PARAMETERS.join(', ')})` });
    }
    const decreaseFactor = options.decreaseFactor ?? 0.8;
    if (!(decreaseFactor > 0 && decreaseFactor < 1)) problems.push({ path: 'decreaseFactor', expected: `must be in (0, 1) (got ${String(decreaseFactor)})` });
    const lowWater = options.lowWater ?? 0.8;
    if (!(lowWater > 0 && lowWater <= 1)) problems.push({ path: 'lowWater', expected: `must be in (0, 1] (got ${String(lowWater)})` });
    for (const [name, value] of Object.entries(options.slo ?? {})) {
      if (value !== undefined && !(typeof value === 'number' && value > 0)) problems.push({ path: `slo.${name}`, expected: `must be a number of ms > 0 (got ${String(value)})` });
    }
    const bounds = {} as Record<TunerParameter, ParameterBounds>;
    for (const parameter of TUNER_PARAMETERS) {
      const merged = { ...DEFAULT_BOUNDS[parameter], ...options.bounds?.[parameter] };
      if (!(Number.isInteger(merged.min) && Number.isInteger(merged.max) && merged.min <= merged.max && Number.isInteger(merged.step) && merged.step >= 1)) {
        problems.push({ path: `bounds.${parameter}`, expected: `needs integers min <= max and step >= 1 (got ${JSON.stringify(merged)})` });
      }
      bounds[parameter] = merged;
    }
    if (problems.length > 0) throw new ConfigInvalidError(problems.map((problem) => ({ ...problem, path: `tuner.${problem.path}` })));
    this.parameters = parameters;
    this.bounds = bounds;
    this.objective = options.objective ?? 'throughput';
    this.slo = Object.freeze({ ...options.slo });
    this.decreaseFactor = decreaseFactor;
    this.lowWater = lowWater;
    this.minRequests = options.minRequests ?? 5;
    this.revertTolerance = options.revertTolerance ?? 0.05;
    this.holdAfterRevertSteps = options.holdAfterRevertSteps ?? 5;
    this.cooldownSteps = options.cooldownSteps ?? 2;
    this.historySize = options.historySize ?? 100;
    this.now = options.now ?? Date.now;
    this.fixed = { ...options.initial };
    for (const parameter of parameters) {
      const { min, max } = bounds[parameter];
      const start = options.initial[parameter];
      this.values[parameter] = clamp(Math.round(typeof start === 'number' && Number.isFinite(start) ? start : min), min, max);
    }
  }

  /** Current value of each tuned knob. */
  settings(): TunerSettings {
    return { ...this.values };
  }

  state(): OnlineTunerState {
    const bounds: Partial<Record<TunerParameter, ParameterBounds>> = {};
    for (const parameter of this.parameters) bounds[parameter] = { ...this.bounds[parameter] };
    return {
      objective: this.objective,
      slo: { ...this.slo },
      step: this.stepCount,
      settings: this.settings(),
      bounds,
      pressure: this.lastPressure,
      score: this.lastScore,
      latencyModel: this.model.fit() ?? null,
      capacityRps: this.capacity > 0 ? this.capacity : null,
      concurrencyBound: this.lastLittle ?? null,
      decisions: this.history.slice(),
    };
  }

  /**
   * One control step on a window's figures. Returns the decisions taken (changes first; a single
   * `hold` when nothing moved); `settings()` already reflects them.
   */
  step(signal: TunerSignal): TunerDecision[] {
    this.stepCount += 1;
    if (!(signal.requests >= this.minRequests)) {
      // Nothing to judge a pending change by: it stays pending until a window has traffic.
      return this.record([this.hold(`${signal.requests} requests in the window, fewer than ${this.minRequests}: too little to judge`)]);
    }
    const { pressure, worst } = this.pressureOf(signal);
    const score = this.scoreOf(signal, pressure);
    this.lastPressure = pressure;
    this.lastScore = score;
    const batch = signal.batchSize?.mean;
    const latency = signal.latencyMs.p50 ?? signal.latencyMs.mean ?? signal.latencyMs.p99;
    if (typeof batch === 'number' && batch > 0 && typeof latency === 'number') this.model.add(batch, latency);

    this.noteCapacity(signal);
    const rate = signal.requestsPerSecond;
    this.loadStep = this.lastRate !== null && this.lastRate > 0 && (rate > LOAD_STEP_RATIO * this.lastRate || rate < this.lastRate / LOAD_STEP_RATIO);
    this.lastRate = rate;

    const pending = this.pending;
    this.pending = undefined;
    // A worse score alone may be the load changing (under open-loop traffic the request rate is the
    // arrival rate): the change is blamed only when latency got worse too.
    const p99 = signal.latencyMs.p99;
    const latencyWorse = pending?.p99Before === null || pending?.p99Before === undefined || p99 === null || p99 > pending.p99Before * (1 + this.revertTolerance);
    // A decrease made on a breach is not judged while the breach lasts: the requests finishing now
    // were admitted (and queued) before it, so their latency says nothing about it yet. Reverting
    // it there would undo the one move that drains the backlog.
    // Nor is a lower admission limit ever reverted: the requests finishing in the next window were
    // admitted under the old one, and a limit set too low shows as refusals while the SLO holds,
    // which raises it again (Little's bound, additive increase). Reverting would also block further
    // cuts for `holdAfterRevertSteps` steps, when capacity may still be falling.
    // Nor is a change made in a window that held a load step (the first window of an overload reads
    // high: measured, 160 req/s against 136-152 in the windows after it, whatever the batch).
    const judged = pending?.loadStep ? [] : (pending?.changes.filter((change) => change.direction !== 'down' || (pressure <= 1 && change.parameter !== 'max_concurrency')) ?? []);
    // Requests finish a batch at a time, so a window's count is uncertain by about one batch: a fall
    // within that is no evidence (measured: steady windows read 136, 144 or 152 req/s at batch 16,
    // 2 s windows, i.e. 17, 18 or 19 batches).
    const granularity = (signal.batchSize?.mean ?? 1) / Math.max(1, signal.requests);
    const tolerance = Math.max(this.revertTolerance, granularity);
    if (pending !== undefined && judged.length > 0 && score < pending.scoreBefore - tolerance * Math.abs(pending.scoreBefore) && latencyWorse) {
      const decisions: TunerDecision[] = [];
      for (const change of judged) {
        this.values[change.parameter] = change.from;
        this.blockedUntil.set(`${change.parameter}:${change.direction}`, this.stepCount + this.holdAfterRevertSteps);
        decisions.push(
          this.decision(change.parameter, 'revert', change.to, change.from, `${this.objective} score fell from ${round(pending.scoreBefore)} to ${round(score)} and p99 latency rose after ${change.direction === 'up' ? 'raising' : 'lowering'} it; blocked ${this.holdAfterRevertSteps} steps`),
        );
      }
      return this.record(decisions);
    }

    if (pressure > 1) {
      const past = this.pastBreach(signal);
      return this.record(past !== undefined ? [this.hold(past)] : this.decrease(score, worst, signal));
    }
    // A saturated window: the batch limit may bind (a full batch waiting) and the admission limit
    // may be off its Little's law bound; both can move in one step.
    const saturated = [this.batchGrowth(signal), this.admissionByLittle(signal)].filter((decision): decision is TunerDecision => decision !== undefined);
    if (saturated.length > 0) {
      this.setPending(score, p99, saturated.map((d) => ({ parameter: d.parameter!, from: d.from!, to: d.to!, direction: d.direction as 'up' | 'down' })));
      return this.record(saturated);
    }
    if (pressure >= this.lowWater) {
      return this.record([this.hold(`${worst}: within the hysteresis band [${this.lowWater}, 1] of the SLO, holding`)]);
    }
    if (this.stepCount - this.lastDecreaseStep <= this.cooldownSteps) {
      return this.record([this.hold(`cooling down after a decrease at step ${this.lastDecreaseStep}`)]);
    }
    return this.record(this.increase(score, worst, signal));
  }

  private decrease(score: number, worst: string, signal: TunerSignal): TunerDecision[] {
    const p99 = signal.latencyMs.p99;
    const queued = signal.queueDepth?.mean ?? null;
    const decisions: TunerDecision[] = [];
    const changes: PendingChange['changes'] = [];
    for (const parameter of this.parameters) {
      const from = this.values[parameter]!;
      if (parameter === 'max_batch_size' && queued !== null && queued >= from / 2) {
        // A backlog of half a batch or more: the breach is (partly) queueing, which a smaller batch
        // (less throughput) makes worse. From a full batch waiting, double the batch; between half and
        // a full batch, keep it (a band, so that a steady backlog never makes it oscillate). The
        // revert rule undoes a growth that hurts.
        if (queued < from) continue;
        const to = this.doubledBatch(from);
        if (to !== undefined) {
          this.values[parameter] = to;
          changes.push({ parameter, from, to, direction: 'up' });
          decisions.push(this.decision(parameter, 'up', from, to, `SLO breached (${worst}) with ${round(queued)} requests waiting on average, at least a full batch: queueing, so × 2 for throughput`));
        }
        continue;
      }
      if (!LATENCY_KNOBS.has(parameter) || this.isBlocked(parameter, 'down')) continue;
      const { min } = this.bounds[parameter];
      const { target, why } = parameter === 'max_concurrency' ? this.concurrencyAfterBreach(from, signal) : { target: Math.floor(from * this.decreaseFactor), why: `× ${this.decreaseFactor}` };
      const to = Math.max(min, Math.min(from - 1, target));
      if (to >= from) continue;
      this.values[parameter] = to;
      changes.push({ parameter, from, to, direction: 'down' });
      decisions.push(this.decision(parameter, 'down', from, to, `SLO breached: ${worst}; ${why}`));
    }
    if (decisions.length === 0) return [this.hold(`SLO breached (${worst}) but every latency knob is at its lower bound or blocked`)];
    this.lastDecreaseStep = this.stepCount;
    this.setPending(score, p99, changes);
    return decisions;
  }

  /**
   * The admission limit after a breach. Latency under a backlog is in-flight / throughput (Little's
   * law), so the limit that meets the SLO is about throughput × lowWater × SLO: go there at once
   * rather than by × decreaseFactor steps while every interval breaches. From the most in flight
   * in the window when that is below the limit (lowering an unreached limit changes nothing), never
   * below half of it in one step (one window's throughput can be a transient).
   */
  private concurrencyAfterBreach(from: number, signal: TunerSignal): { target: number; why: string } {
    const peak = signal.admission?.inFlight.max;
    const base = typeof peak === 'number' && peak >= 1 ? Math.min(from, Math.ceil(peak)) : from;
    let target = Math.floor(base * this.decreaseFactor);
    let why = base < from ? `${base} in flight at most × ${this.decreaseFactor}` : `× ${this.decreaseFactor}`;
    const little = this.littleBound();
    if (little !== undefined && little < target) {
      target = Math.max(Math.floor(base / 2), little);
      why = `capacity ${round(this.capacity)} req/s × ${this.lowWater} × ${this.slo.p99LatencyMs} ms (Little's law)${target > little ? ', at most halved in one step' : ''}`;
    }
    return { target, why };
  }

  /** Changes made in this window, judged at the next step against this window's score and p99. */
  private setPending(score: number, p99: number | null, changes: PendingChange['changes']): void {
    this.pending = { scoreBefore: score, p99Before: p99, loadStep: this.loadStep, changes };
  }

  /** `max_batch_size` doubled within its bound (the growth under a backlog), or undefined at the bound or while blocked upwards. */
  private doubledBatch(from: number): number | undefined {
    const to = Math.min(this.bounds.max_batch_size.max, 2 * from);
    return to > from && !this.isBlocked('max_batch_size', 'up') ? to : undefined;
  }

  /**
   * `max_batch_size` while a full batch or more waits on average and the SLO holds: the batch limit
   * binds, and a larger batch spreads each step's fixed cost over more rows (the small model with 2
   * threads: 163 req/s at batch 16, 186 at 64, 174 at 128; `benchmarks/_tuner-capacity.mjs`). It
   * doubles (a slow start: a load step lasts seconds, + `step` would take minutes), within bounds and
   * the latency model's veto. A growth after which throughput fell and latency rose is reverted and
   * blocked by the revert rule (with one thread capacity is flat beyond 16, and 128 is past the top).
   */
  private batchGrowth(signal: TunerSignal): TunerDecision | undefined {
    const parameter: TunerParameter = 'max_batch_size';
    const queued = signal.queueDepth?.mean;
    if (!this.parameters.includes(parameter) || typeof queued !== 'number') return undefined;
    const from = this.values[parameter]!;
    if (queued < from) return undefined;
    const to = this.doubledBatch(from);
    if (to === undefined || this.modelVeto(parameter, to) !== undefined) return undefined;
    this.values[parameter] = to;
    return this.decision(parameter, 'up', from, to, `${round(queued)} requests waiting on average, a full batch or more: the batch limit binds; × 2 for throughput`);
  }

  /**
   * `max_concurrency` while the SLO holds but the engine is saturated (requests waited for a batch
   * slot, or the gate refused some): the limit that keeps latency at `lowWater` × the SLO is the
   * throughput now × that latency (Little's law), so it is set there before a breach, not after.
   * Why not additive steps: a load step fills a limit of hundreds within seconds, and the requests
   * admitted over the SLO's worth are then late whatever follows. A dead band (a tenth of the value,
   * at least one step) keeps it from chasing noise; one step at most halves or doubles it; a rise
   * waits out the cooldown after a decrease. Unsaturated windows say nothing of capacity: no move.
   */
  private admissionByLittle(signal: TunerSignal): TunerDecision | undefined {
    const little = this.parameters.includes('max_concurrency') ? this.littleBound() : undefined;
    if (little === undefined) return undefined;
    const slo = this.slo.p99LatencyMs!;
    const queued = signal.queueDepth?.mean ?? 0;
    const refused = signal.admission?.refused ?? 0;
    const parameter: TunerParameter = 'max_concurrency';
    const from = this.values[parameter]!;
    const { min, max, step } = this.bounds[parameter];
    const to = clamp(Math.min(2 * from, Math.max(Math.floor(from / 2), little)), min, max);
    if (Math.abs(to - from) < Math.max(step, from / 10)) return undefined;
    const direction = to > from ? 'up' : 'down';
    if (this.isBlocked(parameter, direction)) return undefined;
    if (direction === 'up' && this.stepCount - this.lastDecreaseStep <= this.cooldownSteps) return undefined;
    this.values[parameter] = to;
    if (direction === 'down') this.lastDecreaseStep = this.stepCount;
    const load = refused > 0 ? `${refused} refused` : `${round(queued)} waiting for a batch slot`;
    return this.decision(parameter, direction, from, to, `saturated (${load}), capacity ${round(this.capacity)} req/s: × ${this.lowWater} × ${slo} ms (Little's law)${to === little ? '' : ', at most halved or doubled in one step'}`);
  }

  /**
   * A latency breach that belongs to the past: the requests finishing now were admitted behind a
   * backlog that is gone (what is in flight now would take in-flight / throughput, Little's law,
   * well within the SLO). Cutting the limits then only refuses or slows requests that would have
   * met it. Needs the gate's in-flight figure; undefined (a real breach) otherwise.
   */
  private pastBreach(signal: TunerSignal): string | undefined {
    const slo = this.slo.p99LatencyMs;
    const p99 = signal.latencyMs.p99;
    const peak = signal.admission?.inFlight.max;
    // A window whose requests finished saw them in flight: a peak of 0 means the gate did not see them.
    if (slo === undefined || p99 === null || !(p99 > slo) || typeof peak !== 'number' || !(peak >= 1) || !(signal.requestsPerSecond > 0)) return undefined;
    const otherBreach = [
      [signal.ttftMs.p99, this.slo.ttftMs],
      [signal.tpotMs.p99, this.slo.tpotMs],
    ].some(([observed, limit]) => typeof observed === 'number' && typeof limit === 'number' && observed > limit);
    const predicted = (peak / signal.requestsPerSecond) * 1000;
    if (otherBreach || predicted > this.lowWater * slo) return undefined;
    return `latency p99 ${round(p99)} ms over the SLO from requests admitted behind a backlog now gone: ${peak} in flight at most at ${round(signal.requestsPerSecond)} req/s is ${round(predicted)} ms (Little's law); holding`;
  }

  /**
   * Whether the window was saturated: the gate refused requests, or a whole batch waited on average
   * for a slot (a few waiting is Poisson arrivals meeting a full batch now and then, not overload).
   * Its request rate is then the engine's capacity. The estimate is the median of the last three
   * saturated windows of this overload (the lower of two, the one of one): on a shared machine
   * capacity falls within seconds, and an estimate too high is a breach, so it follows a fall within
   * two windows; but one window's count moves a batch at a time (136, 144 or 152 req/s at batch 16,
   * ±20 % at batch 64 in 2 s), and following each low window cut the limit at once while the rise
   * after it waited out the cooldown (measured: 364 → 307 → 364 → 307), refusing requests the engine
   * had room for. The first window of a load step, only partly saturated, may read low, which the
   * at-most-halving step absorbs.
   */
  private noteCapacity(signal: TunerSignal): void {
    const batch = this.values.max_batch_size ?? this.fixed.max_batch_size ?? 1;
    const saturated = (signal.admission?.refused ?? 0) > 0 || (signal.queueDepth?.mean ?? 0) >= batch;
    this.saturatedNow = saturated && signal.requestsPerSecond > 0;
    if (!this.saturatedNow) {
      this.saturatedRates.length = 0;
      return;
    }
    this.saturatedRates.push(signal.requestsPerSecond);
    if (this.saturatedRates.length > 3) this.saturatedRates.shift();
    const sorted = [...this.saturatedRates].sort((a, b) => a - b);
    this.capacity = sorted.length === 3 ? sorted[1]! : sorted[0]!;
    const slo = this.slo.p99LatencyMs;
    if (slo !== undefined) this.lastLittle = Math.floor((this.capacity * this.lowWater * slo) / 1000);
  }

  /** Requests in flight that keep latency at `lowWater` × the SLO at the estimated capacity (Little's law), in a saturated window; else undefined. */
  private littleBound(): number | undefined {
    return this.saturatedNow ? this.lastLittle : undefined;
  }

  /**
   * Whether a knob's limit held the load back in the window: a limit nothing reached changes nothing
   * when raised, and its revert test would then judge noise. Unknown (the signal lacks the figure): yes.
   */
  private unusedLimit(parameter: TunerParameter, from: number, signal: TunerSignal): string | undefined {
    if (parameter === 'max_concurrency') {
      if (signal.admission !== undefined && signal.admission.refused === 0) return `max_concurrency ${from} not raised: nothing was refused`;
      // Above the last saturated window's Little bound a backlog would pass the SLO again: only a
      // new saturated window (a new capacity figure) may move the limit past it.
      const ceiling = this.littleBound() ?? this.lastLittle;
      if (ceiling !== undefined && from + this.bounds[parameter].step > ceiling) return `max_concurrency ${from} not raised: Little's law bound ${ceiling}`;
    }
    if (parameter === 'max_batch_size') {
      const batch = signal.batchSize?.mean;
      const queued = signal.queueDepth?.mean;
      if (typeof batch === 'number' && typeof queued === 'number' && queued < 1 && batch < 0.9 * from) {
        return `max_batch_size ${from} not raised: batches of ${round(batch)} on average and no queue`;
      }
    }
    return undefined;
  }

  private increase(score: number, worst: string, signal: TunerSignal): TunerDecision[] {
    const p99 = signal.latencyMs.p99;
    const skipped: string[] = [];
    for (let tried = 0; tried < this.parameters.length; tried++) {
      const parameter = this.parameters[(this.nextIncrease + tried) % this.parameters.length]!;
      const from = this.values[parameter]!;
      const { max, step } = this.bounds[parameter];
      const to = Math.min(max, from + step);
      if (to <= from || this.isBlocked(parameter, 'up')) continue;
      const idle = this.unusedLimit(parameter, from, signal);
      if (idle !== undefined) {
        skipped.push(idle);
        continue;
      }
      const veto = this.modelVeto(parameter, to);
      if (veto !== undefined) {
        skipped.push(veto);
        continue;
      }
      this.nextIncrease = (this.nextIncrease + tried + 1) % this.parameters.length;
      this.values[parameter] = to;
      this.setPending(score, p99, [{ parameter, from, to, direction: 'up' }]);
      return [this.decision(parameter, 'up', from, to, `SLO holds (${worst}); + ${step}`)];
    }
    return [this.hold(skipped.length > 0 ? skipped.join('; ') : 'every knob is at its upper bound or blocked')];
  }

  /**
   * Where the batch latency model helps: a larger batch or a longer wait is refused when the
   * predicted batch latency plus the wait would pass `lowWater` × the latency SLO.
   */
  private modelVeto(parameter: TunerParameter, to: number): string | undefined {
    const target = this.slo.p99LatencyMs;
    if (target === undefined || (parameter !== 'max_batch_size' && parameter !== 'batch_timeout_ms')) return undefined;
    const size = parameter === 'max_batch_size' ? to : (this.values.max_batch_size ?? this.fixed.max_batch_size);
    const wait = parameter === 'batch_timeout_ms' ? to : (this.values.batch_timeout_ms ?? this.fixed.batch_timeout_ms ?? 0);
    if (size === undefined) return undefined;
    const predicted = this.model.predict(size);
    if (predicted === undefined) return undefined;
    const budget = this.lowWater * target;
    if (predicted + wait <= budget) return undefined;
    return `${parameter} → ${to} refused: predicted batch latency ${round(predicted)} ms + wait ${wait} ms > ${round(budget)} ms`;
  }

  private isBlocked(parameter: TunerParameter, direction: 'up' | 'down'): boolean {
    return (this.blockedUntil.get(`${parameter}:${direction}`) ?? 0) >= this.stepCount;
  }

  private pressureOf(signal: TunerSignal): { pressure: number; worst: string } {
    let pressure = 0;
    let worst = 'no SLO set';
    const check = (label: string, observed: number | null, slo: number | undefined): void => {
      if (slo === undefined || observed === null) return;
      const ratio = observed / slo;
      if (ratio >= pressure) {
        pressure = ratio;
        worst = `${label} p99 ${round(observed)} ms vs SLO ${slo} ms`;
      }
    };
    check('latency', signal.latencyMs.p99, this.slo.p99LatencyMs);
    check('TTFT', signal.ttftMs.p99, this.slo.ttftMs);
    check('TPOT', signal.tpotMs.p99, this.slo.tpotMs);
    return { pressure, worst };
  }

  /** Higher is better for every objective. Goodput here: the request rate, scaled down by how far the worst p99 is past its SLO. */
  private scoreOf(signal: TunerSignal, pressure: number): number {
    if (this.objective === 'latency') return -(signal.latencyMs.p99 ?? 0);
    if (this.objective === 'goodput') return signal.requestsPerSecond * (pressure <= 1 ? 1 : 1 / pressure);
    return signal.tokensPerSecond > 0 ? signal.tokensPerSecond : signal.requestsPerSecond;
  }

  private decision(parameter: TunerParameter, direction: TunerDecision['direction'], from: number, to: number, reason: string): TunerDecision {
    return { step: this.stepCount, at: this.now(), parameter, direction, from, to, reason };
  }

  private hold(reason: string): TunerDecision {
    return { step: this.stepCount, at: this.now(), parameter: null, direction: 'hold', from: null, to: null, reason };
  }

  private record(decisions: TunerDecision[]): TunerDecision[] {
    this.history.push(...decisions);
    if (this.history.length > this.historySize) this.history.splice(0, this.history.length - this.historySize);
    return decisions;
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Creates the online controller; throws ConfigInvalidError listing every invalid option. */
export function createOnlineTuner(options: OnlineTunerOptions): OnlineTuner {
  return new OnlineTuner(options);
}
