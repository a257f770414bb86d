import { describe, expect, it } from 'vitest';
import { createPerformanceMonitor, createPrometheusExporter } from '@muai/monitoring';
import { ExporterSeriesReader, VllmSeriesReader, parsePrometheusText, seriesFromSnapshot } from './anomaly-sources.js';

/** vLLM /metrics text in the shape vLLM 0.8+ writes it (metric names from docs.vllm.ai usage/metrics). */
function vllmText(state: { waiting: number; running: number; kv: number; preemptions: number; ttftSum: number; ttftCount: number; itlSum: number; itlCount: number }): string {
  return [
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting{engine="0",model_name="qwen"} ${state.waiting}`,
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running{engine="0",model_name="qwen"} ${state.running}`,
    '# TYPE vllm:kv_cache_usage_perc gauge',
    `vllm:kv_cache_usage_perc{engine="0",model_name="qwen"} ${state.kv}`,
    '# TYPE vllm:num_preemptions_total counter',
    `vllm:num_preemptions_total{engine="0",model_name="qwen"} ${state.preemptions}`,
    '# TYPE vllm:time_to_first_token_seconds histogram',
    `vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="qwen"} ${state.ttftCount}`,
    `vllm:time_to_first_token_seconds_sum{engine="0",model_name="qwen"} ${state.ttftSum}`,
    `vllm:time_to_first_token_seconds_count{engine="0",model_name="qwen"} ${state.ttftCount}`,
    `vllm:inter_token_latency_seconds_sum{engine="0",model_name="qwen"} ${state.itlSum}`,
    `vllm:inter_token_latency_seconds_count{engine="0",model_name="qwen"} ${state.itlCount}`,
    '',
  ].join('\n');
}

describe('anomaly sources', () => {
  it('parses Prometheus text: labels with escapes, +Inf, comments', () => {
    const samples = parsePrometheusText('# HELP x y\nx{a="q\\"uote",b="c"} 1.5\ny +Inf\nz{le="+Inf"} 3 1700000000000\n');
    expect(samples).toEqual([
      { name: 'x', labels: { a: 'q"uote', b: 'c' }, value: 1.5 },
      { name: 'y', labels: {}, value: Number.POSITIVE_INFINITY },
      { name: 'z', labels: { le: '+Inf' }, value: 3 },
    ]);
  });

  it('vLLM: gauges as they are, counters as rates, histograms as the mean since the last scrape', () => {
    const reader = new VllmSeriesReader();
    const first = reader.read(vllmText({ waiting: 3, running: 8, kv: 0.5, preemptions: 10, ttftSum: 2, ttftCount: 20, itlSum: 1, itlCount: 100 }), 0);
    expect(first).toMatchObject({ vllm_num_requests_waiting: 3, vllm_num_requests_running: 8, vllm_kv_cache_usage: 0.5 });
    expect(first.vllm_preemptions_per_second).toBeUndefined();
    const second = reader.read(vllmText({ waiting: 70, running: 8, kv: 0.97, preemptions: 30, ttftSum: 6, ttftCount: 30, itlSum: 3, itlCount: 200 }), 10_000);
    expect(second).toMatchObject({ vllm_num_requests_waiting: 70, vllm_kv_cache_usage: 0.97, vllm_preemptions_per_second: 2 });
    expect(second.vllm_ttft_mean_ms).toBeCloseTo(400, 9);
    expect(second.vllm_itl_mean_ms).toBeCloseTo(20, 9);
    // vLLM restarted: counters went down; no negative rate.
    const third = reader.read(vllmText({ waiting: 0, running: 0, kv: 0, preemptions: 0, ttftSum: 0, ttftCount: 0, itlSum: 0, itlCount: 0 }), 20_000);
    expect(third.vllm_preemptions_per_second).toBeUndefined();
    expect(third.vllm_ttft_mean_ms).toBeUndefined();
  });

  it('performance monitor snapshot → series', () => {
    let now = 0;
    const monitor = createPerformanceMonitor({ windowMs: 10_000, now: () => now });
    monitor.recordRequest({ latencyMs: 100, ttftMs: 20, tpotMs: 5, completionTokens: 10, status: 'ok' });
    monitor.recordRequest({ latencyMs: 300, status: 'error' });
    monitor.recordQueueDepth(4);
    now = 2000;
    const series = seriesFromSnapshot(monitor.snapshot());
    expect(series).toMatchObject({ error_rate: 0.5, queue_depth: 4, requests_per_second: 1 });
    expect(series.latency_p99_ms).toBeGreaterThan(250);
    expect(series.ttft_p99_ms).toBeCloseTo(20, 0);
  });

  it('exporter text → fallbacks per second and KV usage', async () => {
    const exporter = createPrometheusExporter({});
    const reader = new ExporterSeriesReader();
    exporter.recordCacheStats({ usageRatio: 0.97 });
    expect(reader.read(await exporter.metrics(), 0)).toMatchObject({ kv_cache_usage: 0.97 });
    exporter.recordFallback({ from: 'vllm', to: 'onnx', reason: 'ENGINE_UNAVAILABLE' });
    exporter.recordFallback({ from: 'vllm', to: 'onnx', reason: 'ENGINE_UNAVAILABLE' });
    expect(reader.read(await exporter.metrics(), 1000).engine_fallbacks_per_second).toBe(2);
  });
});
