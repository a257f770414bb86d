import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MuaiError } from '@muai/core';
import { describe, expect, it } from 'vitest';
import { createAnomalyDetectorFromConfig } from './anomaly-detector.js';
import { fingerprintOf } from './alert.js';
import { prometheusRulesYaml, promDuration } from './prometheus-rules.js';
import { createDetector } from './detectors.js';
import { builtinRules, rulesFromConfig, validateAnomalyConfig } from './rules.js';

describe('config', () => {
  it('lists every problem at once: unknown series, negative window, bad URL, duplicate name', () => {
    const problems = validateAnomalyConfig({
      check_interval_ms: 1000,
      rules: [
        { name: 'a', metric: 'latency_p999_ms', threshold: 3 },
        { name: 'a', metric: 'error_rate', detector: 'ewma', threshold: 3, window_s: -5 },
      ],
      targets: [{ type: 'webhook', url: 'ftp://x' }, { type: 'log' }],
    });
    expect(problems.map((problem) => problem.path)).toEqual([
      'monitoring.anomaly.rules[0].metric',
      'monitoring.anomaly.rules[1].name',
      'monitoring.anomaly.rules[1].window_s',
      'monitoring.anomaly.targets[0].url',
    ]);
    expect(problems[0]?.expected).toContain('latency_p99_ms');
  });

  it('createAnomalyDetectorFromConfig throws CONFIG_INVALID naming each problem', () => {
    let error: unknown;
    try {
      createAnomalyDetectorFromConfig({ rules: [{ name: 'x', metric: 'nope', threshold: 1, window_s: -1 }] });
    } catch (caught) {
      error = caught;
    }
    expect(MuaiError.isInstance(error) && error.code).toBe('CONFIG_INVALID');
    expect((error as Error).message).toMatch(/2 problems[\s\S]*rules\[0\]\.metric[\s\S]*rules\[0\]\.window_s/);
  });

  it('no rules configured → the built-in rules, scaled by the check interval', () => {
    const rules = rulesFromConfig({ check_interval_ms: 100 });
    expect(rules.map((rule) => rule.name)).toEqual(builtinRules().map((rule) => rule.name));
    expect(rules.find((rule) => rule.name === 'MuaiQueueBacklog')?.forMs).toBe(300);
  });

  it('the built-in latency baselines ignore sub-millisecond jitter and still catch a rise of tens of ms', () => {
    const ttft = builtinRules({ checkIntervalMs: 100 }).find((rule) => rule.name === 'MuaiTtftP99High')!;
    const verdicts = (values: number[]) => {
      const detector = createDetector(ttft.detector);
      return values.map((value, index) => detector.step(value, index * 100).anomalous);
    };
    // A fake engine's p99 TTFT: 0.02-0.04 ms, then a garbage-collection pause reads 0.084 (the CI flake).
    const tiny = Array.from({ length: 30 }, (_, index) => 0.02 + (index % 3) * 0.01);
    expect(verdicts([...tiny, 0.084, 0.5, 5])).toEqual([...tiny.map(() => false), false, false, false]);
    // 100 ms with a few ms of jitter, then 250 ms: past twice the median, 6 MADs and the 10 ms floor.
    const steady = Array.from({ length: 30 }, (_, index) => 100 + (index % 5));
    expect(verdicts([...steady, 250]).at(-1)).toBe(true);
    expect(verdicts([...steady, 150]).at(-1)).toBe(false);
    expect(builtinRules({ baselineFloorMs: 1 }).find((rule) => rule.name === 'MuaiTtftP99High')!.detector).toMatchObject({ minWidth: 1 });
  });

  it('maps each configured detector', () => {
    const rules = rulesFromConfig({
      check_interval_ms: 1000,
      rules: [
        { name: 'b', metric: 'error_rate', detector: 'burn_rate', threshold: 0.001, window_s: 36 },
        { name: 'c', metric: 'queue_depth', detector: 'cusum', threshold: 5, window_s: 60, for_s: 2, severity: 'critical' },
      ],
    });
    expect(rules[0]?.detector).toMatchObject({ kind: 'burn_rate', budget: 0.001, scale: 0.01 });
    expect(rules[1]).toMatchObject({ forMs: 2000, severity: 'critical', detector: { kind: 'cusum', h: 5, adapt: 1 / 60 } });
  });

  it('fingerprints are stable across label order and differ with any label', () => {
    expect(fingerprintOf({ a: '1', b: '2' })).toBe(fingerprintOf({ b: '2', a: '1' }));
    expect(fingerprintOf({ a: '1', b: '2' })).not.toBe(fingerprintOf({ a: '1', b: '3' }));
    expect(fingerprintOf({ ab: '' })).not.toBe(fingerprintOf({ a: 'b' }));
  });
});

