export {
  PrometheusExporter,
  createPrometheusExporter,
  PROMETHEUS_PORT_VARIABLE,
  REQUEST_LATENCY_BUCKETS,
  TIME_TO_FIRST_TOKEN_BUCKETS,
  TIME_PER_OUTPUT_TOKEN_BUCKETS,
  BATCH_SIZE_BUCKETS,
} from './prometheus-exporter.js';
export type { PrometheusExporterOptions, ExporterAddress, MetricsCollector, TunerMetrics } from './prometheus-exporter.js';
export { LabelGuard } from './label-guard.js';
export type { LabelGuardOptions, LabelPolicy } from './label-guard.js';
export { OTelTracer, createTracer } from './otel-tracer.js';
export type { OTelTracerOptions, CreateTracerOptions, OtlpProtocol } from './otel-tracer.js';
// The tracing and metrics contracts live in @muai/core; re-exported here for the first release's imports.
export { NoopTracer, NOOP_TRACER, isSuccessStatus, isErrorStatus } from '@muai/core';
export type {
  Tracer as MuaiTracer,
  TracerStats,
  GenAiUsage,
  PromptMessage,
  ServerRequestSpanInfo,
  InferenceSpanInfo,
  BatchSpanInfo,
  EngineCallSpanInfo,
  RequestRecord,
  RequestStatus,
  CacheStatsRecord,
} from '@muai/core';
export { GEN_AI_ATTRIBUTES, MUAI_ATTRIBUTES, CONTENT_ATTRIBUTES } from './gen-ai-attributes.js';
export { PerformanceMonitor, createPerformanceMonitor } from './performance-monitor.js';
export type {
  PerformanceMonitorOptions,
  PerformanceRequestRecord,
  PerformanceSnapshot,
  LatencySummary,
} from './performance-monitor.js';
