// llama2.c checkpoint + tokenizer.bin -> a Hugging Face Optimum / transformers.js model folder.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidRequestError, MuaiError } from '@muai/core';
import { buildLlamaGraph, countParams } from '../onnx/llama-graph.js';
import type { LlamaGraphConfig } from '../onnx/llama-graph.js';
import { DataType } from '../onnx/onnx-proto.js';
import { writeFileAtomic, writeOnnxModel } from '../onnx/write-model.js';
import type { WeightTensor } from '../onnx/write-model.js';
import { llamaConfigJson } from '../llama-config.js';
import { llamaSpecialTokensMapJson, llamaTokenizerConfigJson, llamaTokenizerJson } from '../tokenizer-json.js';
import { readLlama2cCheckpoint } from './checkpoint.js';
import type { Llama2cCheckpoint } from './checkpoint.js';
import { llama2cBpeVocabulary, readLlama2cTokenizer } from './tokenizer-bin.js';

/** Version of the converter's output; recorded in muai-model.json. Bump it whenever the output changes: the build keeps a default model written by the same version from the same files. */
export const CONVERTER_VERSION = '1.0.0';
/** The provenance file the converter writes into each folder. */
export const MODEL_MANIFEST = 'muai-model.json';
/** Weights above this many bytes go to onnx/model.onnx_data (protobuf files cannot exceed 2 GB). */
export const EXTERNAL_DATA_THRESHOLD = 512 * 1024 * 1024;

export interface ConvertLlama2cOptions {
  /** llama2.c checkpoint (legacy version 0 .bin, as run.c reads). */
  checkpoint: string;
  /** llama2.c tokenizer.bin with exactly the checkpoint's vocab_size tokens. */
  tokenizer: string;
  /** Output folder. It must not exist unless `force`. */
  outDir: string;
  /** Replace an existing output folder. Default false. */
  force?: boolean;
  /** Weights in onnx/model.onnx_data. Default: only above 512 MB of weights. */
  externalData?: boolean;
  /** Name recorded in muai-model.json. Default: the checkpoint's file name without extension. */
  name?: string;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

export interface ConvertLlama2cResult {
  outDir: string;
  config: Record<string, unknown>;
  params: number;
  /** Files written, relative to outDir. */
  files: string[];
}

/** The config.json of a checkpoint (Hugging Face LlamaConfig). */
function llamaConfig(checkpoint: Llama2cCheckpoint): LlamaGraphConfig & Record<string, unknown> {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier } = checkpoint.header;
  return llamaConfigJson({
    hidden_size: dim,
    intermediate_size: hiddenDim,
    num_hidden_layers: nLayers,
    num_attention_heads: nHeads,
    num_key_value_heads: nKvHeads,
    vocab_size: vocabSize,
    max_position_embeddings: seqLen,
    rms_norm_eps: 1e-5, // run.c's rmsnorm; its RoPE base is 10000 as in the HF config
    tie_word_embeddings: sharedClassifier,
  });
}

/** [rows, cols] row-major -> [cols, rows] (the graph multiplies x by [in, out] matrices). */
function transpose(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[base + c]!;
  }
  return out;
}

/**
 * llama2.c rotates adjacent pairs (2j, 2j+1) of each head; the Hugging Face layout rotates
 * halves (j, j + head/2). Reordering each head's output rows of Wq and Wk the same way (what
 * transformers' convert_llama_weights_to_hf.py `permute` does) gives identical attention scores.
 */
