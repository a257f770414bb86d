import { InvalidRequestError } from '@muai/core';
import type { RunOptions, RunRecord } from './run.js';
import { runBenchmark } from './run.js';

/** A sweep: one run per value of max concurrency or request rate. */
export interface Sweep {
  parameter: 'concurrency' | 'rate';
  values: number[];
}

/** Parses `concurrency=1,2,4` or `rates=1,2,inf` (also `rate=`). */
export function parseSweep(text: string): Sweep {
  const match = /^(concurrency|rates?)=(.+)$/.exec(text.trim());
  const values = match?.[2]?.split(',').map((value) => (value.trim() === 'inf' ? Number.POSITIVE_INFINITY : Number(value)));
  if (!match || !values || values.some((value) => !(value > 0))) {
    throw new InvalidRequestError(`--sweep takes concurrency=N,N,... or rates=R,R,... with positive numbers (got "${text}").`);
  }
  if (match[1] === 'concurrency' && values.some((value) => !Number.isInteger(value))) {
    throw new InvalidRequestError(`--sweep concurrency values must be integers (got "${text}").`);
  }
  return { parameter: match[1] === 'concurrency' ? 'concurrency' : 'rate', values };
}

/** The run options of one sweep point. */
export function sweepPointOptions(base: RunOptions, sweep: Sweep, value: number): RunOptions {
  return sweep.parameter === 'concurrency' ? { ...base, maxConcurrency: value } : { ...base, requestRate: value };
}

/** Runs every point in order; stops early (keeping finished points) when the signal fires. */
export async function runSweep(base: RunOptions, sweep: Sweep, onPoint?: (value: number, run: RunRecord) => void): Promise<Array<{ value: number; run: RunRecord }>> {
  const points: Array<{ value: number; run: RunRecord }> = [];
  for (const value of sweep.values) {
    if (base.signal?.aborted) break;
    const run = await runBenchmark(sweepPointOptions(base, sweep, value));
    points.push({ value, run });
    onPoint?.(value, run);
  }
  return points;
}
