export { VllmEngine, createVllmEngine, vllmOptionsFromConfig } from './vllm-engine.js';
export type { VllmEngineOptions, VllmServerMetrics, VllmTokenization, VllmConfigSection } from './vllm-engine.js';
export { vllmServeArgs, VLLM_INSTALL_HINT } from './launch.js';
export type { VllmLaunchOptions } from './launch.js';
export { parseVllmMetrics } from './metrics.js';
export type { VllmMetricsSnapshot, HistogramSummary } from './metrics.js';
