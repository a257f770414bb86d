export { OnnxEngine, createOnnxEngine } from './onnx-engine.js';
export type { OnnxEngineOptions, OnnxModelOptions } from './options.js';
export { halfToFloatTable, decodeFloat16, encodeFloat16 } from './float16.js';
