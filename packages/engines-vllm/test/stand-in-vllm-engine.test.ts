import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { refusedEndpoint, startStandInOpenAiServer } from '@muai/engines-http/testing';
import type { StandInOpenAiServer } from '@muai/engines-http/testing';
import { createVllmEngine, parseVllmMetrics } from '../src/index.js';
import type { VllmEngine } from '../src/index.js';

const servers: StandInOpenAiServer[] = [];
const engines: VllmEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
async function standIn(options: Parameters<typeof startStandInOpenAiServer>[0] = {}) {
  const server = await startStandInOpenAiServer({ models: ['served-model'], ...options });
  servers.push(server);
  return server;
}
function engine(options: Parameters<typeof createVllmEngine>[0]) {
  const created = createVllmEngine({ retryBaseMs: 1, retryMaxMs: 5, ...options });
  engines.push(created);
  return created;
}

describe('stand-in vLLM server: VllmEngine', () => {
  it('load() finds the model at /v1/models and reports max_model_len as the context length', async () => {
    const server = await standIn({ maxModelLen: 128 });
    const vllm = engine({ endpoints: server.url });
    expect(await vllm.load({ name: 'chat', path: 'served-model' })).toEqual({ name: 'chat', kind: 'causal-lm', contextLength: 128 });
    expect(vllm.models()).toEqual(['chat']);
    const result = await vllm.generate({ model: 'chat', prompt: 'x y z' });
    expect(result).toMatchObject({ text: 'z y x', model: 'chat', engineUsed: 'vllm' });
    expect(server.requests.at(-1)!.body!.model).toBe('served-model');
  });

  it('load() of a model the server does not serve is MODEL_NOT_FOUND naming what it serves', async () => {
    const server = await standIn();
    await expect(engine({ endpoints: [server.url] }).load({ name: 'other', path: 'org/other' })).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
      message: expect.stringContaining('"served-model"'),
    });
  });

  it('load() against a server that is down is ENGINE_UNAVAILABLE (so the orchestrator can fall back)', async () => {
    await expect(engine({ endpoints: [await refusedEndpoint()], retries: 0 }).load({ name: 'm', path: 'served-model' })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
    });
  });

  it('a prompt longer than the context is CONTEXT_LENGTH_EXCEEDED', async () => {
    const server = await standIn({ maxModelLen: 4 });
    const vllm = engine({ endpoints: [server.url], model: 'served-model' });
    await expect(vllm.generate({ prompt: 'a b c d e f' })).rejects.toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED' });
  });

  it('health() is ok while one endpoint answers, and names the unhealthy ones', async () => {
    const up = await standIn();
    const down = await standIn();
    down.healthy = false;
    const vllm = engine({ endpoints: [up.url, down.url] });
    expect(await vllm.health()).toMatchObject({ ok: true, detail: `unhealthy: ${down.url}` });
    up.healthy = false;
    expect((await vllm.health()).ok).toBe(false);
  });

  it('countTokens() uses /tokenize', async () => {
    const server = await standIn();
    const vllm = engine({ endpoints: [server.url], model: 'served-model' });
    expect(await vllm.countTokens('one two three')).toBe(3);
    expect(server.requests.at(-1)).toMatchObject({ path: '/tokenize', body: { model: 'served-model', prompt: 'one two three' } });
  });

  it('readServerMetrics() scrapes vllm: series per endpoint and reports a failing scrape as an error', async () => {
    const server = await standIn();
    const down = await refusedEndpoint();
    const vllm = engine({ endpoints: [server.url, down], model: 'served-model' });
    await vllm.generate({ prompt: 'a b c', maxTokens: 2 });
    const [ok, failed] = await vllm.readServerMetrics();
    expect(ok!.metrics).toMatchObject({
      numRequestsRunning: 0,
      numRequestsWaiting: 0,
      kvCacheUsagePerc: 0.25,
      promptTokensTotal: 3,
      generationTokensTotal: 2,
      requestSuccessTotal: { stop: 0, length: 1, abort: 0 },
      prefixCacheHitRate: 0.4,
      models: ['served-model'],
    });
    expect(failed!.error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
  });

  it('parseVllmMetrics() reads the recorded /metrics fixture (two engines, histograms)', () => {
    const metrics = parseVllmMetrics(readFileSync(new URL('./fixtures/vllm-metrics.txt', import.meta.url), 'utf8'));
    expect(metrics).toMatchObject({
      numRequestsRunning: 5,
      numRequestsWaiting: 1,
      kvCacheUsagePerc: 0.4,
      promptTokensTotal: 2000,
      generationTokensTotal: 500,
      numPreemptionsTotal: 1,
      prefixCacheQueriesTotal: 2000,
      prefixCacheHitsTotal: 800,
      prefixCacheHitRate: 0.4,
      requestSuccessTotal: { stop: 40, length: 5, abort: 1 },
      timeToFirstTokenSeconds: { count: 46, sum: 4.6 },
      e2eRequestLatencySeconds: { count: 46, sum: 92 },
      interTokenLatencySeconds: { count: 500, sum: 10 },
      requestQueueTimeSeconds: { count: 46, sum: 2.3 },
    });
  });

  it('parseVllmMetrics() falls back to the pre-0.9 names', () => {
    const metrics = parseVllmMetrics(
      ['vllm:gpu_cache_usage_perc{model_name="m"} 0.7', 'vllm:time_per_output_token_seconds_count{model_name="m"} 4', 'vllm:time_per_output_token_seconds_sum{model_name="m"} 0.2'].join('\n'),
    );
    expect(metrics.kvCacheUsagePerc).toBe(0.7);
    expect(metrics.interTokenLatencySeconds).toEqual({ count: 4, sum: 0.2 });
    expect(metrics.numRequestsRunning).toBeUndefined();
  });

  it('generateBatch sends same-parameter prompts in one request with prompt as a list', async () => {
    const server = await standIn();
    const vllm = engine({ endpoints: [server.url], model: 'served-model' });
    const results = await vllm.generateBatch([{ prompt: 'a b' }, { prompt: 'c d' }, { prompt: 'e f' }]);
    expect(results.map((result) => (result as { text: string }).text)).toEqual(['b a', 'd c', 'f e']);
    const calls = server.requests.filter((r) => r.path === '/v1/completions');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body).toMatchObject({ prompt: ['a b', 'c d', 'e f'], return_token_ids: true });
  });

  it('balances concurrent requests over endpoints by outstanding requests', async () => {
    const first = await standIn({ tokenDelayMs: 30 });
    const second = await standIn({ tokenDelayMs: 30 });
    const vllm = engine({ endpoints: [first.url, second.url], model: 'served-model' });
    const drain = async () => {
      let text = '';
      for await (const chunk of vllm.stream({ prompt: 'a b c d' })) text += chunk.text;
      return text;
    };
    expect(await Promise.all([drain(), drain(), drain(), drain()])).toEqual(['d c b a', 'd c b a', 'd c b a', 'd c b a']);
    const count = (server: StandInOpenAiServer) => server.requests.filter((r) => r.path === '/v1/completions').length;
    expect([count(first), count(second)]).toEqual([2, 2]);
  });

  it('a failing endpoint cools down, then a /health probe brings it back', async () => {
    const flaky = await standIn();
    const steady = await standIn();
    const vllm = engine({ endpoints: [flaky.url, steady.url], model: 'served-model', cooldownMs: 200 });
    flaky.fault = 'status-500';
    const outcomes = await Promise.allSettled([vllm.generate({ prompt: 'a b' }), vllm.generate({ prompt: 'a b' })]);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(1);
    const flakyCalls = () => flaky.requests.filter((r) => r.path === '/v1/completions').length;
    expect(flakyCalls()).toBe(1);
    for (let index = 0; index < 3; index += 1) await vllm.generate({ prompt: 'a b' });
    expect(flakyCalls()).toBe(1); // cooling: no traffic
    flaky.fault = 'none';
    await new Promise((resolve) => setTimeout(resolve, 250));
    flaky.healthy = false; // the probe fails: still out
    await vllm.generate({ prompt: 'a b' });
    await vllm.generate({ prompt: 'a b' });
    expect(flakyCalls()).toBe(1);
    expect(flaky.requests.some((r) => r.path === '/health')).toBe(true);
    flaky.healthy = true;
    await new Promise((resolve) => setTimeout(resolve, 250));
    // The next request triggers a background probe; once it passes, the endpoint takes traffic again.
    for (let index = 0; index < 6 && flakyCalls() < 2; index += 1) await vllm.generate({ prompt: 'a b' });
    expect(flakyCalls()).toBe(2);
    expect(vllm.endpointStates().find((state) => state.url === flaky.url)).toMatchObject({ failures: 0, cooldownUntil: 0 });
  });
});
