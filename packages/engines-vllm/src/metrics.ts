import { parsePrometheusText, sumSamples } from '@muai/engines-http';
import type { PrometheusSample } from '@muai/engines-http';

/** Count and sum of a Prometheus histogram (seconds). */
export interface HistogramSummary {
  count: number;
  sum: number;
}

/**
 * vLLM's own `vllm:` series from one `/metrics` scrape, summed over engines (data parallel) and
 * models. Fields are `undefined` when the server does not expose the series (older versions).
 * Counters are cumulative since the server started.
 */
export interface VllmMetricsSnapshot {
  /** `vllm:num_requests_running`: requests in the running batch. */
  numRequestsRunning: number | undefined;
  /** `vllm:num_requests_waiting`: requests queued. */
  numRequestsWaiting: number | undefined;
  /** `vllm:kv_cache_usage_perc` (older: `vllm:gpu_cache_usage_perc`), 0..1, averaged over engines. */
  kvCacheUsagePerc: number | undefined;
  /** `vllm:prompt_tokens_total`. */
  promptTokensTotal: number | undefined;
  /** `vllm:generation_tokens_total`. */
  generationTokensTotal: number | undefined;
  /** `vllm:num_preemptions_total`. */
  numPreemptionsTotal: number | undefined;
  /** `vllm:prefix_cache_queries_total` (older: `vllm:gpu_prefix_cache_queries_total`), in tokens. */
  prefixCacheQueriesTotal: number | undefined;
  /** `vllm:prefix_cache_hits_total` (older: `vllm:gpu_prefix_cache_hits_total`), in tokens. */
  prefixCacheHitsTotal: number | undefined;
  /** hits / queries since start; undefined without queries. */
  prefixCacheHitRate: number | undefined;
  /** `vllm:request_success_total` by `finished_reason`. */
  requestSuccessTotal: { stop: number; length: number; abort: number } | undefined;
  /** `vllm:time_to_first_token_seconds`. */
  timeToFirstTokenSeconds: HistogramSummary | undefined;
  /** `vllm:e2e_request_latency_seconds`. */
  e2eRequestLatencySeconds: HistogramSummary | undefined;
  /** `vllm:inter_token_latency_seconds` (older: `vllm:time_per_output_token_seconds`). */
  interTokenLatencySeconds: HistogramSummary | undefined;
  /** `vllm:request_queue_time_seconds`. */
  requestQueueTimeSeconds: HistogramSummary | undefined;
  /** Values of the `model_name` label seen. */
  models: string[];
}

function first(samples: readonly PrometheusSample[], names: readonly string[]): number | undefined {
  for (const name of names) {
    const value = sumSamples(samples, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

function histogram(samples: readonly PrometheusSample[], names: readonly string[]): HistogramSummary | undefined {
  for (const name of names) {
    const count = sumSamples(samples, `${name}_count`);
    const sum = sumSamples(samples, `${name}_sum`);
    if (count !== undefined && sum !== undefined) return { count, sum };
  }
  return undefined;
}

/** Reads vLLM's series from Prometheus text (what `GET /metrics` returns). */
export function parseVllmMetrics(text: string): VllmMetricsSnapshot {
  const samples = parsePrometheusText(text).filter((sample) => sample.name.startsWith('vllm:'));
  const kvNames = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'];
  let kvCacheUsagePerc: number | undefined;
  for (const name of kvNames) {
    const values = samples.filter((sample) => sample.name === name).map((sample) => sample.value);
    if (values.length > 0) {
      kvCacheUsagePerc = values.reduce((a, b) => a + b, 0) / values.length;
      break;
    }
  }
  const prefixCacheQueriesTotal = first(samples, ['vllm:prefix_cache_queries_total', 'vllm:gpu_prefix_cache_queries_total']);
  const prefixCacheHitsTotal = first(samples, ['vllm:prefix_cache_hits_total', 'vllm:gpu_prefix_cache_hits_total']);
  const success = (reason: string) => sumSamples(samples, 'vllm:request_success_total', { finished_reason: reason });
  const stop = success('stop');
  const length = success('length');
  const abort = success('abort');
  return {
    numRequestsRunning: first(samples, ['vllm:num_requests_running']),
    numRequestsWaiting: first(samples, ['vllm:num_requests_waiting']),
    kvCacheUsagePerc,
    promptTokensTotal: first(samples, ['vllm:prompt_tokens_total']),
    generationTokensTotal: first(samples, ['vllm:generation_tokens_total']),
    numPreemptionsTotal: first(samples, ['vllm:num_preemptions_total']),
    prefixCacheQueriesTotal,
    prefixCacheHitsTotal,
    prefixCacheHitRate:
      prefixCacheQueriesTotal && prefixCacheHitsTotal !== undefined ? prefixCacheHitsTotal / prefixCacheQueriesTotal : undefined,
    requestSuccessTotal:
      stop === undefined && length === undefined && abort === undefined ? undefined : { stop: stop ?? 0, length: length ?? 0, abort: abort ?? 0 },
    timeToFirstTokenSeconds: histogram(samples, ['vllm:time_to_first_token_seconds']),
    e2eRequestLatencySeconds: histogram(samples, ['vllm:e2e_request_latency_seconds']),
    interTokenLatencySeconds: histogram(samples, ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds']),
    requestQueueTimeSeconds: histogram(samples, ['vllm:request_queue_time_seconds']),
    models: [...new Set(samples.map((sample) => sample.labels.model_name).filter((name): name is string => name !== undefined))],
  };
}
