import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../src/index.js';
import type { OnnxEngine } from '../src/index.js';
import type { StreamChunk } from '@muai/core';
import { DecodeBatch, SequenceState, logitsWithoutCache } from '../src/internal/decoder.js';
import { Sampler } from '../src/internal/sampler.js';
import { TextAssembler } from '../src/internal/text-assembler.js';
import { HAS_TINY, TINY, collect, loadedModel, maxAbsDiff, transformersChatIds, transformersGreedy } from './helpers.js';

// Skipped only when the generated model is absent (helpers.ts prints how to generate it).
describe.skipIf(!HAS_TINY)('generated tiny llama (models/generated/tiny, fp32, GQA)', () => {
  let engine: OnnxEngine;
  beforeAll(async () => {
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
    await engine.load({ name: 'tiny', path: TINY });
  });
  afterAll(async () => engine.close());

  it('greedy output equals transformers.js (dtype fp32) token for token, on two prompts', async () => {
    for (const prompt of ['Hello world', 'What is the capital of France? Answer in one word.']) {
      const theirs = await transformersGreedy(TINY, 'fp32', prompt, 40);
      const ours = await engine.generate({ prompt, maxTokens: 40 });
      expect(ours.tokenIds, prompt).toEqual(theirs);
    }
  });

  it('applies the chat template exactly as transformers.js does', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are brief.' },
      { role: 'user' as const, content: 'What is AI?' },
    ];
    expect(engine.encodeRequest({ messages })).toEqual(await transformersChatIds(TINY, messages));
    const result = await engine.generate({ messages, maxTokens: 5 });
    expect(result.usage.promptTokens).toBe(engine.encodeRequest({ messages }).length);
    await expect(engine.generate({ messages: [{ role: 'tool', content: 'x' }], maxTokens: 2 })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('logits with the KV cache equal logits recomputed without it at several positions', async () => {
    const model = loadedModel(engine, 'tiny');
    const rows: Float32Array[] = [];
    class Recording extends Sampler {
      override pick(row: Float32Array): number {
        rows.push(Float32Array.from(row));
        return super.pick(row);
      }
    }
    const prompt = model.tokenizer.encodePrompt('The cache must not change the answer');
    const sampler = new Recording({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 }, model.vocabSize);
    const sequence = new SequenceState(prompt, 40, sampler, new TextAssembler(() => ''), new Set());
    const batch = new DecodeBatch(model, [sequence]);
    for (let i = 0; i < 40; i++) sequence.tokens.push((await batch.step())[0]!);
    batch.release();
    for (const step of [0, 1, 7, 20, 39]) {
      const context = sequence.tokens.slice(0, prompt.length + step);
      const fresh = await logitsWithoutCache(model, context);
      expect(maxAbsDiff(rows[step]!, fresh), `position ${context.length}`).toBeLessThan(1e-3);
    }
  });

  it('a decode batch of two aligned sequences gives each the tokens it gets alone', async () => {
    const model = loadedModel(engine, 'tiny');
    const promptA = model.tokenizer.encodePrompt('Hello world');
    const promptB = [...promptA.slice(0, -1), 777]; // same length, another last token
    const greedy = () => new Sampler({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 }, model.vocabSize);
    const decode = async (prompts: number[][]): Promise<number[][]> => {
      const sequences = prompts.map((prompt) => new SequenceState(prompt, 12, greedy(), new TextAssembler(() => ''), new Set()));
      const batch = new DecodeBatch(model, sequences);
      for (let i = 0; i < 12; i++) (await batch.step()).forEach((id, b) => sequences[b]!.tokens.push(id));
      batch.release();
      return sequences.map((sequence) => sequence.tokens.slice(sequence.promptLength));
    };
    const together = await decode([promptA, promptB]);
    const alone = [...(await decode([promptA])), ...(await decode([promptB]))];
    expect(together).toEqual(alone);
    expect(together[0]).not.toEqual(together[1]);
    expect(alone[0]).toEqual((await engine.generate({ prompt: 'Hello world', maxTokens: 12 })).tokenIds);
  });

  it('sampling is reproducible with a seed, and the seed matters', async () => {
    const request = { prompt: 'Once upon a time', maxTokens: 24, temperature: 1.0, topK: 50, topP: 0.95, seed: 1234 };
    const first = await engine.generate(request);
    const second = await engine.generate(request);
    expect(second.tokenIds).toEqual(first.tokenIds);
    expect(second.text).toBe(first.text);
    const others = await Promise.all([7, 8, 9].map((seed) => engine.generate({ ...request, seed })));
    expect(others.some((other) => JSON.stringify(other.tokenIds) !== JSON.stringify(first.tokenIds))).toBe(true);
    const minP = await engine.generate({ prompt: 'Once upon a time', maxTokens: 12, temperature: 0.7, minP: 0.05, repetitionPenalty: 1.3, seed: 5 });
    expect(minP.tokenIds).toEqual((await engine.generate({ prompt: 'Once upon a time', maxTokens: 12, temperature: 0.7, minP: 0.05, repetitionPenalty: 1.3, seed: 5 })).tokenIds);
  });

  it('maxTokens bounds the output with finishReason length', async () => {
    const result = await engine.generate({ prompt: 'Hello', maxTokens: 7 });
    expect(result.finishReason).toBe('length');
    expect(result.usage.completionTokens).toBe(7);
    expect(result.tokenIds).toHaveLength(7);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.ttftMs);
    expect(result.timings.tokensPerSecond).toBeGreaterThan(0);
  });

  it('stream deltas concatenate to the full text of generate()', async () => {
    const request = { prompt: 'Tell me a story', maxTokens: 48 };
    const full = await engine.generate(request);
    const chunks = await collect(engine.stream(request));
    expect(chunks.map((chunk) => chunk.text).join('')).toBe(full.text);
    const last = chunks[chunks.length - 1]!;
    expect(last).toMatchObject({ finishReason: 'length', usage: { completionTokens: 48 } });
    expect(chunks.slice(0, -1).every((chunk) => chunk.finishReason === undefined)).toBe(true);
    expect(full.text).toBe(loadedModel(engine, 'tiny').tokenizer.decode([...full.tokenIds!]));
  });

  it('stops before a stop sequence spanning tokens, never streaming any of it', async () => {
    const request = { prompt: 'Tell me a story', maxTokens: 48 };
    const full = await engine.generate(request);
    const ids = full.tokenIds!;
    const decode = (list: number[]) => loadedModel(engine, 'tiny').tokenizer.decode(list);
    // A stop string that starts inside token 10's text and ends inside token 12's text.
    const before = decode(ids.slice(0, 10));
    const through = decode(ids.slice(0, 13));
    const start = Math.max(before.length - 2, 1);
    const stop = through.slice(start, through.length - 1);
    expect(stop.length).toBeGreaterThan(3);
    const expected = full.text.slice(0, full.text.indexOf(stop));
    const result = await engine.generate({ ...request, stop: [stop, 'never-appears-xyz'] });
    expect(result.finishReason).toBe('stop');
    expect(result.text).toBe(expected);
    const chunks = await collect(engine.stream({ ...request, stop: [stop] }));
    const streamed = chunks.map((chunk) => chunk.text).join('');
    expect(streamed).toBe(expected);
    expect(streamed.includes(stop)).toBe(false);
    expect(chunks[chunks.length - 1]!.finishReason).toBe('stop');
  });

  it('stops on a stop token id, counting it but not returning its text', async () => {
    const full = await engine.generate({ prompt: 'Hello world', maxTokens: 20 });
    const target = full.tokenIds![5]!;
    const firstAt = full.tokenIds!.indexOf(target);
    const result = await engine.generate({ prompt: 'Hello world', maxTokens: 20, stopTokenIds: [target] });
    expect(result.finishReason).toBe('stop');
    expect(result.tokenIds).toEqual(full.tokenIds!.slice(0, firstAt + 1));
    expect(result.text).toBe(loadedModel(engine, 'tiny').tokenizer.decode(full.tokenIds!.slice(0, firstAt)));
  });

  it('generate (one promise per request) and stream (a chunk per token) agree on text, tokens, finish and usage', async () => {
    const full = await engine.generate({ prompt: 'Hello world', maxTokens: 24 });
    const stopText = full.text.slice(Math.floor(full.text.length / 2), Math.floor(full.text.length / 2) + 3);
    const requests = [
      { prompt: 'Hello world', maxTokens: 24 },
      { messages: [{ role: 'user' as const, content: 'What is AI?' }], maxTokens: 12 },
      { prompt: 'Hello world', maxTokens: 24, stop: [stopText] },
      { prompt: 'Hello world', maxTokens: 24, stopTokenIds: [full.tokenIds![7]!] },
      { prompt: 'Once upon a time', maxTokens: 16, temperature: 0.8, seed: 7 },
    ];
    for (const request of requests) {
      const generated = await engine.generate(request);
      const chunks = await collect(engine.stream(request));
      const last = chunks[chunks.length - 1]!;
      const label = JSON.stringify(request);
      expect(chunks.map((chunk) => chunk.text).join(''), label).toBe(generated.text);
      const streamedIds = chunks.flatMap((chunk) => (chunk.tokenId === undefined ? [] : [chunk.tokenId]));
      expect(streamedIds.length, label).toBeGreaterThan(0);
      expect(generated.tokenIds!.slice(0, streamedIds.length), label).toEqual(streamedIds);
      expect(last.finishReason, label).toBe(generated.finishReason);
      expect(last.usage, label).toEqual(generated.usage);
    }
  });

  it('ignoreEos keeps generating past the end-of-sequence token up to maxTokens, on the same greedy path', async () => {
    const natural = await engine.generate({ prompt: 'once upon a time', maxTokens: 300 });
    const forced = await engine.generate({ prompt: 'once upon a time', maxTokens: 300, ignoreEos: true });
    expect(forced.finishReason).toBe('length');
    expect(forced.usage.completionTokens).toBe(300);
    expect(forced.text.startsWith(natural.text)).toBe(true);
  });

  it('an abort mid-stream ends with finishReason abort and frees the batch', async () => {
    const controller = new AbortController();
    const chunks: StreamChunk[] = [];
    for await (const chunk of engine.stream({ prompt: 'Hello', maxTokens: 200, signal: controller.signal })) {
      chunks.push(chunk);
      if (chunks.length === 3) controller.abort();
    }
    const last = chunks[chunks.length - 1]!;
    expect(last.finishReason).toBe('abort');
    expect(last.usage!.completionTokens).toBe(3);
    // Cancelled before it arrived: rejected and nothing runs, as every engine does (core's conformance suite).
    const aborted = new AbortController();
    aborted.abort();
    await expect(engine.generate({ prompt: 'Hello', maxTokens: 10, signal: aborted.signal })).rejects.toMatchObject({ code: 'REQUEST_ABORTED' });
  });

  it('an abort while a step is running ends with abort, and the engine keeps working', async () => {
    const controller = new AbortController();
    const pending = engine.generate({ prompt: 'Hello there', maxTokens: 50, signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve)); // the prefill is now in ONNX Runtime
    controller.abort();
    const result = await pending;
    expect(result.finishReason).toBe('abort');
    expect(result.usage.completionTokens).toBeLessThan(50);
    expect((await engine.generate({ prompt: 'Hello there', maxTokens: 3 })).usage.completionTokens).toBe(3);
  });

  it('stops at the context length with finishReason length', async () => {
    const small = createOnnxEngine();
    await small.load({ name: 'tiny16', path: TINY, options: { contextLength: 16 } });
    const prompt = 'one two three';
    const promptTokens = small.encodeRequest({ prompt }).length;
    const result = await small.generate({ prompt, maxTokens: 16 });
    expect(result.finishReason).toBe('length');
    expect(result.usage.totalTokens).toBe(16);
    expect(result.usage.completionTokens).toBe(16 - promptTokens);
    await small.close();
  });

  it('concurrent requests on one model give the same greedy tokens as one at a time', async () => {
    const prompts = ['Hello world', 'A much longer prompt about the weather today', 'x'];
    const alone = [];
    for (const prompt of prompts) alone.push((await engine.generate({ prompt, maxTokens: 16 })).tokenIds);
    const together = await Promise.all(prompts.map((prompt) => engine.generate({ prompt, maxTokens: 16 })));
    expect(together.map((result) => result.tokenIds)).toEqual(alone);
  });

  it('generateBatch returns results in order and errors in place', async () => {
    const results = await engine.generateBatch([{ prompt: 'a', maxTokens: 3 }, { prompt: 'b', maxTokens: 0 }, { prompt: 'c', maxTokens: 2 }]);
    expect((results[0] as { usage: { completionTokens: number } }).usage.completionTokens).toBe(3);
    expect(results[1]).toBeInstanceOf(Error);
    expect((results[1] as { code?: string }).code).toBe('INVALID_REQUEST');
    expect((results[2] as { usage: { completionTokens: number } }).usage.completionTokens).toBe(2);
  });
});
