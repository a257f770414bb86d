import { MuaiError } from '@muai/core';
import type { BenchResult } from './metrics.js';
import { LATENCY_METRICS, latencySamples } from './metrics.js';
import { bootstrapDifference, mean, median, percentile } from './stats.js';

/** One compared metric: B − A with a bootstrap interval when per-request data allow one. */
export interface MetricComparison {
  metric: string;
  a: number;
  b: number;
  /** B − A. */
  difference: number;
  /** (B − A) / A, in %. */
  relativePercent: number;
  /** 95% bootstrap interval of B − A; absent for run-level numbers (one value per run). */
  low?: number;
  high?: number;
  /** `lower`, `higher` (the interval excludes 0), `no clear difference`, or `no interval`. */
  verdict: 'lower' | 'higher' | 'no clear difference' | 'no interval';
}

export interface Comparison {
  metrics: MetricComparison[];
  /** Configuration keys whose values differ between A and B (dataset, rate, ...). */
  configurationDifferences: string[];
  /** One paragraph for humans. */
  summary: string;
}

const STATISTICS: Array<[string, (values: readonly number[]) => number]> = [
  ['mean', mean],
  ['median', median],
  ['p99', (values) => percentile(values, 99)],
];

/**
 * Compares two saved results (`--save-results`, which keep per-request data): for TTFT, TPOT,
 * ITL and E2EL the mean, median and p99 differences with 95% percentile-bootstrap intervals
 * (requests resampled within each run); throughputs as plain differences (one number per run).
 */
export function compareResults(a: BenchResult, b: BenchResult, options: { rounds?: number; seed?: number } = {}): Comparison {
  if (!a.requests || !b.requests) {
    throw new MuaiError('INVALID_REQUEST', 'compare needs per-request data: write both results with --save-results FILE.json (the --json line has no per-request data).');
  }
  const samplesA = latencySamples(a.requests);
  const samplesB = latencySamples(b.requests);
  const metrics: MetricComparison[] = [];
  for (const metric of LATENCY_METRICS) {
    const valuesA = samplesA[metric];
    const valuesB = samplesB[metric];
    if (valuesA.length === 0 || valuesB.length === 0) continue;
    for (const [name, statistic] of STATISTICS) {
      const interval = bootstrapDifference(valuesA, valuesB, statistic, { rounds: options.rounds ?? 1000, seed: options.seed ?? 1 });
      const aValue = statistic(valuesA);
      const bValue = statistic(valuesB);
      metrics.push({
        metric: `${name}_${metric}_ms`,
        a: aValue,
        b: bValue,
        difference: interval.estimate,
        relativePercent: aValue !== 0 ? (interval.estimate / aValue) * 100 : 0,
        low: interval.low,
        high: interval.high,
        verdict: interval.low > 0 ? 'higher' : interval.high < 0 ? 'lower' : 'no clear difference',
      });
    }
  }
  for (const key of ['request_throughput', 'output_throughput', 'total_token_throughput'] as const) {
    const difference = b[key] - a[key];
    metrics.push({ metric: key, a: a[key], b: b[key], difference, relativePercent: a[key] !== 0 ? (difference / a[key]) * 100 : 0, verdict: 'no interval' });
  }
  const configurationDifferences = [...new Set([...Object.keys(a.configuration), ...Object.keys(b.configuration)])].filter(
    (key) => JSON.stringify(a.configuration[key]) !== JSON.stringify(b.configuration[key]),
  );
  const clear = metrics.filter((item) => item.verdict === 'lower' || item.verdict === 'higher');
  const small = clear.filter((item) => Math.abs(item.relativePercent) < 5);
  const parts: string[] = [];
  if (clear.length === 0) parts.push('No latency difference stands out from the noise of these runs (every 95% interval includes 0).');
  else {
    parts.push(`${clear.length} latency statistic${clear.length === 1 ? '' : 's'} differ beyond request-to-request noise: ${clear.map((item) => `${item.metric} ${item.relativePercent >= 0 ? '+' : ''}${item.relativePercent.toFixed(1)}%`).join(', ')}.`);
    if (small.length > 0) parts.push(`Differences under 5% (${small.map((item) => item.metric).join(', ')}) are within what machine load and warm-up usually move between runs.`);
  }
  parts.push('The intervals resample requests within each run; they do not capture run-to-run variation, so repeat both runs (alternating A and B) before trusting a small difference. Throughputs have no interval: one number per run.');
  if (configurationDifferences.length > 0) parts.push(`The runs were configured differently (${configurationDifferences.join(', ')}): the difference is not only the system under test.`);
  if (a.failed + b.failed > 0) parts.push(`Failed requests: A ${a.failed}, B ${b.failed} (their latencies are excluded).`);
  return { metrics, configurationDifferences, summary: parts.join(' ') };
}

/** The comparison as a text table. */
export function formatComparison(comparison: Comparison): string {
  const lines = [`${'metric'.padEnd(26)}${'A'.padStart(12)}${'B'.padStart(12)}${'B-A'.padStart(12)}${'%'.padStart(9)}  ${'95% interval'.padEnd(24)}verdict`];
  for (const item of comparison.metrics) {
    const interval = item.low !== undefined && item.high !== undefined ? `[${item.low.toFixed(2)}, ${item.high.toFixed(2)}]` : '-';
    lines.push(
      `${item.metric.padEnd(26)}${item.a.toFixed(2).padStart(12)}${item.b.toFixed(2).padStart(12)}${item.difference.toFixed(2).padStart(12)}${item.relativePercent.toFixed(1).padStart(9)}  ${interval.padEnd(24)}${item.verdict}`,
    );
  }
  lines.push('', comparison.summary);
  return lines.join('\n');
}
