/**
 * Record shapes shared by PrometheusExporter and PerformanceMonitor, so that one call site can
 * feed both.
 */

/**
 * Outcome of a request. `'success'` (or `'ok'`) counts as success; `'aborted'` (the caller went
 * away) counts as neither success nor error in error rates; anything else (`'error'`, an error
 * code such as `'ENGINE_UNAVAILABLE'`) counts as an error.
 */
export type RequestStatus = 'success' | 'ok' | 'error' | 'aborted' | 'timeout' | (string & {});

/** One finished request. Times in milliseconds. Never put prompt text in any field. */
export interface RequestRecord {
  /** Model name (bounded by the label guard). */
  model: string;
  /** Engine that served the request (`onnx`, `vllm`, `deepspeed`, ...). */
  engine: string;
  /** Workflow name (`chat`, `search_qa`, ...). Default `'none'`. */
  workflow?: string;
  /** Outcome; see RequestStatus. */
  status: RequestStatus;
  /** End-to-end latency, ms. */
  latencyMs: number;
  /** Time to first token, ms (generation requests). */
  ttftMs?: number;
  /** Mean time per output token after the first, ms. */
  tpotMs?: number;
  /** Prompt (input) tokens. Default 0. */
  promptTokens?: number;
  /** Generated (output) tokens. Default 0. */
  completionTokens?: number;
}

/** Cache figures reported by a KV cache. */
export interface CacheStatsRecord {
  /** Model the cache belongs to, when it is per model. */
  model?: string;
  /** Engine that owns the cache. */
  engine?: string;
  /** Bytes in use now. */
  usedBytes?: number;
  /** Bytes the cache may use (its budget). Used to compute the ratio when `usageRatio` is absent. */
  capacityBytes?: number;
  /** Fraction of the budget in use now, 0..1. */
  usageRatio?: number;
  /** New cache hits since the previous call (a delta, not a running total). */
  hits?: number;
  /** New cache misses since the previous call (a delta, not a running total). */
  misses?: number;
}

/** Status values that count as success. */
export function isSuccessStatus(status: string): boolean {
  return status === 'success' || status === 'ok';
}

/** Status values that count as errors in error rates (everything but success and aborted). */
export function isErrorStatus(status: string): boolean {
  return !isSuccessStatus(status) && status !== 'aborted';
}
