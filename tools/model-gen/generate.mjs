#!/usr/bin/env node
// Writes random-weight Llama-architecture decoder models in the Hugging Face Optimum /
// transformers.js folder layout (config.json, generation_config.json, tokenizer files,
// onnx/model.onnx [+ onnx/model.onnx_data]). Weights are deterministic from a seed.
//
//   node tools/model-gen/generate.mjs --size tiny|small|bench [--seed N] [--out DIR]
//        [--dtype fp32|fp16|q8|q4] [--external-data | --no-external-data] [--if-missing]
//
// See models/README.md.
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The graph writer and the tokenizer files live in @muai/models (shared with the llama2.c
// converter); the repository's root `prepare` builds it before this script runs.
import { buildLlamaGraph, countParams, DataType, encodeModel, IR_VERSION, llamaConfigJson, OPSET, weightSpecs, writeFileAtomic, writeOnnxModel } from '@muai/models';
import { QUANTIZED_DTYPES, quantizeGraph } from './quantize.mjs';
import { fillNormal, float32ToFloat16Array, toFloat16Bits } from './prng.mjs';
import { shrinkVocab, specialTokensMapJson, tokenizerConfigJson, tokenizerJson } from './tokenizer.mjs';

/** Bump when the output for the same parameters changes (the --if-missing check compares it). */
export const GENERATOR_VERSION = '1.0.0';
export const MANIFEST = 'muai-model-gen.json';
export const DEFAULT_SEED = 42;
/** Weights above this many bytes go to an external data file (onnx/<model>.onnx_data). */
export const EXTERNAL_DATA_THRESHOLD = 50 * 1024 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '..', '..');

