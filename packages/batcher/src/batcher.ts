import {
  ConfigInvalidError,
  InvalidRequestError,
  MuaiError,
  QueueFullError,
  RequestAbortedError,
  RequestTimeoutError,
  type ConfigProblem,
} from '@muai/core';
import { BatcherClosedError } from './errors.js';
import { Deque } from './internal/deque.js';
import type {
  BatchContext,
  BatchFunction,
  Batcher,
  BatcherEvent,
  BatcherLimits,
  BatcherOptions,
  BatcherStats,
  CloseOptions,
  DispatchReason,
  SubmitOptions,
} from './types.js';

/** Defaults of every option of `createBatcher`. */
export const BATCHER_DEFAULTS = Object.freeze({
  maxBatchSize: 32,
  batchTimeoutMs: 50,
  preferredBatchSizes: Object.freeze([]) as readonly number[],
  maxQueueSize: 1024,
  requestTimeoutMs: undefined as number | undefined,
  priorityLevels: 1,
  defaultPriority: 0,
  maxConcurrentBatches: 1,
});

const QUEUED = 0;
const EXECUTING = 1;
const SETTLED = 2;

const now: () => number = () => performance.now();

/** One submitted request. A class so that every request has the same hidden shape. */
class PendingRequest<I, O> {
  state = QUEUED;
  input: I | undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  signal: AbortSignal | undefined = undefined;
  /** The set of requests watching the same signal (see DynamicBatcher.watch). */
  watchers: Set<PendingRequest<I, O>> | undefined = undefined;
  batch: RunningBatch<I, O> | undefined = undefined;
  index = -1;
  timeoutMs = 0;

  constructor(
    input: I,
    readonly resolve: (value: O) => void,
    readonly reject: (error: unknown) => void,
    readonly priority: number,
    readonly enqueuedAt: number,
  ) {
    this.input = input;
  }
}

/** A batch handed to the batch function; doubles as its BatchContext (one object per batch). */
class RunningBatch<I, O> implements BatchContext {
  /** Requests whose callers still wait for this batch's result. */
  live: number;
  startedAt = 0;
  private controller: AbortController | undefined = undefined;
  private everyoneGone = false;

  constructor(
    readonly batchId: number,
    readonly requests: PendingRequest<I, O>[],
    readonly reason: DispatchReason,
  ) {
    this.live = requests.length;
  }

  get size(): number {
    return this.requests.length;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.everyoneGone) this.controller.abort();
    }
    return this.controller.signal;
  }

  isCancelled(index: number): boolean {
    const request = this.requests[index];
    return request === undefined || request.state !== EXECUTING || request.batch !== this;
  }

  /** Called when the last waiting caller of this batch has gone. */
  allCancelled(): void {
    this.everyoneGone = true;
    this.controller?.abort();
  }
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

function validate<I, O>(options: BatcherOptions<I, O>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const check = (ok: boolean, path: string, value: unknown, expected: string): void => {
    if (!ok) problems.push({ source: 'createBatcher', path, value, expected });
  };
  check(typeof options?.batchFn === 'function', 'batchFn', typeof options?.batchFn, 'a function (inputs, context) => Promise<results>');
  const o = options ?? ({} as BatcherOptions<I, O>);
  if (o.maxBatchSize !== undefined) check(isPositiveInteger(o.maxBatchSize), 'maxBatchSize', o.maxBatchSize, 'an integer >= 1');
  if (o.batchTimeoutMs !== undefined)
    check(
      typeof o.batchTimeoutMs === 'number' && Number.isFinite(o.batchTimeoutMs) && o.batchTimeoutMs >= 0,
      'batchTimeoutMs',
      o.batchTimeoutMs,
      'a finite number of milliseconds >= 0',
    );
  if (o.maxQueueSize !== undefined)
    check(isPositiveInteger(o.maxQueueSize), 'maxQueueSize', o.maxQueueSize, 'an integer >= 1 (the queue is always bounded)');
  if (o.requestTimeoutMs !== undefined)
    check(
      typeof o.requestTimeoutMs === 'number' && o.requestTimeoutMs > 0,
      'requestTimeoutMs',
      o.requestTimeoutMs,
      'a number of milliseconds > 0 (omit it for no timeout)',
    );
  if (o.priorityLevels !== undefined) check(isPositiveInteger(o.priorityLevels), 'priorityLevels', o.priorityLevels, 'an integer >= 1');
  if (o.maxConcurrentBatches !== undefined)
    check(isPositiveInteger(o.maxConcurrentBatches), 'maxConcurrentBatches', o.maxConcurrentBatches, 'an integer >= 1');
  const maxBatchSize = isPositiveInteger(o.maxBatchSize) ? o.maxBatchSize : BATCHER_DEFAULTS.maxBatchSize;
  if (o.preferredBatchSizes !== undefined) {
    if (!Array.isArray(o.preferredBatchSizes)) {
      check(false, 'preferredBatchSizes', o.preferredBatchSizes, 'an array of batch sizes');
    } else {
      o.preferredBatchSizes.forEach((size, index) =>
        check(isPositiveInteger(size) && size <= maxBatchSize, `preferredBatchSizes[${index}]`, size, `an integer in 1..${maxBatchSize} (maxBatchSize)`),
      );
    }
  }
  const levels = isPositiveInteger(o.priorityLevels) ? o.priorityLevels : BATCHER_DEFAULTS.priorityLevels;
  if (o.defaultPriority !== undefined)
    check(
      Number.isInteger(o.defaultPriority) && o.defaultPriority >= 0 && o.defaultPriority < levels,
      'defaultPriority',
      o.defaultPriority,
      `an integer in 0..${levels - 1} (priorityLevels - 1)`,
    );
  if (o.onEvent !== undefined) check(typeof o.onEvent === 'function', 'onEvent', typeof o.onEvent, 'a function');
  return problems;
}

