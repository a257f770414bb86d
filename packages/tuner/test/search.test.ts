import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '@muai/core';
import { gridPoints, lineDiff, paretoFront, renderTuneReport, runSearch, searchResultJson, startPoint, validateSearch, writeSettingsToYaml } from '../src/index.js';
import type { SearchPoint, TrialMeasure } from '../src/index.js';

/** A smooth synthetic response surface with one peak at batch 16, threads 2. */
function surface(point: SearchPoint): TrialMeasure {
  const batch = point['max_batch_size']!;
  const threads = point['threads'] ?? 1;
  const throughput = Math.max(1, 100 - (Math.log2(batch) - 4) ** 2 * 6 - (threads - 2) ** 2 * 5);
  const latency = 20 * batch + 30 / threads;
  return { requestThroughput: throughput / 10, outputThroughput: throughput, goodput: latency <= 400 ? throughput / 10 : 0, p99LatencyMs: latency, p99TtftMs: latency / 4, failed: 0 };
}

/** A trial that measured `tokens` output tokens/s (the throughput objective), nothing else varying. */
const outputOf = (tokens: number): TrialMeasure => ({ requestThroughput: tokens / 10, outputThroughput: tokens, goodput: null, p99LatencyMs: 100, p99TtftMs: 10, failed: 0 });

const space = { max_batch_size: [1, 2, 4, 8, 16, 32, 64], threads: [1, 2, 3, 4] };

