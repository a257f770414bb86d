import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../src/index.js';
import type { OnnxEngine } from '../src/index.js';
import { createKvCache } from '@muai/kv-cache';
import { SequenceState } from '../src/internal/decoder.js';
import { Sampler } from '../src/internal/sampler.js';
import { BatchScheduler } from '../src/internal/scheduler.js';
import { TextAssembler } from '../src/internal/text-assembler.js';
import { HAS_TINY, LLAMA_FP16, REPO_ROOT, TINY, loadedModel } from './helpers.js';

const GENERATOR = resolve(REPO_ROOT, 'tools/model-gen/generate.mjs');

const PREFIX =
  'You are a helpful assistant for a small bakery. The shop opens at seven, sells bread, rolls and cakes, ' +
  'and closes at six on weekdays and at noon on Saturdays. Answer briefly and politely. Question: ';
const SUFFIXES = ['when do you open?', 'do you sell cakes?', 'are you open on Saturday afternoon?', 'what is your name?', 'hello', 'is there rye bread today?'];

/** Tiny model: 2 layers × 2 kv heads × 16 head dim × 16 tokens × 4 bytes × (key + value). */
const TINY_BLOCK_BYTES = 2 * 2 * 2 * 16 * 16 * 4;

/** Greedy ids of one prompt (token ids) through a scheduler. */
function greedyIds(scheduler: BatchScheduler, prompt: readonly number[], maxTokens: number): Promise<number[]> {
  const model = scheduler.model;
  const sequence = new SequenceState(prompt, maxTokens, new Sampler({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 }, model.vocabSize), new TextAssembler(() => ''), new Set());
  return new Promise((resolve, reject) => {
    scheduler.submit({
      sequence,
      cancelled: () => false,
      onToken(tokenId) {
        sequence.tokens.push(tokenId);
        return sequence.generatedCount >= maxTokens;
      },
      onEnd: (error) => (error ? reject(error) : resolve(sequence.tokens.slice(prompt.length))),
    });
  });
}

async function greedy(engine: OnnxEngine, prompts: string[], maxTokens: number, concurrent: boolean): Promise<Array<readonly number[]>> {
  if (concurrent) return (await Promise.all(prompts.map((prompt) => engine.generate({ prompt, maxTokens })))).map((r) => r.tokenIds!);
  const out: Array<readonly number[]> = [];
  for (const prompt of prompts) out.push((await engine.generate({ prompt, maxTokens })).tokenIds!);
  return out;
}

