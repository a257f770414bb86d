/**
 * Property tests: random arrivals, priorities, timeouts, cancellations, engine failures and
 * out-of-order completions against a batcher on fake time. After every step the test checks what
 * users rely on; at the end it finishes every batch and checks that everything settled once.
 */
import fc from 'fast-check';
import { MuaiError } from '@muai/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBatcher, type BatchContext, type BatcherOptions, type DispatchReason } from '../src/index.js';
import { settleMicrotasks, track } from './controllable-engine.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

type Outcome = 'ok' | 'fail' | 'itemErrors' | 'wrongLength';
type Step =
  | { kind: 'submit'; priority: number; timeoutMs: number | null; withSignal: boolean; count: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'complete'; pick: number; outcome: Outcome }
  | { kind: 'abort'; pick: number };

const configArbitrary = fc
  .record({
    maxBatchSize: fc.integer({ min: 1, max: 6 }),
    batchTimeoutMs: fc.integer({ min: 0, max: 30 }),
    maxQueueSize: fc.integer({ min: 1, max: 10 }),
    priorityLevels: fc.integer({ min: 1, max: 3 }),
    maxConcurrentBatches: fc.integer({ min: 1, max: 3 }),
    preferred: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }),
  })
  .map(({ preferred, ...rest }) => ({ ...rest, preferredBatchSizes: preferred.filter((size) => size <= rest.maxBatchSize) }));

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('submit' as const),
      priority: fc.integer({ min: 0, max: 2 }),
      timeoutMs: fc.option(fc.integer({ min: 1, max: 80 })),
      withSignal: fc.boolean(),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('complete' as const),
      pick: fc.nat(),
      outcome: fc.constantFrom<Outcome>('ok', 'ok', 'fail', 'itemErrors', 'wrongLength'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
);

interface Model {
  id: number;
  priority: number;
  submittedAt: number;
  timeoutMs: number | null;
  controller: AbortController | null;
  batch: number | null; // index into batches
  refused: boolean; // rejected by submit at once (never accepted)
  result: ReturnType<typeof track<string>>;
}

interface Batch {
  ids: number[];
  reason: DispatchReason;
  resolve: (results: ReadonlyArray<string | Error>) => void;
  reject: (error: unknown) => void;
  done: boolean;
}

const expectedValue = (id: number) => `out:${id}`;

