import { describe, expect, it } from 'vitest';
import { FakeEngine } from '@muai/core/testing';
import {
  bootstrapDifference,
  compareResults,
  computeResult,
  createEngineTarget,
  createOpenAiTarget,
  formatComparison,
  formatResult,
  parseGoodput,
  parseSweep,
  percentile,
  randomDataset,
  requestsCsv,
  runBenchmark,
  std,
} from '../src/index.js';
import type { BenchRequestRecord, RunRecord } from '../src/index.js';
import { createRandom } from '../src/random.js';
import { startStandIn } from './stand-in-server.js';

function record(index: number, fields: Partial<BenchRequestRecord>): BenchRequestRecord {
  return { index, scheduledMs: 0, startMs: 0, status: 'ok', itlsMs: [], e2elMs: 0, promptTokens: 0, outputTokens: 0, usageFromServer: true, ...fields };
}

function runOf(requests: BenchRequestRecord[], durationS = 2): RunRecord {
  return { date: '2026-01-01T00:00:00.000Z', durationS, requests, maxInFlight: 1, cpuMs: 10, interrupted: false };
}

describe('statistics', () => {
  it('percentiles interpolate linearly (numpy default); std is the population std', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4], 99)).toBeCloseTo(3.97, 10);
    expect(percentile([10], 90)).toBe(10);
    expect(std([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
  });

  it('bootstrap intervals cover a true shift and include 0 without one', () => {
    const random = createRandom(1);
    const a = Array.from({ length: 300 }, () => 100 + random.next() * 20);
    const b = a.map((value) => value + 5);
    const shifted = bootstrapDifference(a, b, (values) => values.reduce((x, y) => x + y, 0) / values.length, { rounds: 500 });
    expect(shifted.estimate).toBeCloseTo(5, 6);
    expect(shifted.low).toBeGreaterThan(3);
    expect(shifted.high).toBeLessThan(7);
    const same = bootstrapDifference(a, [...a].reverse(), (values) => percentile(values, 50), { rounds: 500 });
    expect(same.low).toBeLessThanOrEqual(0);
    expect(same.high).toBeGreaterThanOrEqual(0);
  });
});

describe('computeResult', () => {
  const requests = [
    record(0, { startMs: 0, ttftMs: 100, itlsMs: [10, 10, 10], e2elMs: 130, promptTokens: 5, outputTokens: 4 }),
    record(1, { startMs: 50, ttftMs: 300, itlsMs: [20], e2elMs: 320, promptTokens: 7, outputTokens: 2 }),
    record(2, { startMs: 60, ttftMs: 50, itlsMs: [], e2elMs: 50, promptTokens: 3, outputTokens: 1 }),
    record(3, { startMs: 70, status: 'error', e2elMs: 5, error: 'HTTP 500: x' }),
    record(4, { startMs: 80, status: 'cancelled', e2elMs: 9 }),
  ];

  it("uses vllm bench serve's names and definitions", () => {
    const result = computeResult(runOf(requests), { percentiles: [25, 99.9] });
    expect(result.completed).toBe(3);
    expect(result.failed).toBe(1);
    expect(result.cancelled).toBe(1);
    expect(result.errors).toEqual({ 'HTTP 500: x': 1 });
    expect(result.total_input_tokens).toBe(15);
    expect(result.total_output_tokens).toBe(7);
    expect(result.request_throughput).toBe(1.5);
    expect(result.output_throughput).toBe(3.5);
    expect(result.total_token_throughput).toBe(11);
    expect(result.mean_ttft_ms).toBe(150);
    expect(result.median_ttft_ms).toBe(100);
    // TPOT = (E2EL − TTFT) / (out − 1), only for more than one token: 10 and 20.
    expect(result.mean_tpot_ms).toBe(15);
    expect(result.mean_itl_ms).toBe(12.5);
    expect(result.median_e2el_ms).toBe(130);
    for (const key of ['p25_ttft_ms', 'p90_itl_ms', 'p99_e2el_ms', 'p99.9_tpot_ms', 'std_ttft_ms']) expect(result).toHaveProperty(key);
    expect(result.request_goodput).toBeNull();
    // Every request counts, failed ones too: 0, 1, 2 and 3 are all in flight at t = 70.
    expect(result.max_concurrent_requests).toBe(4);
    expect(result.generator_cpu_ms_per_request).toBe(2);
    expect(formatResult(result)).toContain('Successful requests:                             3');
    const configured = computeResult(runOf(requests), { configuration: { request_rate: 'inf', max_concurrency: 4, dataset_name: 'random' } });
    expect([configured.request_rate, configured.max_concurrency]).toEqual(['inf', 4]);
    expect(configured).not.toHaveProperty('dataset_name');
  });

  it('goodput counts requests meeting every SLO (TPOT of a one-token answer counts as 0)', () => {
    expect(computeResult(runOf(requests), { goodput: parseGoodput(['ttft:200']) }).request_goodput).toBe(1);
    expect(computeResult(runOf(requests), { goodput: parseGoodput(['ttft:400 tpot:15']) }).goodput).toBe(1);
    expect(computeResult(runOf(requests), { goodput: parseGoodput(['e2el:100']) }).goodput).toBe(0.5);
    expect(() => parseGoodput(['latency:5'])).toThrow(/--goodput/);
  });

  it('CSV has one row per request with every ITL', () => {
    const csv = requestsCsv(requests).trimEnd().split('\n');
    expect(csv).toHaveLength(6);
    expect(csv[1]).toContain('10.000;10.000;10.000');
    expect(csv[0]).toBe('index,status,scheduled_ms,start_ms,ttft_ms,tpot_ms,e2el_ms,prompt_tokens,output_tokens,usage_from_server,http_status,error,itls_ms');
    expect(csv[4]).toBe('3,error,0.000,70.000,,,5.000,0,0,true,,HTTP 500: x,');
  });

  it('parses sweeps', () => {
    expect(parseSweep('concurrency=1,2,4')).toEqual({ parameter: 'concurrency', values: [1, 2, 4] });
    expect(parseSweep('rates=0.5,inf')).toEqual({ parameter: 'rate', values: [0.5, Number.POSITIVE_INFINITY] });
    expect(() => parseSweep('concurrency=1.5')).toThrow(/integers/);
    expect(() => parseSweep('threads=2')).toThrow(/--sweep/);
  });
});

