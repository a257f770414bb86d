export {
  PrometheusExporter,
  createPrometheusExporter,
  PROMETHEUS_PORT_VARIABLE,
  REQUEST_LATENCY_BUCKETS,
  TIME_TO_FIRST_TOKEN_BUCKETS,
  TIME_PER_OUTPUT_TOKEN_BUCKETS,
  BATCH_SIZE_BUCKETS,
} from './prometheus-exporter.js';
export type { PrometheusExporterOptions, ExporterAddress } from './prometheus-exporter.js';
export { LabelGuard } from './label-guard.js';
export type { LabelGuardOptions, LabelPolicy } from './label-guard.js';
export { OTelTracer, createTracer } from './otel-tracer.js';
export type { OTelTracerOptions, CreateTracerOptions, OtlpProtocol } from './otel-tracer.js';
export { NoopTracer, NOOP_TRACER } from './noop-tracer.js';
export type {
  MuaiTracer,
  TracerStats,
  GenAiUsage,
  PromptMessage,
  ServerRequestSpanInfo,
  InferenceSpanInfo,
  BatchSpanInfo,
  EngineCallSpanInfo,
} from './tracer-types.js';
export { GEN_AI_ATTRIBUTES, MUAI_ATTRIBUTES, CONTENT_ATTRIBUTES } from './gen-ai-attributes.js';
export { PerformanceMonitor, createPerformanceMonitor } from './performance-monitor.js';
export type {
  PerformanceMonitorOptions,
  PerformanceRequestRecord,
  PerformanceSnapshot,
  LatencySummary,
} from './performance-monitor.js';
export { isSuccessStatus, isErrorStatus } from './types.js';
export type { RequestRecord, RequestStatus, CacheStatsRecord } from './types.js';
