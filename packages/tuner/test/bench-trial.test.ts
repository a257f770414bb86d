import type { BenchPrompt, BenchTarget, SendOutcome } from '@muai/bench';
import { describe, expect, it } from 'vitest';
import { runBenchTrial } from '../src/index.js';

/** A target whose first `coldRequests` answers take `coldMs`, later ones `warmMs` (a new session meeting new shapes, then warm). */
function warmingTarget(coldRequests: number, coldMs: number, warmMs: number): BenchTarget {
  let sent = 0;
  return {
    description: 'warming stand-in',
    model: 'default',
    preflight: async () => {},
    close: async () => {},
    send: async (_prompt: BenchPrompt, _signal: AbortSignal): Promise<SendOutcome> => {
      const delay = sent++ < coldRequests ? coldMs : warmMs;
      await new Promise((resolve) => setTimeout(resolve, delay));
      const end = performance.now();
      return { status: 'ok', chunkTimes: [end], endTime: end, promptTokens: 4, outputTokens: 4 };
    },
  };
}

const prompts: BenchPrompt[] = Array.from({ length: 8 }, (_, i) => ({ prompt: `p${i}`, promptTokens: 4, maxTokens: 4 }));

describe('runBenchTrial', () => {
  it('without stability: one run, cold or not', async () => {
    const { runs, measure } = await runBenchTrial({ target: warmingTarget(8, 80, 20), prompts, numPrompts: 8, maxConcurrency: 8 });
    expect(runs).toBe(1);
    expect(measure.requestThroughput).toBeLessThan(8 / 0.06);
  });

  it('warmUpRuns: runs first and not measured, so one run reads the warm target', async () => {
    const { runs, measure } = await runBenchTrial({ target: warmingTarget(8, 80, 20), prompts, numPrompts: 8, maxConcurrency: 8, warmUpRuns: 1 });
    expect(runs).toBe(1);
    // The cold run (~100 req/s) was the warm-up; the measured one reads ~400 req/s.
    expect(measure.requestThroughput).toBeGreaterThan(8 / 0.06);
  });

  it('with stability: repeats until the last runs agree and measures those, not the cold first run', async () => {
    const { runs, measure } = await runBenchTrial({ target: warmingTarget(8, 80, 20), prompts, numPrompts: 8, maxConcurrency: 8, stability: { windows: 3, tolerance: 0.5, maxRuns: 6 } });
    // The cold run (8 requests of 80 ms at once: ~100 req/s) is left out; the warm runs read ~400 req/s.
    expect(runs).toBeGreaterThanOrEqual(4);
    expect(measure.requestThroughput).toBeGreaterThan(8 / 0.06);
    expect(measure.failed).toBe(0);
  });

  it('with stability: stops at maxRuns when the runs never agree, and keeps the last ones', async () => {
    let sent = 0;
    const target = warmingTarget(0, 0, 0);
    // Each run twice as slow as the one before: never within 10 %.
    target.send = async () => {
      const delay = 5 * 2 ** Math.floor(sent++ / 8);
      await new Promise((resolve) => setTimeout(resolve, delay));
      const end = performance.now();
      return { status: 'ok', chunkTimes: [end], endTime: end, promptTokens: 4, outputTokens: 4 };
    };
    const { runs } = await runBenchTrial({ target, prompts, numPrompts: 8, maxConcurrency: 8, stability: { windows: 2, tolerance: 0.1, maxRuns: 4 } });
    expect(runs).toBe(4);
  });
});
