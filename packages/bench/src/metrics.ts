import { InvalidRequestError } from '@muai/core';
import type { BenchRequestRecord, RunRecord } from './run.js';
import { mean, percentileSorted, std } from './stats.js';

/** Service-level objectives for goodput, in ms (vLLM's and DistServe's --goodput ttft:MS tpot:MS e2el:MS). */
export interface GoodputSlo {
  ttft?: number;
  tpot?: number;
  e2el?: number;
}

/** Parses `["ttft:200", "tpot:50"]` (or one string with spaces) into SLOs. */
export function parseGoodput(values: readonly string[]): GoodputSlo {
  const slo: GoodputSlo = {};
  for (const item of values.flatMap((value) => value.split(/[\s,]+/)).filter((value) => value !== '')) {
    const [key, raw] = item.split(':');
    const value = Number(raw);
    if ((key !== 'ttft' && key !== 'tpot' && key !== 'e2el') || raw === undefined || !(value > 0)) {
      throw new InvalidRequestError(`--goodput takes KEY:MS with KEY ttft, tpot or e2el and MS > 0 (got "${item}").`);
    }
    slo[key] = value;
  }
  return slo;
}

export const LATENCY_METRICS = ['ttft', 'tpot', 'itl', 'e2el'] as const;
export type LatencyMetric = (typeof LATENCY_METRICS)[number];

/** Rates over the run in fixed buckets, for the report. */
export interface TimeSeries {
  /** Bucket width in seconds (0.1 s for runs under 10 s, 1 s under 200 s, then 1/200 of the run). */
  bucket_s: number;
  /** Start of each bucket, seconds from the first send. */
  second: number[];
  output_tokens_per_s: number[];
  requests_completed_per_s: number[];
  /** Requests in flight at the middle of each bucket. */
  concurrency: number[];
}

function bucketWidth(endMs: number): number {
  if (endMs < 10_000) return 0.1;
  if (endMs < 200_000) return 1;
  return Math.ceil(endMs / 1000 / 200);
}

/** Output tokens per bucket of `widthS`: tokens spread over the request's chunks (first at TTFT, then one per ITL). */
function tokenBuckets(requests: readonly BenchRequestRecord[], widthS: number, count: number): number[] {
  const buckets = new Array<number>(count).fill(0);
  const width = widthS * 1000;
  for (const record of requests) {
    if (record.ttftMs === undefined || record.status !== 'ok') continue;
    const perChunk = record.outputTokens / (record.itlsMs.length + 1);
    let t = record.startMs + record.ttftMs;
    buckets[Math.min(count - 1, Math.floor(t / width))]! += perChunk;
    for (const itl of record.itlsMs) {
      t += itl;
      buckets[Math.min(count - 1, Math.floor(t / width))]! += perChunk;
    }
  }
  return buckets;
}

function runEnd(requests: readonly BenchRequestRecord[]): number {
  let end = 0;
  for (const record of requests) end = Math.max(end, record.startMs + record.e2elMs);
  return end;
}

function timeSeries(requests: readonly BenchRequestRecord[]): TimeSeries {
  const end = runEnd(requests);
  const widthS = bucketWidth(end);
  const width = widthS * 1000;
  const count = Math.max(1, Math.ceil(end / width));
  const series: TimeSeries = {
    bucket_s: widthS,
    second: Array.from({ length: count }, (_, i) => Math.round(i * widthS * 1000) / 1000),
    output_tokens_per_s: tokenBuckets(requests, widthS, count).map((tokens) => tokens / widthS),
    requests_completed_per_s: new Array<number>(count).fill(0),
    concurrency: new Array<number>(count).fill(0),
  };
  for (const record of requests) {
    const stop = record.startMs + record.e2elMs;
    if (record.status === 'ok') series.requests_completed_per_s[Math.min(count - 1, Math.floor(stop / width))]! += 1 / widthS;
    const first = Math.max(0, Math.floor((record.startMs - width / 2) / width));
    for (let s = first; s < count; s++) {
      const middle = s * width + width / 2;
      if (middle >= stop) break;
      if (record.startMs <= middle) series.concurrency[s]! += 1;
    }
  }
  return series;
}

/**
 * A result with `vllm bench serve`'s key names where they exist (completed, failed,
 * total_input_tokens, ..., mean_/median_/std_/pNN_ + ttft_ms/tpot_ms/itl_ms/e2el_ms,
 * request_goodput), plus MuAI's additions (cancelled, goodput as an alias of request_goodput,
 * generator CPU, configuration, machine). Extra percentiles appear as `p25_ttft_ms`, ...
 */
export interface BenchResult {
  date: string;
  duration: number;
  completed: number;
  failed: number;
  cancelled: number;
  total_input_tokens: number;
  total_output_tokens: number;
  request_throughput: number;
  request_goodput: number | null;
  goodput: number | null;
  output_throughput: number;
  total_token_throughput: number;
  max_output_tokens_per_s: number;
  max_concurrent_requests: number;
  /** CPU the generator process used per request sent, ms (includes the engine for in-process targets). */
  generator_cpu_ms_per_request: number;
  /** Generator CPU over the run's wall time, in % of one core. */
  generator_cpu_percent: number;
  /** Failure reasons with their counts. */
  errors: Record<string, number>;
  interrupted: boolean;
  [metric: `${string}_ms`]: number;
  configuration: Record<string, unknown>;
  machine: Record<string, string | number>;
  time_series: TimeSeries;
  /** vLLM also puts these at the top level: copied from `configuration` when it has them. */
  model_id?: unknown;
  num_prompts?: unknown;
  request_rate?: unknown;
  burstiness?: unknown;
  max_concurrency?: unknown;
  /** Per-request data: only in saved results (--save-results), not in --json. */
  requests?: BenchRequestRecord[];
}

