import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigInvalidError } from '@muai/core';
import { createOnlineTuner, DEFAULT_BOUNDS, LatencyModel, TUNER_PARAMETERS } from '../src/index.js';
import type { TunerParameter, TunerSignal } from '../src/index.js';

function signal(p99: number, rps = 10, extra: Partial<TunerSignal> = {}): TunerSignal {
  return { requests: 100, requestsPerSecond: rps, tokensPerSecond: rps * 20, latencyMs: { p99, p50: p99 / 2 }, ttftMs: { p99: null }, tpotMs: { p99: null }, ...extra };
}

const arbitrarySignal = fc.record({
  requests: fc.integer({ min: 0, max: 1000 }),
  requestsPerSecond: fc.double({ min: 0, max: 1000, noNaN: true }),
  tokensPerSecond: fc.double({ min: 0, max: 1e5, noNaN: true }),
  latencyMs: fc.record({ p99: fc.option(fc.double({ min: 0, max: 1e5, noNaN: true }), { nil: null }), p50: fc.option(fc.double({ min: 0, max: 1e5, noNaN: true }), { nil: null }) }),
  ttftMs: fc.record({ p99: fc.option(fc.double({ min: 0, max: 1e5, noNaN: true }), { nil: null }) }),
  tpotMs: fc.record({ p99: fc.option(fc.double({ min: 0, max: 1e4, noNaN: true }), { nil: null }) }),
  batchSize: fc.record({ mean: fc.option(fc.double({ min: 0, max: 256, noNaN: true }), { nil: null }) }),
  queueDepth: fc.record({ mean: fc.option(fc.double({ min: 0, max: 256, noNaN: true }), { nil: null }) }),
});

const parameters = fc.subarray([...TUNER_PARAMETERS], { minLength: 1 });

