import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createBurnRateState,
  createCusumState,
  createDetector,
  createEwmaState,
  createMadState,
  createThresholdState,
  createZscoreState,
  stepBurnRate,
  stepCusum,
  stepEwma,
  stepMad,
  stepThreshold,
  stepZscore,
  type DetectorSpec,
} from './detectors.js';

/**
 * Noise of amplitude 0.2–1 with alternating signs: never degenerate (an all-zero series has no
 * spread to learn, so any change is rightly an anomaly), and shrinks to a plain ±0.2 square wave.
 */
const noise = (length: number) =>
  fc
    .array(fc.double({ min: 0.2, max: 1, noNaN: true }), { minLength: length, maxLength: length })
    .map((values) => values.map((value, index) => (index % 2 === 0 ? value : -value)));

const baselineSpecs: DetectorSpec[] = [
  { kind: 'ewma', warmup: 30, k: 3 },
  { kind: 'cusum', warmup: 30, h: 5 },
  { kind: 'mad', window: 40, k: 3 },
  { kind: 'zscore', window: 40, k: 3 },
];

function run(spec: DetectorSpec, values: readonly number[]): boolean[] {
  const detector = createDetector(spec);
  return values.map((value, index) => detector.step(value, index * 1000).anomalous);
}

describe('static threshold', () => {
  it('turns anomalous only once the value has stayed over the limit for `for`', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 5000 }), (values, forMs) => {
        const state = createThresholdState({ limit: 5, forMs });
        let since = Number.NaN;
        values.forEach((value, index) => {
          const time = index * 1000;
          const verdict = stepThreshold(state, value, time);
          if (value > 5) {
            if (Number.isNaN(since)) since = time;
          } else since = Number.NaN;
          expect(verdict.anomalous).toBe(!Number.isNaN(since) && time - since >= forMs);
        });
      }),
    );
  });

  it('below and both directions', () => {
    const below = createThresholdState({ limit: 1, direction: 'below' });
    expect(stepThreshold(below, 0.5, 0).anomalous).toBe(true);
    expect(stepThreshold(below, 1.5, 1).anomalous).toBe(false);
    const both = createThresholdState({ limit: 1, direction: 'both' });
    expect(stepThreshold(both, -2, 0).anomalous).toBe(true);
  });
});

