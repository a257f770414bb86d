/**
 * A decode step whose `session.run` throws (issue 19): only the sequences that fail on their own
 * end with ENGINE_ERROR; the others of the batch continue with exactly their undisturbed tokens.
 * Real ONNX Runtime session of the generated tiny llama; faults injected by wrapping `session.run`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import type { GenerationResult } from '@muai/core';
import { createOnnxEngine, createOnnxWorkerEngine } from '../src/index.js';
import type { OnnxEngine } from '../src/index.js';
import type { CausalLm } from '../src/internal/decoder.js';
import { decodePositions } from './fault-injection.js';
import type { Feeds } from './fault-injection.js';
import { HAS_TINY, REPO_ROOT, TINY, loadedModel } from './helpers.js';

const WORDS = 'the cat sat on a warm mat while rain fell over quiet hills and an old clock ticked in the hall'.split(' ');
const SHORT = Array.from({ length: 6 }, (_, i) => ({ prompt: WORDS.slice(i, i + 2 + i).join(' '), maxTokens: 10 + i }));
/** The poisoned request: a prompt longer than any other request ever gets, so its rows are recognisable by position. */
const POISONED = { prompt: [...WORDS, ...WORDS, ...WORDS].join(' '), maxTokens: 12 };

describe.skipIf(!HAS_TINY)('a failing decode step on the generated tiny llama', () => {
  let engine: OnnxEngine;
  let model: CausalLm;
  let run: CausalLm['session']['run'];
  /** Decides whether a run fails; undefined: every run goes through. */
  let fault: ((feeds: Feeds) => boolean) | undefined;
  let injected = 0;
  let poisonFrom = 0;

  beforeAll(async () => {
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
    await engine.load({ name: 'tiny', path: TINY });
    model = loadedModel(engine, 'tiny');
    const session = model.session;
    run = session.run.bind(session);
    session.run = (async (feeds: Feeds, ...rest: unknown[]) => {
      if (fault?.(feeds)) {
        injected++;
        throw new Error('injected decode failure');
      }
      return (run as (...args: unknown[]) => unknown)(feeds, ...rest);
    }) as CausalLm['session']['run'];
    const reach = Math.max(...SHORT.map((request) => model.tokenizer.encodePrompt(request.prompt).length + request.maxTokens));
    poisonFrom = model.tokenizer.encodePrompt(POISONED.prompt).length;
    expect(poisonFrom).toBeGreaterThan(reach); // only the poisoned request's rows reach these positions
  });
  afterAll(async () => engine.close());
  beforeEach(() => {
    fault = undefined;
    injected = 0;
  });

  const all = [...SHORT, POISONED];
  const generateAll = () => Promise.all(all.map((request) => engine.generate(request).catch((error: unknown) => error)));
  const undisturbed = async (): Promise<GenerationResult[]> => (await generateAll()) as GenerationResult[];
  const idle = () => {
    const stats = engine.batchStats('tiny');
    expect([stats.running, stats.waiting, stats.batchTokens]).toEqual([0, 0, 0]);
    return stats;
  };

  it('a step that fails whenever the poisoned row is in it fails that request alone; the others give their undisturbed tokens', async () => {
    const expected = await undisturbed();
    const before = engine.batchStats('tiny');
    fault = (feeds) => decodePositions(feeds)?.some((position) => position >= poisonFrom) ?? false;
    const outcomes = await generateAll();
    expect(injected).toBeGreaterThanOrEqual(2); // the batched step, then the poisoned row's group down to itself
    const poisoned = outcomes.at(-1);
    expect(MuaiError.hasCode(poisoned, 'ENGINE_ERROR')).toBe(true);
    expect((poisoned as MuaiError).message).toMatch(/decode step failed for sequence #\d+ of model "tiny" \(prompt of \d+ tokens, 1 generated\), also when run apart from the other \d+ sequence\(s\) of its batch/);
    expect((poisoned as MuaiError).message).toContain('injected decode failure');
    expect((poisoned as MuaiError).message).toContain('Retry the request');
    expect((poisoned as MuaiError).details).toMatchObject({ model: 'tiny', promptTokens: poisonFrom, generatedTokens: 1 });
    for (let i = 0; i < SHORT.length; i++) {
      const result = outcomes[i] as GenerationResult;
      expect(result.tokenIds, `request ${i}`).toEqual(expected[i]!.tokenIds);
      expect(result.text).toBe(expected[i]!.text);
    }
    const after = idle();
    expect((after.failedSteps ?? 0) - (before.failedSteps ?? 0)).toBe(1);
    expect((after.failedSequences ?? 0) - (before.failedSequences ?? 0)).toBe(1);
    console.info(`[step failure] poisoned row: ${injected} failed runs, 1 of 7 requests ENGINE_ERROR, 6 identical to the undisturbed run`);
  });

  it('a step that fails once (transient) fails nobody: every request gives its undisturbed tokens', async () => {
    const expected = await undisturbed();
    fault = (feeds) => (decodePositions(feeds)?.length ?? 0) > 1 && injected === 0;
    const outcomes = (await generateAll()) as GenerationResult[];
    expect(injected).toBe(1);
    expect(outcomes.map((result) => result.tokenIds)).toEqual(expected.map((result) => result.tokenIds));
    expect(idle().failedSequences).toBeGreaterThanOrEqual(1); // from the test before; none added here
  });

  it('a step that fails for every row fails every request of it cleanly, and the engine serves the next one', async () => {
    const before = engine.batchStats('tiny');
    fault = (feeds) => decodePositions(feeds) !== undefined;
    const outcomes = await generateAll();
    for (const outcome of outcomes) {
      expect(MuaiError.hasCode(outcome, 'ENGINE_ERROR')).toBe(true);
      expect((outcome as MuaiError).message).toContain('injected decode failure');
    }
    const after = idle();
    expect((after.failedSequences ?? 0) - (before.failedSequences ?? 0)).toBe(all.length);
    // A batch of n rows that all fail costs its batched run and 2n - 2 runs of halves down to single
    // rows: 13 runs when the 7 requests share one batch, fewer when some joined a later batch.
    expect(injected).toBeGreaterThanOrEqual(all.length);
    expect(injected).toBeLessThanOrEqual(2 * all.length - 1);
    fault = undefined;
    const next = await engine.generate({ prompt: 'the cat', maxTokens: 4 });
    expect(next.usage.completionTokens).toBe(4);
    idle();
  });
  it('the worker engine (the same scheduler in its thread) fails the poisoned request alone; the others give their undisturbed tokens', async () => {
    const expected = await undisturbed();
    // Bundled like worker-engine.test.ts does, with the fault injected inside the worker thread
    // (ignoreAnnotations: the package's `sideEffects: false` would drop the worker-entry import).
    const script = resolve(REPO_ROOT, `node_modules/.cache/muai-engines-onnx-test/faulty-worker-entry-${process.pid}.mjs`);
    mkdirSync(resolve(script, '..'), { recursive: true });
    await build({ entryPoints: [resolve(import.meta.dirname, 'faulty-worker-entry.ts')], outfile: script, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', ignoreAnnotations: true, logLevel: 'error' });
    process.env['MUAI_TEST_POISON_FROM'] = String(poisonFrom); // the worker copies the environment when it starts
    const worker = createOnnxWorkerEngine({ workerScript: script, intraOpNumThreads: 1 });
    try {
      await worker.load({ name: 'tiny', path: TINY });
      const outcomes = await Promise.all(all.map((request) => worker.generate({ ...request, model: 'tiny' }).catch((error: unknown) => error)));
      const poisoned = outcomes.at(-1);
      expect(MuaiError.hasCode(poisoned, 'ENGINE_ERROR')).toBe(true);
      expect((poisoned as MuaiError).message).toMatch(/decode step failed for sequence #\d+ of model "tiny".*injected decode failure in the worker/);
      expect((poisoned as MuaiError).details).toMatchObject({ model: 'tiny', promptTokens: poisonFrom, generatedTokens: 1 });
      expect(outcomes.slice(0, SHORT.length).map((result) => (result as GenerationResult).tokenIds)).toEqual(expected.slice(0, SHORT.length).map((result) => result.tokenIds));
      const stats = await worker.batchStats('tiny');
      expect([stats.running, stats.waiting, stats.batchTokens, stats.failedSequences]).toEqual([0, 0, 0, 1]);
    } finally {
      delete process.env['MUAI_TEST_POISON_FROM'];
      await worker.close();
      rmSync(script, { force: true });
    }
  });
});
