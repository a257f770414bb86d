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
  /** Most recent last. */
  decisions: TunerDecision[];
}

interface PendingChange {
  scoreBefore: number;
  /** p99 latency of the window before the change (null when unknown). */
  p99Before: number | null;
  changes: Array<{ parameter: TunerParameter; from: number; to: number; direction: 'up' | 'down' }>;
}

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

    const pending = this.pending;
    this.pending = undefined;
    // A worse score alone may be the load changing (under open-loop traffic the request rate is the
    // arrival rate): the change is blamed only when latency got worse too.
    const p99 = signal.latencyMs.p99;
    const latencyWorse = pending?.p99Before === null || pending?.p99Before === undefined || p99 === null || p99 > pending.p99Before * (1 + this.revertTolerance);
    if (pending !== undefined && score < pending.scoreBefore - this.revertTolerance * Math.abs(pending.scoreBefore) && latencyWorse) {
      const decisions: TunerDecision[] = [];
      for (const change of pending.changes) {
        this.values[change.parameter] = change.from;
        this.blockedUntil.set(`${change.parameter}:${change.direction}`, this.stepCount + this.holdAfterRevertSteps);
        decisions.push(
          this.decision(change.parameter, 'revert', change.to, change.from, `${this.objective} score fell from ${round(pending.scoreBefore)} to ${round(score)} and p99 latency rose after ${change.direction === 'up' ? 'raising' : 'lowering'} it; blocked ${this.holdAfterRevertSteps} steps`),
        );
      }
      return this.record(decisions);
    }

    if (pressure > 1) return this.record(this.decrease(score, worst, p99, signal.queueDepth?.mean ?? null));
    if (pressure >= this.lowWater) {
      return this.record([this.hold(`${worst}: within the hysteresis band [${this.lowWater}, 1] of the SLO, holding`)]);
    }
    if (this.stepCount - this.lastDecreaseStep <= this.cooldownSteps) {
      return this.record([this.hold(`cooling down after a decrease at step ${this.lastDecreaseStep}`)]);
    }
    return this.record(this.increase(score, worst, p99));
  }

  private decrease(score: number, worst: string, p99: number | null, queued: number | null): TunerDecision[] {
    const decisions: TunerDecision[] = [];
    const changes: PendingChange['changes'] = [];
    for (const parameter of this.parameters) {
      const from = this.values[parameter]!;
      if (parameter === 'max_batch_size' && queued !== null && queued >= from / 2) {
        // A backlog of half a batch or more: the breach is (partly) queueing, which a smaller batch
        // (less throughput) makes worse. From a full batch waiting, grow the batch; between half and
        // a full batch, keep it (a band, so that a steady backlog never makes it oscillate). The
        // revert rule undoes a growth that hurts.
        if (queued < from) continue;
        const { max, step } = this.bounds[parameter];
        const to = Math.min(max, from + step);
        if (to > from && !this.isBlocked(parameter, 'up')) {
          this.values[parameter] = to;
          changes.push({ parameter, from, to, direction: 'up' });
          decisions.push(this.decision(parameter, 'up', from, to, `SLO breached (${worst}) with ${round(queued)} requests waiting on average, at least a full batch: queueing, so + ${step} for throughput`));
        }
        continue;
      }
      if (!LATENCY_KNOBS.has(parameter) || this.isBlocked(parameter, 'down')) continue;
      const { min } = this.bounds[parameter];
      const to = Math.max(min, Math.min(from - 1, Math.floor(from * this.decreaseFactor)));
      if (to >= from) continue;
      this.values[parameter] = to;
      changes.push({ parameter, from, to, direction: 'down' });
      decisions.push(this.decision(parameter, 'down', from, to, `SLO breached: ${worst}; × ${this.decreaseFactor}`));
    }
    if (decisions.length === 0) return [this.hold(`SLO breached (${worst}) but every latency knob is at its lower bound or blocked`)];
    this.lastDecreaseStep = this.stepCount;
    this.pending = { scoreBefore: score, p99Before: p99, changes };
    return decisions;
  }

  private increase(score: number, worst: string, p99: number | null): TunerDecision[] {
    const skipped: string[] = [];
    for (let tried = 0; tried < this.parameters.length; tried++) {
      const parameter = this.parameters[(this.nextIncrease + tried) % this.parameters.length]!;
      const from = this.values[parameter]!;
      const { max, step } = this.bounds[parameter];
      const to = Math.min(max, from + step);
      if (to <= from || this.isBlocked(parameter, 'up')) continue;
      const veto = this.modelVeto(parameter, to);
      if (veto !== undefined) {
        skipped.push(veto);
        continue;
      }
      this.nextIncrease = (this.nextIncrease + tried + 1) % this.parameters.length;
      this.values[parameter] = to;
      this.pending = { scoreBefore: score, p99Before: p99, changes: [{ parameter, from, to, direction: 'up' }] };
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
