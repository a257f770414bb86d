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
  CapabilityUnsupportedError,
  toMuaiError,
  throwIfAborted,
} from './errors.js';
export type { ErrorCode, MuaiErrorOptions, ConfigProblem } from './errors.js';
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
