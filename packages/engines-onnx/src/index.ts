export { OnnxEngine, createOnnxEngine } from './onnx-engine.js';
export type { OnnxEngineOptions, OnnxKvCacheOptions, OnnxModelOptions } from './options.js';
export type { SchedulerStats } from './internal/scheduler.js';
export { createOnnxMetricsCollector } from './metrics-collector.js';
export type { OnnxStatsSource } from './metrics-collector.js';
export { halfToFloatTable, decodeFloat16, encodeFloat16 } from './float16.js';
export { OnnxWorkerEngine, createOnnxWorkerEngine } from './worker-engine.js';
export type { OnnxWorkerEngineOptions, OnnxModelDescription } from './worker-engine.js';
