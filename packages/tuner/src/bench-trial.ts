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
  /**
   * Repeat the load until it is stable, as perf_analyzer does: runs of `numPrompts` requests until
   * the last `windows` runs' request throughputs are within `tolerance` of each other (max/min − 1),
   * or `maxRuns` runs; the measure is the mean of those last runs. A new input shape (a batch size,
   * a prompt length) is slow the first time a session meets it, so the first run of a new setting
   * reads low; a single run would be judged on that. Default: one run, no check.
   */
  stability?: TrialStability;
  /**
   * Runs made first and not measured. A warm session is still slow the first time it meets a new
   * input shape (a larger batch: measured, the first run after a change of batch size read 8 %
   * under the next ones), and a trial that changes the batch size would be judged on that. Default 0.
   */
  warmUpRuns?: number;
}

export interface TrialStability {
  /** Runs that must agree. Default 3. */
  windows?: number;
  /** Most (max/min − 1) among them. Default 0.1 (perf_analyzer's --stability-percentage 10). */
  tolerance?: number;
  /** Give up after this many runs and use the last `windows`. Default 2 × windows. */
  maxRuns?: number;
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

/** Mean of each figure over the runs (latencies too: perf_analyzer averages its stable windows). */
function meanMeasure(measures: readonly TrialMeasure[]): TrialMeasure {
  const mean = (pick: (measure: TrialMeasure) => number): number => measures.reduce((sum, measure) => sum + pick(measure), 0) / measures.length;
  const goodputs = measures.map((measure) => measure.goodput);
  const ttfts = measures.map((measure) => measure.p99TtftMs);
  const memory = measures.map((measure) => measure.memoryMb).filter((value): value is number => value !== undefined);
  return {
    requestThroughput: mean((measure) => measure.requestThroughput),
    outputThroughput: mean((measure) => measure.outputThroughput),
    goodput: goodputs.every((value) => value !== null) ? mean((measure) => measure.goodput!) : null,
    p99LatencyMs: mean((measure) => measure.p99LatencyMs),
    p99TtftMs: ttfts.every((value) => value !== null) ? mean((measure) => measure.p99TtftMs!) : null,
    failed: measures.reduce((sum, measure) => sum + measure.failed, 0),
    ...(memory.length > 0 ? { memoryMb: Math.max(...memory) } : {}),
  };
}

/**
 * One trial's load: a @muai/bench run against `target`, reduced to the figures a search compares;
 * with `stability`, runs repeated until stable (`runs` tells how many were measured, warm-ups not
 * counted; `result` is the last).
 */
export async function runBenchTrial(options: BenchTrialOptions): Promise<{ measure: TrialMeasure; result: BenchResult; runs: number }> {
  const run: RunOptions = {
    target: options.target,
    prompts: options.prompts,
    numPrompts: options.numPrompts,
    requestRate: options.requestRate ?? Number.POSITIVE_INFINITY,
    seed: options.seed ?? 0,
    ...(options.maxConcurrency !== undefined ? { maxConcurrency: options.maxConcurrency } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const windows = options.stability ? Math.max(1, options.stability.windows ?? 3) : 1;
  const tolerance = options.stability?.tolerance ?? 0.1;
  const maxRuns = options.stability ? Math.max(windows, options.stability.maxRuns ?? 2 * windows) : 1;
  for (let warm = 0; warm < (options.warmUpRuns ?? 0); warm++) await runBenchmark(run);
  const measures: TrialMeasure[] = [];
  let result: BenchResult | undefined;
  while (measures.length < maxRuns) {
    const record = await runBenchmark(run);
    result = computeResult(record, options.goodput ? { goodput: options.goodput } : {});
    measures.push(measureOf(result, options.memoryMb?.()));
    if (measures.length < windows) continue;
    const rates = measures.slice(-windows).map((measure) => measure.requestThroughput);
    if (Math.max(...rates) <= (1 + tolerance) * Math.min(...rates)) break;
  }
  return { measure: meanMeasure(measures.slice(-windows)), result: result!, runs: measures.length };
}
