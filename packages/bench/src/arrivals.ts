import { InvalidRequestError } from '@muai/core';
import { createRandom } from './random.js';

/** How requests arrive. */
export interface ArrivalOptions {
  /** Requests per second; `Infinity` (the default) sends everything at once (capped by concurrency). */
  requestRate?: number;
  /**
   * Shape of the gamma inter-arrival distribution, as `vllm bench serve --burstiness`: 1 is a
   * Poisson process; below 1 burstier, above 1 more uniform. The mean rate stays `requestRate`.
   */
  burstiness?: number;
  /** Ramp the rate from `rampUpStartRps` to `rampUpEndRps` over the run (instead of `requestRate`). */
  rampUpStrategy?: 'linear' | 'exponential';
  rampUpStartRps?: number;
  rampUpEndRps?: number;
  seed?: number;
}

/**
 * Send times (seconds after the start) of `count` requests, as vLLM's `get_request` computes
 * them: inter-arrival ~ Gamma(shape = burstiness, scale = 1 / (rate · burstiness)); for a fixed
 * rate the times are then rescaled so that the last one is at count / rate, as vLLM does, so that
 * short runs still have the requested mean rate. With a ramp-up, request i uses the rate reached at
 * progress i / (count − 1) (linear, or geometric for `exponential`). `rescale` false keeps the
 * raw gamma gaps (runs bounded by time, generated block by block).
 */
export function arrivalTimes(count: number, options: ArrivalOptions = {}, rescale = true): number[] {
  const burstiness = options.burstiness ?? 1;
  if (!(burstiness > 0)) throw new InvalidRequestError(`--burstiness must be > 0 (got ${burstiness}).`);
  const random = createRandom(options.seed ?? 0);
  const times = new Array<number>(count);
  const ramp = options.rampUpStrategy;
  if (ramp !== undefined) {
    const start = options.rampUpStartRps;
    const end = options.rampUpEndRps;
    if (start === undefined || end === undefined || !(start > 0) || !(end > 0)) {
      throw new InvalidRequestError('A ramp-up needs --ramp-up-start-rps and --ramp-up-end-rps, both > 0.');
    }
    let t = 0;
    for (let i = 0; i < count; i++) {
      const progress = count > 1 ? i / (count - 1) : 1;
      const rate = ramp === 'linear' ? start + (end - start) * progress : start * Math.pow(end / start, progress);
      t += random.gamma(burstiness) / (rate * burstiness);
      times[i] = t;
    }
    return times;
  }
  const rate = options.requestRate ?? Number.POSITIVE_INFINITY;
  if (!(rate > 0)) throw new InvalidRequestError(`--request-rate must be > 0 (got ${rate}).`);
  if (rate === Number.POSITIVE_INFINITY) return times.fill(0);
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += random.gamma(burstiness) / (rate * burstiness);
    times[i] = t;
  }
  const last = times[count - 1];
  if (rescale && last !== undefined && last > 0) {
    const factor = count / rate / last;
    for (let i = 0; i < count; i++) times[i] = times[i]! * factor;
  }
  return times;
}
