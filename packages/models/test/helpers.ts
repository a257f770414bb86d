import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

export const ASSETS = join(import.meta.dirname, '..', 'assets', 'stories260K');
export const CHECKPOINT = join(ASSETS, 'stories260K.bin');
export const TOKENIZER = join(ASSETS, 'tok512.bin');
export const FIXTURES = join(import.meta.dirname, 'fixtures');

/** A fresh temporary folder, removed by the returned cleanup. */
export function temporaryFolder(prefix = 'muai-models-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Greedy decoding with plain onnxruntime-node and the past/present KV cache, independent of the
 * engine: prefill the prompt, then one token per step. Returns the generated ids.
 */
export async function greedyWithOnnxRuntime(modelDir: string, promptIds: readonly number[], steps: number): Promise<number[]> {
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, number>;
  const session = await ort.InferenceSession.create(join(modelDir, 'onnx', 'model.onnx'));
  const layers = config['num_hidden_layers']!;
  const kvHeads = config['num_key_value_heads']!;
  const headDim = config['head_dim']!;
  const vocab = config['vocab_size']!;
  let past: Record<string, ort.Tensor> = {};
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value']) past[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
  }
  const generated: number[] = [];
  let input = [...promptIds];
  let position = 0;
  try {
    while (generated.length < steps) {
      const total = position + input.length;
      const feeds: Record<string, ort.Tensor> = {
        ...past,
        input_ids: new ort.Tensor('int64', BigInt64Array.from(input.map(BigInt)), [1, input.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(input.map((_, i) => BigInt(position + i))), [1, input.length]),
      };
      const out = await session.run(feeds);
      const logits = out['logits']!.data as Float32Array;
      const last = logits.subarray((input.length - 1) * vocab, input.length * vocab);
      let best = 0;
      for (let i = 1; i < vocab; i++) if (last[i]! > last[best]!) best = i;
      generated.push(best);
      past = {};
      for (let l = 0; l < layers; l++) {
        for (const kind of ['key', 'value']) past[`past_key_values.${l}.${kind}`] = out[`present.${l}.${kind}`]!;
      }
      position = total;
      input = [best];
    }
  } finally {
    await session.release();
  }
  return generated;
}
