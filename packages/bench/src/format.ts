import type { BenchResult } from './metrics.js';
import { LATENCY_METRICS } from './metrics.js';
import type { BenchRequestRecord } from './run.js';

const TITLES = { ttft: 'Time to First Token', tpot: 'Time per Output Token (excl. 1st token)', itl: 'Inter-token Latency', e2el: 'End-to-end Latency' } as const;
const SHORT = { ttft: 'TTFT', tpot: 'TPOT', itl: 'ITL', e2el: 'E2EL' } as const;

function line(label: string, value: string | number): string {
  const text = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(2)) : value;
  return `${label.padEnd(40)}${text.padStart(10)}`;
}

function rule(title: string, fill: string): string {
  const side = Math.max(0, 50 - title.length - 2);
  return `${fill.repeat(side >> 1)} ${title} ${fill.repeat(side - (side >> 1))}`.trimEnd();
}

/** The result as `vllm bench serve` prints it ("Serving Benchmark Result"), plus MuAI's lines. */
export function formatResult(result: BenchResult): string {
  const config = result.configuration;
  const lines = [
    rule('Serving Benchmark Result', '='),
    line('Successful requests:', result.completed),
    line('Failed requests:', result.failed),
    line('Cancelled requests:', result.cancelled),
  ];
  if (typeof config['max_concurrency'] === 'number') lines.push(line('Maximum request concurrency:', config['max_concurrency']));
  if (config['request_rate'] !== undefined) lines.push(line('Request rate configured (RPS):', String(config['request_rate'])));
  lines.push(
    line('Benchmark duration (s):', result.duration),
    line('Total input tokens:', result.total_input_tokens),
    line('Total generated tokens:', result.total_output_tokens),
    line('Request throughput (req/s):', result.request_throughput),
  );
  if (result.request_goodput !== null) lines.push(line('Request goodput (req/s):', result.request_goodput));
  lines.push(
    line('Output token throughput (tok/s):', result.output_throughput),
    line('Peak output token throughput (tok/s):', result.max_output_tokens_per_s),
    line('Peak concurrent requests:', result.max_concurrent_requests),
    line('Total token throughput (tok/s):', result.total_token_throughput),
    line('Generator CPU per request (ms):', result.generator_cpu_ms_per_request),
  );
  const percentiles = Object.keys(result)
    .map((key) => /^p([\d.]+)_ttft_ms$/.exec(key)?.[1])
    .filter((p): p is string => p !== undefined)
    .sort((a, b) => Number(a) - Number(b));
  for (const metric of LATENCY_METRICS) {
    lines.push(rule(TITLES[metric], '-'));
    lines.push(line(`Mean ${SHORT[metric]} (ms):`, result[`mean_${metric}_ms`] ?? 0));
    lines.push(line(`Median ${SHORT[metric]} (ms):`, result[`median_${metric}_ms`] ?? 0));
    for (const p of percentiles) lines.push(line(`P${p} ${SHORT[metric]} (ms):`, result[`p${p}_${metric}_ms`] ?? 0));
  }
  const errors = Object.entries(result.errors);
  if (errors.length > 0) {
    lines.push(rule('Errors', '-'));
    for (const [reason, count] of errors.slice(0, 10)) lines.push(`${String(count).padStart(6)}  ${reason}`);
  }
  lines.push('='.repeat(50));
  return lines.join('\n');
}

function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Per-request CSV: one row per request; `itls_ms` is the gaps joined with `;`. */
export function requestsCsv(requests: readonly BenchRequestRecord[]): string {
  const header = ['index', 'status', 'scheduled_ms', 'start_ms', 'ttft_ms', 'tpot_ms', 'e2el_ms', 'prompt_tokens', 'output_tokens', 'usage_from_server', 'http_status', 'error', 'itls_ms'];
  const rows = [header.join(',')];
  for (const record of requests) {
    const tpot = record.ttftMs !== undefined && record.outputTokens > 1 ? (record.e2elMs - record.ttftMs) / (record.outputTokens - 1) : undefined;
    rows.push(
      [
        record.index,
        record.status,
        record.scheduledMs.toFixed(3),
        record.startMs.toFixed(3),
        record.ttftMs?.toFixed(3),
        tpot?.toFixed(3),
        record.e2elMs.toFixed(3),
        record.promptTokens,
        record.outputTokens,
        record.usageFromServer,
        record.httpStatus,
        record.error,
        record.itlsMs.map((itl) => itl.toFixed(3)).join(';'),
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${rows.join('\n')}\n`;
}
