import { getEventListeners } from 'node:events';
import { ConfigInvalidError, MuaiError } from '@muai/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatcherClosedError, createBatcher, type BatcherEvent } from '../src/index.js';
import { controllableEngine, settleMicrotasks, track } from './controllable-engine.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const double = async (inputs: number[]) => inputs.map((x) => x * 2);

describe('options', () => {
  it('lists every invalid option in one ConfigInvalidError', () => {
    let caught: unknown;
    try {
      createBatcher({ batchFn: double, maxBatchSize: 0, batchTimeoutMs: -1, maxQueueSize: Infinity, preferredBatchSizes: [64] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigInvalidError);
    const paths = (caught as ConfigInvalidError).problems.map((p) => p.path);
    expect(paths).toEqual(['maxBatchSize', 'batchTimeoutMs', 'maxQueueSize', 'preferredBatchSizes[0]']);
  });

  it('rejects a missing batch function', () => {
    expect(() => createBatcher({} as never)).toThrow(/batchFn/);
  });
});

describe('batch formation', () => {
  it('sends a lone request only after batchTimeoutMs', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 4, batchTimeoutMs: 50 });
    const result = track(batcher.submit(1));
    await vi.advanceTimersByTimeAsync(49);
    expect(engine.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(engine.calls).toHaveLength(1);
    expect(engine.calls[0]!.inputs).toEqual([1]);
    expect(engine.calls[0]!.context.reason).toBe('timeout');
    engine.calls[0]!.resolve([10]);
    await settleMicrotasks();
    expect(result).toMatchObject({ status: 'resolved', value: 10 });
  });

  it('sends a full batch at once, without waiting for the timeout', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 3, batchTimeoutMs: 10_000, maxConcurrentBatches: 2 });
    for (const x of [1, 2, 3, 4]) void batcher.submit(x).catch(() => undefined);
    await settleMicrotasks();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2, 3]]);
    expect(engine.calls[0]!.context.reason).toBe('full');
    expect(batcher.stats().queueDepth).toBe(1);
  });

  it('sends a preferred size at once and lets the rest wait', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 8, preferredBatchSizes: [2], batchTimeoutMs: 100, maxConcurrentBatches: 4 });
    void batcher.submit(1);
    void batcher.submit(2);
    await settleMicrotasks();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2]]);
    expect(engine.calls[0]!.context.reason).toBe('preferred');
    void batcher.submit(3);
    await vi.advanceTimersByTimeAsync(99);
    expect(engine.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2], [3]]);
  });

  it('with batchTimeoutMs 0 batches what arrives in the same tick', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 8, batchTimeoutMs: 0 });
    void batcher.submit(1);
    void batcher.submit(2);
    await settleMicrotasks();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2]]);
  });

  it('waits for a free slot when maxConcurrentBatches are executing, then sends the overdue requests', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 2, batchTimeoutMs: 10 });
    const first = [track(batcher.submit(1)), track(batcher.submit(2))];
    const third = track(batcher.submit(3));
    await vi.advanceTimersByTimeAsync(100);
    expect(engine.calls).toHaveLength(1);
    expect(batcher.stats()).toMatchObject({ queueDepth: 1, inFlightBatches: 1, inFlightRequests: 2 });
    engine.calls[0]!.resolve([10, 20]);
    await settleMicrotasks();
    expect(first.map((r) => r.value)).toEqual([10, 20]);
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2], [3]]);
    engine.calls[1]!.resolve([30]);
    await settleMicrotasks();
    expect(third.value).toBe(30);
  });

  it('returns results to the right callers when batches finish out of order', async () => {
    const engine = controllableEngine<string, string>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 2, maxConcurrentBatches: 2 });
    const results = ['a', 'b', 'c', 'd'].map((x) => track(batcher.submit(x)));
    await settleMicrotasks();
    expect(engine.calls).toHaveLength(2);
    engine.calls[1]!.resolve(['C', 'D']);
    await settleMicrotasks();
    expect(results.map((r) => r.status)).toEqual(['pending', 'pending', 'resolved', 'resolved']);
    engine.calls[0]!.resolve(['A', 'B']);
    await settleMicrotasks();
    expect(results.map((r) => r.value)).toEqual(['A', 'B', 'C', 'D']);
  });
});