/** Hash of the files that determine the output, so --if-missing notices generator changes. */
function sourceHash() {
  const h = createHash('sha256');
  const models = join(REPO_ROOT, 'packages', 'models', 'src');
  const files = ['generate.mjs', 'prng.mjs', 'tokenizer.mjs', 'data/llama-bpe.json.gz'].map((f) => join(here, f));
  files.push(...['onnx/llama-graph.ts', 'onnx/onnx-proto.ts', 'onnx/write-model.ts', 'tokenizer-json.ts'].map((f) => join(models, f)));
  for (const f of files) {
    // A published checkout without the package sources still hashes what it has.
    try {
      h.update(f.slice(REPO_ROOT.length)).update(readFileSync(f));
    } catch {
      h.update(f.slice(REPO_ROOT.length));
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** Hash of quantize.mjs: kept per quantized variant, so the fp32/fp16 graphs stay valid when only the quantizer changes. */
function quantizerHash() {
  return createHash('sha256').update(readFileSync(join(here, 'quantize.mjs'))).digest('hex').slice(0, 16);
}

/** Named sizes. head_dim * num_attention_heads == hidden_size for all of them. */
export const SIZES = Object.freeze({
  tiny: { hidden_size: 64, intermediate_size: 192, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 4096, max_position_embeddings: 2048 },
  small: { hidden_size: 256, intermediate_size: 768, num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 2, vocab_size: 8192, max_position_embeddings: 2048 },
  bench: { hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 6, num_attention_heads: 8, num_key_value_heads: 2, vocab_size: 32000, max_position_embeddings: 4096 },
});

// q8 / q4 are quantized from the same fp32 weights (quantize.mjs) and always written inline (small).
const DTYPES = {
  fp32: { suffix: '', elem: DataType.FLOAT, bytes: 4 },
  fp16: { suffix: '_fp16', elem: DataType.FLOAT16, bytes: 2 },
  q8: { suffix: QUANTIZED_DTYPES.q8.suffix, elem: DataType.FLOAT, bytes: 1, quantized: true },
  q4: { suffix: QUANTIZED_DTYPES.q4.suffix, elem: DataType.FLOAT, bytes: 0.5, quantized: true },
};

/** The config.json of a named size. */
export function modelConfig(size) {
  const preset = SIZES[size];
  if (!preset) throw new Error(`unknown size "${size}": use one of ${Object.keys(SIZES).join(', ')}`);
  return llamaConfigJson({ ...preset, rms_norm_eps: 1e-6, tie_word_embeddings: false });
}

/** Standard deviation of a weight's normal init. Norm weights are 1. */
function initStd(spec) {
  // Embeddings N(0, 1); projections N(0, 1/fan_in) so every sublayer's output is O(1) and
  // attention is far from uniform: cache, mask and rotary mistakes then show up in the logits.
  if (spec.kind === 'embedding') return 1;
  return 1 / Math.sqrt(spec.dims[0]);
}

function weightBytes(spec, seed, dtype) {
  const n = spec.dims.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  if (spec.kind === 'ones') values.fill(1);
  else fillNormal(values, seed, spec.name, initStd(spec));
  const typed = dtype === 'fp16' ? float32ToFloat16Array(values) : values;
  return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
}

function writeJson(path, value) {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

function readManifest(outDir) {
  try {
    return JSON.parse(readFileSync(join(outDir, MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
}

function filesComplete(outDir, files) {
  return Object.entries(files).every(([rel, size]) => {
    try {
      return statSync(join(outDir, rel)).size === size;
    } catch {
      return false;
    }
  });
}

/**
 * Generates one model folder.
 * @param {object} options
 * @param {'tiny'|'small'|'bench'} [options.size='tiny']
 * @param {number} [options.seed=42]
 * @param {string} [options.outDir] default <repo>/models/generated/<size>
 * @param {'fp32'|'fp16'} [options.dtype='fp32']
 * @param {boolean} [options.externalData] default: only when weights exceed 50 MB
 * @param {boolean} [options.ifMissing=false] skip when the folder is complete and up to date
 * @param {(line: string) => void} [options.log] progress lines (default: stderr)
 */
export function generateModel(options = {}) {
  const t0 = performance.now();
  const size = options.size ?? 'tiny';
  const seed = options.seed ?? DEFAULT_SEED;
  const dtype = options.dtype ?? 'fp32';
  const log = options.log ?? ((line) => process.stderr.write(`[model-gen] ${line}\n`));
  if (!DTYPES[dtype]) throw new Error(`unknown dtype "${dtype}": use ${Object.keys(DTYPES).join(', ')}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
  if (endianness() !== 'LE') throw new Error('model-gen writes little-endian tensors and needs a little-endian host');
  const outDir = resolve(options.outDir ?? join(REPO_ROOT, 'models', 'generated', size));
  const config = modelConfig(size);
  const params = countParams(config);
  const { suffix, elem, bytes: elemBytes, quantized } = DTYPES[dtype];
  if (quantized && options.externalData) throw new Error(`--external-data is not supported for ${dtype} (quantized graphs are written inline)`);
  const external = quantized ? false : options.externalData ?? params * elemBytes > EXTERNAL_DATA_THRESHOLD;
  const modelFile = `model${suffix}.onnx`;
  const dataFile = `${modelFile}_data`;
  const identity = { generator: 'muai-model-gen', version: GENERATOR_VERSION, source: sourceHash(), size, seed, config };

  const previous = readManifest(outDir);
  const sameIdentity = previous && JSON.stringify(previous.identity) === JSON.stringify(identity);
  const prevVariant = sameIdentity ? previous.variants?.[dtype] : undefined;
  const quantizer = quantized ? quantizerHash() : undefined;
  if (options.ifMissing && prevVariant && prevVariant.external === external && prevVariant.quantizer === quantizer && filesComplete(outDir, { ...previous.files, ...prevVariant.files })) {
    log(`${outDir}: up to date (${size}, seed ${seed}, ${dtype}), skipped`);
    return { outDir, skipped: true, config, params, dtype, files: { ...previous.files, ...prevVariant.files } };
  }

  log(`generating ${size} (${(params / 1e6).toFixed(2)}M params, ${dtype}, seed ${seed}${external ? ', external data' : ''}) into ${outDir}`);
  mkdirSync(join(outDir, 'onnx'), { recursive: true });
  const variants = sameIdentity ? { ...previous.variants } : {};
  if (previous && !sameIdentity) {
    // Written with other parameters: drop those graphs so no stale variant is left behind.
    for (const d of Object.values(DTYPES)) {
      for (const f of [`model${d.suffix}.onnx`, `model${d.suffix}.onnx_data`]) rmSync(join(outDir, 'onnx', f), { force: true });
    }
  }
  delete variants[dtype];

  // ---- tokenizer and configs ----
  const vocab = shrinkVocab(config.vocab_size);
  if (vocab.tokens.length !== config.vocab_size) throw new Error(`tokenizer has ${vocab.tokens.length} tokens, config says ${config.vocab_size}`);
  const externalFormat = {};
  for (const [d, v] of Object.entries({ ...variants, [dtype]: { external } })) {
    if (v.external) externalFormat[`model${DTYPES[d].suffix}.onnx`] = 1;
  }
  const fullConfig = Object.keys(externalFormat).length
    ? { ...config, 'transformers.js_config': { use_external_data_format: externalFormat } }
    : config;
  writeJson(join(outDir, 'config.json'), fullConfig);
  writeJson(join(outDir, 'generation_config.json'), { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, do_sample: false });
  writeJson(join(outDir, 'tokenizer.json'), tokenizerJson(vocab));
  writeJson(join(outDir, 'tokenizer_config.json'), tokenizerConfigJson(config.max_position_embeddings));
  writeJson(join(outDir, 'special_tokens_map.json'), specialTokensMapJson());
  log(`tokenizer: ${vocab.tokens.length} tokens, ${vocab.merges.length} merges`);

  // ---- weights ----
  const docString = `Random-weight Llama-architecture decoder (${size}, seed ${seed}${quantized ? `, ${QUANTIZED_DTYPES[dtype].label}` : ''}). Not trained: its text is not meaningful.`;
  if (quantized) {
    const specs = weightSpecs(config);
    const { nodes, initializers } = quantizeGraph(
      buildLlamaGraph(config, 'fp32'),
      (function* () {
        for (const spec of specs) yield { name: spec.name, dims: spec.dims, bytes: weightBytes(spec, seed, 'fp32') };
      })(),
      new Map(specs.map((spec) => [spec.name, spec.kind])),
      dtype,
    );
    const graph = buildLlamaGraph(config, 'fp32');
    writeFileAtomic(
      join(outDir, 'onnx', modelFile),
      encodeModel({
        irVersion: IR_VERSION,
        producerName: 'muai-model-gen',
        producerVersion: GENERATOR_VERSION,
        docString,
        opsetImport: [{ domain: '', version: OPSET }, { domain: 'com.microsoft', version: 1 }],
        graph: { name: `muai-llama-${size}-${dtype}`, node: nodes, initializer: [...initializers, ...graph.constants], input: graph.inputs, output: graph.outputs },
      }),
    );
    rmSync(join(outDir, 'onnx', dataFile), { force: true });
  } else writeOnnxModel({
    path: join(outDir, 'onnx', modelFile),
    graph: buildLlamaGraph(config, dtype, toFloat16Bits),
    graphName: `muai-llama-${size}`,
    elemType: elem,
    weights: (function* () {
      for (const spec of weightSpecs(config)) yield { name: spec.name, dims: spec.dims, bytes: weightBytes(spec, seed, dtype) };
    })(),
    externalData: external,
    producerName: 'muai-model-gen',
    producerVersion: GENERATOR_VERSION,
    docString,
  });

  const sizeOf = (rel) => statSync(join(outDir, rel)).size;
  const common = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
  const files = Object.fromEntries(common.map((f) => [f, sizeOf(f)]));
  const variantFiles = { [`onnx/${modelFile}`]: sizeOf(`onnx/${modelFile}`) };
  if (external) variantFiles[`onnx/${dataFile}`] = sizeOf(`onnx/${dataFile}`);
  variants[dtype] = { external, files: variantFiles, ...(quantizer ? { quantizer } : {}) };
  writeJson(join(outDir, MANIFEST), { identity, params, files, variants });

  const total = Object.values({ ...files, ...variantFiles }).reduce((a, b) => a + b, 0);
  log(`done in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${(total / 1e6).toFixed(1)} MB`);
  return { outDir, skipped: false, config, params, dtype, files: { ...files, ...variantFiles } };
}

const USAGE = `usage: node tools/model-gen/generate.mjs [--size tiny|small|bench] [--seed N] [--out DIR]
       [--dtype fp32|fp16|q8|q4] [--external-data | --no-external-data] [--if-missing]

Writes a random-weight Llama-architecture model (ONNX + tokenizer, transformers.js layout).
Defaults: --size tiny, --seed ${DEFAULT_SEED}, --out models/generated/<size>, --dtype fp32,
external data only when weights exceed 50 MB. Sizes: ${Object.keys(SIZES).join(', ')}.`;

export function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--size': opts.size = value(); break;
      case '--seed': {
        const v = value();
        if (!/^\d+$/.test(v)) throw new Error(`--seed must be a non-negative integer, got "${v}"`);
        opts.seed = Number(v);
        break;
      }
      case '--out': opts.outDir = value(); break;
      case '--dtype': opts.dtype = value(); break;
      case '--external-data': opts.externalData = true; break;
      case '--no-external-data': opts.externalData = false; break;
      case '--if-missing': opts.ifMissing = true; break;
      case '-h': case '--help': opts.help = true; break;
      default: throw new Error(`unknown argument "${a}"\n${USAGE}`);
    }
  }
  return opts;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    if (opts.help) {
      process.stdout.write(`${USAGE}\n`);
    } else {
      const { help: _help, ...rest } = opts;
      generateModel(rest);
    }
  } catch (err) {
    process.stderr.write(`model-gen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
