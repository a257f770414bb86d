/** Least-squares line through recent (batch size, latency) samples: latency ≈ slope·size + intercept. */
export interface LatencyFit {
  slope: number;
  intercept: number;
  samples: number;
}

export interface LatencyModelOptions {
  /** Samples kept (the oldest drop out). Default 50, as BentoML's dispatcher. */
  capacity?: number;
  /** Samples needed, with at least two distinct sizes, before `fit()` answers. Default 4. */
  minSamples?: number;
}

/**
 * Online linear model of batch latency against batch size, refit on demand over a ring of recent
 * samples. Why linear: a decode step's cost is a fixed part (weights read once) plus a part per
 * sequence; BentoML's adaptive batcher uses the same form. Slope and intercept are floored at 0
 * so that noise never predicts that bigger batches are faster.
 */
export class LatencyModel {
  private readonly capacity: number;
  private readonly minSamples: number;
  private readonly sizes: number[] = [];
  private readonly latencies: number[] = [];

  constructor(options: LatencyModelOptions = {}) {
    this.capacity = Math.max(2, options.capacity ?? 50);
    this.minSamples = Math.max(2, options.minSamples ?? 4);
  }

  /** Adds one observation (size > 0, latency ≥ 0, both finite); others are ignored. */
  add(size: number, latencyMs: number): void {
    if (!(size > 0) || !Number.isFinite(size) || !(latencyMs >= 0) || !Number.isFinite(latencyMs)) return;
    this.sizes.push(size);
    this.latencies.push(latencyMs);
    if (this.sizes.length > this.capacity) {
      this.sizes.shift();
      this.latencies.shift();
    }
  }

  get size(): number {
    return this.sizes.length;
  }

  /** The fitted line, or undefined with too few samples or a single batch size. */
  fit(): LatencyFit | undefined {
    const n = this.sizes.length;
    if (n < this.minSamples) return undefined;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      sx += this.sizes[i]!;
      sy += this.latencies[i]!;
    }
    const mx = sx / n;
    const my = sy / n;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      const dx = this.sizes[i]! - mx;
      sxx += dx * dx;
      sxy += dx * (this.latencies[i]! - my);
    }
    if (sxx < 1e-9) return undefined;
    const slope = Math.max(0, sxy / sxx);
    const intercept = Math.max(0, my - slope * mx);
    return { slope, intercept, samples: n };
  }

  /** Predicted latency of a batch of `size`, ms; undefined when there is no fit. */
  predict(size: number): number | undefined {
    const fit = this.fit();
    return fit === undefined ? undefined : fit.intercept + fit.slope * size;
  }

  /** Largest size whose predicted latency stays within `budgetMs`; undefined when there is no fit. */
  largestSizeWithin(budgetMs: number): number | undefined {
    const fit = this.fit();
    if (fit === undefined) return undefined;
    if (fit.slope === 0) return fit.intercept <= budgetMs ? Number.POSITIVE_INFINITY : 0;
    return Math.floor((budgetMs - fit.intercept) / fit.slope);
  }
}
