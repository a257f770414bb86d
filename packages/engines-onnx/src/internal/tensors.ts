import * as ort from 'onnxruntime-node';
import { InvalidRequestError } from '@muai/core';
import type { TensorLike, TensorMap, TensorType } from '@muai/core';

const ARRAY_TYPES: Record<Exclude<TensorType, 'string'>, string> = {
  float32: 'Float32Array',
  float16: 'Uint16Array',
  float64: 'Float64Array',
  int8: 'Int8Array',
  uint8: 'Uint8Array',
  int16: 'Int16Array',
  uint16: 'Uint16Array',
  int32: 'Int32Array',
  uint32: 'Uint32Array',
  int64: 'BigInt64Array',
  uint64: 'BigUint64Array',
  bool: 'Uint8Array',
};

function describe(meta: ort.InferenceSession.ValueMetadata): string {
  return meta.isTensor ? `${meta.name} (${meta.type} [${meta.shape.map((dim) => (typeof dim === 'number' ? String(dim) : dim || '?')).join(', ')}])` : `${meta.name} (non-tensor)`;
}

/**
 * Checks raw inputs against the session's declared inputs (names, element types, ranks, fixed
 * dimensions; symbolic dimensions take any size) and converts them to ORT tensors.
 */
export function toOrtFeeds(session: ort.InferenceSession, inputs: TensorMap, modelName: string): Record<string, ort.Tensor> {
  const declared = session.inputMetadata;
  const expected = declared.map(describe).join(', ');
  const fail = (problem: string): never => {
    throw new InvalidRequestError(`Bad input for model "${modelName}": ${problem}. The model expects: ${expected}.`, {
      details: { model: modelName, expected: declared.map((meta) => meta.name) },
    });
  };
  if (typeof inputs !== 'object' || inputs === null) fail('inputs must be an object of named tensors');
  for (const name of Object.keys(inputs)) {
    if (!declared.some((meta) => meta.name === name)) fail(`unknown input "${name}"`);
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const meta of declared) {
    const tensor: TensorLike | undefined = inputs[meta.name];
    if (tensor === undefined) fail(`missing input "${meta.name}"`);
    if (!meta.isTensor) fail(`input "${meta.name}" is not a tensor input, which this engine cannot feed`);
    const { type, data, dims } = tensor!;
    const tensorMeta = meta as ort.InferenceSession.TensorValueMetadata;
    if (type !== tensorMeta.type) fail(`input "${meta.name}" has type ${String(type)}, expected ${tensorMeta.type}`);
    if (!Array.isArray(dims) || dims.some((dim) => !Number.isInteger(dim) || dim < 0)) fail(`input "${meta.name}" has invalid dims ${JSON.stringify(dims)}`);
    if (dims.length !== tensorMeta.shape.length) fail(`input "${meta.name}" has rank ${dims.length} [${dims.join(', ')}], expected rank ${tensorMeta.shape.length}`);
    tensorMeta.shape.forEach((dim, index) => {
      if (typeof dim === 'number' && dim >= 0 && dims[index] !== dim) fail(`input "${meta.name}" has size ${dims[index]} at dimension ${index}, expected ${dim}`);
    });
    const count = dims.reduce((product, dim) => product * dim, 1);
    if (type === 'string') {
      if (!Array.isArray(data) || data.some((item) => typeof item !== 'string')) fail(`input "${meta.name}" of type string needs an array of strings`);
    } else {
      const arrayType = ARRAY_TYPES[type];
      if (data?.constructor?.name !== arrayType) fail(`input "${meta.name}" of type ${type} needs its data in a ${arrayType}, got ${data?.constructor?.name ?? typeof data}`);
    }
    if (data.length !== count) fail(`input "${meta.name}" has ${data.length} elements, but dims [${dims.join(', ')}] need ${count}`);
    feeds[meta.name] = new ort.Tensor(type, data as never, dims as number[]);
  }
  return feeds;
}

/** Converts an ORT output tensor to a plain TensorLike (float16 stays raw 16-bit values). */
export function fromOrtTensor(tensor: ort.Tensor): TensorLike {
  return { type: tensor.type as TensorType, data: tensor.data as TensorLike['data'], dims: [...tensor.dims] };
}
