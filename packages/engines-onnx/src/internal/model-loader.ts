// Reading a decoder language model from its folder: which graphs are language models, and the
// model's facts (layout, tokenizer, context, vocabulary, eos ids, sampling defaults) from
// config.json, tokenizer_config.json and generation_config.json.
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { MuaiError } from '@muai/core';
import type { CausalLm } from './decoder.js';
import { readLmLayout } from './lm-layout.js';
import { readJsonFile, type ModelFolder } from './model-files.js';
import { TextTokenizer } from './text-tokenizer.js';
import type { OnnxModelOptions } from '../options.js';

const CAUSAL_ARCHITECTURE = /(ForCausalLM|LMHeadModel)$/;

export function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

function idList(value: unknown): number[] {
  if (typeof value === 'number' && Number.isInteger(value)) return [value];
  if (Array.isArray(value)) return value.filter((item): item is number => typeof item === 'number' && Number.isInteger(item));
  return [];
}

/** Bytes of the graph and its external data files (an estimate of the model's memory). */
export function graphBytes(graphPath: string): number {
  let bytes = 0;
  try {
    bytes += statSync(graphPath).size;
    const dir = dirname(graphPath);
    for (const file of readdirSync(dir)) {
      if (file !== basename(graphPath) && (file.endsWith('.data') || file.endsWith('_data'))) bytes += statSync(join(dir, file)).size;
    }
  } catch {
    // An estimate only.
  }
  return bytes;
}


/** True when config.json names a causal LM architecture (`...ForCausalLM`, `...LMHeadModel`). */
export function declaresCausalLm(config: Record<string, unknown> | undefined): boolean {
  const architectures = Array.isArray(config?.['architectures']) ? (config['architectures'] as unknown[]) : [];
  return architectures.some((name) => typeof name === 'string' && CAUSAL_ARCHITECTURE.test(name));
}

/** The language model in `folder` on `session`: MODEL_INVALID when config.json is missing or says too little. */
export function readCausalLm(name: string, folder: ModelFolder, session: ort.InferenceSession, modelOptions: OnnxModelOptions): CausalLm {
  const config = folder.config ?? {};
  if (folder.config === undefined) {
    throw new MuaiError('MODEL_INVALID', `${folder.dir} has no config.json, which a language model needs. Export the model with Hugging Face Optimum, which writes it.`, {
      details: { path: folder.dir },
    });
  }
  const layout = readLmLayout(session, config, folder.graphPath);
  const tokenizer = TextTokenizer.load(folder.dir);
  const tokenizerConfig = readJsonFile(join(folder.dir, 'tokenizer_config.json'), false) ?? {};
  const generationConfig = readJsonFile(join(folder.dir, 'generation_config.json'), false) ?? {};
  const maxLength = positiveInteger(tokenizerConfig['model_max_length']);
  const contextLength =
    positiveInteger(modelOptions.contextLength) ??
    positiveInteger(config['max_position_embeddings']) ??
    positiveInteger(config['n_positions']) ??
    (maxLength !== undefined && maxLength < 1e7 ? maxLength : undefined) ??
    2048;
  const vocabSize = layout.vocabSize;
  if (vocabSize === undefined) {
    throw new MuaiError('MODEL_INVALID', `Cannot tell the vocabulary size of ${folder.graphPath}: the logits shape is symbolic and config.json has no vocab_size. Add vocab_size to config.json.`);
  }
  const eos = idList(generationConfig['eos_token_id']);
  const doSample = generationConfig['do_sample'] === true;
  const number = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);
  const model: CausalLm = {
    name,
    dir: folder.dir,
    graphPath: folder.graphPath,
    dtype: folder.dtype,
    session,
    layout,
    tokenizer,
    contextLength,
    vocabSize,
    eosTokenIds: eos.length > 0 ? eos : idList(config['eos_token_id']),
    samplingDefaults: {
      temperature: doSample ? number(generationConfig['temperature'], 1) : 0,
      topK: doSample ? number(generationConfig['top_k'], 0) : 0,
      topP: doSample ? number(generationConfig['top_p'], 1) : 1,
      minP: doSample ? number(generationConfig['min_p'], 0) : 0,
      repetitionPenalty: number(generationConfig['repetition_penalty'], 1),
    },
  };
  return model;
}
