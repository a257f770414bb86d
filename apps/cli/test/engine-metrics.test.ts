/**
 * Every declared metric family is fed while serving (issue 11 item 7, issue 17 section 1): the same
 * pieces `muai serve` builds (orchestrator from config, exporter, engine collector, server), real
 * requests on the embedded ONNX engine in process and in its worker thread, then /metrics read
 * back and compared with the engine's own scheduler and KV cache counters, and checked by promtool.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@muai/config';
import type { OnnxStatsSource } from '@muai/engines-onnx';
import { createPrometheusExporter } from '@muai/monitoring';
import { createOrchestratorFromConfig, type OrchestratorRuntime } from '@muai/orchestrator';
import { createServer } from '@muai/server';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { requireBinary } from '../../../packages/monitoring/test/helpers/binaries.js';
import { addEngineMetrics } from '../src/commands/engine-metrics.js';
import { ModelManagerEngine } from '../src/commands/serving-engine.js';
import { tinyModel } from './cli-harness.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** The value of one series in Prometheus text (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length).startsWith('{') ? line.slice(name.length + 1, line.indexOf('}')) : '';
    if (!Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

function promtool(text: string): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(requireBinary('promtool'), ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => resolveRun(output));
    child.stdin.end(text);
  });
}

async function serving(workerThread: boolean, vllmCompatible = true) {
  const config = parseConfig({
    optimization: { onnx: { worker_thread: workerThread }, cache: { enabled: true } },
    monitoring: { prometheus: { vllm_compatible: vllmCompatible } },
  });
  const exporter = createPrometheusExporter({ collectDefaultMetrics: false, vllmCompatible });
  const runtime: OrchestratorRuntime = createOrchestratorFromConfig(config, { env: { MUAI_MODEL: tinyModel }, prometheusExporter: exporter });
  addEngineMetrics(exporter, runtime);
  const app = createServer({ engine: new ModelManagerEngine(runtime.modelManager), defaultModel: 'default', metrics: exporter });
  closers.push(async () => {
    await app.close();
    await runtime.close();
  });
  await app.ready();
  return { app, runtime, exporter };
}

const SHARED = 'You are a helpful assistant. Answer briefly and precisely, citing the document when you can. ';

for (const workerThread of [false, true]) {
  describe(`engine metrics while serving (${workerThread ? 'worker engine' : 'in-process engine'})`, () => {
    it('feeds queue, batch, KV cache and vLLM families with the engine’s own numbers', async () => {
      const { app, runtime } = await serving(workerThread);
      const prompts = Array.from({ length: 6 }, (_, index) => `${SHARED}Question ${index}: what is ${index}?`);
      // A warm-up fills the prefix cache, then concurrent requests share the prefix.
      const answers = [];
      answers.push(await app.inject({ method: 'POST', url: '/v1/completions', payload: { prompt: prompts[0], max_tokens: 6 } }));
      answers.push(...(await Promise.all(prompts.slice(1).map((prompt) => app.inject({ method: 'POST', url: '/v1/completions', payload: { prompt, max_tokens: 6 } })))));
      for (const answer of answers) expect(answer.statusCode).toBe(200);
      const usage = answers.map((answer) => answer.json().usage as { prompt_tokens: number; completion_tokens: number });

      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const engine = (await runtime.optimizationManager.getEngine('onnx')) as unknown as OnnxStatsSource;
      const batch = await engine.batchStats('default');
      const cache = (await engine.cacheStats('default'))!;
      const labels = { model: 'default', engine: 'onnx' };

      // Queue: idle now, as the scheduler says.
      expect(sample(text, 'muai_queue_depth', labels)).toBe(batch.waiting);
      expect(sample(text, 'vllm:num_requests_waiting', { model_name: 'default' })).toBe(batch.waiting);
      expect(sample(text, 'vllm:num_requests_running', { model_name: 'default' })).toBe(batch.running);
      // Batches: one observation per decode step, summing to the sequences decoded.
      expect(batch.steps).toBeGreaterThan(0);
      expect(sample(text, 'muai_batch_size_count', labels)).toBe(batch.steps);
      expect(sample(text, 'muai_batch_size_sum', labels)).toBe(batch.sequenceSteps);
      expect(batch.maxBatchSeen).toBeGreaterThan(1); // the concurrent requests shared decode steps
      // KV cache: bytes and ratio from the cache's own stats; lookups split into hits and misses.
      expect(cache.lookupHits).toBeGreaterThan(0);
      expect(sample(text, 'muai_kv_cache_hits_total', labels)).toBe(cache.lookupHits);
      expect(sample(text, 'muai_kv_cache_misses_total', labels)).toBe(cache.lookupMisses);
      expect(sample(text, 'muai_kv_cache_usage_bytes', labels)).toBe(cache.bytesUsed);
      expect(sample(text, 'muai_kv_cache_usage_ratio', labels)).toBeCloseTo(cache.bytesUsed / cache.bytesBudget, 12);
      // vLLM's gauge: what running requests hold (the running batch's slots); idle now, warm cache or not.
      expect(cache.bytesUsed).toBeGreaterThan(0);
      expect(sample(text, 'vllm:kv_cache_usage_perc', { model_name: 'default' })).toBe(batch.batchTokens / batch.maxBatchTokens);
      expect(batch.batchTokens).toBe(0);
      // Request families: counts and token totals from the responses.
      expect(sample(text, 'vllm:e2e_request_latency_seconds_count', { model_name: 'default' })).toBe(6);
      expect(sample(text, 'vllm:time_to_first_token_seconds_count', { model_name: 'default' })).toBe(6);
      expect(sample(text, 'vllm:request_time_per_output_token_seconds_count', { model_name: 'default' })).toBe(usage.filter((item) => item.completion_tokens > 1).length);
      expect(sample(text, 'vllm:prompt_tokens_total', { model_name: 'default' })).toBe(usage.reduce((sum, item) => sum + item.prompt_tokens, 0));
      expect(sample(text, 'vllm:generation_tokens_total', { model_name: 'default' })).toBe(usage.reduce((sum, item) => sum + item.completion_tokens, 0));

      // A second scrape adds only what happened since: nothing.
      const again = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sample(again, 'muai_batch_size_count', labels)).toBe(batch.steps);
      expect(sample(again, 'muai_kv_cache_hits_total', labels)).toBe(cache.lookupHits);

      // promtool: clean but for its note that names should not contain ':' (vLLM's names do).
      const notes = (await promtool(text)).split('\n').filter((line) => line.trim() !== '');
      for (const note of notes) expect(note).toMatch(/^vllm:.*metric names should not contain ':'/);
      expect(notes.length).toBeGreaterThan(0);
    });

    it('shows running requests and their KV usage while a stream is open', async () => {
      const { app } = await serving(workerThread);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const address = app.server.address() as { port: number };
      const response = await fetch(`http://127.0.0.1:${address.port}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: SHARED, max_tokens: 400, stream: true }),
      });
      const reader = response.body!.getReader();
      await reader.read(); // the stream has started: the request is in the running batch
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sample(text, 'vllm:num_requests_running', { model_name: 'default' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'vllm:kv_cache_usage_perc', { model_name: 'default' })).toBeGreaterThan(0);
      await reader.cancel();
    });
  });
}

describe('monitoring.prometheus.vllm_compatible: false', () => {
  it('leaves the vllm: series out and keeps the muai_ ones', async () => {
    const { app } = await serving(false, false);
    expect((await app.inject({ method: 'POST', url: '/v1/completions', payload: { prompt: 'Hi', max_tokens: 2 } })).statusCode).toBe(200);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).not.toContain('vllm:');
    expect(text).toContain('muai_queue_depth{');
  });
});