function permuteRotaryRows(matrix: Float32Array, heads: number, headSize: number, cols: number): Float32Array {
  const out = new Float32Array(matrix.length);
  const half = headSize / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (const part of [0, 1]) {
        const from = (h * headSize + 2 * j + part) * cols;
        const to = (h * headSize + part * half + j) * cols;
        out.set(matrix.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

function tensor(name: string, dims: number[], values: Float32Array): WeightTensor {
  return { name, dims, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** The graph's initializers from the checkpoint, in weightSpecs order. */
function* convertedWeights(checkpoint: Llama2cCheckpoint): Generator<WeightTensor> {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, sharedClassifier } = checkpoint.header;
  const w = checkpoint.weights;
  const headSize = dim / nHeads;
  const kvDim = headSize * nKvHeads;
  yield tensor('model.embed_tokens.weight', [vocabSize, dim], w.tokenEmbedding);
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    yield tensor(`${p}.input_layernorm.weight`, [dim], w.rmsAtt[l]!);
    yield tensor(`${p}.self_attn.q_proj.weight`, [dim, dim], transpose(permuteRotaryRows(w.wq[l]!, nHeads, headSize, dim), dim, dim));
    yield tensor(`${p}.self_attn.k_proj.weight`, [dim, kvDim], transpose(permuteRotaryRows(w.wk[l]!, nKvHeads, headSize, dim), kvDim, dim));
    yield tensor(`${p}.self_attn.v_proj.weight`, [dim, kvDim], transpose(w.wv[l]!, kvDim, dim));
    yield tensor(`${p}.self_attn.o_proj.weight`, [dim, dim], transpose(w.wo[l]!, dim, dim));
    yield tensor(`${p}.post_attention_layernorm.weight`, [dim], w.rmsFfn[l]!);
    yield tensor(`${p}.mlp.gate_proj.weight`, [dim, hiddenDim], transpose(w.w1[l]!, hiddenDim, dim));
    yield tensor(`${p}.mlp.up_proj.weight`, [dim, hiddenDim], transpose(w.w3[l]!, hiddenDim, dim));
    yield tensor(`${p}.mlp.down_proj.weight`, [hiddenDim, dim], transpose(w.w2[l]!, dim, hiddenDim));
  }
  yield tensor('model.norm.weight', [dim], w.rmsFinal);
  if (!sharedClassifier) yield tensor('lm_head.weight', [dim, vocabSize], transpose(w.wcls, vocabSize, dim));
}

/**
 * Moves the complete folder `from` to `to`, replacing `to` when it exists: the old folder is moved
 * aside first, so `to` is only ever missing between two renames and never half-written.
 */
export function replaceFolder(from: string, to: string): void {
  if (!existsSync(to)) {
    renameSync(from, to);
    return;
  }
  const old = `${from}.old`;
  renameSync(to, old);
  renameSync(from, to);
  rmSync(old, { recursive: true, force: true });
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/**
 * Converts a llama2.c checkpoint and its tokenizer.bin into a model folder that MuAI's ONNX engine
 * and transformers.js load: config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json, onnx/model.onnx, muai-model.json.
 * Everything is checked before anything is written, and the folder is assembled under a temporary
 * name beside `outDir` and renamed into place, so a failure never leaves a half-written folder.
 * Errors: MODEL_NOT_FOUND (input missing), MODEL_INVALID (details.reason: truncated,
 * size-mismatch, bad-header, unsupported-format, vocab-mismatch, bad-vocabulary),
 * INVALID_REQUEST (outDir exists and `force` is not set).
 */
export function convertLlama2c(options: ConvertLlama2cOptions): ConvertLlama2cResult {
  const log = options.log ?? (() => undefined);
  const outDir = resolve(options.outDir);
  if (endianness() !== 'LE') throw new MuaiError('INTERNAL', 'The llama2.c converter reads and writes little-endian floats and needs a little-endian host.');
  if (existsSync(outDir) && options.force !== true) {
    throw new InvalidRequestError(`The output folder ${outDir} already exists. Choose another folder, or pass --force (force: true) to replace it.`, { details: { outDir } });
  }
  const checkpoint = readLlama2cCheckpoint(options.checkpoint);
  const tokenizer = readLlama2cTokenizer(options.tokenizer, checkpoint.header.vocabSize);
  const vocabulary = llama2cBpeVocabulary(tokenizer);
  const config = llamaConfig(checkpoint);
  const params = countParams(config);
  const external = options.externalData ?? params * 4 > EXTERNAL_DATA_THRESHOLD;
  log(`converting ${options.checkpoint} (${(params / 1e6).toFixed(2)}M params, dim ${config.hidden_size}, ${config.num_hidden_layers} layers, vocab ${config.vocab_size}, context ${config.max_position_embeddings}) into ${outDir}`);

  const staging = join(dirname(outDir), `.${basename(outDir)}.converting-${process.pid}-${Date.now()}`);
  mkdirSync(join(staging, 'onnx'), { recursive: true });
  try {
    const generationConfig = {
      bos_token_id: 1,
      // run.c stops when the model samples BOS (TinyStories separates stories with BOS); </s> too.
      eos_token_id: [2, 1],
      pad_token_id: 0,
      do_sample: false,
    };
    writeFileAtomic(join(staging, 'config.json'), json(external ? { ...config, 'transformers.js_config': { use_external_data_format: { 'model.onnx': 1 } } } : config));
    writeFileAtomic(join(staging, 'generation_config.json'), json(generationConfig));
    writeFileAtomic(join(staging, 'tokenizer.json'), json(llamaTokenizerJson(vocabulary)));
    writeFileAtomic(join(staging, 'tokenizer_config.json'), json(llamaTokenizerConfigJson({ maxLength: checkpoint.header.seqLen })));
    writeFileAtomic(join(staging, 'special_tokens_map.json'), json(llamaSpecialTokensMapJson()));
    const name = options.name ?? basename(options.checkpoint).replace(/\.bin$/, '');
    const graphFiles = writeOnnxModel({
      path: join(staging, 'onnx', 'model.onnx'),
      graph: buildLlamaGraph(config),
      graphName: `llama2c-${name}`,
      elemType: DataType.FLOAT,
      weights: convertedWeights(checkpoint),
      externalData: external,
      producerName: 'muai-llama2c-convert',
      producerVersion: CONVERTER_VERSION,
      docString: `Converted from the llama2.c checkpoint ${basename(options.checkpoint)} by @muai/models.`,
    });
    writeFileAtomic(
      join(staging, MODEL_MANIFEST),
      json({
        name,
        converter: { name: '@muai/models convertLlama2c', version: CONVERTER_VERSION },
        source: {
          format: 'llama2c',
          checkpoint: { file: basename(options.checkpoint), sha256: sha256(options.checkpoint) },
          tokenizer: { file: basename(options.tokenizer), sha256: sha256(options.tokenizer) },
        },
        params,
      }),
    );
    replaceFolder(staging, outDir);
    const files = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', MODEL_MANIFEST, ...graphFiles.map((file) => `onnx/${file}`)];
    log(`wrote ${files.length} files`);
    return { outDir, config, params, files };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}