describe('queue bound', () => {
  it('rejects at once with QUEUE_FULL beyond maxQueueSize and accepts again when room frees', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 2, maxQueueSize: 2, batchTimeoutMs: 0 });
    void batcher.submit(1);
    void batcher.submit(2);
    await settleMicrotasks(); // batch [1, 2] executing; queue empty
    void batcher.submit(3);
    void batcher.submit(4);
    const refused = track(batcher.submit(5));
    await settleMicrotasks();
    expect(refused.status).toBe('rejected');
    expect(MuaiError.hasCode(refused.error, 'QUEUE_FULL')).toBe(true);
    expect(batcher.stats()).toMatchObject({ queueDepth: 2, rejected: 1, queueFull: 1, accepted: 4 });
    engine.calls[0]!.resolve([1, 2]);
    await settleMicrotasks();
    expect(batcher.stats().queueDepth).toBe(0);
    const accepted = track(batcher.submit(6));
    await settleMicrotasks();
    expect(accepted.status).toBe('pending');
  });
});

describe('priorities', () => {
  it('dequeues higher priorities first and keeps FIFO within a level', async () => {
    const engine = controllableEngine<string, string>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 4, batchTimeoutMs: 5, priorityLevels: 3 });
    void batcher.submit('blocker', { priority: 0 });
    await vi.advanceTimersByTimeAsync(5); // the blocker occupies the only slot
    const order: Array<[string, number]> = [
      ['low1', 0],
      ['mid1', 1],
      ['high1', 2],
      ['low2', 0],
      ['high2', 2],
      ['mid2', 1],
    ];
    for (const [name, priority] of order) void batcher.submit(name, { priority });
    expect(batcher.stats().queueDepthByPriority).toEqual([2, 2, 2]);
    engine.calls[0]!.resolve(['x']);
    await settleMicrotasks();
    expect(engine.calls[1]!.inputs).toEqual(['high1', 'high2', 'mid1', 'mid2']);
    engine.calls[1]!.resolve(['a', 'b', 'c', 'd']);
    await vi.advanceTimersByTimeAsync(5);
    expect(engine.calls[2]!.inputs).toEqual(['low1', 'low2']);
  });

  it('refuses a priority outside 0..priorityLevels-1 with INVALID_REQUEST', async () => {
    const batcher = createBatcher({ batchFn: double, priorityLevels: 2 });
    await expect(batcher.submit(1, { priority: 2 })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(batcher.submit(1, { priority: 0.5 })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });
});

