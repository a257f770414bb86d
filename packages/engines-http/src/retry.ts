import { RequestAbortedError } from '@muai/core';

/** Backoff settings. */
export interface BackoffOptions {
  /** First delay, in ms. Default 100. */
  baseMs?: number;
  /** Largest delay, in ms. Default 2000. */
  maxMs?: number;
  /** Random generator in [0, 1), for tests. Default Math.random. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (0-based): exponential with "full jitter",
 * a random value in [0, min(maxMs, baseMs * 2^attempt)].
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 100;
  const max = options.maxMs ?? 2000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt));
  return Math.floor((options.random ?? Math.random)() * ceiling);
}

/** Waits `ms`, or rejects with RequestAbortedError as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new RequestAbortedError({ cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new RequestAbortedError({ cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
