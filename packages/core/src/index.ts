export {
  ERROR_CODES,
  MuaiError,
  ConfigInvalidError,
  EngineUnavailableError,
  ModelNotFoundError,
  InvalidRequestError,
  QueueFullError,
  RequestTimeoutError,
  RequestAbortedError,
  PortInUseError,
  LoopDetectedError,
  DependencyMissingError,
  CapabilityUnsupportedError,
  toMuaiError,
  throwIfAborted,
  errorCauseCode,
} from './errors.js';
export type { ErrorCode, MuaiErrorOptions, ConfigProblem } from './errors.js';
export { DTYPE_SUFFIXES } from './engine.js';
export type {
  Engine,
  EngineCapabilities,
  EngineHealth,
  InferOptions,
  LoadedModelInfo,
  ModelSpec,
} from './engine.js';
export type {
  ChatMessage,
  ChatRole,
  FinishReason,
  GenerationRequest,
  GenerationResult,
  SamplingParameters,
  StreamChunk,
  TensorData,
  TensorLike,
  TensorMap,
  TensorType,
  Timings,
  Usage,
} from './types.js';
export { SpanKind, NoopTracer, NOOP_TRACER, NOOP_SPAN, toTracer } from './tracing.js';
export type {
  Span,
  SpanAttributes,
  SpanAttributeValue,
  SpanKindValue,
  Tracer,
  TracerInput,
  TracerStats,
  PromptMessage,
  ServerRequestSpanInfo,
  InferenceSpanInfo,
  BatchSpanInfo,
  EngineCallSpanInfo,
  GenAiUsage,
} from './tracing.js';
export { NOOP_METRICS, combineMetricsSinks, isSuccessStatus, isErrorStatus } from './metrics.js';
export type {
  MetricsSink,
  RequestRecord,
  RequestStatus,
  FallbackRecord,
  BatchRecord,
  QueueDepthRecord,
  CacheStatsRecord,
  AlertRecord,
} from './metrics.js';
export { LOG_LEVELS, NOOP_LOGGER, loggerFromPino } from './logger.js';
export type { Logger, LogLevel, LogDetails, PinoLike } from './logger.js';