describe('cancellation and timeouts', () => {
  it('a request aborted while queued never reaches the batch function', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 4, batchTimeoutMs: 10 });
    const controller = new AbortController();
    const cancelled = track(batcher.submit(1, { signal: controller.signal }));
    const kept = track(batcher.submit(2));
    controller.abort(new Error('user left'));
    await settleMicrotasks();
    expect(cancelled.status).toBe('rejected');
    expect(cancelled.error).toMatchObject({ code: 'REQUEST_ABORTED', details: { phase: 'queued' } });
    expect((cancelled.error as Error).cause).toEqual(new Error('user left'));
    await vi.advanceTimersByTimeAsync(10);
    expect(engine.calls.map((c) => c.inputs)).toEqual([[2]]);
    engine.calls[0]!.resolve([20]);
    await settleMicrotasks();
    expect(kept.value).toBe(20);
  });

  it('an already-aborted signal is refused without queueing', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, batchTimeoutMs: 0 });
    await expect(batcher.submit(1, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'REQUEST_ABORTED' });
    await settleMicrotasks();
    expect(engine.calls).toHaveLength(0);
    expect(batcher.stats()).toMatchObject({ accepted: 0, rejected: 1 });
  });

  it('a request aborted while executing rejects at once and its late result is dropped', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 2, batchTimeoutMs: 0 });
    const controller = new AbortController();
    const cancelled = track(batcher.submit(1, { signal: controller.signal }));
    const kept = track(batcher.submit(2));
    await settleMicrotasks();
    const context = engine.calls[0]!.context;
    controller.abort();
    await settleMicrotasks();
    expect(cancelled.error).toMatchObject({ code: 'REQUEST_ABORTED', details: { phase: 'executing' } });
    expect(context.isCancelled(0)).toBe(true);
    expect(context.isCancelled(1)).toBe(false);
    expect(context.signal.aborted).toBe(false); // one caller still waits
    engine.calls[0]!.resolve([10, 20]);
    await settleMicrotasks();
    expect(cancelled.settleCount).toBe(1);
    expect(kept.value).toBe(20);
  });

  it('aborts the batch context signal once every caller of the batch has gone', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 2, batchTimeoutMs: 0 });
    const controller = new AbortController();
    void batcher.submit(1, { signal: controller.signal }).catch(() => undefined);
    void batcher.submit(2, { signal: controller.signal }).catch(() => undefined);
    await settleMicrotasks();
    const signal = engine.calls[0]!.context.signal;
    expect(signal.aborted).toBe(false);
    controller.abort();
    expect(signal.aborted).toBe(true);
  });

  it('a long-lived signal shared by many requests carries one listener and still cancels what is waiting', async () => {
    const batcher = createBatcher({ batchFn: double, maxBatchSize: 4, batchTimeoutMs: 0 });
    const controller = new AbortController();
    for (let i = 0; i < 50; i++) await expect(batcher.submit(i, { signal: controller.signal })).resolves.toBe(i * 2);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    const waiting = [track(batcher.submit(1, { signal: controller.signal })), track(batcher.submit(2, { signal: controller.signal }))];
    controller.abort();
    await settleMicrotasks();
    expect(waiting.map((r) => (r.error as MuaiError | undefined)?.code)).toEqual(['REQUEST_ABORTED', 'REQUEST_ABORTED']);
    expect(batcher.stats()).toMatchObject({ succeeded: 50, aborted: 2, batches: 50 });
  });

  it('times out a request in the queue and one in execution, dropping the late result', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 1, batchTimeoutMs: 0, requestTimeoutMs: 100 });
    const executing = track(batcher.submit(1));
    const queued = track(batcher.submit(2, { timeoutMs: 30 }));
    await vi.advanceTimersByTimeAsync(30);
    expect(queued.error).toMatchObject({ code: 'REQUEST_TIMEOUT', details: { timeoutMs: 30, phase: 'queued' } });
    expect(executing.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(70);
    expect(executing.error).toMatchObject({ code: 'REQUEST_TIMEOUT', details: { timeoutMs: 100, phase: 'executing' } });
    engine.calls[0]!.resolve([10]);
    await settleMicrotasks();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1]]); // 2 never reached the engine
    expect(batcher.stats()).toMatchObject({ timedOut: 2, succeeded: 0, inFlightRequests: 0, inFlightBatches: 0 });
  });
});

