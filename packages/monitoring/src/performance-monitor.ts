import { MuaiError, isErrorStatus } from '@muai/core';
import type { AlertRecord, BatchRecord, CacheStatsRecord, FallbackRecord, MetricsSink, QueueDepthRecord, RequestStatus } from '@muai/core';
import { LOG_HISTOGRAM_BINS, binOf, quantile } from './internal/log-histogram.js';

export interface PerformanceMonitorOptions {
  /** Length of the rolling window, ms. Default 60 000 (one minute). */
  windowMs?: number;
  /** Width of one bucket of the ring, ms; the window slides by this step. Default 1000. */
  bucketMs?: number;
  /** Clock in ms. Default `Date.now`. Inject one for tests or replay. */
  now?: () => number;
}

/** One request, as the monitor needs it. Times in ms. */
export interface PerformanceRequestRecord {
  latencyMs: number;
  ttftMs?: number;
  tpotMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** Outcome; anything but success/ok/aborted counts as an error. Default `'success'`. */
  status?: RequestStatus;
}

/** Distribution of a timing over the window, ms. Every field is null when nothing was recorded. */
export interface LatencySummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  mean: number | null;
  max: number | null;
}

/** What the monitor saw over its window. Rates are per second of the window actually covered. */
export interface PerformanceSnapshot {
  /** Clock time of the snapshot, ms. */
  timestamp: number;
  /** Configured window, ms. */
  windowMs: number;
  /** Part of the window covered by data, ms (less than windowMs right after start or reset). */
  coveredMs: number;
  requests: number;
  errors: number;
  aborted: number;
  /** errors / (requests - aborted); 0 when there were none. */
  errorRate: number;
  requestsPerSecond: number;
  /** Generated tokens per second. */
  tokensPerSecond: number;
  promptTokensPerSecond: number;
  latencyMs: LatencySummary;
  ttftMs: LatencySummary;
  tpotMs: LatencySummary;
  queueDepth: { current: number | null; mean: number | null; max: number | null };
  batchSize: { count: number; mean: number | null; max: number | null };
  cache: { hits: number; misses: number; hitRate: number | null; usageRatio: number | null };
  /** Engine fallbacks in the window. */
  fallbacks: number;
  /** Alerts fired in the window. */
  alerts: number;
}

class TimingBins {
  counts: Uint32Array | undefined;
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  add(value: number): void {
    this.counts ??= new Uint32Array(LOG_HISTOGRAM_BINS);
    const bin = binOf(value);
    this.counts[bin] = (this.counts[bin] ?? 0) + 1;
    this.count += 1;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  clear(): void {
    this.counts?.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = Number.NEGATIVE_INFINITY;
  }
}

class Bucket {
  /** Index of the time slot (floor(time / bucketMs)) this bucket holds; -1 when empty. */
  slot = -1;
  requests = 0;
  errors = 0;
  aborted = 0;
  promptTokens = 0;
  completionTokens = 0;
  cacheHits = 0;
  cacheMisses = 0;
  queueSamples = 0;
  queueSum = 0;
  queueMax = 0;
  batches = 0;
  batchSum = 0;
  batchMax = 0;
  fallbacks = 0;
  alerts = 0;
  readonly latency = new TimingBins();
  readonly ttft = new TimingBins();
  readonly tpot = new TimingBins();

  reset(slot: number): void {
    this.slot = slot;
    this.requests = 0;
    this.errors = 0;
    this.aborted = 0;
    this.promptTokens = 0;
    this.completionTokens = 0;
    this.cacheHits = 0;
    this.cacheMisses = 0;
    this.queueSamples = 0;
    this.queueSum = 0;
    this.queueMax = 0;
    this.batches = 0;
    this.batchSum = 0;
    this.batchMax = 0;
    this.fallbacks = 0;
    this.alerts = 0;
    this.latency.clear();
    this.ttft.clear();
    this.tpot.clear();
  }
}

/**
 * Rolling-window view of serving performance: a ring of per-interval buckets (one per
 * `bucketMs`, `windowMs / bucketMs` of them). Recording touches one bucket (O(1)); `snapshot()`
 * merges the buckets still inside the window. Anomaly detection and the tuner read snapshots.
 */
export class PerformanceMonitor implements MetricsSink {
  readonly windowMs: number;
  readonly bucketMs: number;
  private readonly now: () => number;
  private readonly ring: Bucket[];
  private startedAt: number;
  private currentQueueDepth: number | null = null;
  private currentCacheUsage: number | null = null;

