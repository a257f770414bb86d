import type { MuaiError } from '@muai/core';

/** Why a batch left the queue. */
export type DispatchReason =
  /** `maxBatchSize` requests were waiting. */
  | 'full'
  /** A size listed in `preferredBatchSizes` was reached. */
  | 'preferred'
  /** The oldest waiting request reached `batchTimeoutMs`. */
  | 'timeout'
  /** `flush()`, `drain()` or `close()` sent what was waiting without waiting for companions. */
  | 'flush';

/** What the batch function receives beside its inputs. */
export interface BatchContext {
  /** Increasing id of this batch within its batcher, from 1. */
  readonly batchId: number;
  /** Number of inputs (equals `inputs.length`). */
  readonly size: number;
  /** Why the batch was sent. */
  readonly reason: DispatchReason;
  /**
   * Aborted once every request of this batch has been cancelled or timed out, so nobody waits for
   * the result any more; an engine may stop early. Created on first access (free when unused).
   */
  readonly signal: AbortSignal;
  /** True when the caller of `inputs[index]` has gone (cancelled or timed out); its result will be dropped. */
  isCancelled(index: number): boolean;
}

/**
 * Runs one batch. Returns one result per input, in input order (the array is matched to callers
 * by position, so the engine may finish items in any order internally). An `Error` in the array
 * fails only that item. Throwing or rejecting fails every request of this batch, and only those.
 */
export type BatchFunction<I, O> = (
  inputs: I[],
  context: BatchContext,
) => Promise<ReadonlyArray<O | Error>> | ReadonlyArray<O | Error>;

/** Options of `createBatcher`. Every field but `batchFn` has a default. */
export interface BatcherOptions<I, O> {
  /** The batch function: any async function from an array of inputs to an aligned array of outputs. */
  batchFn: BatchFunction<I, O>;
  /** Most requests in one batch. Integer >= 1. Default 32. */
  maxBatchSize?: number;
  /**
   * Longest time in milliseconds the oldest waiting request waits for companions before a partial
   * batch is sent (Triton's `max_queue_delay`, Ray Serve's `batch_wait_timeout_s`). 0 sends what
   * arrived in the same tick. Default 50.
   */
  batchTimeoutMs?: number;
  /**
   * Batch sizes sent as soon as they are reached, without waiting for `batchTimeoutMs`; when
   * several are possible the largest is chosen. Each in 1..maxBatchSize. Default [] (only
   * `maxBatchSize` sends early).
   */
  preferredBatchSizes?: readonly number[];
  /** Most requests waiting (not yet sent). Beyond it `submit` rejects at once with QueueFullError (QUEUE_FULL). Default 1024. */
  maxQueueSize?: number;
  /**
   * Per-request deadline in milliseconds covering queue wait and execution; on expiry the request
   * rejects with RequestTimeoutError (REQUEST_TIMEOUT) and a late result is dropped. Default: none.
   */
  requestTimeoutMs?: number;
  /** Number of priority levels; `submit` accepts `priority` 0..priorityLevels-1, higher first. Default 1. */
  priorityLevels?: number;
  /** Priority of requests that give none. Default 0 (the lowest). */
  defaultPriority?: number;
  /** Most batches executing at once. Default 1. */
  maxConcurrentBatches?: number;
  /** Called with every event (see BatcherEvent). Same as `subscribe` at creation. Must not throw; thrown errors are ignored. */
  onEvent?: (event: BatcherEvent) => void;
}

/** Options of one `submit`. */
export interface SubmitOptions {
  /** Cancels the request: if still queued it never reaches the batch function; if executing its result is dropped. */
  signal?: AbortSignal;
  /** 0..priorityLevels-1; higher is dequeued first, FIFO within a level. Default `defaultPriority`. */
  priority?: number;
  /** Deadline for this request in milliseconds (queue wait plus execution); overrides `requestTimeoutMs`. */
  timeoutMs?: number;
}

/** A batch left the queue. Wait times are in milliseconds, measured from `submit` to dispatch. */
export interface BatchDispatchedEvent {
  readonly type: 'batch';
  readonly batchId: number;
  readonly size: number;
  readonly reason: DispatchReason;
  /** Requests still waiting after this batch left. */
  readonly queueDepth: number;
  /** Batches executing, this one included. */
  readonly inFlightBatches: number;
  readonly waitMsMin: number;
  readonly waitMsP50: number;
  readonly waitMsMax: number;
  readonly waitMsMean: number;
  /** Each request's wait, in batch order (for histograms). */
  readonly waitsMs: readonly number[];
}