describe('failures', () => {
  it('a failing batch fails only its own requests, with the engine error as cause', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 2, batchTimeoutMs: 0, maxConcurrentBatches: 2 });
    const results = [1, 2, 3, 4].map((x) => track(batcher.submit(x)));
    await settleMicrotasks();
    const boom = new Error('CUDA out of memory');
    engine.calls[0]!.reject(boom);
    engine.calls[1]!.resolve([30, 40]);
    await settleMicrotasks();
    for (const failed of results.slice(0, 2)) {
      expect(failed.error).toMatchObject({ code: 'ENGINE_ERROR' });
      expect((failed.error as Error).cause).toBe(boom);
      expect((failed.error as Error).message).toContain('CUDA out of memory');
    }
    expect(results.slice(2).map((r) => r.value)).toEqual([30, 40]);
    expect(batcher.stats()).toMatchObject({ failed: 2, succeeded: 2 });
  });

  it('keeps a MuaiError from the engine as it is, and treats a synchronous throw like a rejection', async () => {
    const engineError = new MuaiError('ENGINE_UNAVAILABLE', 'down');
    const batcher = createBatcher<number, number>({
      batchFn: () => {
        throw engineError;
      },
      batchTimeoutMs: 0,
    });
    await expect(batcher.submit(1)).rejects.toBe(engineError);
  });

  it('a per-item Error fails only that item', async () => {
    const batcher = createBatcher<number, number>({
      batchFn: async (inputs) => inputs.map((x) => (x === 2 ? new Error('bad input 2') : x * 10)),
      batchTimeoutMs: 0,
    });
    const results = [1, 2, 3].map((x) => track(batcher.submit(x)));
    await settleMicrotasks(20);
    expect(results.map((r) => r.status)).toEqual(['resolved', 'rejected', 'resolved']);
    expect(results[1]!.error).toMatchObject({ code: 'ENGINE_ERROR', details: { index: 1 } });
    expect((results[1]!.error as Error).cause).toEqual(new Error('bad input 2'));
  });

  it('fails the batch with a clear error when the result count does not match', async () => {
    const batcher = createBatcher<number, number>({ batchFn: async () => [1], batchTimeoutMs: 0 });
    const results = [1, 2].map((x) => track(batcher.submit(x)));
    await settleMicrotasks(20);
    for (const r of results) {
      expect(r.error).toMatchObject({ code: 'ENGINE_ERROR' });
      expect((r.error as Error).message).toMatch(/returned 1 results for 2 inputs/);
    }
  });
});

describe('drain and close', () => {
  it('drain refuses new requests and finishes queued ones without waiting for the timeout', async () => {
    const batcher = createBatcher({ batchFn: double, maxBatchSize: 2, batchTimeoutMs: 60_000 });
    const results = [1, 2, 3].map((x) => track(batcher.submit(x)));
    const drained = track(batcher.drain());
    const late = track(batcher.submit(4));
    await settleMicrotasks(30);
    expect(results.map((r) => r.value)).toEqual([2, 4, 6]);
    expect(drained.status).toBe('resolved');
    expect(late.error).toBeInstanceOf(BatcherClosedError);
    expect(late.error).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(batcher.stats().closed).toBe(true);
  });

  it('close({ cancelQueued: true }) rejects waiting requests and still finishes executing batches', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 1, batchTimeoutMs: 0 });
    const executing = track(batcher.submit(1));
    const waiting = track(batcher.submit(2));
    await settleMicrotasks();
    const closed = track(batcher.close({ cancelQueued: true }));
    await settleMicrotasks();
    expect(waiting.error).toBeInstanceOf(BatcherClosedError);
    expect(closed.status).toBe('pending');
    engine.calls[0]!.resolve([10]);
    await settleMicrotasks();
    expect(executing.value).toBe(10);
    expect(closed.status).toBe('resolved');
    expect(engine.calls).toHaveLength(1);
  });

  it('flush sends waiting requests now', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, batchTimeoutMs: 60_000 });
    void batcher.submit(1);
    batcher.flush();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1]]);
    expect(engine.calls[0]!.context.reason).toBe('flush');
  });
});