function median(sorted: number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const mid = n >> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

class DynamicBatcher<I, O> implements Batcher<I, O> {
  private readonly batchFn: BatchFunction<I, O>;
  private maxBatchSize: number;
  private batchTimeoutMs: number;
  private readonly maxQueueSize: number;
  private readonly requestTimeoutMs: number | undefined;
  private readonly priorityLevels: number;
  private readonly defaultPriority: number;
  private maxConcurrentBatches: number;
  private readonly preferredBatchSizes: readonly number[];
  /** preferredAtOrBelow[n] = largest preferred size <= n, or 0 (index 0..maxBatchSize). */
  private preferredAtOrBelow: Int32Array;
  /** isPreferred[n] = 1 when reaching n waiting requests should send a batch at once. */
  private isPreferred: Uint8Array;

  private readonly levels: Deque<PendingRequest<I, O>>[] = [];
  private readonly liveByLevel: number[] = [];
  private queued = 0;
  private inFlightBatches = 0;
  private inFlightRequests = 0;
  private nextBatchId = 1;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  private pumpScheduled = false;
  /** Requests still to send without waiting for companions, from flush(). */
  private flushRemaining = 0;
  private closed = false;
  private drainWaiters: Array<() => void> = [];
  private listeners: Array<(event: BatcherEvent) => void> = [];
  private readonly signalWatchers = new WeakMap<AbortSignal, Set<PendingRequest<I, O>>>();

  private accepted = 0;
  private rejected = 0;
  private queueFull = 0;
  private succeeded = 0;
  private failed = 0;
  private timedOut = 0;
  private aborted = 0;
  private batches = 0;
  private batchedRequests = 0;

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.pump();
  };
  private readonly onMicrotask = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  constructor(options: BatcherOptions<I, O>) {
    const problems = validate(options);
    if (problems.length > 0) throw new ConfigInvalidError(problems);
    this.batchFn = options.batchFn;
    this.maxBatchSize = options.maxBatchSize ?? BATCHER_DEFAULTS.maxBatchSize;
    this.batchTimeoutMs = options.batchTimeoutMs ?? BATCHER_DEFAULTS.batchTimeoutMs;
    this.maxQueueSize = options.maxQueueSize ?? BATCHER_DEFAULTS.maxQueueSize;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.priorityLevels = options.priorityLevels ?? BATCHER_DEFAULTS.priorityLevels;
    this.defaultPriority = options.defaultPriority ?? BATCHER_DEFAULTS.defaultPriority;
    this.maxConcurrentBatches = options.maxConcurrentBatches ?? BATCHER_DEFAULTS.maxConcurrentBatches;
    this.preferredBatchSizes = [...(options.preferredBatchSizes ?? [])];
    this.preferredAtOrBelow = new Int32Array(0);
    this.isPreferred = new Uint8Array(0);
    this.buildPreferred();
    for (let level = 0; level < this.priorityLevels; level++) {
      this.levels.push(new Deque<PendingRequest<I, O>>(Math.min(64, this.maxQueueSize)));
      this.liveByLevel.push(0);
    }
    if (options.onEvent) this.listeners.push(options.onEvent);
  }

  submit(input: I, options?: SubmitOptions): Promise<O> {
    if (this.closed) return this.refuse('closed', new BatcherClosedError());
    let priority = this.defaultPriority;
    let timeoutMs = this.requestTimeoutMs;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (options.priority !== undefined) {
        priority = options.priority;
        if (!Number.isInteger(priority) || priority < 0 || priority >= this.priorityLevels) {
          return this.refuse(
            'invalid',
            new InvalidRequestError(
              `Priority ${String(priority)} is out of range: this batcher has priorityLevels=${this.priorityLevels} (valid priorities 0..${this.priorityLevels - 1}, higher first). Use a priority in range or create the batcher with more priorityLevels.`,
              { details: { priority, priorityLevels: this.priorityLevels } },
            ),
          );
        }
      }
      if (options.timeoutMs !== undefined) {
        timeoutMs = options.timeoutMs;
        if (!(typeof timeoutMs === 'number' && timeoutMs > 0)) {
          return this.refuse(
            'invalid',
            new InvalidRequestError(`timeoutMs must be a number of milliseconds > 0 (got ${String(timeoutMs)}); omit it for no timeout.`, {
              details: { timeoutMs },
            }),
          );
        }
      }
      signal = options.signal;
      if (signal?.aborted) return this.refuse('aborted', new RequestAbortedError({ cause: signal.reason }));
    }
    if (this.queued >= this.maxQueueSize) {
      this.queueFull++;
      return this.refuse('queue_full', new QueueFullError(this.maxQueueSize));
    }

    let resolve!: (value: O) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<O>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const request = new PendingRequest<I, O>(input, resolve, reject, priority, now());
    const level = this.levels[priority] as Deque<PendingRequest<I, O>>;
    level.push(request);
    this.liveByLevel[priority]!++;
    this.queued++;
    this.accepted++;
    if (signal !== undefined) this.watch(request, signal);
    if (timeoutMs !== undefined && timeoutMs !== Infinity) {
      request.timeoutMs = timeoutMs;
      request.timer = setTimeout(() => this.cancel(request, 'timeout'), timeoutMs);
    }

    // Nothing can be sent while every batch slot is busy; the next completion pumps.
    if (this.inFlightBatches < this.maxConcurrentBatches) {
      const count = this.queued;
      if (count >= this.maxBatchSize || this.isPreferred[count] === 1 || this.batchTimeoutMs === 0) {
        this.schedulePump();
      } else if (this.timer === undefined && !this.pumpScheduled) {
        this.timer = setTimeout(this.onTimer, this.batchTimeoutMs);
      }
    }
    return promise;
  }

  setLimits(limits: BatcherLimits): void {
    const problems: ConfigProblem[] = [];
    const check = (ok: boolean, path: string, value: unknown, expected: string): void => {
      if (!ok) problems.push({ source: 'setLimits', path, value, expected });
    };
    if (limits.maxBatchSize !== undefined) check(isPositiveInteger(limits.maxBatchSize), 'maxBatchSize', limits.maxBatchSize, 'an integer >= 1');
    if (limits.batchTimeoutMs !== undefined)
      check(typeof limits.batchTimeoutMs === 'number' && Number.isFinite(limits.batchTimeoutMs) && limits.batchTimeoutMs >= 0, 'batchTimeoutMs', limits.batchTimeoutMs, 'a finite number of milliseconds >= 0');
    if (limits.maxConcurrentBatches !== undefined) check(isPositiveInteger(limits.maxConcurrentBatches), 'maxConcurrentBatches', limits.maxConcurrentBatches, 'an integer >= 1');
    if (problems.length > 0) throw new ConfigInvalidError(problems);
    if (limits.maxBatchSize !== undefined && limits.maxBatchSize !== this.maxBatchSize) {
      this.maxBatchSize = limits.maxBatchSize;
      this.buildPreferred();
    }
    if (limits.batchTimeoutMs !== undefined) this.batchTimeoutMs = limits.batchTimeoutMs;
    if (limits.maxConcurrentBatches !== undefined) this.maxConcurrentBatches = limits.maxConcurrentBatches;
    // Executing batches keep their size; waiting requests are re-judged against the new limits now
    // (a shorter wait or a smaller batch may make a batch due), and the timer is re-armed.
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.schedulePump();
  }

  limits(): Required<BatcherLimits> {
    return { maxBatchSize: this.maxBatchSize, batchTimeoutMs: this.batchTimeoutMs, maxConcurrentBatches: this.maxConcurrentBatches };
  }

  flush(): void {
    this.flushRemaining = this.queued;
    this.pump();
  }

  stats(): BatcherStats {
    const oldest = this.oldestEnqueuedAt();
    return {
      queueDepth: this.queued,
      queueDepthByPriority: this.liveByLevel.slice(),
      oldestWaitMs: oldest === Infinity ? 0 : Math.max(0, now() - oldest),
      inFlightBatches: this.inFlightBatches,
      inFlightRequests: this.inFlightRequests,
      accepted: this.accepted,
      rejected: this.rejected,
      queueFull: this.queueFull,
      succeeded: this.succeeded,
      failed: this.failed,
      timedOut: this.timedOut,
      aborted: this.aborted,
      batches: this.batches,
      batchedRequests: this.batchedRequests,
      closed: this.closed,
    };
  }

  subscribe(listener: (event: BatcherEvent) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  drain(): Promise<void> {
    return this.close();
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.closed = true;
    if (options.cancelQueued) {
      const error = new BatcherClosedError({ details: { phase: 'queued' } });
      for (const level of this.levels) {
        for (let request = level.shift(); request !== undefined; request = level.shift()) {
          if (request.state !== QUEUED) continue;
          this.queued--;
          this.liveByLevel[request.priority]!--;
          this.aborted++;
          this.settle(request);
          request.reject(error);
        }
      }
    }
    const done = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    this.pump();
    this.checkDrained();
    return done;
  }

  // ---------------------------------------------------------------------------------------------

  private refuse(reason: 'queue_full' | 'closed' | 'invalid' | 'aborted', error: MuaiError): Promise<O> {
    this.rejected++;
    if (this.listeners.length > 0) this.emit({ type: 'rejected', reason, queueDepth: this.queued });
    return Promise.reject(error);
  }

  /** Preferred sizes above maxBatchSize are ignored until maxBatchSize grows again. */
  private buildPreferred(): void {
    this.preferredAtOrBelow = new Int32Array(this.maxBatchSize + 1);
    this.isPreferred = new Uint8Array(this.maxBatchSize + 1);
    for (const size of this.preferredBatchSizes) if (size <= this.maxBatchSize) this.isPreferred[size] = 1;
    this.isPreferred[this.maxBatchSize] = 1;
    let best = 0;
    for (let n = 0; n <= this.maxBatchSize; n++) {
      if (this.isPreferred[n] === 1 && n < this.maxBatchSize) best = n;
      this.preferredAtOrBelow[n] = best;
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(this.onMicrotask);
  }

  /** Earliest submit time among waiting requests (Infinity when none); drops dead heads on the way. */
  private oldestEnqueuedAt(): number {
    let oldest = Infinity;
    for (let l = 0; l < this.levels.length; l++) {
      const level = this.levels[l] as Deque<PendingRequest<I, O>>;
      let head = level.peek();
      while (head !== undefined && head.state !== QUEUED) {
        level.shift();
        head = level.peek();
      }
      if (head !== undefined && head.enqueuedAt < oldest) oldest = head.enqueuedAt;
    }
    return oldest;
  }

  /** Sends every batch that is due, as far as concurrency allows; otherwise arms the one batch timer. */
  private pump(): void {
    while (this.inFlightBatches < this.maxConcurrentBatches && this.queued > 0) {
      const count = this.queued;
      let size: number;
      let reason: DispatchReason;
      if (count >= this.maxBatchSize) {
        size = this.maxBatchSize;
        reason = 'full';
      } else if (this.preferredAtOrBelow[count]! > 0) {
        size = this.preferredAtOrBelow[count]!;
        reason = 'preferred';
      } else if (this.closed || this.flushRemaining > 0) {
        size = count;
        reason = 'flush';
      } else if (this.batchTimeoutMs === 0) {
        size = count;
        reason = 'timeout';
      } else {
        const wait = this.oldestEnqueuedAt() + this.batchTimeoutMs - now();
        if (wait > 0) {
          if (this.timer === undefined) this.timer = setTimeout(this.onTimer, Math.ceil(wait));
          return;
        }
        size = count;
        reason = 'timeout';
      }
      this.dispatch(size, reason);
    }
    if (this.queued === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private dispatch(size: number, reason: DispatchReason): void {
    const inputs: I[] = [];
    const requests: PendingRequest<I, O>[] = [];
    for (let l = this.levels.length - 1; l >= 0 && requests.length < size; l--) {
      const level = this.levels[l] as Deque<PendingRequest<I, O>>;
      while (requests.length < size && level.length > 0) {
        const request = level.shift() as PendingRequest<I, O>;
        if (request.state !== QUEUED) continue;
        request.state = EXECUTING;
        request.index = requests.length;
        inputs.push(request.input as I);
        request.input = undefined;
        requests.push(request);
        this.liveByLevel[l]!--;
      }
    }
    const n = requests.length;
    if (n === 0) return;
    this.queued -= n;
    if (this.flushRemaining > 0) this.flushRemaining = Math.max(0, this.flushRemaining - n);
    const batch = new RunningBatch<I, O>(this.nextBatchId++, requests, reason);
    for (let i = 0; i < n; i++) (requests[i] as PendingRequest<I, O>).batch = batch;
    this.inFlightBatches++;
    this.inFlightRequests += n;
    this.batches++;
    this.batchedRequests += n;
    const hasListeners = this.listeners.length > 0;
    if (hasListeners) {
      batch.startedAt = now();
      this.emitDispatch(batch);
    }

    let result: Promise<ReadonlyArray<O | Error>> | ReadonlyArray<O | Error>;
    try {
      result = this.batchFn(inputs, batch);
    } catch (error) {
      result = Promise.reject(error);
    }
    Promise.resolve(result).then(
      (results) => this.complete(batch, results),
      (error: unknown) => this.completeWithError(batch, error),
    );
  }

  private complete(batch: RunningBatch<I, O>, results: ReadonlyArray<O | Error>): void {
    const requests = batch.requests;
    if (!Array.isArray(results) || results.length !== requests.length) {
      this.completeWithError(
        batch,
        new MuaiError(
          'ENGINE_ERROR',
          `The batch function returned ${Array.isArray(results) ? `${results.length} results` : `a ${typeof results}`} for ${requests.length} inputs. It must return an array with one result (or Error) per input, in input order.`,
          { details: { batchId: batch.batchId, batchSize: requests.length, returned: Array.isArray(results) ? results.length : typeof results } },
        ),
      );
      return;
    }
    this.inFlightBatches--;
    let succeeded = 0;
    let failed = 0;
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i] as PendingRequest<I, O>;
      if (request.state !== EXECUTING) continue;
      this.settle(request);
      const value = results[i];
      if (value instanceof Error) {
        failed++;
        request.reject(this.engineError(value, batch, i));
      } else {
        succeeded++;
        request.resolve(value as O);
      }
    }
    this.inFlightRequests -= succeeded + failed;
    this.succeeded += succeeded;
    this.failed += failed;
    if (this.listeners.length > 0) {
      this.emit({
        type: 'batch_done',
        batchId: batch.batchId,
        size: requests.length,
        durationMs: now() - batch.startedAt,
        status: 'ok',
        succeeded,
        failed,
        dropped: requests.length - succeeded - failed,
      });
    }
    this.afterBatch();
  }

  private completeWithError(batch: RunningBatch<I, O>, cause: unknown): void {
    this.inFlightBatches--;
    const error = this.engineError(cause, batch, -1);
    let failed = 0;
    for (const request of batch.requests) {
      if (request.state !== EXECUTING) continue;
      this.settle(request);
      failed++;
      request.reject(error);
    }
    this.inFlightRequests -= failed;
    this.failed += failed;
    if (this.listeners.length > 0) {
      this.emit({
        type: 'batch_done',
        batchId: batch.batchId,
        size: batch.requests.length,
        durationMs: now() - batch.startedAt,
        status: 'error',
        succeeded: 0,
        failed,
        dropped: batch.requests.length - failed,
        error,
      });
    }
    this.afterBatch();
  }

  private engineError(cause: unknown, batch: RunningBatch<I, O>, index: number): MuaiError {
    if (MuaiError.isInstance(cause)) return cause;
    const text = cause instanceof Error ? cause.message : String(cause);
    const scope = index < 0 ? `a batch of ${batch.size} requests` : `item ${index} of a batch of ${batch.size}`;
    return new MuaiError('ENGINE_ERROR', `The engine failed ${scope}: ${text}. The engine's error is in \`cause\`; retry the request or check the engine.`, {
      cause,
      details: index < 0 ? { batchId: batch.batchId, batchSize: batch.size } : { batchId: batch.batchId, batchSize: batch.size, index },
    });
  }

  private afterBatch(): void {
    if (this.queued > 0) this.pump();
    else this.checkDrained();
  }

  /** Cancels a queued or executing request (abort signal or timeout). No-op once settled. */
  private cancel(request: PendingRequest<I, O>, reason: 'aborted' | 'timeout'): void {
    if (request.state === SETTLED) return;
    const phase = request.state === QUEUED ? 'queued' : 'executing';
    if (request.state === QUEUED) {
      this.queued--;
      const priority = request.priority;
      this.liveByLevel[priority]!--;
      request.input = undefined;
      // Dead entries stay in the ring until dequeued; compact when they dominate, so memory stays
      // proportional to live requests.
      const level = this.levels[priority] as Deque<PendingRequest<I, O>>;
      if (level.length > 2 * this.liveByLevel[priority]! + 32) level.retain((r) => r.state === QUEUED);
      this.settle(request);
    } else {
      this.inFlightRequests--;
      const batch = request.batch as RunningBatch<I, O>;
      this.settle(request);
      if (batch.live === 0) batch.allCancelled();
    }
    if (reason === 'timeout') {
      this.timedOut++;
      request.reject(new RequestTimeoutError(request.timeoutMs, { details: { phase } }));
    } else {
      this.aborted++;
      request.reject(new RequestAbortedError({ cause: request.signal?.reason, details: { phase } }));
    }
    if (this.listeners.length > 0) {
      this.emit({
        type: 'cancelled',
        reason,
        phase,
        priority: request.priority,
        elapsedMs: now() - request.enqueuedAt,
        queueDepth: this.queued,
      });
    }
    if (this.queued === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.checkDrained();
  }

  /**
   * Cancels the request when its signal aborts. One 'abort' listener per signal and batcher, shared
   * by every request carrying that signal: adding and removing EventTarget listeners per request
   * costs microseconds, a Set insert nanoseconds. The listener stays until the signal aborts; it
   * holds only a (usually empty) set and goes away with the signal.
   */
  private watch(request: PendingRequest<I, O>, signal: AbortSignal): void {
    request.signal = signal;
    let watchers = this.signalWatchers.get(signal);
    if (watchers === undefined) {
      const created = new Set<PendingRequest<I, O>>();
      watchers = created;
      this.signalWatchers.set(signal, created);
      signal.addEventListener(
        'abort',
        () => {
          this.signalWatchers.delete(signal);
          for (const waiting of [...created]) this.cancel(waiting, 'aborted');
        },
        { once: true },
      );
    }
    watchers.add(request);
    request.watchers = watchers;
  }

  /** Marks a request settled and releases its timer and abort listener. */
  private settle(request: PendingRequest<I, O>): void {
    if (request.state === EXECUTING) {
      const batch = request.batch as RunningBatch<I, O>;
      batch.live--;
    }
    request.state = SETTLED;
    if (request.timer !== undefined) {
      clearTimeout(request.timer);
      request.timer = undefined;
    }
    if (request.watchers !== undefined) {
      request.watchers.delete(request);
      request.watchers = undefined;
    }
  }

  private checkDrained(): void {
    if (!this.closed || this.queued > 0 || this.inFlightBatches > 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private emitDispatch(batch: RunningBatch<I, O>): void {
    const waits: number[] = [];
    let sum = 0;
    for (const request of batch.requests) {
      const wait = batch.startedAt - request.enqueuedAt;
      waits.push(wait);
      sum += wait;
    }
    const sorted = waits.slice().sort((a, b) => a - b);
    this.emit({
      type: 'batch',
      batchId: batch.batchId,
      size: batch.requests.length,
      reason: batch.reason,
      queueDepth: this.queued,
      inFlightBatches: this.inFlightBatches,
      waitMsMin: sorted[0] ?? 0,
      waitMsP50: median(sorted),
      waitMsMax: sorted[sorted.length - 1] ?? 0,
      waitMsMean: waits.length === 0 ? 0 : sum / waits.length,
      waitsMs: waits,
    });
  }

  private emit(event: BatcherEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A monitoring hook must never break request handling.
      }
    }
  }
}

/**
 * Creates a dynamic batcher: requests submitted one at a time are grouped into batches for
 * `batchFn`, sent when `maxBatchSize` (or a preferred size) is reached or when the oldest has
 * waited `batchTimeoutMs`. Throws ConfigInvalidError listing every invalid option.
 */
export function createBatcher<I, O>(options: BatcherOptions<I, O>): Batcher<I, O> {
  return new DynamicBatcher<I, O>(options);
}