async function runScenario(config: Omit<BatcherOptions<number, string>, 'batchFn'> & { maxBatchSize: number; batchTimeoutMs: number; maxQueueSize: number; priorityLevels: number; maxConcurrentBatches: number; preferredBatchSizes: number[] }, steps: Step[]) {
  const requests: Model[] = [];
  const batches: Batch[] = [];
  const lastIdByPriority = new Map<number, number>();
  const now = () => Date.now();
  let nextId = 0;
  const violations: unknown[] = [];

  const batcher = createBatcher<number, string>({
    ...config,
    batchFn: (ids, context) => {
      try {
        checkBatch(ids, context);
      } catch (error) {
        // The batcher would turn a throw into ENGINE_ERROR; keep the failed check for the test instead.
        violations.push(error);
      }
      return new Promise((resolve, reject) => {
        batches.push({ ids: [...ids], reason: context.reason, resolve, reject, done: false });
      });
    },
  });

  function checkBatch(ids: number[], context: BatchContext): void {
      // No batch over maxBatchSize, none empty.
      expect(ids.length).toBeGreaterThanOrEqual(1);
      expect(ids.length).toBeLessThanOrEqual(config.maxBatchSize);
      expect(context.size).toBe(ids.length);
      const at = now();
      for (const id of ids) {
        const request = requests[id]!;
        // Each request reaches the engine at most once, and never after it settled (cancelled while queued).
        expect(request.batch).toBeNull();
        expect(request.result.status).toBe('pending');
        expect(request.controller?.signal.aborted ?? false).toBe(false);
        // FIFO within a priority level.
        expect(id).toBeGreaterThan(lastIdByPriority.get(request.priority) ?? -1);
        lastIdByPriority.set(request.priority, id);
        request.batch = batches.length;
      }
      // Higher priorities first: nothing of a higher level than the batch's lowest is left waiting.
      const lowest = Math.min(...ids.map((id) => requests[id]!.priority));
      const depth = batcher.stats().queueDepthByPriority;
      for (let level = lowest + 1; level < depth.length; level++) expect(depth[level]).toBe(0);
      // Why the batch was sent must hold.
      if (context.reason === 'full') expect(ids.length).toBe(config.maxBatchSize);
      if (context.reason === 'preferred') expect(config.preferredBatchSizes).toContain(ids.length);
      if (context.reason === 'timeout' && config.batchTimeoutMs > 0) {
        const waiting = requests.filter(
          (r) => (r.batch === null || ids.includes(r.id)) && !r.controller?.signal.aborted && (r.timeoutMs === null || at <= r.submittedAt + r.timeoutMs) && r.result.status === 'pending',
        );
        const oldest = Math.min(...waiting.map((r) => r.submittedAt));
        expect(at - oldest).toBeGreaterThanOrEqual(config.batchTimeoutMs);
      }
  }

  const checkInvariants = () => {
    if (violations.length > 0) throw violations[0];
    const stats = batcher.stats();
    expect(stats.queueDepth).toBeLessThanOrEqual(config.maxQueueSize);
    expect(stats.accepted).toBe(stats.succeeded + stats.failed + stats.timedOut + stats.aborted + stats.queueDepth + stats.inFlightRequests);
    expect(stats.queueDepthByPriority.reduce((a, b) => a + b, 0)).toBe(stats.queueDepth);
    // The counters match what callers saw, so each request was counted (and settled) once.
    const seen = (predicate: (r: Model) => boolean) => requests.filter((r) => !r.refused && predicate(r)).length;
    const code = (r: Model, c: string) => r.result.status === 'rejected' && MuaiError.hasCode(r.result.error, c as never);
    expect(stats.succeeded).toBe(seen((r) => r.result.status === 'resolved'));
    expect(stats.failed).toBe(seen((r) => code(r, 'ENGINE_ERROR')));
    expect(stats.timedOut).toBe(seen((r) => code(r, 'REQUEST_TIMEOUT')));
    expect(stats.aborted).toBe(seen((r) => code(r, 'REQUEST_ABORTED')));
    expect(stats.inFlightRequests).toBe(seen((r) => r.batch !== null && r.result.status === 'pending'));
    // Nothing that could be sent is left waiting while a batch slot is free.
    if (stats.inFlightBatches < config.maxConcurrentBatches) {
      expect(stats.queueDepth).toBeLessThan(config.maxBatchSize);
      for (const size of config.preferredBatchSizes) expect(stats.queueDepth).toBeLessThan(size);
      if (config.batchTimeoutMs === 0) expect(stats.queueDepth).toBe(0);
      else expect(stats.oldestWaitMs).toBeLessThan(config.batchTimeoutMs);
    }
    // Every request whose deadline passed has been rejected with REQUEST_TIMEOUT (or settled before).
    for (const request of requests) {
      if (request.timeoutMs !== null && now() >= request.submittedAt + request.timeoutMs) expect(request.result.status).not.toBe('pending');
    }
  };

  for (const step of steps) {
    const pendingBefore = new Set(requests.filter((r) => r.result.status === 'pending').map((r) => r.id));
    if (step.kind === 'submit') {
      for (let i = 0; i < step.count; i++) {
        const depthBefore = batcher.stats().queueDepth;
        const controller = step.withSignal ? new AbortController() : null;
        const id = nextId++;
        const priority = step.priority % config.priorityLevels;
        const options = { priority, ...(controller ? { signal: controller.signal } : {}), ...(step.timeoutMs !== null ? { timeoutMs: step.timeoutMs } : {}) };
        const model: Model = { id, priority, submittedAt: now(), timeoutMs: step.timeoutMs, controller, batch: null, refused: false, result: track(batcher.submit(id, options)) };
        requests.push(model);
        await settleMicrotasks();
        if (depthBefore >= config.maxQueueSize) {
          model.refused = true;
          expect(model.result.status).toBe('rejected');
          expect(MuaiError.hasCode(model.result.error, 'QUEUE_FULL')).toBe(true);
          expect(model.batch).toBeNull();
        } else if (model.result.status === 'rejected') {
          // Only a zero-length wait could settle it this fast; nothing here times out in 0 ms.
          throw new Error(`request ${id} rejected at once with room in the queue: ${String(model.result.error)}`);
        }
      }
    } else if (step.kind === 'advance') {
      await vi.advanceTimersByTimeAsync(step.ms);
      // Only timeouts settle requests while time passes (the engine answers in 'complete' steps).
      for (const id of pendingBefore) {
        const request = requests[id]!;
        if (request.result.status !== 'pending') {
          expect(MuaiError.hasCode(request.result.error, 'REQUEST_TIMEOUT')).toBe(true);
          expect(request.timeoutMs).not.toBeNull();
        }
      }
    } else if (step.kind === 'complete') {
      const open = batches.filter((b) => !b.done);
      if (open.length > 0) {
        const batch = open[step.pick % open.length]!;
        batch.done = true;
        const waiting = batch.ids.filter((id) => requests[id]!.result.status === 'pending');
        const engineError = new Error('engine exploded');
        if (step.outcome === 'fail') batch.reject(engineError);
        else if (step.outcome === 'wrongLength') batch.resolve(batch.ids.slice(1).map(expectedValue));
        else batch.resolve(batch.ids.map((id) => (step.outcome === 'itemErrors' && id % 3 === 0 ? new Error(`item ${id}`) : expectedValue(id))));
        await settleMicrotasks();
        // Each waiting caller gets its own result; a failing batch fails only its own requests.
        for (const id of waiting) {
          const { result } = requests[id]!;
          if (step.outcome === 'ok' || (step.outcome === 'itemErrors' && id % 3 !== 0)) {
            expect(result).toMatchObject({ status: 'resolved', value: expectedValue(id) });
          } else {
            expect(result.status).toBe('rejected');
            expect(MuaiError.hasCode(result.error, 'ENGINE_ERROR')).toBe(true);
            if (step.outcome === 'fail') expect((result.error as Error).cause).toBe(engineError);
            if (step.outcome === 'itemErrors') expect((result.error as Error).cause).toEqual(new Error(`item ${id}`));
          }
        }
        for (const id of pendingBefore) {
          if (!batch.ids.includes(id) && requests[id]!.result.status !== 'pending') {
            // Settled by something else: only a timeout can do that meanwhile (0 ms pass here, so none).
            throw new Error(`request ${id} outside the completed batch settled`);
          }
        }
      }
    } else {
      const candidates = requests.filter((r) => r.controller !== null && !r.controller.signal.aborted);
      if (candidates.length > 0) {
        const request = candidates[step.pick % candidates.length]!;
        const wasPending = request.result.status === 'pending';
        const phase = request.batch === null ? 'queued' : 'executing';
        request.controller!.abort();
        await settleMicrotasks();
        if (wasPending) {
          // Rejects at once, whether queued or executing.
          expect(request.result.status).toBe('rejected');
          expect(request.result.error).toMatchObject({ code: 'REQUEST_ABORTED', details: { phase } });
        }
      }
    }
    await settleMicrotasks();
    checkInvariants();
  }

  // Finish: answer every batch and let time pass until everything has settled.
  for (let round = 0; round < 200; round++) {
    const open = batches.filter((b) => !b.done);
    for (const batch of open) {
      batch.done = true;
      batch.resolve(batch.ids.map(expectedValue));
    }
    await vi.advanceTimersByTimeAsync(50);
    checkInvariants();
    if (open.length === 0 && batcher.stats().queueDepth === 0 && batcher.stats().inFlightBatches === 0) break;
  }
  await batcher.drain();
  await settleMicrotasks();
  for (const request of requests) {
    expect(request.result.settleCount).toBe(1);
    if (request.result.status === 'resolved') {
      expect(request.result.value).toBe(expectedValue(request.id));
      expect(request.batch).not.toBeNull();
    }
  }
  const stats = batcher.stats();
  expect(stats.accepted + stats.rejected).toBe(requests.length);
  expect(stats.batchedRequests).toBe(requests.filter((r) => r.batch !== null).length);
}

describe('batcher properties', () => {
  it('holds under random arrivals, priorities, timeouts, cancellations and failures', async () => {
    await fc.assert(
      fc.asyncProperty(configArbitrary, fc.array(stepArbitrary, { minLength: 1, maxLength: 60 }), async (config, steps) => {
        vi.setSystemTime(0);
        await runScenario(config, steps);
        vi.clearAllTimers();
      }),
      { numRuns: 300 },
    );
  });
});
