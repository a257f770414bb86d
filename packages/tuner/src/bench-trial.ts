import { computeResult, runBenchmark } from '@muai/bench';
import type { BenchPrompt, BenchResult, BenchTarget, GoodputSlo, RunOptions } from '@muai/bench';
import type { TrialMeasure } from './search.js';

export interface BenchTrialOptions {
  target: BenchTarget;
  prompts: readonly BenchPrompt[];
  /** Requests per trial. */
  numPrompts: number;
  /** Arrival rate, requests/s; Infinity (default) sends as fast as `maxConcurrency` allows. */
  requestRate?: number;
  /** Most requests in flight (the load's concurrency, not the server's). Default: unbounded. */
  maxConcurrency?: number;
  /** Seed of the arrival process. Default 0. */
  seed?: number;
  /** SLOs a request must meet to count in goodput. */
  goodput?: GoodputSlo;
  /** Memory of the serving process after the run, MiB (e.g. this process's RSS for an embedded engine); absent: not checked. */
  memoryMb?: () => number | undefined;
  signal?: AbortSignal;
}

/** The parts of a @muai/bench result a search compares. */
export function measureOf(result: BenchResult, memoryMb?: number): TrialMeasure {
  const ttft = result['p99_ttft_ms'];
  return {
    requestThroughput: result.request_throughput,
    outputThroughput: result.output_throughput,
    goodput: result.request_goodput,
    p99LatencyMs: result['p99_e2el_ms'] ?? Number.POSITIVE_INFINITY,
    p99TtftMs: typeof ttft === 'number' && Number.isFinite(ttft) ? ttft : null,
    failed: result.failed,
    ...(memoryMb !== undefined ? { memoryMb } : {}),
  };
}

/** One trial's load: a @muai/bench run against `target`, reduced to the figures a search compares. */
export async function runBenchTrial(options: BenchTrialOptions): Promise<{ measure: TrialMeasure; result: BenchResult }> {
  const run: RunOptions = {
    target: options.target,
    prompts: options.prompts,
    numPrompts: options.numPrompts,
    requestRate: options.requestRate ?? Number.POSITIVE_INFINITY,
    seed: options.seed ?? 0,
    ...(options.maxConcurrency !== undefined ? { maxConcurrency: options.maxConcurrency } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const record = await runBenchmark(run);
  const result = computeResult(record, options.goodput ? { goodput: options.goodput } : {});
  return { measure: measureOf(result, options.memoryMb?.()), result };
}
