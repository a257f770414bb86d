import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../src/index.js';
import type { OnnxEngine } from '../src/index.js';
import { DecodeBatch, SequenceState, logitsWithoutCache } from '../src/internal/decoder.js';
import { Sampler } from '../src/internal/sampler.js';
import { TextAssembler } from '../src/internal/text-assembler.js';
import { TextTokenizer } from '../src/internal/text-tokenizer.js';
import { DISTILBERT, LLAMA_FP16, expectCode, loadedModel, maxAbsDiff, transformersGreedy } from './helpers.js';

// From test/fixtures/models/tiny-random-llama-fp16/SOURCE.md.
const LLAMA_REFERENCE = [
  30016, 7356, 9023, 25068, 22665, 2507, 5236, 14142, 2550, 12800, 2033, 4239, 9745, 10641, 15242, 10110, 13653, 25148, 18190, 28667, 18975, 29267, 6471,
  29077, 8575, 1494, 18237, 20149, 3710, 10641, 15242, 10110,
];

describe('fp16 llama with contrib ops and external data (tiny-random-llama-fp16)', () => {
  let engine: OnnxEngine;
  beforeAll(async () => {
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
    const info = await engine.load({ name: 'llama', path: LLAMA_FP16 });
    expect(info).toMatchObject({ name: 'llama', kind: 'causal-lm', contextLength: 2048 });
  });
  afterAll(async () => engine.close());

  it('chooses model_fp16.onnx automatically, the only graph there', () => {
    expect(engine.describeModel('llama')).toMatchObject({ kind: 'causal-lm', dtype: 'fp16', vocabSize: 32000 });
    expect(engine.describeModel('llama').graphPath).toMatch(/model_fp16\.onnx$/);
  });

  it('greedy continuation of "Hello world" equals the reference ids of SOURCE.md', async () => {
    expect(engine.encodeRequest({ prompt: 'Hello world' })).toEqual([1, 15043, 3186]);
    const result = await engine.generate({ prompt: 'Hello world', maxTokens: 32 });
    expect(result.tokenIds).toEqual(LLAMA_REFERENCE);
    expect(result).toMatchObject({ finishReason: 'length', engineUsed: 'onnx', model: 'llama', usage: { promptTokens: 3, completionTokens: 32, totalTokens: 35 } });
    expect(result.text.length).toBeGreaterThan(0);
  });

  it('greedy output equals transformers.js (dtype fp16) token for token', async () => {
    const prompt = 'The quick brown fox';
    const theirs = await transformersGreedy(LLAMA_FP16, 'fp16', prompt, 24);
    const ours = await engine.generate({ prompt, maxTokens: 24 });
    expect(theirs.length).toBe(24);
    expect(ours.tokenIds).toEqual(theirs);
  });

  it('greedy with a repetition penalty equals transformers.js with repetition_penalty', async () => {
    const theirs = await transformersGreedy(LLAMA_FP16, 'fp16', 'Hello world', 32, { repetition_penalty: 1.5 });
    const ours = await engine.generate({ prompt: 'Hello world', maxTokens: 32, repetitionPenalty: 1.5 });
    expect(ours.tokenIds).toEqual(theirs);
    // The reference output repeats 10641 15242 10110; the penalty must change it.
    expect(ours.tokenIds).not.toEqual(LLAMA_REFERENCE);
  });

  it('logits with the KV cache equal logits recomputed without it (fp16 tolerance)', async () => {
    const model = loadedModel(engine, 'llama');
    const rows: Float32Array[] = [];
    class Recording extends Sampler {
      override pick(row: Float32Array): number {
        rows.push(Float32Array.from(row));
        return super.pick(row);
      }
    }
    const prompt = model.tokenizer.encodePrompt('Once upon a time');
    const sampler = new Recording({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 }, model.vocabSize);
    const sequence = new SequenceState(prompt, 12, sampler, new TextAssembler(() => ''), new Set());
    const batch = new DecodeBatch(model, [sequence]);
    for (let i = 0; i < 12; i++) sequence.tokens.push((await batch.step())[0]!);
    batch.release();
    for (const step of [0, 1, 5, 11]) {
      const context = sequence.tokens.slice(0, prompt.length + step);
      const fresh = await logitsWithoutCache(model, context);
      expect(maxAbsDiff(rows[step]!, fresh), `position ${context.length}`).toBeLessThan(2e-2);
    }
  });
});

describe('DistilBERT classifier, raw tensor inference (tiny-distilbert-cls)', () => {
  let engine: OnnxEngine;
  beforeAll(async () => {
    engine = createOnnxEngine();
    const info = await engine.load({ name: 'bert', path: DISTILBERT });
    expect(info.kind).toBe('tensor');
  });
  afterAll(async () => engine.close());

  const ids = [101, 1045, 2293, 2023, 3185, 999, 102];
  const inputs = () => ({
    input_ids: { type: 'int64' as const, data: BigInt64Array.from(ids, BigInt), dims: [1, ids.length] },
    attention_mask: { type: 'int64' as const, data: new BigInt64Array(ids.length).fill(1n), dims: [1, ids.length] },
  });

  it('tokenizes the reference sentence to the reference ids', () => {
    expect(TextTokenizer.load(DISTILBERT).encodePrompt('I love this movie!')).toEqual(ids);
  });

  it('gives the transformers.js scores NEGATIVE 0.50013 / POSITIVE 0.49987', async () => {
    const { logits } = await engine.infer('bert', inputs());
    expect(logits!.type).toBe('float32');
    expect(logits!.dims).toEqual([1, 2]);
    const [a, b] = logits!.data as Float32Array;
    const negative = Math.exp(a!) / (Math.exp(a!) + Math.exp(b!));
    expect(negative).toBeCloseTo(0.50013, 4);
    expect(1 - negative).toBeCloseTo(0.49987, 4);
  });

  it('rejects unknown, missing, mistyped and misshaped inputs with INVALID_REQUEST listing the expected inputs', async () => {
    const good = inputs();
    const unknown = await expectCode(() => engine.infer('bert', { ...good, token_type_ids: good.input_ids }), 'INVALID_REQUEST');
    expect(unknown.message).toContain('unknown input "token_type_ids"');
    expect(unknown.message).toContain('input_ids (int64 [batch, sequence])');
    expect((await expectCode(() => engine.infer('bert', { input_ids: good.input_ids }), 'INVALID_REQUEST')).message).toContain('missing input "attention_mask"');
    const wrongType = { ...good, input_ids: { type: 'int32' as const, data: Int32Array.from(ids), dims: [1, ids.length] } };
    expect((await expectCode(() => engine.infer('bert', wrongType), 'INVALID_REQUEST')).message).toContain('expected int64');
    const wrongRank = { ...good, input_ids: { ...good.input_ids, dims: [ids.length] } };
    expect((await expectCode(() => engine.infer('bert', wrongRank), 'INVALID_REQUEST')).message).toContain('rank');
    const wrongCount = { ...good, input_ids: { ...good.input_ids, dims: [2, ids.length] } };
    expect((await expectCode(() => engine.infer('bert', wrongCount), 'INVALID_REQUEST')).message).toContain('elements');
    await expectCode(() => engine.infer('nope', good), 'MODEL_NOT_FOUND');
  });

  it('refuses text generation on a tensor model', async () => {
    await expectCode(() => engine.generate({ model: 'bert', prompt: 'hi' }), 'CAPABILITY_UNSUPPORTED');
  });
});
