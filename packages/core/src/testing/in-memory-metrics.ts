import type { AlertRecord, BatchRecord, CacheStatsRecord, FallbackRecord, MetricsSink, QueueDepthRecord, RequestRecord } from '../metrics.js';

/** A MetricsSink that keeps every record, for tests: `sink.requests`, `sink.fallbacks`, ... */
export class InMemoryMetricsSink implements MetricsSink {
  readonly requests: RequestRecord[] = [];
  readonly fallbacks: FallbackRecord[] = [];
  readonly batches: BatchRecord[] = [];
  readonly queueDepths: QueueDepthRecord[] = [];
  readonly cacheStats: CacheStatsRecord[] = [];
  readonly alerts: AlertRecord[] = [];

  recordRequest(record: RequestRecord): void {
    this.requests.push({ ...record });
  }
  recordFallback(record: FallbackRecord): void {
    this.fallbacks.push({ ...record });
  }
  recordBatch(record: BatchRecord): void {
    this.batches.push({ ...record });
  }
  recordQueueDepth(record: QueueDepthRecord): void {
    this.queueDepths.push({ ...record });
  }
  recordCacheStats(record: CacheStatsRecord): void {
    this.cacheStats.push({ ...record });
  }
  recordAlert(record: AlertRecord): void {
    this.alerts.push({ ...record });
  }
  /** Forgets everything recorded so far. */
  clear(): void {
    for (const list of [this.requests, this.fallbacks, this.batches, this.queueDepths, this.cacheStats, this.alerts] as unknown[][]) list.length = 0;
  }
}