describe('baseline detectors (EWMA, CUSUM, MAD, z-score)', () => {
  it('are deterministic: the same series gives the same verdicts', () => {
    fc.assert(
      fc.property(noise(120), fc.constantFrom(...baselineSpecs), (values, spec) => {
        expect(run(spec, values)).toEqual(run(spec, values));
      }),
      { numRuns: 50 },
    );
  });

  it('never alarm on a constant series', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(...baselineSpecs), (level, spec) => {
        expect(run(spec, Array.from({ length: 200 }, () => level)).some(Boolean)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it('do not depend on the level or the unit: shifting and scaling the series keeps every verdict', () => {
    fc.assert(
      fc.property(noise(150), fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(1, 2, 4, 0.5), fc.constantFrom(...baselineSpecs), (values, shift, scale, spec) => {
        // Powers of two keep the arithmetic exact enough that verdicts cannot flip on rounding.
        const spiked = values.map((value, index) => (index > 100 ? value + 6 : value));
        const moved = spiked.map((value) => value * scale + shift);
        expect(run(spec, moved)).toEqual(run(spec, spiked));
      }),
      { numRuns: 60 },
    );
  });

  it('detect a sustained upward shift of 6 noise amplitudes within 10 samples', () => {
    fc.assert(
      fc.property(noise(130), fc.constantFrom(...baselineSpecs), (values, spec) => {
        const shifted = values.map((value, index) => (index >= 100 ? value + 6 : value));
        const verdicts = run(spec, shifted);
        expect(verdicts.slice(100, 110).some(Boolean)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('watch only the asked direction', () => {
    fc.assert(
      fc.property(noise(130), fc.constantFrom(...baselineSpecs), (values, spec) => {
        const dropped = values.map((value, index) => (index >= 100 ? value - 6 : value));
        expect(run(spec, dropped).slice(100).some(Boolean)).toBe(false);
        expect(run({ ...spec, direction: 'below' } as DetectorSpec, dropped).slice(100).some(Boolean)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});

describe('EWMA', () => {
  it('charts z_t = λx + (1−λ)z_{t−1} from the warm-up mean', () => {
    const state = createEwmaState({ lambda: 0.25, warmup: 4, adapt: 0 });
    for (const value of [1, 3, 1, 3]) stepEwma(state, value);
    expect(state.mean).toBe(2);
    stepEwma(state, 6);
    expect(state.z).toBeCloseTo(0.25 * 6 + 0.75 * 2, 12);
  });
});

describe('CUSUM', () => {
  it('accumulates x − K in σ units and resets at zero', () => {
    const state = createCusumState({ k: 0.5, h: 4, warmup: 4, adapt: 0 });
    for (const value of [-1, 1, -1, 1]) stepCusum(state, value); // mean 0, σ ≈ 1.155
    const sigma = Math.sqrt(4 / 3);
    stepCusum(state, 2 * sigma);
    expect(state.high).toBeCloseTo(1.5, 10);
    stepCusum(state, -10);
    expect(state.high).toBe(0);
    expect(state.low).toBeGreaterThan(0);
  });
});

describe('robust MAD band', () => {
  it('ignores a single wild outlier in its baseline (the median does not move)', () => {
    const state = createMadState({ window: 21, k: 3, minSamples: 5 });
    const values = [10, 11, 9, 10, 10, 11, 9, 10];
    for (const value of values) stepMad(state, value);
    expect(stepMad(state, 1000).anomalous).toBe(true);
    expect(state.median).toBe(10);
    expect(stepMad(state, 10.5).anomalous).toBe(false);
  });

  it('keeps a minimum width of margin × median', () => {
    const state = createMadState({ window: 10, k: 3, minSamples: 3, margin: 1 });
    for (let index = 0; index < 10; index++) stepMad(state, 100);
    expect(stepMad(state, 199).anomalous).toBe(false);
    expect(stepMad(state, 201).anomalous).toBe(true);
  });
});

describe('z-score', () => {
  it('keeps the running sums equal to the window contents', () => {
    fc.assert(
      fc.property(noise(80), (values) => {
        const state = createZscoreState({ window: 16, k: 1e9 });
        for (const value of values) stepZscore(state, value);
        const sum = Array.from(state.ring).reduce((total, value) => total + value, 0);
        expect(state.sum).toBeCloseTo(sum, 9);
      }),
    );
  });
});

describe('multi-window burn rate', () => {
  const second = 1000;
  // 1h/5m at 14.4× scaled so that one hour is 60 s and five minutes 5 s.
  const scale = 60 / 3600;

  it('fires only when both the long and the short window burn faster than the factor', () => {
    const state = createBurnRateState({ budget: 0.01, windows: [{ longMs: 3_600_000, shortMs: 300_000, factor: 14.4 }], scale });
    // 60 s of 1% errors (burn 1), then 5 s of 100% errors: the short window burns 100× at once,
    // the long one passes 14.4× only after enough bad samples.
    let time = 0;
    for (; time < 60 * second; time += second) expect(stepBurnRate(state, 0.01, time).anomalous).toBe(false);
    const verdicts: boolean[] = [];
    for (let index = 0; index < 12; index++, time += second) verdicts.push(stepBurnRate(state, 1, time).anomalous);
    // Long window (60 samples): mean > 0.144 once (n·1 + (60−n)·0.01)/60 > 0.144, n ≥ 9 → the 9th bad sample.
    expect(verdicts.indexOf(true)).toBe(8);
    // Recovery: the short window (5 s) clears within 5 samples of good traffic.
    const after: boolean[] = [];
    for (let index = 0; index < 6; index++, time += second) after.push(stepBurnRate(state, 0, time).anomalous);
    expect(after.at(-1)).toBe(false);
    expect(after.indexOf(false)).toBeLessThanOrEqual(5);
  });

  it('never fires while the error ratio stays under budget × the smallest factor', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 0.0099, noNaN: true }), { minLength: 1, maxLength: 300 }), (ratios) => {
        const state = createBurnRateState({ budget: 0.01, scale });
        ratios.forEach((ratio, index) => expect(stepBurnRate(state, ratio, index * second).anomalous).toBe(false));
      }),
    );
  });

  it('agrees with a naive recomputation of every window mean at every step', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 400 }),
        (steps) => {
          const windows = [{ longMs: 20_000, shortMs: 2000, factor: 5 }, { longMs: 60_000, shortMs: 5000, factor: 2 }];
          const state = createBurnRateState({ budget: 0.05, windows });
          const seen: Array<[number, number]> = [];
          let time = 0;
          for (const [gap, ratio] of steps) {
            time += gap;
            seen.push([time, ratio]);
            const mean = (windowMs: number) => {
              const inside = seen.filter(([at]) => at > time - windowMs).map(([, value]) => value);
              return inside.reduce((total, value) => total + value, 0) / inside.length;
            };
            const expected = windows.some((window) => Math.min(mean(window.longMs), mean(window.shortMs)) / 0.05 > window.factor);
            expect(stepBurnRate(state, ratio, time).anomalous).toBe(expected);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('forgets samples older than the longest window', () => {
    const state = createBurnRateState({ budget: 0.01, windows: [{ longMs: 10_000, shortMs: 1000, factor: 1 }] });
    for (let time = 0; time < 5_000_000; time += 1000) stepBurnRate(state, 0, time);
    expect(state.times.length - state.head).toBeLessThanOrEqual(11);
    expect(state.times.length).toBeLessThan(2100);
    // Still right after compactions: one bad sample in ten makes the long window's mean 0.1.
    const verdict = stepBurnRate(state, 1, 5_000_000);
    expect(verdict.anomalous).toBe(true);
    expect(verdict.score).toBeCloseTo(0.1 / 0.01, 6);
  });
});

describe('median by selection', () => {
  it('equals the sorted median for any window', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 3, maxLength: 61 }), (values) => {
        const state = createMadState({ window: values.length, minSamples: values.length, k: 1e12, recomputeEvery: 1 });
        for (const value of values) stepMad(state, value);
        const sorted = [...values].sort((a, b) => a - b);
        const middle = sorted.length >> 1;
        const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
        expect(state.median).toBe(median);
      }),
    );
  });
});
