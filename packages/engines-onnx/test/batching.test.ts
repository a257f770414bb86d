import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationResult, StreamChunk } from '@muai/core';
import { createOnnxEngine } from '../src/index.js';
import type { OnnxEngine } from '../src/index.js';
import { SequenceState } from '../src/internal/decoder.js';
import type { CausalLm } from '../src/internal/decoder.js';
import { Sampler } from '../src/internal/sampler.js';
import { BatchScheduler } from '../src/internal/scheduler.js';
import { TextAssembler } from '../src/internal/text-assembler.js';
import { HAS_TINY, LLAMA_FP16, TINY, collect, loadedModel, maxAbsDiff } from './helpers.js';

const WORDS = 'the cat sat on a warm mat while rain fell over quiet hills and an old clock ticked in the hall'.split(' ');

/** Twelve prompts of lengths 1 to ~40 words and mixed max_tokens (3 to 40). */
function mixedRequests(): Array<{ prompt: string; maxTokens: number }> {
  const requests: Array<{ prompt: string; maxTokens: number }> = [];
  for (let i = 0; i < 12; i++) {
    const words = 1 + ((i * 7) % 37);
    const prompt = Array.from({ length: words }, (_, w) => WORDS[(i + w * 3) % WORDS.length]).join(' ');
    requests.push({ prompt, maxTokens: 3 + ((i * 11) % 38) });
  }
  return requests;
}

interface Recorded {
  tokens: number[];
  rows: Float32Array[];
}

/**
 * Runs prompts through a fresh scheduler at once (or each alone) with recording greedy samplers:
 * the picked tokens and every logits row each sequence saw.
 */
async function runScheduled(model: CausalLm, prompts: number[][], maxTokens: number[], together: boolean): Promise<Recorded[]> {
  const run = async (indices: number[]): Promise<void> => {
    const scheduler = new BatchScheduler(model, { maxBatchSize: 16, maxBatchTokens: 1 << 20, raggedBatching: true, kvCache: undefined });
    await Promise.all(
      indices.map(
        (i) =>
          new Promise<void>((resolve, reject) => {
            const record = out[i]!;
            class Recording extends Sampler {
              override pick(row: Float32Array): number {
                record.rows.push(Float32Array.from(row));
                return super.pick(row);
              }
            }
            const sampler = new Recording({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 }, model.vocabSize);
            const sequence = new SequenceState(prompts[i]!, maxTokens[i]!, sampler, new TextAssembler(() => ''), new Set());
            scheduler.submit({
              sequence,
              cancelled: () => false,
              onToken(tokenId) {
                sequence.tokens.push(tokenId);
                record.tokens.push(tokenId);
                return sequence.generatedCount >= sequence.maxNewTokens;
              },
              onEnd: (error) => (error ? reject(error) : resolve()),
            });
          }),
      ),
    );
    if (together) expect(scheduler.stats().maxBatchSeen).toBeGreaterThan(4);
    expect(scheduler.stats().running).toBe(0);
  };
  const out: Recorded[] = prompts.map(() => ({ tokens: [], rows: [] }));
  if (together) await run(prompts.map((_, i) => i));
  else for (let i = 0; i < prompts.length; i++) await run([i]);
  return out;
}

