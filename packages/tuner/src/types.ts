/** Knobs the tuner may change (the names of `optimization.tuner.parameters`). */
export type TunerParameter = 'max_batch_size' | 'batch_timeout_ms' | 'max_concurrency' | 'cache_max_memory_mb';

export const TUNER_PARAMETERS: readonly TunerParameter[] = ['max_batch_size', 'batch_timeout_ms', 'max_concurrency', 'cache_max_memory_mb'];

/** What the tuner maximizes (`optimization.tuner.objective`). */
export type TunerObjective = 'throughput' | 'latency' | 'goodput';

/** Current value of each tuned knob. */
export type TunerSettings = Partial<Record<TunerParameter, number>>;

/** Range and additive step of one knob. Values are integers; the tuner never leaves [min, max]. */
export interface ParameterBounds {
  min: number;
  max: number;
  /** Additive increase per step. */
  step: number;
}

/** Service-level objectives, ms; an absent one is not checked. */
export interface TunerSlo {
  /** p99 end-to-end latency (`target_p99_latency_ms`). */
  p99LatencyMs?: number;
  /** p99 time to first token (`ttft_slo_ms`). */
  ttftMs?: number;
  /** p99 time per output token (`tpot_slo_ms`). */
  tpotMs?: number;
}

/**
 * The windowed figures one step reads. @muai/monitoring's `PerformanceSnapshot` fits (structural
 * type, so this package does not depend on monitoring).
 */
export interface TunerSignal {
  requests: number;
  requestsPerSecond: number;
  tokensPerSecond: number;
  latencyMs: { p99: number | null; mean?: number | null; p50?: number | null };
  ttftMs: { p99: number | null };
  tpotMs: { p99: number | null };
  queueDepth?: { mean: number | null };
  batchSize?: { mean: number | null };
  /**
   * The `max_concurrency` admission gate over the window (`AdmissionGate.window()`), when one enforces
   * it: requests refused at the limit, and requests in flight (time-weighted mean, most at once).
   */
  admission?: { refused: number; inFlight: { mean: number | null; max: number | null } };
}

/** One change (or a hold) and why. */
export interface TunerDecision {
  /** Step number, from 1. */
  step: number;
  /** Clock time, ms. */
  at: number;
  parameter: TunerParameter | null;
  direction: 'up' | 'down' | 'revert' | 'hold';
  from: number | null;
  to: number | null;
  reason: string;
}
