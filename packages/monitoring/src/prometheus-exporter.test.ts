import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import { PrometheusExporter } from './prometheus-exporter.js';

const exporters: PrometheusExporter[] = [];
function make(options: ConstructorParameters<typeof PrometheusExporter>[0] = {}): PrometheusExporter {
  const exporter = new PrometheusExporter({ port: 0, collectDefaultMetrics: false, ...options });
  exporters.push(exporter);
  return exporter;
}
afterEach(async () => {
  await Promise.all(exporters.splice(0).map((e) => e.stopServer()));
});

/** Value of one sample line, e.g. `muai_requests_total{model="m",...}`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('PrometheusExporter metrics', () => {
  it('records requests, latencies in seconds, tokens and the other series under the muai_ prefix', async () => {
    const exporter = make();
    exporter.recordRequest({ model: 'tiny', engine: 'onnx', workflow: 'chat', status: 'success', latencyMs: 250, ttftMs: 40, tpotMs: 5, promptTokens: 12, completionTokens: 30 });
    exporter.recordRequest({ model: 'tiny', engine: 'onnx', workflow: 'chat', status: 'success', latencyMs: 750, promptTokens: 8, completionTokens: 10 });
    exporter.recordRequest({ model: 'tiny', engine: 'vllm', status: 'error', latencyMs: 5 });
    exporter.setQueueDepth(7, { model: 'tiny', engine: 'onnx' });
    exporter.setQueueDepth(3);
    exporter.observeBatchSize(4, { model: 'tiny', engine: 'onnx' });
    exporter.recordCacheStats({ model: 'tiny', engine: 'onnx', usedBytes: 512, capacityBytes: 2048, hits: 3, misses: 1 });
    exporter.recordCacheStats({ model: 'tiny', engine: 'onnx', hits: 2 });
    exporter.recordFallback('vllm', 'onnx', 'ENGINE_UNAVAILABLE');
    exporter.recordAlert('latency_p99_high', 'warning');
    const text = await exporter.metrics();

    expect(sample(text, 'muai_requests_total', { model: 'tiny', engine: 'onnx', workflow: 'chat', status: 'success' })).toBe(2);
    expect(sample(text, 'muai_requests_total', { engine: 'vllm', workflow: 'none', status: 'error' })).toBe(1);
    expect(sample(text, 'muai_request_duration_seconds_sum', { engine: 'onnx' })).toBeCloseTo(1.0);
    expect(sample(text, 'muai_request_duration_seconds_bucket', { engine: 'onnx', le: '0.5' })).toBe(1);
    expect(sample(text, 'muai_time_to_first_token_seconds_count', { engine: 'onnx' })).toBe(1);
    expect(sample(text, 'muai_time_to_first_token_seconds_sum', { engine: 'onnx' })).toBeCloseTo(0.04);
    expect(sample(text, 'muai_time_per_output_token_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(sample(text, 'muai_prompt_tokens_total', { model: 'tiny', engine: 'onnx' })).toBe(20);
    expect(sample(text, 'muai_generation_tokens_total', { model: 'tiny', engine: 'onnx' })).toBe(40);
    expect(sample(text, 'muai_queue_depth', { model: 'tiny', engine: 'onnx' })).toBe(7);
    expect(sample(text, 'muai_queue_depth', { model: 'all', engine: 'all' })).toBe(3);
    expect(sample(text, 'muai_batch_size_count', { model: 'tiny' })).toBe(1);
    expect(sample(text, 'muai_kv_cache_usage_bytes', { model: 'tiny' })).toBe(512);
    expect(sample(text, 'muai_kv_cache_usage_ratio', { model: 'tiny' })).toBe(0.25);
    expect(sample(text, 'muai_kv_cache_hits_total', { model: 'tiny' })).toBe(5);
    expect(sample(text, 'muai_kv_cache_misses_total', { model: 'tiny' })).toBe(1);
    expect(sample(text, 'muai_engine_fallbacks_total', { from: 'vllm', to: 'onnx', reason: 'ENGINE_UNAVAILABLE' })).toBe(1);
    expect(sample(text, 'muai_anomaly_alerts_total', { rule: 'latency_p99_high', severity: 'warning' })).toBe(1);
    expect(exporter.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('ignores invalid numbers instead of throwing', async () => {
    const exporter = make();
    expect(() => {
      exporter.recordRequest({ model: 'm', engine: 'e', status: 'success', latencyMs: Number.NaN, promptTokens: -5 });
      exporter.setQueueDepth(-1);
      exporter.observeBatchSize(Number.POSITIVE_INFINITY);
    }).not.toThrow();
    const text = await exporter.metrics();
    expect(sample(text, 'muai_requests_total', { model: 'm' })).toBe(1);
    expect(sample(text, 'muai_request_duration_seconds_count', { model: 'm' })).toBeUndefined();
    expect(sample(text, 'muai_prompt_tokens_total', { model: 'm' })).toBeUndefined();
  });

  it('bounds label cardinality: models beyond the limit collapse to "other", prompt-like text never becomes a label', async () => {
    const exporter = make({ maxLabelValues: 5 });
    for (let i = 0; i < 100; i++) {
      exporter.recordRequest({ model: `model-${i}`, engine: 'onnx', status: 'success', latencyMs: 1 });
    }
    exporter.recordRequest({ model: 'What is the capital of France?', engine: 'onnx', status: 'success', latencyMs: 1 });
    exporter.recordAlert('r', 'apocalyptic');
    const text = await exporter.metrics();
    const seriesLines = text.split('\n').filter((line) => line.startsWith('muai_requests_total{'));
    expect(seriesLines).toHaveLength(6);
    expect(sample(text, 'muai_requests_total', { model: 'other' })).toBe(96);
    expect(text).not.toContain('capital of France');
    expect(sample(text, 'muai_anomaly_alerts_total', { severity: 'other' })).toBe(1);
  });

  it('uses its own registry: two exporters do not share series', async () => {
    const a = make();
    const b = make();
    a.recordRequest({ model: 'm', engine: 'e', status: 'success', latencyMs: 1 });
    expect(sample(await a.metrics(), 'muai_requests_total', { model: 'm' })).toBe(1);
    expect(sample(await b.metrics(), 'muai_requests_total', { model: 'm' })).toBeUndefined();
  });

  it('includes Node process metrics when collectDefaultMetrics is on', async () => {
    const exporter = make({ collectDefaultMetrics: true });
    const text = await exporter.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_heap_size_total_bytes');
  });

  it('rejects an invalid port or prefix with CONFIG_INVALID', () => {
    expect(() => new PrometheusExporter({ port: 70000 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => new PrometheusExporter({ prefix: 'bad-prefix' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('PrometheusExporter server', () => {
  it('port 0 picks a free port; serves /metrics with the Prometheus content type and /health as JSON', async () => {
    const exporter = make();
    exporter.recordRequest({ model: 'm', engine: 'e', status: 'success', latencyMs: 3 });
    const address = await exporter.startServer();
    expect(address.port).toBeGreaterThan(0);
    expect(exporter.port).toBe(address.port);
    expect(exporter.address()).toEqual({ host: '127.0.0.1', port: address.port });

    const metrics = await fetch(`http://127.0.0.1:${address.port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe(exporter.contentType);
    expect(await metrics.text()).toContain('muai_requests_total{model="m",engine="e",workflow="none",status="success"} 1');

    const health = await fetch(`http://127.0.0.1:${address.port}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await health.json()).toEqual({ status: 'ok' });

    expect((await fetch(`http://127.0.0.1:${address.port}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${address.port}/metrics`, { method: 'POST' })).status).toBe(405);

    await exporter.stopServer();
    expect(exporter.address()).toBeNull();
    await expect(fetch(`http://127.0.0.1:${address.port}/health`)).rejects.toThrow();
  });

  it('serves metrics on a custom path', async () => {
    const exporter = make({ path: '/prom' });
    const { port } = await exporter.startServer();
    expect((await fetch(`http://127.0.0.1:${port}/prom`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
  });

  it('a port in use is a PORT_IN_USE error naming the port and MUAI_MON_PROMETHEUS_PORT', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const exporter = make({ port });
      const error: unknown = await exporter.startServer().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(MuaiError.hasCode(error, 'PORT_IN_USE')).toBe(true);
      expect((error as Error).message).toContain(String(port));
      expect((error as Error).message).toContain('MUAI_MON_PROMETHEUS_PORT');
      expect((error as MuaiError).details).toMatchObject({ port, variable: 'MUAI_MON_PROMETHEUS_PORT' });
      expect(exporter.address()).toBeNull();
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe('tunerMetrics', () => {
  it('declares muai_tuner_setting and muai_tuner_adjustments_total once, on this registry', async () => {
    const exporter = make();
    const tuner = exporter.tunerMetrics();
    expect(exporter.tunerMetrics()).toBe(tuner);
    tuner.setSetting('max_batch_size', 24);
    tuner.countAdjustment('max_batch_size', 'down');
    tuner.countAdjustment('max_batch_size', 'down');
    const text = await exporter.metrics();
    expect(sample(text, 'muai_tuner_setting', { parameter: 'max_batch_size' })).toBe(24);
    expect(sample(text, 'muai_tuner_adjustments_total', { parameter: 'max_batch_size', direction: 'down' })).toBe(2);
    expect(text).toContain('# TYPE muai_tuner_setting gauge');
  });
});