function percentileKey(p: number): string {
  return `p${Number.isInteger(p) ? String(p) : String(p).replace(/0+$/, '')}`;
}

/** TPOT of one request as vLLM defines it: (E2EL − TTFT) / (output tokens − 1), when more than one token. */
export function requestTpot(record: BenchRequestRecord): number | undefined {
  if (record.ttftMs === undefined || record.outputTokens <= 1) return undefined;
  return (record.e2elMs - record.ttftMs) / (record.outputTokens - 1);
}

/** The latency samples of the completed requests, per metric. */
export function latencySamples(requests: readonly BenchRequestRecord[]): Record<LatencyMetric, number[]> {
  const samples: Record<LatencyMetric, number[]> = { ttft: [], tpot: [], itl: [], e2el: [] };
  for (const record of requests) {
    if (record.status !== 'ok') continue;
    if (record.ttftMs !== undefined) samples.ttft.push(record.ttftMs);
    const tpot = requestTpot(record);
    if (tpot !== undefined) samples.tpot.push(tpot);
    for (const itl of record.itlsMs) samples.itl.push(itl);
    samples.e2el.push(record.e2elMs);
  }
  return samples;
}

function maxConcurrent(requests: readonly BenchRequestRecord[]): number {
  const events: Array<[number, number]> = [];
  for (const record of requests) {
    events.push([record.startMs, 1], [record.startMs + record.e2elMs, -1]);
  }
  // Ends before starts at the same instant: a slot freed and reused is not two at once.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let peak = 0;
  for (const [, delta] of events) {
    current += delta;
    peak = Math.max(peak, current);
  }
  return peak;
}

export interface ComputeOptions {
  /** Percentiles reported besides median, p90 and p99 (vLLM's --metric-percentiles). */
  percentiles?: readonly number[];
  goodput?: GoodputSlo;
  configuration?: Record<string, unknown>;
  machine?: Record<string, string | number>;
  /** Keep the per-request data in the result. Default false. */
  includeRequests?: boolean;
}

/** Statistics of a run, with vLLM's names. */
export function computeResult(run: RunRecord, options: ComputeOptions = {}): BenchResult {
  const { requests } = run;
  const ok = requests.filter((record) => record.status === 'ok');
  const duration = run.durationS > 0 ? run.durationS : Number.EPSILON;
  let totalInput = 0;
  let totalOutput = 0;
  for (const record of ok) {
    totalInput += record.promptTokens;
    totalOutput += record.outputTokens;
  }
  const errors: Record<string, number> = {};
  for (const record of requests) {
    if (record.status === 'error') {
      const key = record.error ?? 'error';
      errors[key] = (errors[key] ?? 0) + 1;
    }
  }
  const series = timeSeries(requests);
  const result: BenchResult = {
    date: run.date,
    duration: run.durationS,
    completed: ok.length,
    failed: requests.filter((record) => record.status === 'error').length,
    cancelled: requests.filter((record) => record.status === 'cancelled').length,
    total_input_tokens: totalInput,
    total_output_tokens: totalOutput,
    request_throughput: ok.length / duration,
    request_goodput: null,
    goodput: null,
    output_throughput: totalOutput / duration,
    total_token_throughput: (totalInput + totalOutput) / duration,
    // vLLM's peak: the busiest whole second.
    max_output_tokens_per_s: Math.max(0, ...tokenBuckets(requests, 1, Math.max(1, Math.ceil(runEnd(requests) / 1000)))),
    max_concurrent_requests: maxConcurrent(requests),
    generator_cpu_ms_per_request: requests.length > 0 ? run.cpuMs / requests.length : 0,
    generator_cpu_percent: (run.cpuMs / 1000 / duration) * 100,
    errors,
    interrupted: run.interrupted,
    configuration: options.configuration ?? {},
    machine: options.machine ?? {},
    time_series: series,
  };
  const samples = latencySamples(requests);
  const extra = [...new Set([90, 99, ...(options.percentiles ?? [])])].sort((a, b) => a - b);
  for (const metric of LATENCY_METRICS) {
    const sorted = [...samples[metric]].sort((a, b) => a - b);
    result[`mean_${metric}_ms`] = mean(sorted);
    result[`median_${metric}_ms`] = percentileSorted(sorted, 50);
    result[`std_${metric}_ms`] = std(sorted);
    for (const p of extra) result[`${percentileKey(p)}_${metric}_ms`] = percentileSorted(sorted, p);
  }
  const slo = options.goodput;
  if (slo && Object.keys(slo).length > 0) {
    let good = 0;
    for (const record of ok) {
      // vLLM counts TPOT as 0 for single-token outputs.
      const tpot = requestTpot(record) ?? 0;
      if (slo.ttft !== undefined && !(record.ttftMs !== undefined && record.ttftMs <= slo.ttft)) continue;
      if (slo.tpot !== undefined && tpot > slo.tpot) continue;
      if (slo.e2el !== undefined && record.e2elMs > slo.e2el) continue;
      good++;
    }
    result.request_goodput = good / duration;
    result.goodput = result.request_goodput;
  }
  for (const key of ['model_id', 'num_prompts', 'request_rate', 'burstiness', 'max_concurrency'] as const) {
    if (result.configuration[key] !== undefined) result[key] = result.configuration[key];
  }
  if (options.includeRequests) result.requests = requests;
  return result;
}
