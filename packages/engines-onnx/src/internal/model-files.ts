import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
// DTYPE_SUFFIXES: the file-name suffix of each weight dtype, as transformers.js names them (one table, in @muai/core).
import { DTYPE_SUFFIXES, MuaiError, ModelNotFoundError } from '@muai/core';

export { DTYPE_SUFFIXES };

/** Base names of decoder graphs, in order of preference. */
const DECODER_BASES = ['model', 'decoder_model_merged'] as const;

export interface ModelFolder {
  /** The folder (or the folder of the given .onnx file). */
  dir: string;
  /** Parsed config.json, when present. */
  config: Record<string, unknown> | undefined;
  /** The chosen graph file. */
  graphPath: string;
  /** The dtype of the chosen graph file, `fp32` for an explicitly named file. */
  dtype: string;
}

/** Reads and parses a JSON file of a model folder; undefined when absent, MODEL_INVALID when malformed. */
export function readJsonFile(path: string, required: boolean): Record<string, unknown> | undefined {
  if (!existsSync(path)) {
    if (!required) return undefined;
    throw new MuaiError('MODEL_INVALID', `The model folder has no ${basename(path)} (looked for ${path}). Export the model with Hugging Face Optimum, which writes it.`, {
      details: { file: path },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new MuaiError('MODEL_INVALID', `${path} is not valid JSON (${(error as Error).message}). Restore the file from the model's original export.`, {
      cause: error,
      details: { file: path },
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new MuaiError('MODEL_INVALID', `${path} must hold a JSON object. Restore the file from the model's original export.`, { details: { file: path } });
  }
  return parsed as Record<string, unknown>;
}

function dtypeOfFile(file: string): string | undefined {
  for (const base of DECODER_BASES) {
    for (const [dtype, suffix] of Object.entries(DTYPE_SUFFIXES)) {
      if (file === `${base}${suffix}.onnx`) return dtype;
    }
  }
  return undefined;
}

/**
 * Finds the model folder and picks its graph file by dtype, as transformers.js does:
 * `onnx/model{suffix}.onnx` (or `decoder_model_merged{suffix}.onnx`), `fp32` -> no suffix,
 * `fp16` -> `_fp16`, `q8` -> `_quantized`. Without a dtype: `q8` when 8-bit is asked for, else
 * fp32 when present, else the only file there is, else the first of fp16, q8, ... that exists.
 */
export function resolveModelFolder(modelName: string, path: string, dtype: string | undefined, loadIn8bit: boolean): ModelFolder {
  const target = resolve(path);
  if (!existsSync(target)) {
    throw new ModelNotFoundError(modelName, `Nothing exists at ${target}. Pass the folder of an exported model (config.json, tokenizer.json, onnx/model.onnx).`, {
      details: { path: target },
    });
  }
  if (statSync(target).isFile()) {
    if (!target.endsWith('.onnx')) {
      throw new MuaiError('MODEL_INVALID', `${target} is not an .onnx file. Pass a model folder or an .onnx graph.`, { details: { path: target } });
    }
    const dir = dirname(target);
    const config = readJsonFile(join(dir, 'config.json'), false);
    return { dir, config, graphPath: target, dtype: dtypeOfFile(basename(target)) ?? 'fp32' };
  }
  const dir = target;
  const config = readJsonFile(join(dir, 'config.json'), false);
  const onnxDir = existsSync(join(dir, 'onnx')) ? join(dir, 'onnx') : dir;
  const files = readdirSync(onnxDir).filter((file) => file.endsWith('.onnx')).sort();
  if (files.length === 0) {
    throw new ModelNotFoundError(modelName, `No .onnx graph in ${onnxDir}. Export the model to ONNX (e.g. \`optimum-cli export onnx\`) into ${join(dir, 'onnx')}.`, {
      details: { path: dir },
    });
  }
  const known = new Map<string, string[]>(); // dtype -> files
  for (const file of files) {
    const fileDtype = dtypeOfFile(file);
    if (fileDtype !== undefined) known.set(fileDtype, [...(known.get(fileDtype) ?? []), file]);
  }
  const requested = dtype ?? (loadIn8bit ? 'q8' : undefined);
  if (requested !== undefined) {
    if (!(requested in DTYPE_SUFFIXES)) {
      throw new MuaiError('MODEL_INVALID', `Unknown dtype "${requested}". Use one of ${Object.keys(DTYPE_SUFFIXES).join(', ')}.`, {
        details: { dtype: requested },
      });
    }
    const matches = known.get(requested);
    if (matches === undefined) {
      const wanted = DECODER_BASES.map((base) => `${base}${DTYPE_SUFFIXES[requested]}.onnx`).join(' or ');
      throw new ModelNotFoundError(
        modelName,
        `dtype "${requested}" needs ${wanted} in ${onnxDir}, which holds only: ${files.join(', ')}. Choose the dtype of a file that exists${known.size > 0 ? ` (${[...known.keys()].join(', ')})` : ''}.`,
        { details: { path: dir, dtype: requested, files } },
      );
    }
    return { dir, config, graphPath: join(onnxDir, matches[0]!), dtype: requested };
  }
  if (known.has('fp32')) return { dir, config, graphPath: join(onnxDir, known.get('fp32')![0]!), dtype: 'fp32' };
  if (files.length === 1) return { dir, config, graphPath: join(onnxDir, files[0]!), dtype: dtypeOfFile(files[0]!) ?? 'fp32' };
  for (const candidate of Object.keys(DTYPE_SUFFIXES)) {
    const matches = known.get(candidate);
    if (matches !== undefined) return { dir, config, graphPath: join(onnxDir, matches[0]!), dtype: candidate };
  }
  throw new MuaiError('MODEL_INVALID', `Cannot tell which graph to load in ${onnxDir} (${files.join(', ')}). Pass the .onnx file itself as the model path.`, {
    details: { path: dir, files },
  });
}