describe('runSearch', () => {
  it('brute tries the whole grid and picks the best feasible point', async () => {
    const result = await runSearch({ space, mode: 'brute', objective: 'throughput', evaluate: async (point) => surface(point) });
    expect(result.trials).toHaveLength(28);
    expect(result.best?.point).toEqual({ max_batch_size: 16, threads: 2 });
    expect(result.stoppedBy).toBe('exhausted');
  });

  it('quick climbs from the start point to the same optimum with far fewer trials', async () => {
    const result = await runSearch({ space, mode: 'quick', objective: 'throughput', start: { max_batch_size: 1, threads: 1 }, evaluate: async (point) => surface(point) });
    expect(result.best?.point).toEqual({ max_batch_size: 16, threads: 2 });
    expect(result.trials.length).toBeLessThan(14);
    expect(result.stoppedBy).toBe('converged');
  });

  it('quick measures its start twice and does not move for gains within that noise', async () => {
    // A plateau (every batch size equal) measured with ±6 % noise that is deterministic per call.
    let call = 0;
    const noisy = (point: SearchPoint): TrialMeasure => {
      const wobble = [0, 0.06, -0.05, 0.05, -0.06, 0.04, 0.06, -0.03][call++ % 8]!;
      const base = surface({ ...point, max_batch_size: 16 });
      return { ...base, outputThroughput: base.outputThroughput * (1 + wobble) };
    };
    const result = await runSearch({ space, mode: 'quick', objective: 'throughput', start: { max_batch_size: 16, threads: 2 }, evaluate: async (point) => noisy(point) });
    expect(result.noise).toBeCloseTo(0.06 / 1.06, 3);
    expect(result.trials.slice(0, 2).map((t) => t.point)).toEqual([{ max_batch_size: 16, threads: 2 }, { max_batch_size: 16, threads: 2 }]);
    // Neighbours measured up to 6 % higher by chance: the climb stays where it started.
    expect(result.best?.point).toEqual({ max_batch_size: 16, threads: 2 });
  });

  it('quick still moves for a gain larger than the noise', async () => {
    let call = 0;
    const result = await runSearch({
      space,
      mode: 'quick',
      objective: 'throughput',
      start: { max_batch_size: 4, threads: 2 },
      evaluate: async (point) => {
        const base = surface(point);
        return { ...base, outputThroughput: base.outputThroughput * (call++ % 2 === 0 ? 1 : 1.03) };
      },
    });
    expect(result.best?.point).toEqual({ max_batch_size: 16, threads: 2 });
  });

  it.each([
    // Alone, 2 threads or 32 in flight gain 3 % (within the start's 5 % noise).
    ['each alone gains a little', 103, 103],
    // 2 threads alone read 4 % below the start's mean (fewer requests in flight than it can use).
    ['one alone reads a little lower', 98, 102],
    // 32 in flight alone reads 10 % lower (half of them queue behind a batch of 16).
    ['one alone reads clearly lower', 103, 92],
  ])('quick tries the combination of two knobs that help only together (%s) and keeps it when it clearly wins', async (_, threadsAlone, concurrencyAlone) => {
    let call = 0;
    const result = await runSearch({
      space: { threads: [1, 2], max_concurrency: [16, 32] },
      mode: 'quick',
      objective: 'throughput',
      start: { threads: 1, max_concurrency: 16 },
      evaluate: async (point) => {
        const threads = point['threads'] === 2;
        const concurrency = point['max_concurrency'] === 32;
        // Together: 20 % more. The start's second measurement reads 5 % high (the noise).
        const value = (threads && concurrency ? 120 : threads ? threadsAlone : concurrency ? concurrencyAlone : 100) * (call++ === 1 ? 1.05 : 1);
        return outputOf(value);
      },
    });
    expect(result.best?.point).toEqual({ threads: 2, max_concurrency: 32 });
  });

  it('quick finds a gain that needs three knobs at once (threads, requests in flight, batch), each a little worse alone', async () => {
    // As measured on the small model: 2 threads, 32 in flight or batch 32 alone read 1-4 % lower than
    // the start; all three together 5 % higher; any two together no better than the start.
    const result = await runSearch({
      space: { threads: [1, 2], max_concurrency: [8, 16, 32], max_batch_size: [8, 16, 32] },
      mode: 'quick',
      objective: 'throughput',
      start: { threads: 1, max_concurrency: 16, max_batch_size: 16 },
      evaluate: async (point) => {
        const up = Number(point['threads'] === 2) + Number(point['max_concurrency'] === 32) + Number(point['max_batch_size'] === 32);
        const down = Number(point['max_concurrency'] === 8) + Number(point['max_batch_size'] === 8);
        const value = (up === 3 ? 170 : up === 0 ? 162 : 158) - 30 * down;
        return outputOf(value);
      },
    });
    expect(result.best?.point).toEqual({ threads: 2, max_concurrency: 32, max_batch_size: 32 });
    expect(result.trials.length).toBeLessThanOrEqual(12);
  });

  it('quick tries several joint moves, most promising first: a knob that only hurts is left out', async () => {
    // Start at 2 threads (the defaults here): 1 thread reads 5 % lower, 32 in flight 2 % lower, batch 32 level;
    // 32 in flight with batch 32 at 2 threads gains 6 %; anything with 1 thread loses.
    const result = await runSearch({
      space: { threads: [1, 2], max_concurrency: [8, 16, 32], max_batch_size: [8, 16, 32] },
      mode: 'quick',
      objective: 'throughput',
      start: { threads: 2, max_concurrency: 16, max_batch_size: 16 },
      evaluate: async (point) => {
        const one = point['threads'] === 1;
        const wide = point['max_concurrency'] === 32;
        const big = point['max_batch_size'] === 32;
        const down = Number(point['max_concurrency'] === 8) + Number(point['max_batch_size'] === 8);
        const value = (one ? 162 - (wide || big ? 4 : 0) : wide && big ? 180 : wide ? 166 : big ? 170 : 170) - 30 * down;
        return outputOf(value);
      },
    });
    expect(result.best?.point).toEqual({ threads: 2, max_concurrency: 32, max_batch_size: 32 });
  });

  it('quick tries joint moves only to leave its start: once a single move improved on it, a stuck pass ends the search', async () => {
    const tried: string[] = [];
    const result = await runSearch({
      space: { threads: [1, 2, 3], max_batch_size: [8, 16, 32] },
      mode: 'quick',
      objective: 'throughput',
      start: { threads: 1, max_batch_size: 16 },
      evaluate: async (point) => {
        tried.push(`${point['threads']}/${point['max_batch_size']}`);
        // 2 threads is clearly better; from there nothing is, and (3, 32) jointly would be worse anyway.
        return outputOf(point['threads'] === 2 ? (point['max_batch_size'] === 16 ? 150 : 140) : 100);
      },
    });
    expect(result.best?.point).toEqual({ threads: 2, max_batch_size: 16 });
    // Start twice; its neighbours (2 threads, batch 32, batch 8); 2 threads wins, so 3 threads next
    // (the line search); at 2 threads the batch neighbours; then no joint move such as (3, 32).
    expect(tried).toEqual(['1/16', '1/16', '2/16', '1/32', '1/8', '3/16', '2/32', '2/8']);
  });

  it('quick moves to the best of all neighbours (steepest ascent) and keeps going that way while each step wins', async () => {
    const tried: string[] = [];
    const result = await runSearch({
      space: { threads: [1, 2], max_batch_size: [1, 2, 4, 8, 16, 32] },
      mode: 'quick',
      objective: 'throughput',
      start: { threads: 2, max_batch_size: 4 },
      evaluate: async (point) => {
        tried.push(`${point['threads']}/${point['max_batch_size']}`);
        // One thread reads 4 % higher at the start, the batch gains far more: batch first.
        const value = { 1: 50, 2: 60, 4: 100, 8: 150, 16: 160, 32: 140 }[point['max_batch_size']!]!;
        return outputOf(point['threads'] === 1 ? value * 1.04 : value);
      },
    });
    expect(result.best?.point).toEqual({ threads: 1, max_batch_size: 16 });
    // Start twice; its neighbours, of which batch 8 is best (not one thread, measured first); then
    // 16 and 32 along the same line; at (2, 16) one thread is the one clear step left; at (1, 16)
    // its batch neighbours win nothing.
    expect(tried).toEqual(['2/4', '2/4', '1/4', '2/8', '2/2', '2/16', '2/32', '1/16', '1/32', '1/8']);
  });

  it('quick with reference runs judges each candidate against the current point measured around it, so a drifting machine does not hide a gain', async () => {
    // True throughput: batch 8 → 90, 16 → 100, 32 → 108; the machine slows 4 % with every measurement.
    const truth: Record<number, number> = { 8: 90, 16: 100, 32: 108 };
    const run = (drifting: { calls: number }) => async (point: SearchPoint) => outputOf(truth[point['max_batch_size']!]! * 0.96 ** drifting.calls++);
    const common = { space: { max_batch_size: [8, 16, 32] }, mode: 'quick' as const, objective: 'throughput' as const, start: { max_batch_size: 16 } };
    const plain = { calls: 0 };
    // Without references: batch 32 reads 99.5 against the start's mean of 98, within the 4 % noise.
    expect((await runSearch({ ...common, evaluate: run(plain) })).best?.point).toEqual({ max_batch_size: 16 });
    const paired = { calls: 0 };
    const result = await runSearch({ ...common, evaluate: run(paired), reference: run(paired) });
    // With them: 99.5 against the mean of 96 before and 88.5 after, 8 % more.
    expect(result.best?.point).toEqual({ max_batch_size: 32 });
    const references = result.trials.filter((t) => t.reference);
    // The start's second measurement, then one after each new candidate (32, 8); from 32, its one
    // neighbour (16) is known: recalled, not run, and no reference.
    expect(references.map((t) => t.point['max_batch_size'])).toEqual([16, 16, 16]);
    expect(result.trials.map((t) => `${t.point['max_batch_size']}${t.reference ? 'r' : ''}`)).toEqual(['16', '16r', '32', '16r', '8', '16r']);
    expect(result.pareto.some((t) => t.reference)).toBe(false);
  });

  it('quick with reference runs judges a point met again by the gain it was measured with, not by a low trial of the current point', async () => {
    // True: batch 16 → 100, 32 → 110, 64 → 108; the trial of 32 reads 7 % low once (102.3).
    const truth: Record<number, number> = { 16: 100, 32: 110, 64: 108 };
    let first32 = true;
    const measure = async (point: SearchPoint) => {
      const batch = point['max_batch_size']!;
      const low = batch === 32 && first32;
      if (batch === 32) first32 = false;
      return outputOf(truth[batch]! * (low ? 0.93 : 1));
    };
    const result = await runSearch({ space: { max_batch_size: [16, 32, 64] }, mode: 'quick', objective: 'throughput', start: { max_batch_size: 16 }, evaluate: measure, reference: measure });
    // 32 beats the references of 16 around it (+2.3 %); 64 against 32's trial and the reference
    // after it gains 1.7 %, not clearly. From 32, 64 is met again: 108 against 32's low trial would
    // read +5.6 %, but it was measured against 32 at +1.7 %, so the climb stays.
    expect(result.best?.point).toEqual({ max_batch_size: 32 });
    expect(result.trials.map((t) => `${t.point['max_batch_size']}${t.reference ? 'r' : ''}`)).toEqual(['16', '16r', '32', '16r', '64', '32r']);
  });

  it('quick with reference runs never moves back to a point it stood on, so gains that do not chain cannot make it circle', async () => {
    // The machine slows 10 % with every measurement (so the start's noise, and minGain, is 10 %).
    // Paired: (1,2) +19 % over the start, (2,2) +19 % over (1,2), (2,1) -12.5 % against the start.
    // From (2,2), (2,1) shares no paired base with it and its early trial reads 15 % higher: a move
    // there; from (2,1) the start reads +14 % (the inverse of its pair), from the start (1,2) +19 %,
    // and so on around the square forever, running no trial (so no budget ends it).
    const truth: Record<string, number> = { '1/1': 100, '2/1': 88, '1/2': 120, '2/2': 144, '1/3': 100, '2/3': 100 };
    let calls = 0;
    const measure = async (point: SearchPoint) => outputOf(truth[`${point['a']}/${point['b']}`]! * 0.9 ** calls++);
    const result = await runSearch({ space: { a: [1, 2], b: [1, 2, 3] }, mode: 'quick', objective: 'throughput', start: { a: 1, b: 1 }, evaluate: measure, reference: measure });
    expect(result.best?.point).toEqual({ a: 2, b: 1 });
    expect(result.trials.filter((t) => !t.reference)).toHaveLength(6);
  });

  it('respects constraints: the chosen point meets them, infeasible trials are marked', async () => {
    const result = await runSearch({ space, mode: 'brute', objective: 'throughput', constraints: { maxP99LatencyMs: 200 }, evaluate: async (point) => surface(point) });
    expect(result.best?.measure.p99LatencyMs).toBeLessThanOrEqual(200);
    expect(result.best?.point.max_batch_size).toBe(8);
    expect(result.trials.filter((t) => !t.feasible).every((t) => t.violations[0]!.startsWith('p99 latency'))).toBe(true);
  });

  it('stops at the trial budget', async () => {
    const result = await runSearch({ space, mode: 'brute', objective: 'latency', budget: { trials: 5 }, evaluate: async (point) => surface(point) });
    expect(result.trials).toHaveLength(5);
    expect(result.stoppedBy).toBe('budget-trials');
  });

  it('refuses bad input before any trial', async () => {
    let trials = 0;
    const evaluate = async (point: SearchPoint): Promise<TrialMeasure> => {
      trials++;
      return surface(point);
    };
    await expect(runSearch({ space: {}, mode: 'quick', objective: 'throughput', evaluate })).rejects.toThrow(/search space is empty/);
    await expect(runSearch({ space: { max_batch_size: [] }, mode: 'brute', objective: 'throughput', evaluate })).rejects.toThrow(/no candidate values/);
    await expect(runSearch({ space, mode: 'brute', objective: 'throughput', constraints: { maxP99LatencyMs: 100, maxTtftMs: 500 }, evaluate })).rejects.toThrow(/check the units/);
    await expect(runSearch({ space, mode: 'brute', objective: 'goodput', evaluate })).rejects.toThrow(/--max-p99-latency or --max-ttft/);
    await expect(runSearch({ space, mode: 'brute', objective: 'throughput', constraints: { maxMemoryMb: -1 }, evaluate })).rejects.toBeInstanceOf(InvalidRequestError);
    expect(trials).toBe(0);
    expect(() => validateSearch({ space, objective: 'throughput', start: { threads: 7 } })).toThrow(/not among its candidates/);
  });
});

