// Reads llama2.c "legacy" (version 0) checkpoints: a 7 x int32 header, then float32 weights in
// run.c's memory_map_weights order. See README.md for the layout.
import { readFileSync, statSync } from 'node:fs';
import { MuaiError } from '@muai/core';

const HEADER_BYTES = 7 * 4;
/** Magic of llama2.c's newer export formats (version 1 and 2, `export.py --version 1|2`). */
const MAGIC_AK42 = 0x616b3432;

/** The header of a llama2.c checkpoint. */
export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Always positive here; `sharedClassifier` says whether the header's value was positive. */
  vocabSize: number;
  seqLen: number;
  /** true when the header's vocab_size was positive: the classifier is the embedding table. */
  sharedClassifier: boolean;
}

/** The weights of a checkpoint, each row-major [out, in] as run.c stores them. */
export interface Llama2cWeights {
  tokenEmbedding: Float32Array; // [vocab, dim]
  rmsAtt: Float32Array[]; // per layer [dim]
  wq: Float32Array[]; // [dim, dim]
  wk: Float32Array[]; // [kvDim, dim]
  wv: Float32Array[]; // [kvDim, dim]
  wo: Float32Array[]; // [dim, dim]
  rmsFfn: Float32Array[]; // [dim]
  w1: Float32Array[]; // [hidden, dim]
  w2: Float32Array[]; // [dim, hidden]
  w3: Float32Array[]; // [hidden, dim]
  rmsFinal: Float32Array; // [dim]
  /** [vocab, dim]; the embedding table when the classifier is shared. */
  wcls: Float32Array;
}

export interface Llama2cCheckpoint {
  header: Llama2cHeader;
  weights: Llama2cWeights;
}

function invalid(file: string, reason: string, message: string, details: Record<string, unknown> = {}): MuaiError {
  return new MuaiError('MODEL_INVALID', `${file}: ${message}`, { details: { file, reason, ...details } });
}

/** Number of float32 values a checkpoint with this header holds after the header. */
export function checkpointFloatCount(header: Llama2cHeader): number {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen } = header;
  const headSize = dim / nHeads;
  const kvDim = headSize * nKvHeads;
  const perLayer = dim + dim * dim + 2 * kvDim * dim + dim * dim + dim + 3 * hiddenDim * dim;
  // The legacy freq_cis_real and freq_cis_imag tables (seq_len * head_size / 2 each), which run.c skips.
  const freqCis = seqLen * headSize;
  return vocabSize * dim + nLayers * perLayer + dim + freqCis + (header.sharedClassifier ? 0 : vocabSize * dim);
}

/** Parses and checks the header of `bytes` (the whole file). Throws MODEL_INVALID with `details.reason`. */
export function parseLlama2cHeader(bytes: Uint8Array, file: string): Llama2cHeader {
  if (bytes.length < HEADER_BYTES) {
    throw invalid(file, 'truncated', `a llama2.c checkpoint starts with a 28-byte header, but the file has only ${bytes.length} bytes (truncated?).`, { bytes: bytes.length });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) === MAGIC_AK42) {
    throw invalid(file, 'unsupported-format', 'this is a llama2.c version 1/2 export ("ak42" magic); only the legacy version 0 format (run.c\'s, `export.py --version 0`) is supported.');
  }
  const values = Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = values as [number, number, number, number, number, number, number];
  const header: Llama2cHeader = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen, sharedClassifier: vocab > 0 };
  const problems: string[] = [];
  const limit = 1 << 20;
  for (const [name, value] of Object.entries({ dim, hidden_dim: hiddenDim, n_layers: nLayers, n_heads: nHeads, n_kv_heads: nKvHeads, vocab_size: Math.abs(vocab), seq_len: seqLen })) {
    if (!(value > 0 && value <= limit)) problems.push(`${name} = ${value} is not in 1..${limit}`);
  }
  if (problems.length === 0) {
    if (dim % nHeads !== 0) problems.push(`dim ${dim} is not a multiple of n_heads ${nHeads}`);
    else if ((dim / nHeads) % 2 !== 0) problems.push(`head size ${dim / nHeads} is odd (RoPE needs pairs)`);
    if (nHeads % nKvHeads !== 0) problems.push(`n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  }
  if (problems.length > 0) {
    throw invalid(file, 'bad-header', `the header is not a llama2.c checkpoint header: ${problems.join('; ')}.`, { header: values });
  }
  const expected = HEADER_BYTES + 4 * checkpointFloatCount(header);
  if (bytes.length !== expected) {
    const reason = bytes.length < expected ? 'truncated' : 'size-mismatch';
    const what =
      bytes.length < expected
        ? `the header (dim ${dim}, ${nLayers} layers, vocab ${header.vocabSize}, seq_len ${seqLen}) needs ${expected} bytes, but the file has only ${bytes.length}: it is truncated.`
        : `the header (dim ${dim}, ${nLayers} layers, vocab ${header.vocabSize}, seq_len ${seqLen}) says ${expected} bytes, but the file has ${bytes.length}: the header does not match the weights (or this is not a version 0 llama2.c checkpoint).`;
    throw invalid(file, reason, what, { expectedBytes: expected, actualBytes: bytes.length });
  }
  return header;
}

/** Reads a llama2.c checkpoint file. Throws MODEL_NOT_FOUND / MODEL_INVALID with a reason. */
export function readLlama2cCheckpoint(file: string): Llama2cCheckpoint {
  let bytes: Buffer;
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    bytes = readFileSync(file);
  } catch (error) {
    throw new MuaiError('MODEL_NOT_FOUND', `The llama2.c checkpoint ${file} does not exist or is not a readable file.`, { cause: error, details: { file } });
  }
  const header = parseLlama2cHeader(bytes, file);
  // Copy the floats out (the file buffer may not be 4-byte aligned for a Float32Array view).
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset + HEADER_BYTES, bytes.byteOffset + bytes.length));
  let offset = 0;
  const take = (count: number): Float32Array => {
    const out = floats.subarray(offset, offset + count);
    offset += count;
    return out;
  };
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen } = header;
  const headSize = dim / nHeads;
  const kvDim = headSize * nKvHeads;
  const perLayer = (count: number): Float32Array[] => Array.from({ length: nLayers }, () => take(count));
  const tokenEmbedding = take(vocabSize * dim);
  const rmsAtt = perLayer(dim);
  const wq = perLayer(dim * dim);
  const wk = perLayer(kvDim * dim);
  const wv = perLayer(kvDim * dim);
  const wo = perLayer(dim * dim);
  const rmsFfn = perLayer(dim);
  const w1 = perLayer(hiddenDim * dim);
  const w2 = perLayer(dim * hiddenDim);
  const w3 = perLayer(hiddenDim * dim);
  const rmsFinal = take(dim);
  take(seqLen * headSize); // legacy freq_cis_real + freq_cis_imag
  const wcls = header.sharedClassifier ? tokenEmbedding : take(vocabSize * dim);
  return { header, weights: { tokenEmbedding, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls } };
}
