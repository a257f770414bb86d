import { existsSync } from 'node:fs';
import { dirname, basename, resolve } from 'node:path';
import { MuaiError } from '@muai/core';
import type { ErrorCode, StreamChunk } from '@muai/core';
import { expect } from 'vitest';
import type { OnnxEngine } from '../src/index.js';
import type { CausalLm } from '../src/internal/decoder.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');
// Real exporter outputs (fp16 llama with contrib ops, DistilBERT), copied in with their SOURCE notes.
export const SHARED_MODELS = resolve(import.meta.dirname, 'fixtures/models');
export const LLAMA_FP16 = resolve(SHARED_MODELS, 'tiny-random-llama-fp16');
export const DISTILBERT = resolve(SHARED_MODELS, 'tiny-distilbert-cls');
export const TINY = resolve(REPO_ROOT, 'models/generated/tiny');
export const HAS_TINY = existsSync(resolve(TINY, 'config.json'));

if (!HAS_TINY) {
  console.warn(`[engines-onnx tests] ${TINY} is absent: tests on the generated tiny model are SKIPPED. Run \`node tools/model-gen/generate.mjs --size tiny\` at the repo root to run them.`);
}

/** The loaded language model behind the engine (internals, for cache/no-cache checks). */
export function loadedModel(engine: OnnxEngine, name: string): CausalLm {
  return (engine as any).loaded.get(name) as CausalLm;
}

/** Greedy continuation by transformers.js (offline, local folder), the generated ids only. */
export async function transformersGreedy(folder: string, dtype: 'fp16' | 'fp32', prompt: string, newTokens: number, extra: Record<string, unknown> = {}): Promise<number[]> {
  const { env, AutoModelForCausalLM, AutoTokenizer } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${dirname(folder)}/`;
  const tokenizer = await AutoTokenizer.from_pretrained(basename(folder));
  const model = await AutoModelForCausalLM.from_pretrained(basename(folder), { dtype, device: 'cpu' });
  try {
    const inputs = tokenizer(prompt);
    const promptLength = (inputs.input_ids as { dims: number[] }).dims[1]!;
    const output = (await model.generate({ ...inputs, max_new_tokens: newTokens, do_sample: false, ...extra })) as { tolist(): unknown[][] };
    return (output.tolist()[0] as Array<number | bigint>).slice(promptLength).map(Number);
  } finally {
    await model.dispose();
  }
}

/** The transformers.js chat template rendering (tokenized), for comparison. */
export async function transformersChatIds(folder: string, messages: Array<{ role: string; content: string }>): Promise<number[]> {
  const { env, AutoTokenizer } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = `${dirname(folder)}/`;
  const tokenizer = await AutoTokenizer.from_pretrained(basename(folder));
  const text = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false }) as unknown as string;
  return tokenizer.encode(text, { add_special_tokens: false }).map(Number);
}

/** Asserts that `action` rejects with a MuaiError of `code`; returns it. */
export async function expectCode(action: () => Promise<unknown> | unknown, code: ErrorCode): Promise<MuaiError> {
  try {
    await action();
  } catch (error) {
    expect(MuaiError.isInstance(error), `expected a MuaiError, got ${String(error)}`).toBe(true);
    expect((error as MuaiError).code, (error as Error).message).toBe(code);
    return error as MuaiError;
  }
  throw new Error(`expected an error with code ${code}, but nothing was thrown`);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Every chunk of a stream, in order. */
export async function collect(stream: AsyncIterable<StreamChunk>): Promise<StreamChunk[]> {
  const chunks: StreamChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}
