import type { MetricsSink } from '@muai/core';
import type { KvCacheStats } from '@muai/kv-cache';
import type { SchedulerStats } from './internal/scheduler.js';

/** What the collector reads: an OnnxEngine, or an OnnxWorkerEngine (whose answers come from its worker). */
export interface OnnxStatsSource {
  models(): readonly string[];
  batchStats(modelName?: string): SchedulerStats | Promise<SchedulerStats>;
  cacheStats(modelName?: string): KvCacheStats | undefined | Promise<KvCacheStats | undefined>;
}

interface Seen {
  lookupHits: number;
  lookupMisses: number;
  stepsBySize: Record<number, number>;
}

/**
 * A collector (run before each scrape, e.g. by PrometheusExporter's `addCollector`) that reads
 * every loaded language model's continuous-batching scheduler and prefix cache and feeds `sink`:
 * `recordQueueDepth` (waiting and running requests), `recordBatch` once per decode step since the
 * previous call with that step's batch size, and `recordCacheStats` (bytes in use and the budget
 * when the prefix cache is on, else the running batch's share of its key/value slots; new lookup
 * hits and misses). Models that are not language models are skipped.
 */
export function createOnnxMetricsCollector(engine: OnnxStatsSource, sink: Pick<MetricsSink, 'recordQueueDepth' | 'recordBatch' | 'recordCacheStats'>, options: { engineName?: string } = {}): () => Promise<void> {
  const engineName = options.engineName ?? 'onnx';
  const seen = new Map<string, Seen>();
  return async () => {
    for (const model of engine.models()) {
      let batch: SchedulerStats;
      let cache: KvCacheStats | undefined;
      try {
        [batch, cache] = await Promise.all([engine.batchStats(model), engine.cacheStats(model)]);
      } catch {
        continue; // not a language model, or unloaded meanwhile
      }
      const before = seen.get(model) ?? { lookupHits: 0, lookupMisses: 0, stepsBySize: {} };
      sink.recordQueueDepth({ depth: batch.waiting, running: batch.running, model, engine: engineName });
      for (const [size, count] of Object.entries(batch.stepsBySize)) {
        const fresh = count - (before.stepsBySize[Number(size)] ?? 0);
        for (let step = 0; step < fresh; step += 1) sink.recordBatch({ size: Number(size), model, engine: engineName });
      }
      // The running batch's keys/values (its slots over max_batch_tokens) are what running
      // requests hold; the prefix cache (when on) also keeps finished prefixes for reuse.
      const running = batch.maxBatchTokens > 0 ? Math.min(1, batch.batchTokens / batch.maxBatchTokens) : undefined;
      if (cache?.enabled) {
        sink.recordCacheStats({
          model,
          engine: engineName,
          usedBytes: cache.bytesUsed,
          capacityBytes: cache.bytesBudget,
          ...(running !== undefined ? { runningRatio: running } : {}),
          hits: Math.max(0, cache.lookupHits - before.lookupHits),
          misses: Math.max(0, cache.lookupMisses - before.lookupMisses),
        });
      } else if (running !== undefined) {
        sink.recordCacheStats({ model, engine: engineName, usageRatio: running, runningRatio: running });
      }
      seen.set(model, { lookupHits: cache?.lookupHits ?? 0, lookupMisses: cache?.lookupMisses ?? 0, stepsBySize: batch.stepsBySize });
    }
  };
}
