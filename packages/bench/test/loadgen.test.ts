import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrivalTimes, computeResult, createOpenAiTarget, kolmogorovSmirnov, median, randomDataset, runBenchmark } from '../src/index.js';
import { startStandIn } from './stand-in-server.js';
import type { StandIn } from './stand-in-server.js';

const TTFT = 40;
const ITL = 10;
const TOKENS = 8;

describe('against a stand-in server with known timing', () => {
  let server: StandIn;
  beforeAll(async () => {
    server = await startStandIn({ ttftMs: TTFT, itlMs: ITL, tokens: TOKENS, errorEvery: 5 });
  });
  afterAll(() => server.close());

  it('measures TTFT, ITL and E2EL within tolerance, counts tokens from usage and counts errors', async () => {
    const target = createOpenAiTarget({ baseUrl: server.url });
    await target.preflight();
    const served = server.requests.length;
    const prompts = randomDataset({ numPrompts: 40, inputLen: 12, outputLen: TOKENS, seed: 1 });
    const run = await runBenchmark({ target, prompts, maxConcurrency: 4 });
    const result = computeResult(run, { includeRequests: true });
    await target.close();
    // Request 5, 10, ... of the server's count fail: the preflight was request 1.
    const errors = server.requests.slice(served).filter((request) => request.status === 500).length;
    expect(errors).toBeGreaterThan(0);
    expect(result.failed).toBe(errors);
    expect(result.completed).toBe(40 - errors);
    expect(result.errors).toEqual({ 'HTTP 500: {"error":{"message":"stand-in failure","type":"server_error"}}': errors });
    expect(result.total_output_tokens).toBe(result.completed * TOKENS);
    for (const record of result.requests!) expect(record.status === 'ok' ? record.itlsMs.length : 0).toBe(record.status === 'ok' ? TOKENS - 1 : 0);
    // The truth is what the stand-in really did: it records, on the same clock in the same process,
    // when each request arrived and when it wrote each chunk. Stated tolerance: the client never
    // reads a chunk before it was written, and per request its TTFT, decode span (sum of ITLs)
    // and E2EL are within 3 ms of the server's (median over requests), however late the server's
    // timers fired on a loaded machine.
    const ok = server.requests.slice(served).filter((request) => request.status === 200);
    const measured = result.requests!.filter((record) => record.status === 'ok');
    expect(measured).toHaveLength(ok.length);
    // Requests reach the server in send order (one connection each, sent in index order).
    const ttftGaps: number[] = [];
    const decodeGaps: number[] = [];
    const e2elGaps: number[] = [];
    for (let i = 0; i < ok.length; i++) {
      const truth = ok[i]!;
      const record = measured[i]!;
      const serverTtft = truth.writes[0]! - truth.arrived;
      const serverDecode = truth.writes.at(-1)! - truth.writes[0]!;
      const clientDecode = record.itlsMs.reduce((sum, itl) => sum + itl, 0);
      ttftGaps.push(record.ttftMs! - serverTtft);
      decodeGaps.push(clientDecode - serverDecode);
      e2elGaps.push(record.e2elMs - (truth.writes.at(-1)! - truth.arrived));
      // The client's send precedes the server's arrival: never a shorter TTFT than the server's.
      expect(record.ttftMs!).toBeGreaterThanOrEqual(serverTtft);
      // The stand-in's schedule is known: not earlier than nominal, less Node's timer granularity
      // (timers run on whole ms of the loop's cached clock, so they may fire up to ~2 ms early).
      expect(serverTtft).toBeGreaterThanOrEqual(TTFT - 2);
      expect(truth.writes.at(-1)! - truth.arrived).toBeGreaterThanOrEqual(TTFT + (TOKENS - 1) * ITL - 2);
    }
    expect(median(ttftGaps)).toBeLessThan(3);
    expect(Math.abs(median(decodeGaps))).toBeLessThan(3);
    expect(median(e2elGaps)).toBeLessThan(3);
    expect(median(e2elGaps)).toBeGreaterThanOrEqual(0);
    // TPOT is (E2EL − TTFT) / (tokens − 1): at least the nominal ITL less timer granularity.
    expect(result.median_tpot_ms!).toBeGreaterThan(ITL - 1);
  });

  it('never has more requests in flight than --max-concurrency (property)', async () => {
    const fast = await startStandIn({ ttftMs: 2, itlMs: 1, tokens: 3 });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 25 }),
          fc.constantFrom(Number.POSITIVE_INFINITY, 200, 1000),
          async (cap, count, rate) => {
            const target = createOpenAiTarget({ baseUrl: fast.url, model: 'stand-in' });
            const before = fast.requests.length;
            const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 3, inputLen: 4, outputLen: 3 }), numPrompts: count, maxConcurrency: cap, requestRate: rate, seed: count });
            await target.close();
            const result = computeResult(run);
            expect(fast.requests.length - before).toBe(count);
            expect(run.maxInFlight).toBeLessThanOrEqual(cap);
            expect(result.max_concurrent_requests).toBeLessThanOrEqual(cap);
            expect(result.completed).toBe(count);
          },
        ),
        { numRuns: 15 },
      );
      expect(fast.maxInFlight()).toBeLessThanOrEqual(6);
    } finally {
      await fast.close();
    }
  });

  it('sends Poisson arrivals at the requested rate (Kolmogorov–Smirnov on the run\'s schedule) and keeps to it', async () => {
    const quick = await startStandIn({ ttftMs: 1, itlMs: 1, tokens: 2 });
    try {
      const rate = 100;
      const target = createOpenAiTarget({ baseUrl: quick.url, model: 'stand-in' });
      const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 5, inputLen: 4, outputLen: 2 }), numPrompts: 300, requestRate: rate, seed: 7 });
      await target.close();
      const gapsOf = (times: number[]): number[] => times.slice(1).map((time, i) => (time - times[i]!) / 1000);
      const scheduled = run.requests.map((record) => record.scheduledMs);
      expect(kolmogorovSmirnov(gapsOf(scheduled), (x) => 1 - Math.exp(-rate * x)).pValue).toBeGreaterThan(0.01);
      // The KS test is on the schedule the run used, not on the real send times: on a shared
      // 2-core machine other processes delay some sends by several ms, which a KS test at 10 ms
      // mean gaps detects.
      // Never sent before its time. (How late depends on the machine: a fraction of a ms when idle.)
      const lags = run.requests.map((record) => record.startMs - record.scheduledMs);
      expect(Math.min(...lags)).toBeGreaterThanOrEqual(0);
      // The whole run lasts about N / rate.
      expect(run.durationS).toBeGreaterThan(2.5);
    } finally {
      await quick.close();
    }
  });

  it('stops on cancel: in-flight requests are cancelled, what finished is kept, promptly', async () => {
    const slow = await startStandIn({ ttftMs: 5, itlMs: 50, tokens: 40 });
    try {
      const target = createOpenAiTarget({ baseUrl: slow.url, model: 'stand-in' });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const started = Date.now();
      const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 3, inputLen: 4, outputLen: 40 }), numPrompts: 100, maxConcurrency: 3, signal: controller.signal });
      await target.close();
      // Never a hang: cancelled requests end at once (generous bound for a loaded machine).
      expect(Date.now() - started).toBeLessThan(5000);
      const result = computeResult(run);
      expect(run.interrupted).toBe(true);
      expect(result.cancelled).toBe(3);
      expect(result.completed + result.failed).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('an open loop bounded by --duration keeps the rate (arrivals generated block by block)', async () => {
    const target = createOpenAiTarget({ baseUrl: server.url, model: 'stand-in' });
    const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 3, inputLen: 4, outputLen: 2 }), durationSec: 1, requestRate: 300, seed: 4 });
    await target.close();
    // Poisson count in 1 s at 300/s: sd ~17; the bounds are ±5 sd plus sends a loaded machine delays.
    expect(run.requests.length).toBeGreaterThan(200);
    expect(run.requests.length).toBeLessThan(390);
    await expect(runBenchmark({ target, prompts: randomDataset({ numPrompts: 1 }), durationSec: 1, rampUpStrategy: 'linear', rampUpStartRps: 1, rampUpEndRps: 2 })).rejects.toThrow(/--num-prompts/);
  });

  it('bounds a run by --duration', async () => {
    const target = createOpenAiTarget({ baseUrl: server.url, model: 'stand-in' });
    const started = Date.now();
    const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 3, inputLen: 4, outputLen: 2 }), durationSec: 0.5, maxConcurrency: 2 });
    await target.close();
    expect(Date.now() - started).toBeLessThan(6000);
    expect(run.requests.length).toBeGreaterThan(4);
  });
});

