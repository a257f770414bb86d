// A plain onnxruntime-node reference decoder for generated models: used by the tests and
// verify.mjs to check the graph (KV cache, padding, greedy decoding). Not part of MuAI's engine.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromFloat16Bits } from './prng.mjs';

const require = createRequire(import.meta.url);
export const ort = require('onnxruntime-node');

export async function loadModel(dir, file = 'model.onnx') {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const session = await ort.InferenceSession.create(join(dir, 'onnx', file), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return { config, session, fp16: file.includes('fp16') };
}

const i64 = (values, dims) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);

function emptyPast(model, batch) {
  const { config, fp16 } = model;
  const feeds = {};
  const dims = [batch, config.num_key_value_heads, 0, config.head_dim];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kind}`] = fp16 ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims);
    }
  }
  return feeds;
}

function presentsAsPast(model, out) {
  const feeds = {};
  for (let l = 0; l < model.config.num_hidden_layers; l++) {
    for (const kind of ['key', 'value']) feeds[`past_key_values.${l}.${kind}`] = out[`present.${l}.${kind}`];
  }
  return feeds;
}

/**
 * One forward pass over a batch of rows.
 * @param ids number[][] rows of equal length (already padded)
 * @param mask number[][] attention mask rows covering past + these ids
 * @param positions number[][] position ids for these ids
 */
export async function forward(model, ids, mask, positions, past) {
  const B = ids.length;
  const S = ids[0].length;
  const feeds = {
    input_ids: i64(ids.flat(), [B, S]),
    attention_mask: i64(mask.flat(), [B, mask[0].length]),
    position_ids: i64(positions.flat(), [B, S]),
    ...(past ?? emptyPast(model, B)),
  };
  return model.session.run(feeds);
}

/** logits[b, s, :] as a Float32Array (decodes float16 raw bits when needed). */
export function logitsAt(out, b, s) {
  const t = out.logits;
  const [, S, V] = t.dims;
  const start = (b * S + s) * V;
  const raw = t.data.subarray(start, start + V);
  if (t.type === 'float32') return Float32Array.from(raw);
  const res = new Float32Array(V);
  for (let i = 0; i < V; i++) res[i] = fromFloat16Bits(raw[i]);
  return res;
}

export function argmax(arr) {
  let best = 0;
  for (let i = 1; i < arr.length; i++) if (arr[i] > arr[best]) best = i;
  return best;
}

/** Position ids as transformers.js computes them: cumsum(mask) - 1, padding positions set to 1. */
export function positionsFromMask(maskRow) {
  let c = -1;
  return maskRow.map((m) => {
    c += m;
    return m ? c : 1;
  });
}

/** Greedy decoding of one prompt with the KV cache; returns the new token ids. */
export async function greedy(model, promptIds, maxNewTokens, { eos } = {}) {
  const tokens = [];
  let mask = promptIds.map(() => 1);
  let out = await forward(model, [promptIds], [mask], [promptIds.map((_, i) => i)]);
  let next = argmax(logitsAt(out, 0, promptIds.length - 1));
  for (let step = 0; step < maxNewTokens; step++) {
    tokens.push(next);
    if (eos !== undefined && next === eos) break;
    if (step === maxNewTokens - 1) break;
    const pos = mask.length;
    mask = [...mask, 1];
    out = await forward(model, [[next]], [mask], [[pos]], presentsAsPast(model, out));
    next = argmax(logitsAt(out, 0, 0));
  }
  return tokens;
}

export { presentsAsPast, emptyPast };
