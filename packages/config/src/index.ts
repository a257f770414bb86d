export {
  ENGINE_NAMES,
  ENGINE_ALIASES,
  resolveEngineName,
  muaiConfigSchema,
  systemSchema,
  optimizationSchema,
  monitoringSchema,
  modelSchema,
  routerSchema,
  routerRuleSchema,
  onnxSchema,
  vllmSchema,
  deepspeedSchema,
  batcherSchema,
  cacheSchema,
  tunerSchema,
  prometheusSchema,
  tracingSchema,
  serverSchema,
  loggingSchema,
  anomalySchema,
  anomalyRuleSchema,
  alertTargetSchema,
} from './schema.js';
export type {
  EngineName,
  MuaiConfig,
  MuaiConfigInput,
  OptimizationConfig,
  MonitoringConfig,
  ModelConfig,
  RouterConfig,
  RouterRule,
  OnnxConfig,
  VllmConfig,
  DeepSpeedConfig,
  BatcherConfig,
  CacheConfig,
  TunerConfig,
  PrometheusConfig,
  TracingConfig,
  ServerConfig,
  LoggingConfig,
  AnomalyConfig,
  ClusterConfig,
  AnomalyRule,
  AlertTarget,
} from './schema.js';
export { DEFAULT_CONFIG_FILES, loadConfig, loadOptimizationConfig, parseConfig } from './load.js';
export type { LoadConfigOptions, LoadOptimizationConfigOptions, LoadedConfig, ValueSource } from './load.js';
export {
  ENVIRONMENT_PREFIXES,
  NON_CONFIG_VARIABLES,
  listEnvironmentVariables,
  resolveEnvironmentVariable,
  readEnvironment,
} from './environment.js';
export type { ConfigWarning, EnvironmentVariableInfo, EnvironmentOverride, EnvironmentReading } from './environment.js';
export { didYouMean } from './did-you-mean.js';
export { describeSources, isEngineEnabled, engineOrder, configToYaml, vllmDtypeFlag } from './helpers.js';
export type { SourceEntry } from './helpers.js';