  constructor(options: PerformanceMonitorOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.bucketMs = options.bucketMs ?? 1_000;
    if (!(this.bucketMs > 0) || !(this.windowMs >= this.bucketMs)) {
      throw new MuaiError(
        'CONFIG_INVALID',
        `PerformanceMonitor needs bucketMs > 0 and windowMs >= bucketMs (got windowMs ${this.windowMs}, bucketMs ${this.bucketMs}). Fix the options.`,
        { details: { windowMs: this.windowMs, bucketMs: this.bucketMs } },
      );
    }
    this.now = options.now ?? Date.now;
    const size = Math.ceil(this.windowMs / this.bucketMs);
    this.ring = Array.from({ length: size }, () => new Bucket());
    this.startedAt = this.now();
  }

  /** Records one finished request. Invalid numbers are ignored. */
  recordRequest(record: PerformanceRequestRecord): void {
    const bucket = this.bucket();
    bucket.requests += 1;
    const status = record.status ?? 'success';
    if (status === 'aborted') bucket.aborted += 1;
    else if (isErrorStatus(status)) bucket.errors += 1;
    if (valid(record.latencyMs)) bucket.latency.add(record.latencyMs);
    if (valid(record.ttftMs)) bucket.ttft.add(record.ttftMs);
    if (valid(record.tpotMs)) bucket.tpot.add(record.tpotMs);
    if (valid(record.promptTokens)) bucket.promptTokens += record.promptTokens;
    if (valid(record.completionTokens)) bucket.completionTokens += record.completionTokens;
  }

  /** Records the current queue depth (a sample; the snapshot reports the last, mean and max). */
  recordQueueDepth(depthOrRecord: number | QueueDepthRecord): void {
    const depth = typeof depthOrRecord === 'number' ? depthOrRecord : depthOrRecord.depth;
    if (!valid(depth)) return;
    const bucket = this.bucket();
    bucket.queueSamples += 1;
    bucket.queueSum += depth;
    if (depth > bucket.queueMax) bucket.queueMax = depth;
    this.currentQueueDepth = depth;
  }

  /** Records the size of one executed batch. */
  recordBatchSize(size: number): void {
    if (!valid(size)) return;
    const bucket = this.bucket();
    bucket.batches += 1;
    bucket.batchSum += size;
    if (size > bucket.batchMax) bucket.batchMax = size;
  }

  /** MetricsSink: the size of one executed batch. */
  recordBatch(record: BatchRecord): void {
    this.recordBatchSize(record.size);
  }

  /** Records new cache hits and misses (deltas since the previous call) and the current usage ratio. */
  recordCacheStats(stats: CacheStatsRecord): void {
    const bucket = this.bucket();
    if (valid(stats.hits)) bucket.cacheHits += stats.hits;
    if (valid(stats.misses)) bucket.cacheMisses += stats.misses;
    const ratio = stats.usageRatio ?? (valid(stats.usedBytes) && valid(stats.capacityBytes) && stats.capacityBytes > 0 ? stats.usedBytes / stats.capacityBytes : undefined);
    if (valid(ratio)) this.currentCacheUsage = Math.min(1, ratio);
  }

  /** Counts an engine fallback. */
  recordFallback(_record: FallbackRecord): void {
    this.bucket().fallbacks += 1;
  }

  /** Counts a fired alert. */
  recordAlert(_record: AlertRecord): void {
    this.bucket().alerts += 1;
  }

  /** Forgets everything recorded. */
  reset(): void {
    for (const bucket of this.ring) bucket.reset(-1);
    this.startedAt = this.now();
    this.currentQueueDepth = null;
    this.currentCacheUsage = null;
  }

