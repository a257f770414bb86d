import type { BurnRateOptions } from './detectors.js';
import { builtinRules, type AnomalyRule, type BuiltinRuleOptions } from './rules.js';

/** Prometheus duration for ms (`1h`, `30m`, `36s`, `250ms`). */
export function promDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.max(1, Math.round(ms))}ms`;
}

interface HistogramSeries {
  metric: string;
  record: string;
}

/** Histograms of MuAI's PrometheusExporter behind the baseline rules, by series. */
const HISTOGRAMS: Record<string, HistogramSeries> = {
  latency_p99_ms: { metric: 'request_duration_seconds', record: 'request_duration_seconds' },
  ttft_p99_ms: { metric: 'time_to_first_token_seconds', record: 'time_to_first_token_seconds' },
  tpot_p99_ms: { metric: 'time_per_output_token_seconds', record: 'time_per_output_token_seconds' },
};

function quote(text: string): string {
  return JSON.stringify(text);
}

export interface PrometheusRulesOptions extends BuiltinRuleOptions {
  /** Metric name prefix of the exporter. Default `muai_`. */
  prefix?: string;
  /** Rule evaluation interval of the groups. Default: the check interval. */
  evaluationInterval?: string;
}

/**
 * Prometheus alerting (and recording) rules equivalent to the built-in rules, over the metric
 * names of @muai/monitoring's PrometheusExporter (`muai_request_duration_seconds`,
 * `muai_requests_total`, `muai_queue_depth`, `muai_kv_cache_usage_ratio`,
 * `muai_engine_fallbacks_total`) and vLLM's (`vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`,
 * `vllm:num_preemptions_total`). Same names, severities, thresholds, `for` durations and windows.
 * One difference: in process, anomalous samples are kept out of the latency baseline; Prometheus's
 * 10-minute median and MAD include them.
 */
export function prometheusRulesYaml(options: PrometheusRulesOptions = {}): string {
  const p = options.prefix ?? 'muai_';
  const check = options.checkIntervalMs ?? 10_000;
  const interval = options.evaluationInterval ?? promDuration(check);
  const rules = builtinRules(options);
  const recording: string[] = [];
  const alerts: string[] = [];
  const vllm: string[] = [];
  const seenRecords = new Set<string>();
  const record = (name: string, expr: string): void => {
    if (seenRecords.has(name)) return;
    seenRecords.add(name);
    recording.push(`      - record: ${name}\n        expr: ${quote(expr)}`);
  };
  const alert = (into: string[], rule: AnomalyRule, expr: string): void => {
    const lines = [`      - alert: ${rule.name}`, `        expr: ${quote(expr)}`];
    if ((rule.forMs ?? 0) > 0) lines.push(`        for: ${promDuration(rule.forMs ?? 0)}`);
    lines.push('        labels:', `          severity: ${rule.severity ?? 'warning'}`, `          series: ${rule.series}`);
    lines.push('        annotations:', `          summary: ${quote(rule.summary ?? rule.name)}`, `          value: ${quote('{{ $value }}')}`);
    into.push(lines.join('\n'));
  };
  const errorRatio = (window: string): string => {
    const name = `${p.replace(/_$/, '')}:request_error_ratio:rate${window}`;
    record(name, `sum(rate(${p}requests_total{status="error"}[${window}])) / sum(rate(${p}requests_total{status!="aborted"}[${window}]))`);
    return name;
  };
  for (const rule of rules) {
    const spec = rule.detector;
    const histogram = HISTOGRAMS[rule.series];
    if (histogram && spec.kind === 'mad') {
      // The in-process band spans `window` checks; the quantile is over a window of 30 checks.
      const rateWindow = promDuration(30 * check);
      const baseWindow = promDuration((spec.window ?? 60) * check);
      const base = `${p.replace(/_$/, '')}:${histogram.record}:p99_${rateWindow}`;
      record(base, `histogram_quantile(0.99, sum by (le) (rate(${p}${histogram.metric}_bucket[${rateWindow}])))`);
      record(`${base}:median_${baseWindow}`, `quantile_over_time(0.5, ${base}[${baseWindow}])`);
      record(`${base}:mad_${baseWindow}`, `1.4826 * quantile_over_time(0.5, (abs(${base} - ${base}:median_${baseWindow}))[${baseWindow}:${interval}])`);
      const median = `${base}:median_${baseWindow}`;
      // minWidth is in ms; the histograms are in seconds.
      const floor = (spec.minWidth ?? 0) > 0 ? ` and ${base} > ${median} + ${(spec.minWidth ?? 0) / 1000}` : '';
      alert(alerts, rule, `${base} > (1 + ${spec.margin ?? 0}) * ${median} and ${base} > ${median} + ${spec.k ?? 3} * ${base}:mad_${baseWindow}${floor}`);
    } else if (spec.kind === 'burn_rate') {
      const burn = spec as BurnRateOptions;
      const scale = burn.scale ?? 1;
      const pairs = (burn.windows ?? []).map((window) => {
        const long = errorRatio(promDuration(window.longMs * scale));
        const short = errorRatio(promDuration(window.shortMs * scale));
        const limit = window.factor * burn.budget;
        return `(${long} > ${limit} and ${short} > ${limit})`;
      });
      // `or on()`: when several window pairs burn at once, the first one alone is the alert's sample.
      // A plain `or` keeps both (their __name__ differs), the alert drops __name__, and which sample
      // gives {{ $value }} then changed from one evaluation to the next (promtool test saw both).
      alert(alerts, rule, pairs.join(' or on() '));
    } else if (spec.kind === 'threshold') {
      const limit = spec.limit;
      const metric: Record<string, [string[], string]> = {
        queue_depth: [alerts, `max(${p}queue_depth) > ${limit}`],
        kv_cache_usage: [alerts, `max(${p}kv_cache_usage_ratio) > ${limit}`],
        engine_fallbacks_per_second: [alerts, `sum(rate(${p}engine_fallbacks_total[${promDuration(30 * check)}])) > ${limit}`],
        vllm_num_requests_waiting: [vllm, `max(vllm:num_requests_waiting) > ${limit}`],
        vllm_kv_cache_usage: [vllm, `max(vllm:kv_cache_usage_perc) > ${limit}`],
        vllm_preemptions_per_second: [vllm, `sum(rate(vllm:num_preemptions_total[${promDuration(30 * check)}])) > ${limit}`],
      };
      const entry = metric[rule.series];
      if (entry) alert(entry[0], rule, entry[1]);
    }
  }
  const group = (name: string, body: string[]): string => `  - name: ${name}\n    interval: ${interval}\n    rules:\n${body.join('\n')}`;
  return [
    '# Prometheus rules equivalent to @muai/anomaly\'s built-in rules (generated by `muai alerts rules`).',
    `# Check interval ${promDuration(check)}; error budget ${options.errorBudget ?? 0.01}.`,
    'groups:',
    // One group, recording rules first: Prometheus evaluates the rules of a group in order but
    // separate groups concurrently, so alerts in a group of their own read the recording rules'
    // result of this or of the previous evaluation at random (promtool test saw both values).
    group('muai-anomaly', [...recording, ...alerts]),
    group('vllm-anomaly-alerts', vllm),
    '',
  ].join('\n');
}
