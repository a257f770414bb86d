import { ConfigInvalidError, type ConfigProblem } from '@muai/core';
import type { Severity } from './alert.js';
import { PAGE_BURN_WINDOWS, TICKET_BURN_WINDOWS, type DetectorSpec, type Direction } from './detectors.js';

/**
 * Series the detector understands, by name. Values are plain numbers sampled at each check; an
 * adapter fills them from wherever they come from (MuAI's performance monitor, a vLLM /metrics
 * scrape, your own code). A series without a value at a check is skipped for that check.
 */
export const SERIES = Object.freeze({
  latency_p50_ms: 'end-to-end request latency, p50 over the monitor window (ms)',
  latency_p99_ms: 'end-to-end request latency, p99 over the monitor window (ms)',
  ttft_p99_ms: 'time to first token, p99 (ms)',
  tpot_p99_ms: 'time per output token after the first, p99 (ms)',
  requests_per_second: 'finished requests per second',
  tokens_per_second: 'generated tokens per second',
  error_rate: 'errors / (requests − aborted), 0 to 1',
  queue_depth: 'requests waiting or in flight (MuAI: the highest over the monitor window)',
  kv_cache_usage: 'fraction of the KV cache budget in use, 0 to 1',
  engine_fallbacks_per_second: 'engine fallbacks per second',
  vllm_num_requests_waiting: 'vLLM: requests waiting (vllm:num_requests_waiting)',
  vllm_num_requests_running: 'vLLM: requests running (vllm:num_requests_running)',
  vllm_kv_cache_usage: 'vLLM: KV cache usage, 0 to 1 (vllm:kv_cache_usage_perc, older gpu_cache_usage_perc)',
  vllm_preemptions_per_second: 'vLLM: preemptions per second (rate of vllm:num_preemptions_total)',
  vllm_ttft_mean_ms: 'vLLM: mean time to first token since the previous scrape (ms)',
  vllm_itl_mean_ms: 'vLLM: mean inter-token latency since the previous scrape (ms)',
} as const);

export type SeriesName = keyof typeof SERIES;

/** Values of series at one check, by series name. */
export type SeriesValues = Readonly<Record<string, number | null | undefined>>;

/** A detection rule: which series, which detector, how long it must hold, how loud. */
export interface AnomalyRule {
  /** Alert name (`alertname` label); unique among the rules. */
  readonly name: string;
  readonly series: string;
  readonly detector: DetectorSpec;
  /** The condition must hold this long before the alert fires, ms. Default 0. */
  readonly forMs?: number;
  /** Default `warning`. */
  readonly severity?: Severity;
  /** One-line summary annotation. */
  readonly summary?: string;
  /** Extra labels on the alert. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface BuiltinRuleOptions {
  /** Time between checks, ms; every built-in window and `for` is a number of checks. Default 10 000. */
  checkIntervalMs?: number;
  /** Error budget of the burn-rate rules, 1 − objective. Default 0.01 (a 99% success SLO). */
  errorBudget?: number;
  /** Queue depth that counts as a backlog. Default 32. */
  queueDepthLimit?: number;
  /**
   * The latency baselines (p99 latency, TTFT, TPOT) alarm only this many ms or more over their
   * median, whatever the ratio: a p99 TTFT that goes from 0.03 to 0.08 ms (a cached prompt, a
   * garbage-collection pause) is twice its baseline and nothing a user notices. Default 10.
   */
  baselineFloorMs?: number;
}

/**
 * The rules used when the config lists none. Windows and `for` durations are counts of checks, so
 * at the default 10 s interval `for` is 30 s, the baselines span 10 min, and the burn-rate windows
 * are the SRE Workbook's (1h/5m at 14.4×, 6h/30m at 6×, 3d/6h at 1×); a shorter interval shrinks
 * all of them together (tests run at 100 ms).
 */
