import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DecodeBatch, SequenceState } from './decoder.js';
import type { CausalLm } from './decoder.js';
import type { LmLayout } from './lm-layout.js';
import { Sampler } from './sampler.js';
import { TextAssembler } from './text-assembler.js';

const VOCAB = 8;

/**
 * A fake merged decoder: records its feeds, returns present = past + one position (fresh tensors)
 * and logits that make token (last input id + 1) % VOCAB the argmax.
 */
function fakeModel(kvType: 'float32' | 'float16', calls: Array<Record<string, ort.Tensor>>, returned: ort.Tensor[][]): CausalLm {
  const layout: LmLayout = {
    numLayers: 1,
    kvHeads: 1,
    headDim: 2,
    kvType,
    pastNames: ['past_key_values.0.key', 'past_key_values.0.value'],
    presentNames: ['present.0.key', 'present.0.value'],
    hasAttentionMask: true,
    hasPositionIds: true,
    hasUseCacheBranch: true,
    logitsToKeepName: undefined,
    logitsType: kvType,
    vocabSize: VOCAB,
  };
  const session = {
    async run(feeds: Record<string, ort.Tensor>) {
      // Snapshot the small int inputs (their buffers are reused step to step); keep past objects as they are.
      const record: Record<string, ort.Tensor> = { ...feeds };
      for (const name of ['input_ids', 'position_ids', 'attention_mask']) {
        const tensor = feeds[name]!;
        record[name] = new ort.Tensor('int64', BigInt64Array.from(tensor.data as BigInt64Array), tensor.dims);
      }
      calls.push(record);
      const ids = feeds['input_ids']!;
      const n = ids.dims[1]!;
      const total = feeds['attention_mask']!.dims[1]!;
      const present = layout.presentNames.map((_, i) => {
        const dims = [1, 1, total, 2];
        return kvType === 'float16' ? new ort.Tensor('float16', new Uint16Array(total * 2).fill(i), dims) : new ort.Tensor('float32', new Float32Array(total * 2).fill(i), dims);
      });
      returned.push(present);
      const lastId = Number((ids.data as BigInt64Array)[n - 1]);
      const logits = new Float32Array(n * VOCAB);
      logits[(n - 1) * VOCAB + ((lastId + 1) % VOCAB)] = 5;
      const logitsTensor =
        kvType === 'float16'
          ? new ort.Tensor('float16', Uint16Array.from(logits, (v) => (v === 5 ? 0x4500 : 0)), [1, n, VOCAB])
          : new ort.Tensor('float32', logits, [1, n, VOCAB]);
      return { logits: logitsTensor, 'present.0.key': present[0]!, 'present.0.value': present[1]! };
    },
  } as unknown as ort.InferenceSession;
  return {
    name: 'fake',
    dir: '/fake',
    graphPath: '/fake/onnx/decoder_model_merged.onnx',
    dtype: kvType === 'float16' ? 'fp16' : 'fp32',
    session,
    layout,
    tokenizer: undefined as never,
    contextLength: 64,
    vocabSize: VOCAB,
    eosTokenIds: [],
    samplingDefaults: { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 },
  };
}

describe('DecodeBatch', () => {
  for (const kvType of ['float32', 'float16'] as const) {
    it(`feeds ${kvType} present tensors back as past untouched, with masks, positions and use_cache_branch`, async () => {
      const calls: Array<Record<string, ort.Tensor>> = [];
      const returned: ort.Tensor[][] = [];
      const model = fakeModel(kvType, calls, returned);
      const sampler = new Sampler({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 }, VOCAB);
      const sequence = new SequenceState([1, 2, 3], 10, sampler, new TextAssembler(() => ''), new Set());
      const batch = new DecodeBatch(model, [sequence]);
      for (let i = 0; i < 3; i++) sequence.tokens.push((await batch.step())[0]!);
      batch.release();
      expect(sequence.tokens).toEqual([1, 2, 3, 4, 5, 6]);

      // Prefill: the whole prompt, empty past of the declared type, the no-cache branch.
      expect(calls[0]!['input_ids']!.dims).toEqual([1, 3]);
      expect(Array.from(calls[0]!['position_ids']!.data as BigInt64Array)).toEqual([0n, 1n, 2n]);
      expect(calls[0]!['past_key_values.0.key']!.dims).toEqual([1, 1, 0, 2]);
      expect(calls[0]!['past_key_values.0.key']!.type).toBe(kvType);
      expect((calls[0]!['use_cache_branch']!.data as Uint8Array)[0]).toBe(0);
      // Decode steps: one token, the previous step's present objects themselves as past.
      for (const step of [1, 2]) {
        const feeds = calls[step]!;
        expect(feeds['input_ids']!.dims).toEqual([1, 1]);
        expect(Array.from(feeds['position_ids']!.data as BigInt64Array)).toEqual([BigInt(2 + step)]);
        expect(feeds['attention_mask']!.dims).toEqual([1, 3 + step]);
        expect(Array.from(feeds['attention_mask']!.data as BigInt64Array).every((v) => v === 1n)).toBe(true);
        expect((feeds['use_cache_branch']!.data as Uint8Array)[0]).toBe(1);
        expect(feeds['past_key_values.0.key']).toBe(returned[step - 1]![0]);
        expect(feeds['past_key_values.0.value']).toBe(returned[step - 1]![1]);
      }
    });
  }

  it('release between steps frees the cache at once and refuses further steps', async () => {
    const calls: Array<Record<string, ort.Tensor>> = [];
    const returned: ort.Tensor[][] = [];
    const model = fakeModel('float32', calls, returned);
    const sequence = new SequenceState([1], 5, new Sampler({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 }, VOCAB), new TextAssembler(() => ''), new Set());
    const batch = new DecodeBatch(model, [sequence]);
    sequence.tokens.push((await batch.step())[0]!);
    batch.release();
    expect(returned[0]![0]!.location).toBe('none'); // disposed
    await expect(batch.step()).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