describe.skipIf(!HAS_TINY)('prefix cache on the generated tiny llama (fp32)', () => {
  let plain: OnnxEngine;
  let cached: OnnxEngine;
  beforeAll(async () => {
    plain = createOnnxEngine({ intraOpNumThreads: 1 });
    cached = createOnnxEngine({ intraOpNumThreads: 1, kvCache: { maxMemoryMb: 16 } });
    await plain.load({ name: 'tiny', path: TINY });
    await cached.load({ name: 'tiny', path: TINY });
  });
  afterAll(async () => {
    await plain.close();
    await cached.close();
  });

  it('is off by default (no kvCache option) and with enabled: false', async () => {
    expect(plain.cacheStats('tiny')).toBeUndefined();
    expect(plain.describeModel('tiny').prefixCache).toBe(false);
    expect(cached.describeModel('tiny').prefixCache).toBe(true);
    const off = createOnnxEngine({ kvCache: { enabled: false, maxMemoryMb: 1 } });
    await off.load({ name: 'tiny', path: TINY });
    expect(off.cacheStats()).toBeUndefined();
    await off.close();
  });

  it('requests sharing a prefix give the same greedy tokens with and without the cache, one by one and concurrently; hits are counted', async () => {
    const prompts = SUFFIXES.map((suffix) => PREFIX + suffix);
    const prefixTokens = plain.encodeRequest({ prompt: PREFIX }).length;
    expect(prefixTokens).toBeGreaterThan(32);
    const reference = await greedy(plain, prompts, 24, false);
    expect(await greedy(cached, prompts, 24, false)).toEqual(reference);
    const stats = cached.cacheStats('tiny')!;
    expect(stats.lookups).toBe(prompts.length);
    expect(stats.lookupHits).toBe(prompts.length - 1); // all but the first reuse the prefix
    expect(stats.hitTokens).toBeGreaterThanOrEqual((prompts.length - 1) * 32);
    expect(stats.bytesUsed).toBeGreaterThan(0);
    expect(stats.bytesUsed).toBeLessThanOrEqual(stats.bytesBudget);
    expect(cached.batchStats('tiny').prefixTokensReused).toBe(stats.hitTokens);
    // Concurrently (joining one running batch), and again now that everything is warm.
    expect(await greedy(cached, prompts, 24, true)).toEqual(reference);
    expect(await greedy(cached, [...prompts].reverse(), 24, true)).toEqual([...reference].reverse());
    expect(cached.cacheStats('tiny')!.sequences).toBe(0); // nothing pinned after the requests
  });

  it('keeps generated tokens too: a follow-up whose prompt is prompt + answer + more reuses them, with the same output', async () => {
    // Token ids directly (a text round trip of a random model's output need not give the same ids).
    const model = loadedModel(cached, 'tiny');
    const cache = createKvCache({ numLayers: 2, numKvHeads: 2, headDim: 16, maxMemoryBytes: 1 << 20 });
    const withCache = new BatchScheduler(model, { maxBatchSize: 4, maxBatchTokens: 1 << 16, raggedBatching: true, kvCache: cache });
    const without = new BatchScheduler(model, { maxBatchSize: 4, maxBatchTokens: 1 << 16, raggedBatching: true, kvCache: undefined });
    const prompt = model.tokenizer.encodePrompt('Tell me something about follow-up questions:');
    // Beside another, longer request, so the row is left padded when it leaves.
    const [first] = await Promise.all([greedyIds(withCache, prompt, 40), greedyIds(withCache, model.tokenizer.encodePrompt(PREFIX + SUFFIXES[0]), 45)]);
    const followUp = [...prompt, ...first!, 7, 8, 9];
    const before = cache.stats().hitTokens;
    const lookupsBefore = cache.stats().lookups;
    const reply = await greedyIds(withCache, followUp, 16);
    // Everything computed before (prompt + all generated but the last) in whole blocks of 16.
    expect(cache.stats().hitTokens - before).toBe(Math.floor((prompt.length + first!.length - 1) / 16) * 16);
    expect(cache.stats().lookups - lookupsBefore).toBe(1); // storing is not counted as a lookup
    expect(reply).toEqual(await greedyIds(without, followUp, 16));
  });

  it('under a tiny budget blocks are evicted LRU, the budget holds, and outputs stay identical', async () => {
    const small = createOnnxEngine({ intraOpNumThreads: 1, kvCache: { maxMemoryBytes: 4 * TINY_BLOCK_BYTES } });
    await small.load({ name: 'tiny', path: TINY });
    const prompts = [
      ...SUFFIXES.map((suffix) => PREFIX + suffix),
      ...SUFFIXES.map((suffix, i) => `Story number ${i}: once upon a time in a village by the sea there lived a fisher who ${suffix}`),
    ];
    const reference = await greedy(plain, prompts, 12, false);
    // Twice through, alternating families, so blocks are evicted and some are reused.
    expect(await greedy(small, prompts, 12, false)).toEqual(reference);
    expect(await greedy(small, prompts, 12, true)).toEqual(reference);
    const stats = small.cacheStats()!;
    expect(stats.evictions).toBeGreaterThan(0);
    expect(stats.bytesAllocated).toBeLessThanOrEqual(4 * TINY_BLOCK_BYTES);
    expect(stats.bytesBudget).toBe(4 * TINY_BLOCK_BYTES);
    // A prompt longer than the whole budget is served without being stored (never an OOM, same output).
    const long = `${PREFIX} ${PREFIX} ${PREFIX}`;
    expect(small.encodeRequest({ prompt: long }).length).toBeGreaterThan(5 * 16);
    const failuresBefore = stats.allocationFailures;
    expect((await small.generate({ prompt: long, maxTokens: 8 })).tokenIds).toEqual((await plain.generate({ prompt: long, maxTokens: 8 })).tokenIds);
    expect(small.cacheStats()!.allocationFailures).toBeGreaterThan(failuresBefore);
    await small.close();
  });

  it('prefixReuse: false keeps nothing for reuse: no hits, same output', async () => {
    const noReuse = createOnnxEngine({ intraOpNumThreads: 1, kvCache: { maxMemoryMb: 4, prefixReuse: false } });
    await noReuse.load({ name: 'tiny', path: TINY });
    const prompts = SUFFIXES.slice(0, 3).map((suffix) => PREFIX + suffix);
    expect(await greedy(noReuse, prompts, 8, false)).toEqual(await greedy(plain, prompts, 8, false));
    expect(noReuse.cacheStats()!.hitTokens).toBe(0);
    await noReuse.close();
  });
});