export function builtinRules(options: BuiltinRuleOptions = {}): AnomalyRule[] {
  const check = options.checkIntervalMs ?? 10_000;
  const budget = options.errorBudget ?? 0.01;
  // 1h of wall time at the default interval is 360 checks; scale keeps that ratio.
  const scale = check / 10_000;
  const baseline = (series: SeriesName, name: string, what: string): AnomalyRule => ({
    name,
    series,
    // Robust band over the last 60 normal checks: alarm when p99 is over twice its median, 6 scaled
    // MADs and at least `baselineFloorMs` over it, so steady jitter never pages.
    detector: { kind: 'mad', k: 6, window: 60, minSamples: 10, margin: 1, minWidth: options.baselineFloorMs ?? 10, direction: 'above' },
    forMs: 3 * check,
    severity: 'warning',
    summary: `${what} is more than twice its recent baseline`,
  });
  return [
    baseline('latency_p99_ms', 'MuaiLatencyP99High', 'p99 request latency'),
    baseline('ttft_p99_ms', 'MuaiTtftP99High', 'p99 time to first token'),
    baseline('tpot_p99_ms', 'MuaiTpotP99High', 'p99 time per output token'),
    {
      name: 'MuaiErrorBudgetBurnFast',
      series: 'error_rate',
      detector: { kind: 'burn_rate', budget, windows: PAGE_BURN_WINDOWS, scale },
      severity: 'critical',
      summary: `errors burn the ${budget} error budget fast (1h/5m over 14.4x or 6h/30m over 6x)`,
    },
    {
      name: 'MuaiErrorBudgetBurnSlow',
      series: 'error_rate',
      detector: { kind: 'burn_rate', budget, windows: TICKET_BURN_WINDOWS, scale },
      severity: 'warning',
      summary: `errors burn the ${budget} error budget (3d/6h over 1x)`,
    },
    {
      name: 'MuaiQueueBacklog',
      series: 'queue_depth',
      detector: { kind: 'threshold', limit: options.queueDepthLimit ?? 32 },
      forMs: 3 * check,
      severity: 'warning',
      summary: `more than ${options.queueDepthLimit ?? 32} requests queued`,
    },
    {
      name: 'MuaiKvCacheNearlyFull',
      series: 'kv_cache_usage',
      detector: { kind: 'threshold', limit: 0.95 },
      forMs: 5 * check,
      severity: 'warning',
      summary: 'KV cache usage over 95%',
    },
    {
      name: 'MuaiEngineFallbacks',
      series: 'engine_fallbacks_per_second',
      detector: { kind: 'threshold', limit: 0 },
      forMs: 3 * check,
      severity: 'warning',
      summary: 'requests are falling back to another engine',
    },
    {
      name: 'VllmQueueBacklog',
      series: 'vllm_num_requests_waiting',
      detector: { kind: 'threshold', limit: 50 },
      forMs: 3 * check,
      severity: 'warning',
      summary: 'more than 50 requests waiting in vLLM',
    },
    {
      name: 'VllmKvCacheNearlyFull',
      series: 'vllm_kv_cache_usage',
      detector: { kind: 'threshold', limit: 0.95 },
      forMs: 5 * check,
      severity: 'warning',
      summary: 'vLLM KV cache usage over 95%',
    },
    {
      name: 'VllmPreemptions',
      series: 'vllm_preemptions_per_second',
      detector: { kind: 'threshold', limit: 1 },
      forMs: 3 * check,
      severity: 'warning',
      summary: 'vLLM preempts more than one request per second',
    },
  ];
}

/** One rule as `monitoring.anomaly.rules[]` writes it (a @muai/config AnomalyRule fits). */
export interface AnomalyRuleConfig {
  readonly name: string;
  readonly metric: string;
  readonly detector?: 'threshold' | 'zscore' | 'ewma' | 'cusum' | 'mad' | 'burn_rate';
  /** Limit (threshold), deviations (zscore, ewma, mad), decision interval in σ (cusum), error budget (burn_rate). */
  readonly threshold: number;
  readonly direction?: Direction;
  /** Baseline window (zscore, ewma, cusum, mad) or the burn rate's long page window (3600 = the classic table), s. */
  readonly window_s?: number;
  readonly for_s?: number;
  readonly severity?: Severity;
}

