/**
 * Adapters that turn what MuAI already measures into the plain series values @muai/anomaly reads:
 * the performance monitor's snapshot, counters of the Prometheus exporter, and the Prometheus text
 * of remote vLLM servers. The anomaly package knows none of these sources; this app knows both.
 */
import type { SeriesValues } from '@muai/anomaly';
import type { PerformanceSnapshot } from '@muai/monitoring';

/** Series of @muai/anomaly's SERIES filled from one performance-monitor snapshot. */
export function seriesFromSnapshot(snapshot: PerformanceSnapshot): Record<string, number | undefined> {
  const values: Record<string, number | undefined> = {
    requests_per_second: snapshot.requestsPerSecond,
    tokens_per_second: snapshot.tokensPerSecond,
    // No finished request in the window says nothing about errors; 0 keeps the burn windows honest.
    error_rate: snapshot.errorRate,
    // The window's highest depth: the last sample flaps when a wave of requests completes at once.
    // With no sample in the window, the last one (0 once traffic has stopped).
    queue_depth: snapshot.queueDepth.max ?? snapshot.queueDepth.current ?? 0,
  };
  if (snapshot.latencyMs.p50 !== null) values.latency_p50_ms = snapshot.latencyMs.p50;
  if (snapshot.latencyMs.p99 !== null) values.latency_p99_ms = snapshot.latencyMs.p99;
  if (snapshot.ttftMs.p99 !== null) values.ttft_p99_ms = snapshot.ttftMs.p99;
  if (snapshot.tpotMs.p99 !== null) values.tpot_p99_ms = snapshot.tpotMs.p99;
  return values;
}

/** One sample of a Prometheus text exposition. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?\s*$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format (0.0.4): comments skipped, labels unescaped, NaN/±Inf kept. */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line.trim());
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? '').matchAll(LABEL_PAIR)) {
      labels[pair[1] as string] = (pair[2] as string).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const raw = match[4] as string;
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    samples.push({ name: match[1] as string, labels, value });
  }
  return samples;
}

function sum(samples: readonly PrometheusSample[], name: string): number | undefined {
  let total: number | undefined;
  for (const sample of samples) if (sample.name === name && Number.isFinite(sample.value)) total = (total ?? 0) + sample.value;
  return total;
}

function max(samples: readonly PrometheusSample[], name: string): number | undefined {
  let highest: number | undefined;
  for (const sample of samples) if (sample.name === name && Number.isFinite(sample.value) && (highest === undefined || sample.value > highest)) highest = sample.value;
  return highest;
}

/**
 * Turns successive scrapes of vLLM `/metrics` into series: gauges as they are (summed over label
 * sets; KV usage is the highest), counters as per-second rates and histograms as the mean since
 * the previous scrape. Names follow vLLM ≥ 0.8 (`vllm:kv_cache_usage_perc`, falling back to the
 * older `vllm:gpu_cache_usage_perc`; `vllm:inter_token_latency_seconds`, falling back to
 * `vllm:time_per_output_token_seconds`).
 */
export class VllmSeriesReader {
  private previous:
    | { atMs: number; preemptions: number | undefined; ttftSum: number | undefined; ttftCount: number | undefined; itlSum: number | undefined; itlCount: number | undefined }
    | undefined;

  read(text: string, atMs: number): Record<string, number | undefined> {
    const samples = parsePrometheusText(text);
    const values: Record<string, number | undefined> = {
      vllm_num_requests_waiting: sum(samples, 'vllm:num_requests_waiting'),
      vllm_num_requests_running: sum(samples, 'vllm:num_requests_running'),
      vllm_kv_cache_usage: max(samples, 'vllm:kv_cache_usage_perc') ?? max(samples, 'vllm:gpu_cache_usage_perc'),
    };
    const current = {
      atMs,
      preemptions: sum(samples, 'vllm:num_preemptions_total'),
      ttftSum: sum(samples, 'vllm:time_to_first_token_seconds_sum'),
      ttftCount: sum(samples, 'vllm:time_to_first_token_seconds_count'),
      itlSum: sum(samples, 'vllm:inter_token_latency_seconds_sum') ?? sum(samples, 'vllm:time_per_output_token_seconds_sum'),
      itlCount: sum(samples, 'vllm:inter_token_latency_seconds_count') ?? sum(samples, 'vllm:time_per_output_token_seconds_count'),
    };
    const before = this.previous;
    if (before && atMs > before.atMs) {
      const seconds = (atMs - before.atMs) / 1000;
      // A counter that went down means vLLM restarted: skip that interval instead of a negative rate.
      if (current.preemptions !== undefined && before.preemptions !== undefined && current.preemptions >= before.preemptions) {
        values.vllm_preemptions_per_second = (current.preemptions - before.preemptions) / seconds;
      }
      const meanMs = (sumNow?: number, sumBefore?: number, countNow?: number, countBefore?: number): number | undefined => {
        if (sumNow === undefined || sumBefore === undefined || countNow === undefined || countBefore === undefined) return undefined;
        const count = countNow - countBefore;
        return count > 0 && sumNow >= sumBefore ? ((sumNow - sumBefore) / count) * 1000 : undefined;
      };
      values.vllm_ttft_mean_ms = meanMs(current.ttftSum, before.ttftSum, current.ttftCount, before.ttftCount);
      values.vllm_itl_mean_ms = meanMs(current.itlSum, before.itlSum, current.itlCount, before.itlCount);
    }
    this.previous = current;
    return values;
  }
}

/** Reads engine fallbacks per second and KV usage from the exporter's own metrics text. */
export class ExporterSeriesReader {
  private previous: { atMs: number; fallbacks: number } | undefined;

  constructor(private readonly prefix = 'muai_') {}

  read(text: string, atMs: number): SeriesValues {
    const samples = parsePrometheusText(text);
    const fallbacks = sum(samples, `${this.prefix}engine_fallbacks_total`) ?? 0;
    const values: Record<string, number | undefined> = { kv_cache_usage: max(samples, `${this.prefix}kv_cache_usage_ratio`) };
    const before = this.previous;
    if (before && atMs > before.atMs && fallbacks >= before.fallbacks) values.engine_fallbacks_per_second = ((fallbacks - before.fallbacks) * 1000) / (atMs - before.atMs);
    this.previous = { atMs, fallbacks };
    return values;
  }
}
