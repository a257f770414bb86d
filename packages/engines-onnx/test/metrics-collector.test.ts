import { describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '@muai/core/testing';
import type { KvCacheStats } from '@muai/kv-cache';
import { createOnnxMetricsCollector } from '../src/metrics-collector.js';
import type { SchedulerStats } from '../src/internal/scheduler.js';

function schedulerStats(overrides: Partial<SchedulerStats>): SchedulerStats {
  return { running: 0, waiting: 0, steps: 0, sequenceSteps: 0, prefills: 0, prefixTokensReused: 0, rebuilds: 0, maxBatchSeen: 0, stepsBySize: {}, batchTokens: 0, maxBatchTokens: 1000, ...overrides };
}

function cacheStats(overrides: Partial<KvCacheStats>): KvCacheStats {
  return {
    enabled: true,
    blockSize: 16,
    blockBytes: 1024,
    bytesBudget: 1 << 20,
    bytesUsed: 0,
    bytesAllocated: 0,
    blocksTotal: 1024,
    blocksActive: 0,
    blocksCached: 0,
    blocksFree: 1024,
    sequences: 0,
    lookups: 0,
    lookupHits: 0,
    lookupMisses: 0,
    queriedTokens: 0,
    hitTokens: 0,
    missTokens: 0,
    evictions: 0,
    allocationFailures: 0,
    ...overrides,
  };
}

describe('createOnnxMetricsCollector', () => {
  it('reports queue and running counts, one batch per new decode step, and cache deltas', async () => {
    let batch = schedulerStats({ waiting: 2, running: 3, stepsBySize: { 1: 2, 3: 1 } });
    let cache: KvCacheStats | undefined = cacheStats({ bytesUsed: 4096, lookupHits: 2, lookupMisses: 1 });
    const sink = new InMemoryMetricsSink();
    const collect = createOnnxMetricsCollector({ models: () => ['default', 'embedder'], batchStats: (name) => (name === 'default' ? batch : Promise.reject(new Error('not a language model'))), cacheStats: () => cache }, sink);
    await collect();
    expect(sink.queueDepths).toEqual([{ depth: 2, running: 3, model: 'default', engine: 'onnx' }]);
    expect(sink.batches.map((record) => record.size).sort()).toEqual([1, 1, 3]);
    expect(sink.cacheStats).toEqual([{ model: 'default', engine: 'onnx', usedBytes: 4096, capacityBytes: 1 << 20, runningRatio: 0, hits: 2, misses: 1 }]);
    sink.clear();
    batch = schedulerStats({ stepsBySize: { 1: 2, 3: 3, 4: 1 } });
    cache = cacheStats({ bytesUsed: 8192, lookupHits: 5, lookupMisses: 1 });
    await collect();
    expect(sink.batches.map((record) => record.size).sort()).toEqual([3, 3, 4]);
    expect(sink.cacheStats[0]).toMatchObject({ hits: 3, misses: 0, usedBytes: 8192 });
    sink.clear();
    // Without a prefix cache, the KV usage is the running batch's share of its key/value slots.
    cache = undefined;
    batch = schedulerStats({ batchTokens: 250, maxBatchTokens: 1000, stepsBySize: { 1: 2, 3: 3, 4: 1 } });
    await collect();
    expect(sink.batches).toEqual([]);
    expect(sink.cacheStats).toEqual([{ model: 'default', engine: 'onnx', usageRatio: 0.25, runningRatio: 0.25 }]);
  });
});