describe('compare', () => {
  const random = createRandom(3);
  const make = (shift: number, config: Record<string, unknown>) => {
    const requests = Array.from({ length: 200 }, (_, i) => {
      const ttft = 50 + random.next() * 10 + shift;
      return record(i, { startMs: i, ttftMs: ttft, itlsMs: [5, 5], e2elMs: ttft + 10, outputTokens: 3 });
    });
    return computeResult(runOf(requests), { includeRequests: true, configuration: config });
  };

  it('a real shift is a difference; the same distribution is not; different configurations are named', () => {
    const a = make(0, { max_concurrency: 4 });
    const slower = compareResults(a, make(10, { max_concurrency: 4 }));
    const ttft = slower.metrics.find((item) => item.metric === 'mean_ttft_ms')!;
    expect(ttft.verdict).toBe('higher');
    expect(ttft.low!).toBeGreaterThan(8);
    expect(slower.summary).toContain('run-to-run variation');
    const same = compareResults(a, make(0, { max_concurrency: 8 }));
    expect(same.metrics.find((item) => item.metric === 'median_ttft_ms')!.verdict).toBe('no clear difference');
    expect(same.configurationDifferences).toEqual(['max_concurrency']);
    expect(formatComparison(same)).toContain('configured differently');
    expect(same.metrics.find((item) => item.metric === 'request_throughput')!.verdict).toBe('no interval');
  });

  it('needs per-request data', () => {
    const { requests: _r, ...bare } = make(0, {});
    expect(() => compareResults(bare, bare)).toThrow(/--save-results/);
  });
});

describe('token counts without usage', () => {
  it('counts chunks, or the tokenizer on the text when given', async () => {
    const server = await startStandIn({ ttftMs: 1, itlMs: 1, tokens: 5, noUsage: true });
    try {
      const prompts = randomDataset({ numPrompts: 2, inputLen: 3, outputLen: 5 });
      const target = createOpenAiTarget({ baseUrl: server.url, model: 'stand-in' });
      const byChunks = await runBenchmark({ target, prompts });
      expect(byChunks.requests.map((r) => [r.outputTokens, r.usageFromServer])).toEqual([[5, false], [5, false]]);
      // The stand-in's text is "t0 t1 t2 t3 t4 ": counted as characters here.
      const counted = await runBenchmark({ target, prompts, countTokens: (text) => text.length });
      expect(counted.requests.map((r) => r.outputTokens)).toEqual([15, 15]);
      await target.close();
    } finally {
      await server.close();
    }
  });
});

describe('engine target', () => {
  it('benchmarks any @muai/core engine in process and cancels it', async () => {
    const engine = new FakeEngine({ respond: () => 'one two three four' });
    const target = createEngineTarget({ engine, model: 'fake' });
    await target.preflight();
    const result = computeResult(await runBenchmark({ target, prompts: randomDataset({ numPrompts: 4, inputLen: 3, outputLen: 4 }), maxConcurrency: 2 }));
    expect(result.completed).toBe(4);
    expect(result.total_output_tokens).toBe(16);
    const controller = new AbortController();
    controller.abort();
    const cancelled = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 2, inputLen: 3, outputLen: 4 }), signal: controller.signal });
    expect(cancelled.requests).toHaveLength(0);
    expect(cancelled.interrupted).toBe(true);
  });
});