describe('prefix cache on the fp16 llama (onnxruntime-genai graph: no prefill over a past)', () => {
  let plain: OnnxEngine;
  let cached: OnnxEngine;
  beforeAll(async () => {
    plain = createOnnxEngine({ intraOpNumThreads: 1 });
    cached = createOnnxEngine({ intraOpNumThreads: 1, kvCache: { maxMemoryMb: 4, blockSize: 8 } });
    await plain.load({ name: 'llama', path: LLAMA_FP16 });
    await cached.load({ name: 'llama', path: LLAMA_FP16 });
  });
  afterAll(async () => {
    await plain.close();
    await cached.close();
  });

  it('its graph rejects several new tokens over a past, so the model runs without the prefix cache, with the same output', async () => {
    expect(cached.describeModel('llama').prefixCache).toBe(false);
    expect(cached.cacheStats('llama')).toBeUndefined();
    const prompts = SUFFIXES.map((suffix) => PREFIX + suffix);
    const reference = await greedy(plain, prompts, 16, false);
    expect(await greedy(cached, prompts, 16, false)).toEqual(reference);
    expect(await greedy(cached, prompts, 16, true)).toEqual(reference);
  });
});

// fp16 keys/values stay raw 16-bit values from ONNX Runtime through the block store and back.
describe.skipIf(!existsSync(GENERATOR))('prefix cache on a generated fp16 graph (plain ops)', () => {
  let dir: string;
  let plain: OnnxEngine;
  let cached: OnnxEngine;
  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'muai-onnx-cache16-')), 'tiny-fp16');
    const { generateModel } = (await import(pathToFileURL(GENERATOR).href)) as {
      generateModel(options: { size: string; outDir: string; dtype: string; log: (line: string) => void }): unknown;
    };
    generateModel({ size: 'tiny', outDir: dir, dtype: 'fp16', log: () => undefined });
    plain = createOnnxEngine({ intraOpNumThreads: 1 });
    cached = createOnnxEngine({ intraOpNumThreads: 1, kvCache: { maxMemoryMb: 4, blockSize: 8 } });
    await plain.load({ name: 'm', path: dir, dtype: 'fp16' });
    await cached.load({ name: 'm', path: dir, dtype: 'fp16' });
  });
  afterAll(async () => {
    await plain.close();
    await cached.close();
    rmSync(resolve(dir, '..'), { recursive: true, force: true });
  });

  it('gives the same greedy tokens with and without the cache, one by one and concurrently, with hits', async () => {
    expect(cached.describeModel('m').prefixCache).toBe(true);
    const prompts = SUFFIXES.map((suffix) => PREFIX + suffix);
    const reference = await greedy(plain, prompts, 16, false);
    expect(await greedy(cached, prompts, 16, false)).toEqual(reference);
    expect(await greedy(cached, prompts, 16, true)).toEqual(reference);
    expect(cached.cacheStats()!).toMatchObject({ lookups: prompts.length * 2, lookupHits: prompts.length * 2 - 1 });
  });
});
