import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PerformanceMonitor } from './performance-monitor.js';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PerformanceMonitor', () => {
  it('reports latency percentiles within 3% of the exact values', () => {
    const monitor = new PerformanceMonitor({ windowMs: 60_000 });
    // 1..1000 ms, one each: exact p50 = 500, p90 = 900, p99 = 990.
    for (let ms = 1; ms <= 1000; ms++) monitor.recordRequest({ latencyMs: ms });
    const { latencyMs } = monitor.snapshot();
    expect(latencyMs.count).toBe(1000);
    expect(latencyMs.p50).toBeGreaterThan(500 * 0.97);
    expect(latencyMs.p50).toBeLessThan(500 * 1.03);
    expect(latencyMs.p90).toBeGreaterThan(900 * 0.97);
    expect(latencyMs.p90).toBeLessThan(900 * 1.03);
    expect(latencyMs.p99).toBeGreaterThan(990 * 0.97);
    expect(latencyMs.p99).toBeLessThanOrEqual(1000);
    expect(latencyMs.mean).toBeCloseTo(500.5);
    expect(latencyMs.max).toBe(1000);
  });

  it('computes throughput over the covered part of the window, and error rate without aborted requests', () => {
    const monitor = new PerformanceMonitor({ windowMs: 60_000 });
    vi.advanceTimersByTime(10_000); // 10 s since start
    for (let i = 0; i < 40; i++) monitor.recordRequest({ latencyMs: 10, completionTokens: 5, promptTokens: 2 });
    for (let i = 0; i < 8; i++) monitor.recordRequest({ latencyMs: 10, status: 'error' });
    for (let i = 0; i < 2; i++) monitor.recordRequest({ latencyMs: 10, status: 'aborted' });
    const snap = monitor.snapshot();
    expect(snap.coveredMs).toBe(10_000);
    expect(snap.requests).toBe(50);
    expect(snap.requestsPerSecond).toBeCloseTo(5);
    expect(snap.tokensPerSecond).toBeCloseTo(20);
    expect(snap.promptTokensPerSecond).toBeCloseTo(8);
    expect(snap.errors).toBe(8);
    expect(snap.aborted).toBe(2);
    expect(snap.errorRate).toBeCloseTo(8 / 48);
  });

  it('forgets data older than the window as time passes', () => {
    const monitor = new PerformanceMonitor({ windowMs: 10_000, bucketMs: 1_000 });
    monitor.recordRequest({ latencyMs: 1000 });
    vi.advanceTimersByTime(5_000);
    monitor.recordRequest({ latencyMs: 10 });
    expect(monitor.snapshot().requests).toBe(2);
    vi.advanceTimersByTime(5_500); // first request is now 10.5 s old
    const snap = monitor.snapshot();
    expect(snap.requests).toBe(1);
    expect(snap.latencyMs.max).toBe(10);
    expect(snap.coveredMs).toBe(10_000);
    vi.advanceTimersByTime(60_000);
    const empty = monitor.snapshot();
    expect(empty.requests).toBe(0);
    expect(empty.latencyMs).toEqual({ count: 0, p50: null, p90: null, p99: null, mean: null, max: null });
    expect(empty.errorRate).toBe(0);
  });

  it('reuses ring slots correctly after wrapping around many times', () => {
    const monitor = new PerformanceMonitor({ windowMs: 3_000, bucketMs: 1_000 });
    for (let second = 0; second < 100; second++) {
      monitor.recordRequest({ latencyMs: second });
      vi.advanceTimersByTime(1_000);
    }
    // Now at t=100 s: the window holds seconds 98, 99 (and the empty current second 100).
    const snap = monitor.snapshot();
    expect(snap.requests).toBe(2);
    expect(snap.latencyMs.max).toBe(99);
  });

  it('tracks queue depth, batch sizes, cache hit rate, TTFT and TPOT', () => {
    const monitor = new PerformanceMonitor();
    expect(monitor.snapshot().cache.hitRate).toBeNull();
    monitor.recordQueueDepth(4);
    monitor.recordQueueDepth(10);
    monitor.recordQueueDepth(1);
    monitor.recordBatchSize(8);
    monitor.recordBatchSize(4);
    monitor.recordCacheStats({ hits: 3, misses: 1 });
    monitor.recordCacheStats({ hits: 1, usedBytes: 300, capacityBytes: 1200 });
    monitor.recordRequest({ latencyMs: 100, ttftMs: 20, tpotMs: 4 });
    monitor.recordFallback({ from: 'vllm', to: 'onnx', reason: 'unreachable' });
    monitor.recordBatch({ size: 6 });
    const snap = monitor.snapshot();
    expect(snap.queueDepth).toEqual({ current: 1, mean: 5, max: 10 });
    expect(snap.batchSize).toEqual({ count: 3, mean: 6, max: 8 });
    expect(snap.cache).toEqual({ hits: 4, misses: 1, hitRate: 0.8, usageRatio: 0.25 });
    expect(snap.fallbacks).toBe(1);
    expect(snap.ttftMs.count).toBe(1);
    expect(snap.ttftMs.p50).toBe(20);
    expect(snap.tpotMs.p99).toBe(4);
  });

  it('uses an injected clock, ignores invalid numbers, and reset() forgets everything', () => {
    let now = 0;
    const monitor = new PerformanceMonitor({ windowMs: 2_000, bucketMs: 500, now: () => now });
    monitor.recordRequest({ latencyMs: Number.NaN, completionTokens: -3 });
    monitor.recordQueueDepth(-1);
    now = 1_000;
    const snap = monitor.snapshot();
    expect(snap.requests).toBe(1);
    expect(snap.latencyMs.count).toBe(0);
    expect(snap.tokensPerSecond).toBe(0);
    expect(snap.queueDepth.current).toBeNull();
    monitor.reset();
    expect(monitor.snapshot().requests).toBe(0);
  });

  it('rejects a window shorter than a bucket', () => {
    expect(() => new PerformanceMonitor({ windowMs: 100, bucketMs: 1_000 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
