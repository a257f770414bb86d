/**
 * The metrics contract: one sink that instrumented code feeds unconditionally. `NOOP_METRICS`
 * drops everything; @muai/monitoring's `PrometheusExporter` and `PerformanceMonitor` implement
 * it; `combineMetricsSinks` fans one call out to several; `InMemoryMetricsSink` in
 * `@muai/core/testing` keeps every record for tests. A sink never throws into the caller's path
 * (combineMetricsSinks isolates each one).
 */

/**
 * Outcome of a request. `'success'` (or `'ok'`) counts as success; `'aborted'` (the caller went
 * away) counts as neither success nor error in error rates; anything else (`'error'`, an error
 * code such as `'ENGINE_UNAVAILABLE'`) counts as an error.
 */
export type RequestStatus = 'success' | 'ok' | 'error' | 'aborted' | 'timeout' | (string & {});

/** One finished request. Times in milliseconds. Never put prompt text in any field. */
export interface RequestRecord {
  /** Model name (a bounded label: unknown names from callers become `unknown`). */
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
  /** The MuaiError code when status is not ok. Not a metric label. */
  errorCode?: string;
}

/** A fallback from one engine to the next (`reason`: `not_installed`, `unreachable`, or an error code). */
export interface FallbackRecord {
  from: string;
  to: string;
  reason: string;
  model?: string;
}

/** A batch an engine or batcher dispatched. */
export interface BatchRecord {
  size: number;
  model?: string;
  engine?: string;
}

/** Requests waiting (not yet running) in a queue, now. */
export interface QueueDepthRecord {
  depth: number;
  /** Requests running (in the engine's batch) now, when the queue's owner knows it. */
  running?: number;
  model?: string;
  engine?: string;
}

/** Figures reported by a KV cache. */
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
  /**
   * Share of the key/value capacity held by running requests now, 0..1 (cached prefixes that no
   * request uses do not count): what vLLM's `kv_cache_usage_perc` means. Default `usageRatio`.
   */
  runningRatio?: number;
  /** New cache hits since the previous call (a delta, not a running total). */
  hits?: number;
  /** New cache misses since the previous call (a delta, not a running total). */
  misses?: number;
}

/** An alert that fired. */
export interface AlertRecord {
  rule: string;
  severity: string;
}

/** Where instrumented code sends measurements. Every method is called unconditionally. */
export interface MetricsSink {
  recordRequest(record: RequestRecord): void;
  recordFallback(record: FallbackRecord): void;
  recordBatch(record: BatchRecord): void;
  recordQueueDepth(record: QueueDepthRecord): void;
  recordCacheStats(record: CacheStatsRecord): void;
  recordAlert(record: AlertRecord): void;
}

const noop = (): void => {};

/** The sink to use when metrics are off. */
export const NOOP_METRICS: MetricsSink = Object.freeze({
  recordRequest: noop,
  recordFallback: noop,
  recordBatch: noop,
  recordQueueDepth: noop,
  recordCacheStats: noop,
  recordAlert: noop,
});

/**
 * One sink that forwards every call to each of `sinks`. A sink may implement only some methods
 * (the first release's sinks had only `recordRequest`); the others are skipped for it. A sink that
 * throws is reported once per method to `onError` (default: a console warning) and never fails the
 * caller or the other sinks.
 */
export function combineMetricsSinks(sinks: ReadonlyArray<Partial<MetricsSink> | undefined>, onError: (error: unknown, method: string) => void = warnOnce()): MetricsSink {
  const present = sinks.filter((sink): sink is Partial<MetricsSink> => sink !== undefined);
  if (present.length === 0) return NOOP_METRICS;
  const fan = <K extends keyof MetricsSink>(method: K): MetricsSink[K] => {
    const targets = present.filter((sink) => typeof sink[method] === 'function');
    return ((record: Parameters<MetricsSink[K]>[0]): void => {
      for (const sink of targets) {
        try {
          (sink[method] as (value: typeof record) => void).call(sink, record);
        } catch (error) {
          onError(error, method);
        }
      }
    }) as MetricsSink[K];
  };
  return {
    recordRequest: fan('recordRequest'),
    recordFallback: fan('recordFallback'),
    recordBatch: fan('recordBatch'),
    recordQueueDepth: fan('recordQueueDepth'),
    recordCacheStats: fan('recordCacheStats'),
    recordAlert: fan('recordAlert'),
  };
}

function warnOnce(): (error: unknown, method: string) => void {
  const seen = new Set<string>();
  return (error, method) => {
    if (seen.has(method)) return;
    seen.add(method);
    console.warn(`[muai] metrics sink failed in ${method} (further failures of it are not reported): ${error instanceof Error ? error.message : String(error)}`);
  };
}

/** Status values that count as success. */
export function isSuccessStatus(status: string): boolean {
  return status === 'success' || status === 'ok';
}

/** Status values that count as errors in error rates (everything but success and aborted). */
export function isErrorStatus(status: string): boolean {
  return !isSuccessStatus(status) && status !== 'aborted';
}