describe('OnlineTuner', () => {
  it('never leaves its bounds, whatever the signals (property)', () => {
    fc.assert(
      fc.property(parameters, fc.array(arbitrarySignal, { maxLength: 60 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 40 }), (knobs, signals, low, span) => {
        const bounds = { max_batch_size: { min: low, max: low + span }, batch_timeout_ms: { min: low - 1, max: low + span } };
        const tuner = createOnlineTuner({ parameters: knobs, initial: { max_batch_size: 1000, batch_timeout_ms: -5 }, bounds, slo: { p99LatencyMs: 500, ttftMs: 100 }, objective: 'goodput' });
        const inBounds = (): void => {
          for (const [name, value] of Object.entries(tuner.settings())) {
            const b = { ...DEFAULT_BOUNDS[name as TunerParameter], ...bounds[name as keyof typeof bounds] };
            expect(Number.isInteger(value)).toBe(true);
            expect(value).toBeGreaterThanOrEqual(b.min);
            expect(value).toBeLessThanOrEqual(b.max);
          }
        };
        inBounds();
        for (const s of signals) {
          tuner.step(s);
          inBounds();
        }
      }),
    );
  });

  it('does not oscillate on a steady signal: each knob moves one way only (property)', () => {
    fc.assert(
      fc.property(parameters, fc.double({ min: 0, max: 5000, noNaN: true }), fc.double({ min: 0.1, max: 100, noNaN: true }), fc.option(fc.integer({ min: 0, max: 64 }), { nil: null }), (knobs, p99, rps, queued) => {
        const tuner = createOnlineTuner({ parameters: knobs, initial: { max_batch_size: 16, batch_timeout_ms: 50, max_concurrency: 8, cache_max_memory_mb: 512 }, slo: { p99LatencyMs: 500 } });
        const history: Array<Record<string, number>> = [tuner.settings() as Record<string, number>];
        for (let i = 0; i < 80; i++) {
          tuner.step(signal(p99, rps, { queueDepth: { mean: queued } }));
          history.push(tuner.settings() as Record<string, number>);
        }
        for (const knob of knobs) {
          const series = history.map((h) => h[knob]!);
          const ups = series.slice(1).some((v, i) => v > series[i]!);
          const downs = series.slice(1).some((v, i) => v < series[i]!);
          expect(ups && downs).toBe(false);
        }
      }),
    );
  });

  it('decreases the latency knobs multiplicatively on a breach (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 128 }), fc.integer({ min: 1, max: 500 }), fc.double({ min: 1.01, max: 20, noNaN: true }), (batch, wait, over) => {
        const tuner = createOnlineTuner({ parameters: ['max_batch_size', 'batch_timeout_ms', 'cache_max_memory_mb'], initial: { max_batch_size: batch, batch_timeout_ms: wait, cache_max_memory_mb: 512 }, slo: { p99LatencyMs: 200 } });
        const decisions = tuner.step(signal(200 * over));
        const after = tuner.settings();
        expect(after.max_batch_size).toBe(Math.max(1, Math.min(batch - 1, Math.floor(batch * 0.8))));
        expect(after.batch_timeout_ms).toBe(Math.max(0, Math.min(wait - 1, Math.floor(wait * 0.8))));
        expect(after.cache_max_memory_mb).toBe(512);
        expect(decisions.every((d) => d.direction === 'down' && d.reason.includes('SLO breached'))).toBe(true);
      }),
    );
  });

  it('increases one knob at a time while the SLO holds, holds inside the hysteresis band, and cools down after a decrease', () => {
    const tuner = createOnlineTuner({ parameters: ['max_batch_size', 'batch_timeout_ms'], initial: { max_batch_size: 8, batch_timeout_ms: 20 }, slo: { p99LatencyMs: 100 } });
    expect(tuner.step(signal(50))).toMatchObject([{ parameter: 'max_batch_size', direction: 'up', from: 8, to: 10 }]);
    expect(tuner.step(signal(50))).toMatchObject([{ parameter: 'batch_timeout_ms', direction: 'up', from: 20, to: 25 }]);
    expect(tuner.step(signal(90))).toMatchObject([{ direction: 'hold' }]);
    expect(tuner.step(signal(150)).map((d) => d.direction)).toEqual(['down', 'down']);
    expect(tuner.step(signal(50))[0]!.reason).toContain('cooling down');
    expect(tuner.step(signal(50))[0]!.reason).toContain('cooling down');
    expect(tuner.step(signal(50))[0]!.direction).toBe('up');
  });

  it('reverts a change after which the objective score fell and latency rose, and does not retry it at once', () => {
    const tuner = createOnlineTuner({ parameters: ['max_batch_size'], initial: { max_batch_size: 8 }, slo: { p99LatencyMs: 100 }, objective: 'throughput' });
    tuner.step(signal(50, 10));
    expect(tuner.settings().max_batch_size).toBe(10);
    const decisions = tuner.step(signal(70, 5));
    expect(decisions).toMatchObject([{ parameter: 'max_batch_size', direction: 'revert', from: 10, to: 8 }]);
    expect(tuner.settings().max_batch_size).toBe(8);
    expect(tuner.step(signal(50, 5))[0]!.direction).toBe('hold');
    expect(tuner.state().decisions).toHaveLength(3);
  });

  it('does not blame a change for a lower request rate when latency did not rise (the load fell)', () => {
    const tuner = createOnlineTuner({ parameters: ['max_batch_size'], initial: { max_batch_size: 8 }, slo: { p99LatencyMs: 100 }, objective: 'goodput' });
    tuner.step(signal(50, 10));
    expect(tuner.step(signal(45, 4))).toMatchObject([{ parameter: 'max_batch_size', direction: 'up', from: 10, to: 12 }]);
  });

  it('on a breach with a backlog of a full batch or more, grows the batch instead of shrinking it', () => {
    const tuner = createOnlineTuner({ parameters: ['max_batch_size', 'batch_timeout_ms'], initial: { max_batch_size: 8, batch_timeout_ms: 20 }, slo: { p99LatencyMs: 100 } });
    const decisions = tuner.step(signal(300, 10, { queueDepth: { mean: 12 } }));
    expect(decisions.map((d) => [d.parameter, d.direction, d.to])).toEqual([
      ['max_batch_size', 'up', 16],
      ['batch_timeout_ms', 'down', 16],
    ]);
    expect(decisions[0]!.reason).toContain('queueing');
    // Between half and a full batch waiting, the batch holds (the wait still shrinks); below half, it shrinks.
    expect(tuner.step(signal(300, 10, { queueDepth: { mean: 10 } })).map((d) => [d.parameter, d.direction, d.to])).toEqual([['batch_timeout_ms', 'down', 12]]);
    expect(tuner.step(signal(300, 10, { queueDepth: { mean: 2 } }))[0]).toMatchObject({ parameter: 'max_batch_size', direction: 'down', to: 12 });
  });

  it('doubles the batch while a full batch waits and the SLO holds, with the admission limit in the same step; reverts a doubling that cost throughput', () => {
    const tuner = createOnlineTuner({
      parameters: ['max_batch_size', 'max_concurrency'],
      initial: { max_batch_size: 16, max_concurrency: 512 },
      bounds: { max_concurrency: { max: 512, step: 8 } },
      slo: { p99LatencyMs: 3000 },
    });
    // 160 req/s, 300 waiting, 20 refused: the batch limit binds (× 2) and 160 × 0.8 × 3 s = 384 in flight is the bound.
    const first = tuner.step(signal(1500, 160, { queueDepth: { mean: 300 }, admission: { refused: 20, inFlight: { mean: 320, max: 512 } } }));
    expect(first.map((d) => [d.parameter, d.direction, d.from, d.to])).toEqual([
      ['max_batch_size', 'up', 16, 32],
      ['max_concurrency', 'down', 512, 384],
    ]);
    expect(first[0]!.reason).toContain('the batch limit binds');
    // Capacity grew: it doubles again.
    expect(tuner.step(signal(1400, 176, { queueDepth: { mean: 280 }, admission: { refused: 20, inFlight: { mean: 320, max: 384 } } }))[0]).toMatchObject({ parameter: 'max_batch_size', from: 32, to: 64 });
    // Throughput fell 10 % and p99 rose: the doubling is undone and not retried at once.
    const reverted = tuner.step(signal(1700, 158, { queueDepth: { mean: 280 }, admission: { refused: 20, inFlight: { mean: 320, max: 384 } } }));
    expect(reverted).toMatchObject([{ parameter: 'max_batch_size', direction: 'revert', from: 64, to: 32 }]);
    const after = tuner.step(signal(1500, 176, { queueDepth: { mean: 280 }, admission: { refused: 20, inFlight: { mean: 320, max: 384 } } }));
    expect(after.some((d) => d.parameter === 'max_batch_size' && d.direction === 'up')).toBe(false);
    expect(tuner.settings().max_batch_size).toBe(32);
  });

  it('holds on a window with too few requests', () => {
    const tuner = createOnlineTuner({ parameters: ['max_batch_size'], initial: { max_batch_size: 8 }, slo: { p99LatencyMs: 100 } });
    expect(tuner.step({ ...signal(1000), requests: 2 })).toMatchObject([{ direction: 'hold' }]);
    expect(tuner.settings().max_batch_size).toBe(8);
  });

  it('uses the batch latency model to refuse a wait that would pass the SLO', () => {
    const tuner = createOnlineTuner({ parameters: ['batch_timeout_ms'], initial: { batch_timeout_ms: 20, max_batch_size: 16 }, slo: { p99LatencyMs: 100 } });
    // Windows whose mean batch latency is 4 ms per request + 10 ms: a batch of 16 takes ~74 ms.
    for (const size of [2, 4, 8, 12]) tuner.step(signal(50, 10, { latencyMs: { p99: 50, p50: 10 + 4 * size }, batchSize: { mean: size } }));
    const state = tuner.state();
    expect(state.latencyModel?.slope).toBeCloseTo(4, 5);
    expect(state.latencyModel?.intercept).toBeCloseTo(10, 5);
    // The fits were also checked at each step: 74 ms + 20 ms wait > 80 ms (0.8 × SLO) so no raise.
    const last = tuner.step(signal(50, 10, { latencyMs: { p99: 50, p50: 58 }, batchSize: { mean: 12 } }));
    expect(last[0]!.reason).toContain('predicted batch latency');
  });

  it('does not judge a change made in the window of a load step: that window is no baseline', () => {
    const make = () =>
      createOnlineTuner({ parameters: ['max_batch_size', 'max_concurrency'], initial: { max_batch_size: 16, max_concurrency: 512 }, bounds: { max_concurrency: { max: 512, step: 8 } }, slo: { p99LatencyMs: 3000 } });
    const overload = (p99: number, rps: number, batch: number) => signal(p99, rps, { requests: rps * 2, batchSize: { mean: batch }, queueDepth: { mean: 90 }, admission: { refused: 0, inFlight: { mean: 300, max: 512 } } });
    // A doubling made in an overload window with no step before it: a 15 % fall with p99 up undoes it
    // (a batch of 32 in 272 requests is 12 %)...
    const steady = make();
    expect(steady.step(overload(800, 160, 16))[0]).toMatchObject({ parameter: 'max_batch_size', to: 32 });
    expect(steady.step(overload(1500, 136, 32))[0]).toMatchObject({ parameter: 'max_batch_size', direction: 'revert', to: 16 });
    // ...but not when the doubling was made in the first window of the overload (44 → 160 req/s).
    const stepped = make();
    stepped.step(signal(50, 44, { requests: 88, batchSize: { mean: 2 }, queueDepth: { mean: 0 } }));
    expect(stepped.settings().max_batch_size).toBe(16);
    expect(stepped.step(overload(800, 160, 16))[0]).toMatchObject({ parameter: 'max_batch_size', to: 32 });
    expect(stepped.step(overload(1500, 136, 32)).some((d) => d.direction === 'revert')).toBe(false);
    expect(stepped.settings().max_batch_size).toBeGreaterThanOrEqual(32);
  });

  it('does not revert for a fall within one batch of completions, the granularity of a window\'s count', () => {
    const make = () => {
      const tuner = createOnlineTuner({ parameters: ['max_batch_size'], initial: { max_batch_size: 16 }, slo: { p99LatencyMs: 3000 } });
      tuner.step(signal(2300, 144, { requests: 288, batchSize: { mean: 16 } }));
      expect(tuner.settings().max_batch_size).toBe(18);
      return tuner;
    };
    // 144 → 135 req/s (−6 %) in 270 requests at batch 18 (one batch is 6.7 %): held.
    expect(make().step(signal(2550, 135, { requests: 270, batchSize: { mean: 18 } })).some((d) => d.direction === 'revert')).toBe(false);
    // 144 → 126 (−12.5 %): reverted.
    expect(make().step(signal(2550, 126, { requests: 252, batchSize: { mean: 18 } }))[0]).toMatchObject({ direction: 'revert', to: 16 });
  });

  it('estimates capacity as the median of the last three saturated windows: one low window does not cut the admission limit, two do', () => {
    const tuner = createOnlineTuner({ parameters: ['max_concurrency'], initial: { max_concurrency: 512 }, bounds: { max_concurrency: { max: 512, step: 8 } }, slo: { p99LatencyMs: 3000 } });
    const saturated = (rps: number) => signal(1500, rps, { requests: rps * 2, admission: { refused: 30, inFlight: { mean: 380, max: 512 } } });
    // 160 × 0.8 × 3 s = 384.
    expect(tuner.step(saturated(160))[0]).toMatchObject({ parameter: 'max_concurrency', direction: 'down', to: 384 });
    tuner.step(saturated(160));
    // One window at 136 (a batch fewer finished in it): the median is still 160.
    expect(tuner.step(saturated(136)).some((d) => d.parameter === 'max_concurrency')).toBe(false);
    expect(tuner.state().capacityRps).toBe(160);
    // A second: capacity fell, 136 × 0.8 × 3 s = 326.
    expect(tuner.step(saturated(136))[0]).toMatchObject({ parameter: 'max_concurrency', direction: 'down', to: 326 });
  });

  it('does not revert a decrease while the breach lasts: the requests finishing then were admitted before it', () => {
    const tuner = createOnlineTuner({ parameters: ['max_batch_size'], initial: { max_batch_size: 16 }, slo: { p99LatencyMs: 100 } });
    expect(tuner.step(signal(300, 10))).toMatchObject([{ direction: 'down', to: 12 }]);
    // Score halved and p99 rose, but the SLO is still breached: keep decreasing, no revert.
    expect(tuner.step(signal(400, 5))).toMatchObject([{ direction: 'down', from: 12, to: 9 }]);
  });

  it("sets max_concurrency by Little's law when the window is saturated, before any breach, at most halving it per step", () => {
    const tuner = createOnlineTuner({ parameters: ['max_concurrency'], initial: { max_concurrency: 512 }, bounds: { max_concurrency: { max: 512, step: 8 } }, slo: { p99LatencyMs: 3000 } });
    // 50 req/s served while requests were refused: 50 × 0.8 × 3 s = 120 in flight keeps latency at 2.4 s.
    const saturated = signal(1000, 50, { admission: { refused: 40, inFlight: { mean: 400, max: 512 } } });
    const first = tuner.step(saturated);
    expect(first).toMatchObject([{ parameter: 'max_concurrency', direction: 'down', from: 512, to: 256 }]);
    expect(first[0]!.reason).toContain("Little's law");
    expect(tuner.state()).toMatchObject({ capacityRps: 50, concurrencyBound: 120 });
    expect(tuner.step(saturated)).toMatchObject([{ direction: 'down', from: 256, to: 128 }]);
    // 128 vs 120: inside the dead band (a tenth of the value), so it stays.
    expect(tuner.step(saturated)).toMatchObject([{ direction: 'hold' }]);
    expect(tuner.settings().max_concurrency).toBe(128);
    // A later saturated window with a higher capacity raises it (after the cooldown), to the new bound.
    for (let i = 0; i < 2; i++) tuner.step(signal(1000, 40, { admission: { refused: 0, inFlight: { mean: 20, max: 40 } } }));
    expect(tuner.step(signal(1000, 100, { admission: { refused: 5, inFlight: { mean: 120, max: 128 } } }))).toMatchObject([{ direction: 'up', from: 128, to: 240 }]);
  });

  it('never reverts a lower admission limit: the next window\'s requests were admitted before it', () => {
    const tuner = createOnlineTuner({ parameters: ['max_concurrency'], initial: { max_concurrency: 512 }, bounds: { max_concurrency: { max: 512 } }, slo: { p99LatencyMs: 3000 } });
    expect(tuner.step(signal(1000, 50, { admission: { refused: 40, inFlight: { mean: 400, max: 512 } } }))).toMatchObject([{ direction: 'down', to: 256 }]);
    // Score down 20 % and p99 up 20 % within the SLO: a raise would be reverted; this cut is not.
    expect(tuner.step(signal(1200, 40, { admission: { refused: 0, inFlight: { mean: 100, max: 200 } } }))[0]!.direction).not.toBe('revert');
    expect(tuner.settings().max_concurrency).toBe(256);
  });

  it('raises a limit only when it held the load back: nothing refused, or small batches and no queue, mean no raise', () => {
    const tuner = createOnlineTuner({ parameters: ['max_batch_size', 'max_concurrency'], initial: { max_batch_size: 16, max_concurrency: 64 }, bounds: { max_concurrency: { max: 128 } }, slo: { p99LatencyMs: 1000 } });
    const idle = tuner.step(signal(100, 10, { batchSize: { mean: 3 }, queueDepth: { mean: 0 }, admission: { refused: 0, inFlight: { mean: 3, max: 6 } } }));
    expect(idle).toMatchObject([{ direction: 'hold' }]);
    expect(idle[0]!.reason).toMatch(/max_batch_size 16 not raised: batches of 3.*max_concurrency 64 not raised: nothing was refused/);
    // Full batches with a few waiting (not a whole batch: not saturated): the batch may rise.
    const busy = { batchSize: { mean: 15.8 }, queueDepth: { mean: 2 }, admission: { refused: 0, inFlight: { mean: 20, max: 30 } } };
    expect(tuner.step(signal(100, 100, busy))).toMatchObject([{ parameter: 'max_batch_size', direction: 'up', to: 18 }]);
    // Refusals at 100 req/s: the limit goes to the Little bound, 100 × 0.8 × 1 s.
    expect(tuner.step(signal(100, 100, { ...busy, admission: { refused: 3, inFlight: { mean: 60, max: 64 } } }))).toMatchObject([{ parameter: 'max_concurrency', direction: 'up', to: 80 }]);
  });

  it('holds on a latency breach from requests admitted behind a backlog that is gone, and acts on a current one', () => {
    const tuner = createOnlineTuner({ parameters: ['max_concurrency'], initial: { max_concurrency: 64 }, slo: { p99LatencyMs: 1000 } });
    // 10 in flight at 100 req/s is 100 ms: the 2.5 s p99 belongs to requests that waited earlier.
    const past = tuner.step(signal(2500, 100, { admission: { refused: 0, inFlight: { mean: 5, max: 10 } } }));
    expect(past).toMatchObject([{ direction: 'hold' }]);
    expect(past[0]!.reason).toContain('backlog now gone');
    // 200 in flight at 100 req/s is 2 s: a real breach.
    expect(tuner.step(signal(2500, 100, { admission: { refused: 0, inFlight: { mean: 150, max: 200 } } }))).toMatchObject([{ parameter: 'max_concurrency', direction: 'down', to: 51 }]);
  });

  it('rejects invalid options with every problem listed', () => {
    expect(() => createOnlineTuner({ parameters: [], initial: {}, decreaseFactor: 2, bounds: { max_batch_size: { min: 5, max: 1 } } })).toThrow(ConfigInvalidError);
    try {
      createOnlineTuner({ parameters: [], initial: {}, decreaseFactor: 2 });
    } catch (error) {
      expect((error as ConfigInvalidError).problems.map((p) => p.path)).toEqual(['tuner.parameters', 'tuner.decreaseFactor']);
    }
  });
});

describe('LatencyModel', () => {
  it('recovers a line by least squares and floors negative slopes', () => {
    const model = new LatencyModel({ minSamples: 3 });
    for (const n of [1, 2, 3, 4, 5]) model.add(n, 3 * n + 7);
    expect(model.fit()).toMatchObject({ samples: 5 });
    expect(model.predict(10)).toBeCloseTo(37, 6);
    expect(model.largestSizeWithin(37)).toBe(10);
    const falling = new LatencyModel({ minSamples: 3 });
    for (const n of [1, 2, 3]) falling.add(n, 10 - n);
    expect(falling.fit()?.slope).toBe(0);
  });
  it('answers nothing with one batch size only', () => {
    const model = new LatencyModel();
    for (let i = 0; i < 10; i++) model.add(4, 20);
    expect(model.fit()).toBeUndefined();
  });
});