describe('startPoint', () => {
  it('takes the candidate nearest each default, the first without one; the load follows 2 × batch when both are searched', () => {
    const grid = { threads: [1, 2], max_concurrency: [4, 8, 16, 32], max_batch_size: [2, 4, 8, 16, 32, 64] };
    expect(startPoint(grid, { threads: 8, max_batch_size: 16, max_concurrency: 16 })).toEqual({ threads: 2, max_concurrency: 32, max_batch_size: 16 });
    expect(startPoint(grid, { max_batch_size: 4 })).toEqual({ threads: 1, max_concurrency: 8, max_batch_size: 4 });
    // Without the batch size in the space (muai tune --base-url), the load's own default holds.
    expect(startPoint({ max_concurrency: [1, 2, 4, 8, 16, 32] }, { max_concurrency: 16 })).toEqual({ max_concurrency: 16 });
    // Whatever the defaults, the start is a point of the grid (validateSearch accepts it).
    const start = startPoint(grid, { threads: 3, max_batch_size: 1000 });
    expect(start).toEqual({ threads: 2, max_concurrency: 32, max_batch_size: 64 });
    expect(() => validateSearch({ space: grid, objective: 'throughput', start })).not.toThrow();
  });
});

describe('pareto, report, yaml', () => {
  it('the Pareto front holds only non-dominated trials', async () => {
    const result = await runSearch({ space: { max_batch_size: [1, 2, 4, 8, 16, 32] }, mode: 'brute', objective: 'throughput', evaluate: async (point) => surface(point) });
    const front = paretoFront(result.trials);
    for (const a of front) for (const b of result.trials) expect(b.measure.requestThroughput > a.measure.requestThroughput && b.measure.p99LatencyMs < a.measure.p99LatencyMs).toBe(false);
    expect(front.map((t) => t.point.max_batch_size)).toEqual([1, 2, 4, 8, 16]);
    expect(gridPoints({ a: [1, 2], b: [3] })).toEqual([{ a: 1, b: 3 }, { a: 2, b: 3 }]);
  });

  it('the HTML report is self-contained and shows every trial, the front and the chosen point', async () => {
    const result = await runSearch({ space, mode: 'quick', objective: 'throughput', evaluate: async (point) => surface(point) });
    const html = renderTuneReport(result);
    expect(html).not.toMatch(/<script|<link|src=/);
    expect(html.match(/<tr class=/g)).toHaveLength(result.trials.length);
    expect(html).toContain('Chosen:</b> trial #');
    expect(html).toContain('<polyline');
    const json = searchResultJson(result);
    expect(json.pareto).toEqual(result.pareto.map((t) => t.index));
    expect(JSON.parse(JSON.stringify(json)).chosen.point).toEqual(result.best?.point);
  });

  it('writes settings into YAML keeping comments and unrelated keys, and diffs', () => {
    const before = '# my settings\noptimization:\n  batcher:\n    enabled: true # keep me\n    max_batch_size: 8\n  vllm:\n    enabled: false\nmonitoring:\n  enabled: true\n';
    const { text, skipped } = writeSettingsToYaml(before, { max_batch_size: 16, batch_timeout_ms: 20, threads: 2, concurrency: 4 });
    expect(skipped).toEqual(['concurrency']);
    expect(text).toContain('# my settings');
    expect(text).toContain('enabled: true # keep me');
    expect(text).toContain('max_batch_size: 16');
    expect(text).toContain('batch_timeout_ms: 20');
    expect(text).toMatch(/onnx:\n {4}threads: 2/);
    expect(text).toContain('monitoring:\n  enabled: true');
    const diff = lineDiff(before, text);
    expect(diff).toContain('-     max_batch_size: 8');
    expect(diff).toContain('+     max_batch_size: 16');
    expect(lineDiff(before, before)).toBe('');
    expect(writeSettingsToYaml('', { max_batch_size: 4 }).text).toBe('optimization:\n  batcher:\n    max_batch_size: 4\n');
    expect(() => writeSettingsToYaml('a: [1,', { max_batch_size: 4 })).toThrow(/valid YAML/);
  });
});