/** One target as `monitoring.anomaly.targets[]` writes it. */
export type AlertTargetConfig =
  | { readonly type: 'log' }
  | { readonly type: 'webhook'; readonly url: string; readonly format?: 'json' | 'alertmanager'; readonly headers?: Readonly<Record<string, string>> }
  | { readonly type: 'slack'; readonly url: string }
  | { readonly type: 'alertmanager'; readonly url: string; readonly resend_interval_ms?: number };

/** `monitoring.anomaly` (a @muai/config AnomalyConfig fits). */
export interface AnomalyConfigInput {
  readonly enabled?: boolean;
  readonly check_interval_ms?: number;
  readonly cooldown_ms?: number;
  readonly rules?: readonly AnomalyRuleConfig[];
  readonly targets?: readonly AlertTargetConfig[];
}

const DETECTORS = ['threshold', 'zscore', 'ewma', 'cusum', 'mad', 'burn_rate'] as const;
const SEVERITIES = ['info', 'warning', 'critical'] as const;

function httpUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string') return 'an http(s) URL';
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? undefined : 'an http(s) URL';
  } catch {
    return 'an http(s) URL';
  }
}

/**
 * Checks `monitoring.anomaly` beyond what a schema can: rule series that exist, windows that are
 * positive and at least one check long, unique names, target URLs. Returns every problem found
 * (empty when valid). `knownSeries` adds series of your own to the built-in SERIES.
 */
export function validateAnomalyConfig(config: AnomalyConfigInput, options: { knownSeries?: readonly string[]; path?: string } = {}): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const root = options.path ?? 'monitoring.anomaly';
  const known = new Set<string>([...Object.keys(SERIES), ...(options.knownSeries ?? [])]);
  const check = config.check_interval_ms ?? 10_000;
  if (!(typeof check === 'number' && check > 0)) problems.push({ path: `${root}.check_interval_ms`, value: check, expected: 'a positive number of milliseconds' });
  if (config.cooldown_ms !== undefined && !(config.cooldown_ms >= 0)) problems.push({ path: `${root}.cooldown_ms`, value: config.cooldown_ms, expected: 'zero or more milliseconds' });
  const names = new Set<string>();
  (config.rules ?? []).forEach((rule, index) => {
    const path = `${root}.rules[${index}]`;
    if (typeof rule.name !== 'string' || rule.name === '') problems.push({ path: `${path}.name`, value: rule.name, expected: 'a non-empty name' });
    else if (names.has(rule.name)) problems.push({ path: `${path}.name`, value: rule.name, expected: 'a name no other rule uses' });
    else names.add(rule.name);
    if (!known.has(rule.metric)) {
      problems.push({ path: `${path}.metric`, value: rule.metric, expected: `a known series: ${[...known].join(', ')}` });
    }
    const detector = rule.detector ?? 'threshold';
    if (!DETECTORS.includes(detector)) problems.push({ path: `${path}.detector`, value: detector, expected: DETECTORS.join(' | ') });
    if (typeof rule.threshold !== 'number' || !Number.isFinite(rule.threshold)) problems.push({ path: `${path}.threshold`, value: rule.threshold, expected: 'a number' });
    else if (detector === 'burn_rate' && !(rule.threshold > 0 && rule.threshold < 1)) {
      problems.push({ path: `${path}.threshold`, value: rule.threshold, expected: 'the error budget, between 0 and 1 (0.001 for a 99.9% SLO)' });
    } else if (detector !== 'threshold' && !(rule.threshold > 0)) {
      problems.push({ path: `${path}.threshold`, value: rule.threshold, expected: `a positive number of deviations for ${detector}` });
    }
    const window = rule.window_s ?? 300;
    if (!(typeof window === 'number' && window > 0)) problems.push({ path: `${path}.window_s`, value: window, expected: 'a positive number of seconds' });
    else if (detector !== 'threshold' && detector !== 'burn_rate' && window * 1000 < 3 * check) {
      problems.push({ path: `${path}.window_s`, value: window, expected: `at least three checks long (${(3 * check) / 1000} s at check_interval_ms ${check})` });
    }
    if (rule.for_s !== undefined && !(rule.for_s >= 0)) problems.push({ path: `${path}.for_s`, value: rule.for_s, expected: 'zero or more seconds' });
    if (rule.severity !== undefined && !SEVERITIES.includes(rule.severity)) problems.push({ path: `${path}.severity`, value: rule.severity, expected: SEVERITIES.join(' | ') });
  });
  (config.targets ?? []).forEach((target, index) => {
    const path = `${root}.targets[${index}]`;
    if (target.type === 'log') return;
    if (target.type !== 'webhook' && target.type !== 'slack' && target.type !== 'alertmanager') {
      problems.push({ path: `${path}.type`, value: (target as { type: unknown }).type, expected: 'log | webhook | slack | alertmanager' });
      return;
    }
    const expected = httpUrlProblem(target.url);
    if (expected) problems.push({ path: `${path}.url`, value: target.url, expected });
    if (target.type === 'alertmanager' && target.resend_interval_ms !== undefined && !(target.resend_interval_ms > 0)) {
      problems.push({ path: `${path}.resend_interval_ms`, value: target.resend_interval_ms, expected: 'a positive number of milliseconds' });
    }
  });
  return problems;
}