/** A batch function call settled. */
export interface BatchSettledEvent {
  readonly type: 'batch_done';
  readonly batchId: number;
  readonly size: number;
  /** Time the batch function took, in milliseconds. */
  readonly durationMs: number;
  /** 'error' when the whole batch failed (threw, rejected, or returned the wrong number of results). */
  readonly status: 'ok' | 'error';
  /** Requests resolved with a result. */
  readonly succeeded: number;
  /** Requests rejected by this batch (all live ones when status is 'error', else per-item errors). */
  readonly failed: number;
  /** Results dropped because their caller had cancelled or timed out meanwhile. */
  readonly dropped: number;
  /** The batch-level error when status is 'error'. */
  readonly error?: MuaiError;
}

/** A submit was refused at once and never queued. */
export interface RequestRejectedEvent {
  readonly type: 'rejected';
  readonly reason: 'queue_full' | 'closed' | 'invalid' | 'aborted';
  readonly queueDepth: number;
}

/** A queued or executing request was cancelled by its signal or its timeout. */
export interface RequestCancelledEvent {
  readonly type: 'cancelled';
  readonly reason: 'aborted' | 'timeout';
  /** 'queued' means it never reached the batch function. */
  readonly phase: 'queued' | 'executing';
  readonly priority: number;
  /** Milliseconds since submit. */
  readonly elapsedMs: number;
  readonly queueDepth: number;
}

/**
 * Everything the batcher reports. A metrics exporter maps these onto counters and histograms
 * (`batch` -> batch size and queue wait histograms, `batch_done` -> duration histogram and result
 * counters, `rejected`/`cancelled` -> counters by reason) and reads `stats()` for gauges.
 */
export type BatcherEvent = BatchDispatchedEvent | BatchSettledEvent | RequestRejectedEvent | RequestCancelledEvent;

/** A point-in-time view of a batcher; counters are totals since creation. */
export interface BatcherStats {
  /** Requests waiting to be sent. */
  readonly queueDepth: number;
  /** Requests waiting, per priority level (index = priority). */
  readonly queueDepthByPriority: readonly number[];
  /** Age in milliseconds of the oldest waiting request; 0 when the queue is empty. */
  readonly oldestWaitMs: number;
  /** Batch function calls not yet settled. */
  readonly inFlightBatches: number;
  /** Requests in executing batches whose callers still wait. */
  readonly inFlightRequests: number;
  /** Requests accepted into the queue. */
  readonly accepted: number;
  /** Submits refused at once (queue full, closed, invalid options, already-aborted signal). */
  readonly rejected: number;
  /** Of `rejected`, those refused because the queue was full. */
  readonly queueFull: number;
  /** Accepted requests resolved with a result. */
  readonly succeeded: number;
  /** Accepted requests rejected by the batch function (batch or per-item error). */
  readonly failed: number;
  /** Accepted requests that hit their timeout. */
  readonly timedOut: number;
  /** Accepted requests cancelled by their signal, or still queued at `close({ cancelQueued: true })`. */
  readonly aborted: number;
  /** Batches sent to the batch function. */
  readonly batches: number;
  /** Requests sent to the batch function (batchedRequests / batches = mean batch size). */
  readonly batchedRequests: number;
  /** True after `drain()` or `close()`. */
  readonly closed: boolean;
}

/** Options of `close`. */
export interface CloseOptions {
  /** Reject requests still waiting (BatcherClosedError) instead of sending them. Executing batches always finish. Default false. */
  cancelQueued?: boolean;
}

/** Limits that `setLimits` may change while the batcher runs. */
export interface BatcherLimits {
  maxBatchSize?: number;
  batchTimeoutMs?: number;
  maxConcurrentBatches?: number;
}

/** A dynamic batcher. */
export interface Batcher<I, O> {
  /**
   * Queues one input; resolves with its own output. Rejects with QueueFullError (QUEUE_FULL) when
   * `maxQueueSize` requests wait, BatcherClosedError after drain/close, RequestAbortedError,
   * RequestTimeoutError, InvalidRequestError (bad priority/timeout), or the engine's error
   * (ENGINE_ERROR with the original as `cause`, or the engine's own MuaiError).
   */
  submit(input: I, options?: SubmitOptions): Promise<O>;
  /**
   * Changes limits while running (an auto-tuner's knobs). Executing batches are not touched and no
   * request is dropped or failed: waiting requests are dispatched under the new limits. Throws
   * ConfigInvalidError (nothing changed) for an invalid value.
   */
  setLimits(limits: BatcherLimits): void;
  /** The limits in force. */
  limits(): Required<BatcherLimits>;
  /** Sends every waiting request now (in batches of at most maxBatchSize, as concurrency allows). */
  flush(): void;
  /** Counters and gauges at this moment. */
  stats(): BatcherStats;
  /** Adds an event listener; returns a function that removes it. Listeners must not throw. */
  subscribe(listener: (event: BatcherEvent) => void): () => void;
  /**
   * Refuses new submits, sends what is waiting without waiting for companions, and resolves when
   * every accepted request has settled.
   */
  drain(): Promise<void>;
  /** Like `drain()`; with `cancelQueued: true`, waiting requests are rejected instead of sent. */
  close(options?: CloseOptions): Promise<void>;
}