/** Greedy equality alone vs together, and logits within `tolerance` at every step. */
async function checkAloneVersusTogether(model: CausalLm, tolerance: number): Promise<number> {
  const requests = mixedRequests();
  const prompts = requests.map((request) => model.tokenizer.encodePrompt(request.prompt));
  expect(new Set(prompts.map((p) => p.length)).size).toBeGreaterThan(6); // ragged
  const maxTokens = requests.map((request) => request.maxTokens);
  const alone = await runScheduled(model, prompts, maxTokens, false);
  const together = await runScheduled(model, prompts, maxTokens, true);
  let worst = 0;
  for (let i = 0; i < prompts.length; i++) {
    expect(together[i]!.tokens, `request ${i}`).toEqual(alone[i]!.tokens);
    expect(together[i]!.tokens).toHaveLength(maxTokens[i]!);
    for (let step = 0; step < alone[i]!.rows.length; step++) worst = Math.max(worst, maxAbsDiff(alone[i]!.rows[step]!, together[i]!.rows[step]!));
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
  return worst;
}

describe.skipIf(!HAS_TINY)('continuous batching on the generated tiny llama (fp32)', () => {
  let engine: OnnxEngine;
  beforeAll(async () => {
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
    await engine.load({ name: 'tiny', path: TINY });
  });
  afterAll(async () => engine.close());

  it('declares batching', () => {
    expect(engine.capabilities.batching).toBe(true);
  });

  it('12 concurrent mixed-length greedy requests give the same tokens as each alone; logits agree within 1e-4', async () => {
    const worst = await checkAloneVersusTogether(loadedModel(engine, 'tiny'), 1e-4);
    console.info(`[batching tiny fp32] largest logit difference alone vs batched: ${worst}`);
  });

  it('through the engine: concurrent generate() calls equal the same calls one at a time, and they shared steps', async () => {
    const requests = mixedRequests();
    const alone: GenerationResult[] = [];
    for (const request of requests) alone.push(await engine.generate(request));
    const before = engine.batchStats('tiny');
    const together = await Promise.all(requests.map((request) => engine.generate(request)));
    const after = engine.batchStats('tiny');
    expect(together.map((r) => r.tokenIds)).toEqual(alone.map((r) => r.tokenIds));
    expect(together.map((r) => r.text)).toEqual(alone.map((r) => r.text));
    expect(after.maxBatchSeen).toBeGreaterThan(4);
    // Fewer steps than one at a time would take: the requests really shared decode steps.
    const sequential = requests.reduce((sum, r) => sum + r.maxTokens - 1, 0);
    expect(after.steps - before.steps).toBeLessThan(sequential);
    expect(after.running).toBe(0);
  });

  it('generateBatch runs its requests together and keeps order and errors in place', async () => {
    const requests = mixedRequests().slice(0, 6);
    const alone = [];
    for (const request of requests) alone.push((await engine.generate(request)).tokenIds);
    const before = engine.batchStats('tiny').steps;
    const results = await engine.generateBatch([...requests, { prompt: 'bad', maxTokens: -1 }]);
    expect(results.slice(0, 6).map((r) => (r as GenerationResult).tokenIds)).toEqual(alone);
    expect((results[6] as { code?: string }).code).toBe('INVALID_REQUEST');
    const longest = Math.max(...requests.map((r) => r.maxTokens));
    expect(engine.batchStats('tiny').steps - before).toBeLessThan(requests.reduce((sum, r) => sum + r.maxTokens, 0));
    expect(engine.batchStats('tiny').steps - before).toBeGreaterThanOrEqual(longest - 1);
  });

  it('a short request that joins a running long one finishes first (no head-of-line blocking)', async () => {
    const order: string[] = [];
    const longRun = engine.generate({ prompt: 'a long story about the sea', maxTokens: 120 }).then((r) => (order.push('long'), r));
    // Join after the long one has decoded a few steps.
    const stream = engine.stream({ prompt: 'warm up', maxTokens: 3 });
    await collect(stream);
    const short = await engine.generate({ prompt: 'short', maxTokens: 4 }).then((r) => (order.push('short'), r));
    const long = await longRun;
    expect(order).toEqual(['short', 'long']);
    expect(short.usage.completionTokens).toBe(4);
    expect(long.usage.completionTokens).toBe(120);
    expect(long.tokenIds).toEqual((await engine.generate({ prompt: 'a long story about the sea', maxTokens: 120 })).tokenIds);
  });

  it('aborting one sequence removes it at the next step; the others are unaffected and the batch empties', async () => {
    const requests = mixedRequests().slice(0, 5).map((r) => ({ ...r, maxTokens: 30 }));
    const alone = [];
    for (const request of requests) alone.push((await engine.generate(request)).tokenIds);
    const controller = new AbortController();
    const victim = (async () => {
      const chunks: StreamChunk[] = [];
      for await (const chunk of engine.stream({ prompt: 'cancel me please', maxTokens: 200, signal: controller.signal })) {
        chunks.push(chunk);
        if (chunks.length === 5) controller.abort();
      }
      return chunks;
    })();
    const others = await Promise.all(requests.map((request) => engine.generate(request)));
    const chunks = await victim;
    expect(chunks[chunks.length - 1]!.finishReason).toBe('abort');
    expect(chunks[chunks.length - 1]!.usage!.completionTokens).toBe(5);
    expect(others.map((r) => r.tokenIds)).toEqual(alone);
    // Give the loop a boundary to drop the cancelled row.
    await engine.generate({ prompt: 'x', maxTokens: 2 });
    expect(engine.batchStats('tiny')).toMatchObject({ running: 0, waiting: 0 });
  });

  it('a request cancelled while it waits to join never runs; the batch goes on', async () => {
    const single = createOnnxEngine({ intraOpNumThreads: 1, maxBatchSize: 1 });
    await single.load({ name: 'tiny', path: TINY });
    const first = single.generate({ prompt: 'first in line', maxTokens: 20 });
    const controller = new AbortController();
    const second = single.generate({ prompt: 'second in line', maxTokens: 20, signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    expect(single.batchStats().waiting).toBe(1);
    controller.abort();
    expect(await second).toMatchObject({ finishReason: 'abort', usage: { completionTokens: 0 } });
    expect((await first).usage.completionTokens).toBe(20);
    expect(single.batchStats()).toMatchObject({ prefills: 1, running: 0, waiting: 0 });
    await single.close();
  });

  it('unloading a model while requests run ends them with a coded error, never a hang', async () => {
    const other = createOnnxEngine({ intraOpNumThreads: 1 });
    await other.load({ name: 'tiny', path: TINY });
    const pending = [0, 1, 2].map((i) => other.generate({ prompt: `request ${i}`, maxTokens: 200 }).then(() => 'finished', (error: { code?: string }) => error.code));
    await new Promise((resolve) => setImmediate(resolve));
    await other.unload('tiny');
    const outcomes = await Promise.all(pending);
    for (const outcome of outcomes) expect(['ENGINE_UNAVAILABLE', 'ENGINE_ERROR']).toContain(outcome);
    await other.close();
  });

  it('maxBatchSize 1 runs one sequence per step, with the same output', async () => {
    const single = createOnnxEngine({ intraOpNumThreads: 1, maxBatchSize: 1 });
    await single.load({ name: 'tiny', path: TINY });
    const requests = mixedRequests().slice(0, 4);
    const results = await Promise.all(requests.map((r) => single.generate(r)));
    const reference = await Promise.all(requests.map((r) => engine.generate(r)));
    expect(results.map((r) => r.tokenIds)).toEqual(reference.map((r) => r.tokenIds));
    expect(single.batchStats().maxBatchSeen).toBe(1);
    await single.close();
  });

  it('maxBatchTokens bounds the running batch: requests wait instead of joining', async () => {
    const bounded = createOnnxEngine({ intraOpNumThreads: 1, maxBatchTokens: 40 });
    await bounded.load({ name: 'tiny', path: TINY });
    const requests = Array.from({ length: 4 }, (_, i) => ({ prompt: `${WORDS.slice(i, i + 6).join(' ')}`, maxTokens: 12 }));
    const results = await Promise.all(requests.map((r) => bounded.generate(r)));
    const reference = await Promise.all(requests.map((r) => engine.generate(r)));
    expect(results.map((r) => r.tokenIds)).toEqual(reference.map((r) => r.tokenIds));
    // Each row reserves its prompt (~7) + 12 new tokens, about 19 slots: at most 2 rows fit in 40.
    expect(bounded.batchStats().maxBatchSeen).toBeLessThanOrEqual(2);
    await bounded.close();
  });

  it('setLimits between steps: lowering maxBatchSize while requests run drops none and keeps the output; raising it batches again', async () => {
    const tuned = createOnnxEngine({ intraOpNumThreads: 1, maxBatchSize: 8 });
    await tuned.load({ name: 'tiny', path: TINY });
    const requests = mixedRequests().slice(0, 8);
    const reference = await Promise.all(requests.map((r) => engine.generate(r)));
    const running = Promise.all(requests.map((r) => tuned.generate(r)));
    while (tuned.batchStats().steps < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(tuned.setLimits({ maxBatchSize: 1 })).toEqual(['tiny']);
    const results = await running;
    expect(results.map((r) => r.tokenIds)).toEqual(reference.map((r) => r.tokenIds));
    const lowered = tuned.batchStats().maxBatchSeen;
    // Under the new limit no new sequence joins a running one: the later steps run one at a time.
    const before = tuned.batchStats();
    await Promise.all(requests.slice(0, 3).map((r) => tuned.generate(r)));
    expect(tuned.batchStats().maxBatchSeen).toBe(lowered);
    expect(tuned.batchStats().sequenceSteps - before.sequenceSteps).toBe(tuned.batchStats().steps - before.steps);
    tuned.setLimits({ maxBatchSize: 8 });
    const again = await Promise.all(requests.map((r) => tuned.generate(r)));
    expect(again.map((r) => r.tokenIds)).toEqual(reference.map((r) => r.tokenIds));
    expect(() => tuned.setLimits({ maxBatchSize: 0 })).toThrow(/positive integer/);
    await tuned.close();
  });
});

describe.skipIf(!HAS_TINY)('raggedBatching: false', () => {
  it('batches only sequences of equal length, with the same output', async () => {
    const strict = createOnnxEngine({ intraOpNumThreads: 1 });
    await strict.load({ name: 'tiny', path: TINY, options: { raggedBatching: false } });
    const reference = createOnnxEngine({ intraOpNumThreads: 1, maxBatchSize: 1 });
    await reference.load({ name: 'tiny', path: TINY });
    const same = ['red apples fall', 'blue rivers run', 'old trees grow', 'two cats sit'];
    const lengths = same.map((prompt) => strict.encodeRequest({ prompt }).length);
    expect(new Set(lengths).size).toBe(1);
    const requests = [...same.map((prompt) => ({ prompt, maxTokens: 10 })), { prompt: 'a much longer prompt than the others, long enough that the running rows never reach its length before they finish', maxTokens: 6 }];
    const results = await Promise.all(requests.map((r) => strict.generate(r)));
    const alone = [];
    for (const r of requests) alone.push((await reference.generate(r)).tokenIds);
    expect(results.map((r) => r.tokenIds)).toEqual(alone);
    expect(strict.batchStats().maxBatchSeen).toBe(4);
    await strict.close();
    await reference.close();
  });
});

describe('continuous batching on the fp16 llama with MultiHeadAttention contrib ops', () => {
  let engine: OnnxEngine;
  beforeAll(async () => {
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
    await engine.load({ name: 'llama', path: LLAMA_FP16 });
  });
  afterAll(async () => engine.close());

  it('left padding works: 12 concurrent mixed-length greedy requests equal each alone; logits within fp16 noise', async () => {
    const worst = await checkAloneVersusTogether(loadedModel(engine, 'llama'), 2e-2);
    console.info(`[batching llama fp16] largest logit difference alone vs batched: ${worst}`);
  });
});
