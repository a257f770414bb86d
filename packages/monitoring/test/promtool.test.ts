import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PrometheusExporter } from '../src/index.js';
import { requireBinary } from './helpers/binaries.js';

function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  const promtool = requireBinary('promtool');
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

function exerciseAll(exporter: PrometheusExporter): void {
  exporter.recordRequest({ model: 'tiny-gpt2', engine: 'onnx', workflow: 'chat', status: 'success', latencyMs: 120, ttftMs: 15, tpotMs: 3, promptTokens: 20, completionTokens: 16 });
  exporter.recordRequest({ model: 'tiny-gpt2', engine: 'vllm', workflow: 'search_qa', status: 'ENGINE_UNAVAILABLE', latencyMs: 2 });
  exporter.setQueueDepth(2);
  exporter.recordQueueDepth({ depth: 1, running: 3, model: 'tiny-gpt2', engine: 'onnx' });
  exporter.observeBatchSize(8, { model: 'tiny-gpt2', engine: 'onnx' });
  exporter.recordCacheStats({ usedBytes: 1 << 20, capacityBytes: 1 << 24, hits: 4, misses: 2 });
  exporter.recordFallback('vllm', 'onnx', 'ENGINE_UNAVAILABLE');
  exporter.recordAlert('error_rate_high', 'critical');
}

describe('promtool check metrics (Debian prometheus package)', () => {
  it('accepts the exporter output with every MuAI metric and the Node process metrics', async () => {
    const exporter = new PrometheusExporter({ collectDefaultMetrics: true });
    exerciseAll(exporter);
    const text = await exporter.metrics();
    expect(text).toContain('muai_anomaly_alerts_total{');
    const { output } = await promtoolCheck(text);
    // Only promtool's note on the vLLM-compatible names: they keep vLLM's ':' because routers and
    // autoscalers query them by those names (vLLM's own /metrics draws the same note).
    const notes = output.split('\n').filter((line) => line !== '');
    expect(notes.length).toBeGreaterThan(0);
    for (const note of notes) expect(note).toMatch(/^vllm:\S+ metric names should not contain ':'$/);
  });

  it('is clean without the vLLM-compatible series', async () => {
    const exporter = new PrometheusExporter({ collectDefaultMetrics: true, vllmCompatible: false });
    exerciseAll(exporter);
    const { code, output } = await promtoolCheck(await exporter.metrics());
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('accepts the output before anything was recorded', async () => {
    const exporter = new PrometheusExporter({ collectDefaultMetrics: false });
    const { code, output } = await promtoolCheck(await exporter.metrics());
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('is a real check: promtool rejects a broken exposition', async () => {
    const { code } = await promtoolCheck('# TYPE muai_broken counter\nmuai_broken{a="1" 2\n');
    expect(code).not.toBe(0);
  });
});