describe('arrival process', () => {
  it('is Poisson at the requested rate with burstiness 1 (KS test)', () => {
    const rate = 25;
    const times = arrivalTimes(4000, { requestRate: rate, seed: 3 });
    const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]!));
    expect(kolmogorovSmirnov(gaps, (x) => 1 - Math.exp(-rate * x)).pValue).toBeGreaterThan(0.01);
    expect(times.at(-1)).toBeCloseTo(4000 / rate, 6);
    // A wrong rate is rejected by the same test: the test can fail.
    expect(kolmogorovSmirnov(gaps, (x) => 1 - Math.exp(-rate * 1.2 * x)).pValue).toBeLessThan(0.001);
  });

  it('is gamma with the burstiness as shape: same mean, squared CV = 1 / burstiness', () => {
    for (const burstiness of [0.25, 4]) {
      const times = arrivalTimes(20000, { requestRate: 10, burstiness, seed: 5 });
      const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]!));
      const m = gaps.reduce((a, b) => a + b, 0) / gaps.length;
      const variance = gaps.reduce((a, b) => a + (b - m) ** 2, 0) / gaps.length;
      expect(m).toBeCloseTo(0.1, 5);
      expect(variance / (m * m)).toBeGreaterThan((1 / burstiness) * 0.85);
      expect(variance / (m * m)).toBeLessThan((1 / burstiness) * 1.15);
    }
  });

  it('ramps linearly from the start rate to the end rate', () => {
    const times = arrivalTimes(2000, { rampUpStrategy: 'linear', rampUpStartRps: 10, rampUpEndRps: 100, seed: 2 });
    const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]!));
    const early = gaps.slice(0, 200).reduce((a, b) => a + b, 0) / 200;
    const late = gaps.slice(-200).reduce((a, b) => a + b, 0) / 200;
    expect(early).toBeGreaterThan(0.06);
    expect(late).toBeLessThan(0.015);
  });

  it('is seeded: the same seed gives the same schedule', () => {
    expect(arrivalTimes(50, { requestRate: 5, seed: 9 })).toEqual(arrivalTimes(50, { requestRate: 5, seed: 9 }));
    expect(arrivalTimes(50, { requestRate: 5, seed: 9 })).not.toEqual(arrivalTimes(50, { requestRate: 5, seed: 10 }));
  });
});
