import type { BenchPrompt } from './dataset.js';

/** What a target observed for one request. Times are `performance.now()` milliseconds. */
export interface SendOutcome {
  status: 'ok' | 'error' | 'cancelled';
  /** Arrival time of every chunk that carried text (chunks arriving in one read share a time). */
  chunkTimes: number[];
  /** When the response ended (last byte, or the failure). */
  endTime: number;
  /** From the server's `usage` when it sent one. */
  promptTokens?: number;
  outputTokens?: number;
  /** The generated text, kept only when asked (to count tokens without `usage`). */
  text?: string;
  /** HTTP status, for HTTP targets. */
  httpStatus?: number;
  /** Why it failed, short. */
  error?: string;
}

/** Where the load goes: an OpenAI-compatible URL or an engine in process. */
export interface BenchTarget {
  /** e.g. `http://127.0.0.1:8000/v1/completions` or `engine onnx (tiny)`. */
  readonly description: string;
  /** The model id requests name. */
  readonly model: string;
  /**
   * One small request before any load: throws a coded error (BENCH_TARGET_UNREACHABLE,
   * BENCH_TARGET_INVALID, ...) when the target cannot be benchmarked.
   */
  preflight(signal?: AbortSignal): Promise<void>;
  /** Sends one request; never throws: failures come back as `status: 'error'`. */
  send(prompt: BenchPrompt, signal: AbortSignal, keepText: boolean): Promise<SendOutcome>;
  close(): Promise<void>;
}