describe('events', () => {
  it('reports batch sizes, wait times, completions, rejections and cancellations', async () => {
    const events: BatcherEvent[] = [];
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 3, batchTimeoutMs: 20, maxQueueSize: 3, onEvent: (e) => events.push(e) });
    const first = track(batcher.submit(1));
    await vi.advanceTimersByTimeAsync(10);
    const second = track(batcher.submit(2));
    await vi.advanceTimersByTimeAsync(10);
    expect(events).toEqual([
      expect.objectContaining({ type: 'batch', size: 2, reason: 'timeout', waitMsMin: 10, waitMsP50: 15, waitMsMax: 20, waitMsMean: 15, waitsMs: [20, 10], queueDepth: 0, inFlightBatches: 1 }),
    ]);
    await vi.advanceTimersByTimeAsync(5);
    engine.calls[0]!.resolve([1, new Error('x')]);
    await settleMicrotasks();
    expect(events[1]).toEqual(expect.objectContaining({ type: 'batch_done', size: 2, durationMs: 5, status: 'ok', succeeded: 1, failed: 1, dropped: 0 }));
    expect([first.status, second.status]).toEqual(['resolved', 'rejected']);
    for (const x of [3, 4, 5]) void batcher.submit(x).catch(() => undefined);
    const controller = new AbortController();
    await expect(batcher.submit(6)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(events).toContainEqual({ type: 'rejected', reason: 'queue_full', queueDepth: 3 });
    await settleMicrotasks(); // [3, 4, 5] executing
    const cancelled = track(batcher.submit(7, { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(4);
    controller.abort();
    await settleMicrotasks();
    expect(cancelled.status).toBe('rejected');
    expect(events.at(-1)).toEqual({ type: 'cancelled', reason: 'aborted', phase: 'queued', priority: 0, elapsedMs: 4, queueDepth: 0 });
  });

  it('keeps working when a listener throws, and unsubscribe stops delivery', async () => {
    const batcher = createBatcher({ batchFn: double, batchTimeoutMs: 0 });
    const seen: string[] = [];
    batcher.subscribe(() => {
      throw new Error('broken exporter');
    });
    const unsubscribe = batcher.subscribe((e) => seen.push(e.type));
    await expect(batcher.submit(1)).resolves.toBe(2);
    expect(seen).toEqual(['batch', 'batch_done']);
    unsubscribe();
    await expect(batcher.submit(2)).resolves.toBe(4);
    expect(seen).toHaveLength(2);
  });
});

describe('setLimits', () => {
  it('changes limits between batches without dropping or failing a request in flight or waiting', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 4, batchTimeoutMs: 1000, preferredBatchSizes: [3] });
    const results = [1, 2, 3, 4, 5, 6].map((x) => track(batcher.submit(x)));
    await settleMicrotasks();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2, 3, 4]]);
    // The executing batch keeps its size; the two waiting requests now make a full batch of 2.
    batcher.setLimits({ maxBatchSize: 2, batchTimeoutMs: 5 });
    expect(batcher.limits()).toEqual({ maxBatchSize: 2, batchTimeoutMs: 5, maxConcurrentBatches: 1 });
    engine.calls[0]!.resolve([10, 20, 30, 40]);
    await settleMicrotasks();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2, 3, 4], [5, 6]]);
    engine.calls[1]!.resolve([50, 60]);
    await settleMicrotasks();
    expect(results.map((r) => r.status)).toEqual(['resolved', 'resolved', 'resolved', 'resolved', 'resolved', 'resolved']);
    expect(batcher.stats()).toMatchObject({ failed: 0, aborted: 0, timedOut: 0 });
  });

  it('re-arms the wait: a shorter timeout sends a waiting request sooner', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 8, batchTimeoutMs: 1000 });
    void batcher.submit(1).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(10);
    batcher.setLimits({ batchTimeoutMs: 20 });
    await vi.advanceTimersByTimeAsync(9);
    expect(engine.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1]]);
  });

  it('a larger maxBatchSize takes effect for the next batch; preferred sizes above a smaller max are ignored', async () => {
    const engine = controllableEngine<number, number>();
    const batcher = createBatcher({ batchFn: engine.batchFn, maxBatchSize: 4, batchTimeoutMs: 1000, preferredBatchSizes: [3] });
    batcher.setLimits({ maxBatchSize: 2 });
    batcher.setLimits({ maxBatchSize: 6 });
    for (const x of [1, 2, 3]) void batcher.submit(x).catch(() => undefined);
    await settleMicrotasks();
    expect(engine.calls.map((c) => c.inputs)).toEqual([[1, 2, 3]]);
    expect(engine.calls[0]!.context.reason).toBe('preferred');
  });

  it('rejects invalid limits and changes nothing', () => {
    const batcher = createBatcher({ batchFn: double, maxBatchSize: 4 });
    expect(() => batcher.setLimits({ maxBatchSize: 0, batchTimeoutMs: -1, maxConcurrentBatches: 1.5 })).toThrow(ConfigInvalidError);
    expect(batcher.limits()).toEqual({ maxBatchSize: 4, batchTimeoutMs: 50, maxConcurrentBatches: 1 });
  });
});
