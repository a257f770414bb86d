/** What the gate saw since the previous `window()` call (the tuner's admission signal). */
export interface AdmissionWindow {
  /** Requests refused because the limit was reached. */
  refused: number;
  /** Requests admitted. */
  admitted: number;
  /** Requests in flight: time-weighted mean over the window, and the most at once. */
  inFlight: { mean: number; max: number };
}

export interface AdmissionGateOptions {
  /** Most requests in flight; at least 1. */
  limit: number;
  /** Clock, ms. Default performance.now. */
  now?: () => number;
}

/**
 * The `max_concurrency` knob as admission control: at most `limit` requests in flight, and a request
 * over the limit is refused at once (the caller answers 429 with Retry-After), not queued. Why refuse:
 * when arrivals exceed what the engine can serve, a waiting line only grows, and every admitted
 * request's latency grows with it (Little's law: latency ≈ in flight / throughput); bounding what is in
 * flight bounds that latency, and a refused client can retry when there is room (TGI's
 * `--max-concurrent-requests`, Triton's `max_queue_size`). Lowering the limit never touches requests
 * already admitted: they finish, and new ones wait for the count to fall below it.
 */
export class AdmissionGate {
  private currentLimit: number;
  private active = 0;
  private readonly now: () => number;
  private refused = 0;
  private admitted = 0;
  private peak = 0;
  /** ∫ in-flight dt since the window began, request·ms. */
  private area = 0;
  private lastChange: number;
  private windowStart: number;

  constructor(options: AdmissionGateOptions) {
    this.currentLimit = Math.max(1, Math.floor(options.limit));
    this.now = options.now ?? (() => performance.now());
    this.lastChange = this.now();
    this.windowStart = this.lastChange;
  }

  get limit(): number {
    return this.currentLimit;
  }

  get inFlight(): number {
    return this.active;
  }

  /** New limit (at least 1), in force for the next request. */
  setLimit(limit: number): void {
    this.currentLimit = Math.max(1, Math.floor(limit));
  }

  /** Admits a request (true: call `release()` once when it ends) or refuses it (false). */
  tryAcquire(): boolean {
    if (this.active >= this.currentLimit) {
      this.refused += 1;
      return false;
    }
    this.move(1);
    this.admitted += 1;
    return true;
  }

  /** An admitted request ended (answered, failed or aborted). */
  release(): void {
    if (this.active > 0) this.move(-1);
  }

  /** The figures since the previous call, and a new window from now. */
  window(): AdmissionWindow {
    const at = this.now();
    this.area += this.active * (at - this.lastChange);
    this.lastChange = at;
    const span = at - this.windowStart;
    const result: AdmissionWindow = { refused: this.refused, admitted: this.admitted, inFlight: { mean: span > 0 ? this.area / span : this.active, max: this.peak } };
    this.windowStart = at;
    this.area = 0;
    this.refused = 0;
    this.admitted = 0;
    this.peak = this.active;
    return result;
  }

  private move(delta: number): void {
    const at = this.now();
    this.area += this.active * (at - this.lastChange);
    this.lastChange = at;
    this.active += delta;
    if (this.active > this.peak) this.peak = this.active;
  }
}

/** Creates an admission gate (`max_concurrency` with refusal beyond it). */
export function createAdmissionGate(options: AdmissionGateOptions): AdmissionGate {
  return new AdmissionGate(options);
}
