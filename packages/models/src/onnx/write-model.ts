import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IR_VERSION, OPSET } from './llama-graph.js';
import type { LlamaGraph } from './llama-graph.js';
import { encodeModel } from './onnx-proto.js';
import type { TensorProtoObject } from './onnx-proto.js';

/** One weight tensor: its graph name, dims, and little-endian bytes of the model's element type. */
export interface WeightTensor {
  name: string;
  dims: number[];
  bytes: Uint8Array;
}

export interface WriteOnnxModelOptions {
  /** Where the graph goes, e.g. `<dir>/onnx/model.onnx`. External data goes beside it as `<file>_data`. */
  path: string;
  graph: LlamaGraph;
  graphName: string;
  /** ONNX element type of the weights (DataType.FLOAT or DataType.FLOAT16). */
  elemType: number;
  /** Weights in any order; produced lazily so that big models never hold two copies. */
  weights: Iterable<WeightTensor>;
  /** Weights in `<file>_data` (each tensor 64-byte aligned) instead of inside the graph. */
  externalData: boolean;
  producerName: string;
  producerVersion: string;
  docString: string;
}

// Files are written under a temporary name and renamed into place, so a reader (or a concurrent
// writer of the same bytes) never sees a partial file.
const temporary = (path: string): string => `${path}.tmp-${process.pid}`;

/** Writes `data` to `path` through a temporary file and a rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  writeFileSync(temporary(path), data);
  renameSync(temporary(path), path);
}

/** Writes an ONNX model (graph + initializers); returns the files written, relative to the graph's folder. */
export function writeOnnxModel(options: WriteOnnxModelOptions): string[] {
  const dataFile = `${basename(options.path)}_data`;
  const dataPath = join(dirname(options.path), dataFile);
  const initializers: TensorProtoObject[] = [];
  let fd: number | undefined;
  let offset = 0;
  if (options.externalData) fd = openSync(temporary(dataPath), 'w');
  try {
    for (const weight of options.weights) {
      if (fd !== undefined) {
        const pad = (64 - (offset % 64)) % 64; // keep every tensor 64-byte aligned
        if (pad) writeSync(fd, Buffer.alloc(pad));
        offset += pad;
        writeSync(fd, weight.bytes);
        initializers.push({
          name: weight.name,
          dims: weight.dims,
          dataType: options.elemType,
          dataLocation: 1,
          externalData: [
            { key: 'location', value: dataFile },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(weight.bytes.length) },
          ],
        });
        offset += weight.bytes.length;
      } else {
        initializers.push({ name: weight.name, dims: weight.dims, dataType: options.elemType, rawData: weight.bytes });
      }
    }
  } catch (error) {
    if (fd !== undefined) {
      closeSync(fd);
      fd = undefined;
      rmSync(temporary(dataPath), { force: true });
    }
    throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (options.externalData) renameSync(temporary(dataPath), dataPath);
  const model = {
    irVersion: IR_VERSION,
    producerName: options.producerName,
    producerVersion: options.producerVersion,
    docString: options.docString,
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: options.graphName,
      node: options.graph.nodes,
      initializer: [...initializers, ...options.graph.constants],
      input: options.graph.inputs,
      output: options.graph.outputs,
    },
  };
  writeFileAtomic(options.path, encodeModel(model));
  if (!options.externalData) rmSync(dataPath, { force: true }); // left by an earlier external-data variant
  return options.externalData ? [basename(options.path), dataFile] : [basename(options.path)];
}