/** Throws CONFIG_INVALID (ConfigInvalidError) listing every problem, or returns. */
export function assertValidAnomalyConfig(config: AnomalyConfigInput, options: { knownSeries?: readonly string[] } = {}): void {
  const problems = validateAnomalyConfig(config, options);
  if (problems.length > 0) throw new ConfigInvalidError(problems);
}

/** Turns configured rules into AnomalyRules (validate first); none configured → the built-in rules. */
export function rulesFromConfig(config: AnomalyConfigInput): AnomalyRule[] {
  const check = config.check_interval_ms ?? 10_000;
  if (!config.rules || config.rules.length === 0) return builtinRules({ checkIntervalMs: check });
  return config.rules.map((rule): AnomalyRule => {
    const direction = rule.direction ?? 'above';
    const samples = Math.max(3, Math.round(((rule.window_s ?? 300) * 1000) / check));
    const detector: DetectorSpec = (() => {
      switch (rule.detector ?? 'threshold') {
        case 'threshold':
          return { kind: 'threshold', limit: rule.threshold, direction };
        case 'zscore':
          return { kind: 'zscore', k: rule.threshold, window: samples, direction };
        case 'ewma':
          return { kind: 'ewma', k: rule.threshold, warmup: Math.min(samples, 30), adapt: 1 / samples, direction };
        case 'cusum':
          return { kind: 'cusum', h: rule.threshold, warmup: Math.min(samples, 30), adapt: 1 / samples, direction };
        case 'mad':
          return { kind: 'mad', k: rule.threshold, window: samples, direction };
        case 'burn_rate':
          return { kind: 'burn_rate', budget: rule.threshold, windows: PAGE_BURN_WINDOWS, scale: (rule.window_s ?? 3600) / 3600 };
      }
    })();
    return {
      name: rule.name,
      series: rule.metric,
      detector,
      forMs: (rule.for_s ?? 0) * 1000,
      severity: rule.severity ?? 'warning',
      summary: `${rule.metric} anomalous (${rule.detector ?? 'threshold'} ${rule.threshold})`,
    };
  });
}