  /** The window's figures as of now. */
  snapshot(): PerformanceSnapshot {
    const now = this.now();
    const currentSlot = Math.floor(now / this.bucketMs);
    const oldestSlot = currentSlot - this.ring.length + 1;
    let requests = 0;
    let errors = 0;
    let aborted = 0;
    let promptTokens = 0;
    let completionTokens = 0;
    let cacheHits = 0;
    let cacheMisses = 0;
    let queueSamples = 0;
    let queueSum = 0;
    let queueMax = Number.NEGATIVE_INFINITY;
    let batches = 0;
    let batchSum = 0;
    let batchMax = Number.NEGATIVE_INFINITY;
    let fallbacks = 0;
    let alerts = 0;
    const latency: TimingBins[] = [];
    const ttft: TimingBins[] = [];
    const tpot: TimingBins[] = [];
    for (const bucket of this.ring) {
      if (bucket.slot < oldestSlot || bucket.slot > currentSlot) continue;
      requests += bucket.requests;
      errors += bucket.errors;
      aborted += bucket.aborted;
      promptTokens += bucket.promptTokens;
      completionTokens += bucket.completionTokens;
      cacheHits += bucket.cacheHits;
      cacheMisses += bucket.cacheMisses;
      queueSamples += bucket.queueSamples;
      queueSum += bucket.queueSum;
      if (bucket.queueSamples > 0 && bucket.queueMax > queueMax) queueMax = bucket.queueMax;
      batches += bucket.batches;
      batchSum += bucket.batchSum;
      if (bucket.batches > 0 && bucket.batchMax > batchMax) batchMax = bucket.batchMax;
      fallbacks += bucket.fallbacks;
      alerts += bucket.alerts;
      latency.push(bucket.latency);
      ttft.push(bucket.ttft);
      tpot.push(bucket.tpot);
    }
    // The window covers at most windowMs, and no more than the time since start (or reset), at
    // least one bucket so that rates right after start stay finite.
    const coveredMs = Math.max(this.bucketMs, Math.min(this.windowMs, now - this.startedAt));
    const seconds = coveredMs / 1000;
    const decided = requests - aborted;
    return {
      timestamp: now,
      windowMs: this.windowMs,
      coveredMs,
      requests,
      errors,
      aborted,
      errorRate: decided > 0 ? errors / decided : 0,
      requestsPerSecond: requests / seconds,
      tokensPerSecond: completionTokens / seconds,
      promptTokensPerSecond: promptTokens / seconds,
      latencyMs: summarize(latency),
      ttftMs: summarize(ttft),
      tpotMs: summarize(tpot),
      queueDepth: {
        current: this.currentQueueDepth,
        mean: queueSamples > 0 ? queueSum / queueSamples : null,
        max: queueSamples > 0 ? queueMax : null,
      },
      batchSize: { count: batches, mean: batches > 0 ? batchSum / batches : null, max: batches > 0 ? batchMax : null },
      cache: {
        hits: cacheHits,
        misses: cacheMisses,
        hitRate: cacheHits + cacheMisses > 0 ? cacheHits / (cacheHits + cacheMisses) : null,
        usageRatio: this.currentCacheUsage,
      },
      fallbacks,
      alerts,
    };
  }

  private bucket(): Bucket {
    const slot = Math.floor(this.now() / this.bucketMs);
    const length = this.ring.length;
    const bucket = this.ring[((slot % length) + length) % length] as Bucket;
    if (bucket.slot !== slot) bucket.reset(slot);
    return bucket;
  }
}

/** Creates a PerformanceMonitor; see PerformanceMonitorOptions for options and defaults. */
export function createPerformanceMonitor(options: PerformanceMonitorOptions = {}): PerformanceMonitor {
  return new PerformanceMonitor(options);
}

function valid(value: number | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function summarize(parts: readonly TimingBins[]): LatencySummary {
  let count = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  const merged = new Uint32Array(LOG_HISTOGRAM_BINS);
  for (const part of parts) {
    if (part.count === 0 || !part.counts) continue;
    count += part.count;
    sum += part.sum;
    if (part.min < min) min = part.min;
    if (part.max > max) max = part.max;
    for (let bin = 0; bin < LOG_HISTOGRAM_BINS; bin++) merged[bin] = (merged[bin] ?? 0) + (part.counts[bin] ?? 0);
  }
  if (count === 0) return { count: 0, p50: null, p90: null, p99: null, mean: null, max: null };
  return {
    count,
    p50: quantile(merged, count, 0.5, min, max),
    p90: quantile(merged, count, 0.9, min, max),
    p99: quantile(merged, count, 0.99, min, max),
    mean: sum / count,
    max,
  };
}