describe('prometheusRulesYaml', () => {
  it('formats durations as Prometheus does', () => {
    expect(promDuration(3_600_000)).toBe('1h');
    expect(promDuration(259_200_000)).toBe('3d');
    expect(promDuration(36_000)).toBe('36s');
    expect(promDuration(250)).toBe('250ms');
  });

  it('promtool check rules accepts the built-in rules, and promtool test rules passes', () => {
    // Debian's prometheus package; a missing binary fails the test, it never skips.
    expect(spawnSync('promtool', ['--version']).error, 'promtool is not installed: apt-get install prometheus').toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'muai-rules-'));
    try {
      writeFileSync(join(dir, 'rules.yml'), prometheusRulesYaml());
      const check = execFileSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
      expect(check).toMatch(/SUCCESS: \d+ rules found/);
      writeFileSync(join(dir, 'tests.yml'), PROMTOOL_TESTS);
      const test = execFileSync('promtool', ['test', 'rules', join(dir, 'tests.yml')], { encoding: 'utf8', cwd: dir });
      expect(test).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Unit tests for promtool: each built-in alert fires on its condition and stays quiet without it. */
const PROMTOOL_TESTS = `rule_files: [rules.yml]
evaluation_interval: 10s
tests:
  - interval: 1m
    input_series:
      - series: 'muai_requests_total{status="ok"}'
        values: '0+60x90'
      - series: 'muai_requests_total{status="error"}'
        values: '0+0x30 0+60x60'
      - series: 'muai_queue_depth{model="all",engine="all"}'
        values: '0x10 40x10 0x70'
      - series: 'muai_kv_cache_usage_ratio{model="all",engine="all"}'
        values: '0.5x10 0.99x10 0.5x70'
      - series: 'vllm:num_requests_waiting'
        values: '0x10 80x10 0x70'
    alert_rule_test:
      - eval_time: 9m
        alertname: MuaiQueueBacklog
        exp_alerts: []
      - eval_time: 15m
        alertname: MuaiQueueBacklog
        exp_alerts:
          - exp_labels: { severity: warning, series: queue_depth }
            exp_annotations: { summary: 'more than 32 requests queued', value: '40' }
      - eval_time: 15m
        alertname: MuaiKvCacheNearlyFull
        exp_alerts:
          - exp_labels: { severity: warning, series: kv_cache_usage }
            exp_annotations: { summary: 'KV cache usage over 95%', value: '0.99' }
      - eval_time: 15m
        alertname: VllmQueueBacklog
        exp_alerts:
          - exp_labels: { severity: warning, series: vllm_num_requests_waiting }
            exp_annotations: { summary: 'more than 50 requests waiting in vLLM', value: '80' }
      - eval_time: 25m
        alertname: MuaiErrorBudgetBurnFast
        exp_alerts: []
      - eval_time: 45m
        alertname: MuaiErrorBudgetBurnFast
        exp_alerts:
          - exp_labels: { severity: critical, series: error_rate }
            exp_annotations: { summary: 'errors burn the 0.01 error budget fast (1h/5m over 14.4x or 6h/30m over 6x)', value: '0.23728813559322032' }
`;
