/**
 * The zod schemas of MuAI's configuration: `system.yaml` (models, router) and `optimization.yaml`
 * (optimization, monitoring), or both merged into one file. Every object is strict (unknown keys are
 * errors) and every key has a default, so `muaiConfigSchema.parse({})` is a complete configuration.
 *
 * Objects use `.prefault({})` rather than `.default({})` so that a missing section is parsed from
 * `{}` and its own keys receive their defaults.
 */
import { z } from 'zod';

/** Engines MuAI knows. `pytorch` (the seed's baseline engine) is accepted as an alias of `onnx`. */
export const ENGINE_NAMES = ['onnx', 'vllm', 'deepspeed'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** Names accepted in configuration files for an engine, mapped to the engine they mean. */
export const ENGINE_ALIASES: Readonly<Record<string, EngineName>> = Object.freeze({ pytorch: 'onnx' });

/** Maps an engine name or alias (`pytorch`) to the engine MuAI runs; undefined when unknown. */
export function resolveEngineName(name: string): EngineName | undefined {
  if ((ENGINE_NAMES as readonly string[]).includes(name)) return name as EngineName;
  return ENGINE_ALIASES[name];
}

const engineName = z
  .enum(['onnx', 'vllm', 'deepspeed', 'pytorch'])
  .transform((name): EngineName => resolveEngineName(name) ?? 'onnx');

const port = z.int().min(0).max(65535);
const positiveInt = z.int().min(1);
const nonNegativeInt = z.int().min(0);
const fraction = z.number().min(0).max(1);
const httpUrl = z.string().regex(/^https?:\/\/\S+$/, 'expected an http:// or https:// URL');

// ---------------------------------------------------------------- system.yaml

const DEVICE_PATTERN = /^(auto|cpu|gpu|cuda(:\d+)?|rocm(:\d+)?|mps|dml|webgpu)$/;

export const modelSchema = z.strictObject({
  /** Folder of the exported model, a Hugging Face id (remote engines), or a path relative to the working directory. */
  path: z.string().min(1),
  /** Engine that serves this model; unset means the first engine of `optimization.engine_preference` that is enabled. */
  engine: engineName.optional(),
  /** Device to run on. */
  device: z
    .string()
    .regex(DEVICE_PATTERN, 'expected one of auto, cpu, gpu, cuda, cuda:N, rocm, mps, dml, webgpu')
    .default('auto'),
  /** Load 8-bit quantized weights (`model_quantized.onnx` for the ONNX engine). */
  load_in_8bit: z.boolean().default(false),
  /** Weight type; `auto` picks fp32 on CPU (or 8-bit when `load_in_8bit`). */
  dtype: z.enum(['auto', 'fp32', 'fp16', 'bf16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4']).default('auto'),
  /** Largest prompt plus generation length in tokens; unset means the model's own limit. */
  max_context_length: positiveInt.optional(),
  /** Name the model is served under by a remote engine, when it differs from `path`. */
  served_name: z.string().min(1).optional(),
});

export const routerRuleSchema = z.strictObject({
  /** Workflow chosen when this rule matches. */
  workflow: z.string().min(1),
  /** Words that, when present in the query, select the workflow. */
  keywords: z.array(z.string().min(1)).default(() => []),
  /** Regular expression (JavaScript syntax, case-insensitive) tested against the query. */
  pattern: z
    .string()
    .refine((source) => {
      try {
        new RegExp(source, 'i');
        return true;
      } catch {
        return false;
      }
    }, 'expected a valid regular expression')
    .optional(),
  /** Higher priority rules are tried first. */
  priority: z.int().default(0),
});

export const routerSchema = z.strictObject({
  /** Workflow used when no rule reaches `confidence_threshold`. */
  default_workflow: z.string().min(1).default('search_qa'),
  /** Smallest routing confidence (0 to 1) that selects a workflow other than the default. */
  confidence_threshold: fraction.default(0.5),
  /** Explicit routing rules; empty means the router's built-in rules. */
  rules: z.array(routerRuleSchema).default(() => []),
});

export const systemSchema = z.strictObject({
  models: z.record(z.string().min(1), modelSchema).default(() => ({})),
  router: routerSchema.prefault({}),
});

// ---------------------------------------------------------------- optimization.yaml: optimization

export const onnxSchema = z.strictObject({
  /** The embedded engine. It is the baseline that runs models even when `optimization.enabled` is false. */
  enabled: z.boolean().default(true),
  /** Folder that relative model paths are looked up in, after the working directory. */
  model_dir: z.string().min(1).default('models'),
  /** Intra-op threads of ONNX Runtime; 0 lets ONNX Runtime choose. */
  threads: nonNegativeInt.default(0),
  /** Inter-op threads; 0 lets ONNX Runtime choose. */
  inter_op_threads: nonNegativeInt.default(0),
  graph_optimization_level: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  /** Execution providers in order of preference; unavailable ones are skipped. */
  execution_providers: z.array(z.string().min(1)).min(1).default(() => ['cpu']),
  execution_mode: z.enum(['sequential', 'parallel']).default('sequential'),
  /** Run ONNX Runtime in a worker thread (`createOnnxWorkerEngine`). Unset: on in `muai serve` (HTTP, metrics and tracing never wait for a decode step), off elsewhere. */
  worker_thread: z.boolean().optional(),
});

/** How a remote engine spreads requests over its endpoints (@muai/engines-http EndpointPool). */
export const routingSchema = z.strictObject({
  /** least-outstanding, prefix-affinity (consistent hashing with bounded loads on the prompt's start) or round-robin. */
  policy: z.enum(['least-outstanding', 'prefix-affinity', 'round-robin']).default('least-outstanding'),
  /** Leading characters of the prompt that prefix-affinity hashes. */
  prefix_length: positiveInt.default(256),
  /** prefix-affinity passes over an endpoint holding more than load_factor x the mean in-flight requests. */
  load_factor: z.number().min(1).default(1.25),
});

export const vllmSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Base URLs of running vLLM servers; requests are balanced over them. Empty means `http://host:port`. */
  endpoints: z.array(httpUrl).default(() => []),
  /** Model to serve (`vllm serve MODEL`) or the served model name; unset means the model's `path`. */
  model: z.string().min(1).optional(),
  tensor_parallel_size: positiveInt.default(1),
  /** vLLM's `--dtype`; `fp16`, `bf16` and `fp32` are accepted as `float16`, `bfloat16`, `float32`. */
  dtype: z.enum(['auto', 'half', 'float16', 'fp16', 'bfloat16', 'bf16', 'float', 'float32', 'fp32']).default('auto'),
  /** Share of GPU memory vLLM may take (0 to 1). */
  gpu_memory_utilization: z.number().gt(0).max(1).default(0.9),
  /** vLLM's `--max-num-seqs`; unset leaves vLLM's own default. */
  max_num_seqs: positiveInt.optional(),
  /** vLLM's `--max-model-len`; unset derives it from the model. */
  max_model_len: positiveInt.optional(),
  enable_prefix_caching: z.boolean().default(true),
  /** Start `vllm serve` ourselves and stop it on shutdown. */
  launch: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8000),
  /** Bearer token sent to the server (vLLM's `--api-key`). */
  api_key: z.string().min(1).optional(),
  /** Time limit of one request, in milliseconds. */
  timeout_ms: positiveInt.default(60000),
  /** Retries of a failed request on the same engine before falling back. */
  retries: nonNegativeInt.default(2),
  /** Time a launched server has to become healthy, in milliseconds. */
  startup_timeout_ms: positiveInt.default(600000),
  /** Extra command-line arguments for `vllm serve`. */
  extra_args: z.array(z.string()).default(() => []),
  routing: routingSchema.prefault({}),
});

export const deepspeedSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Base URLs of running DeepSpeed-MII REST servers. Empty means `http://host:port`. */
  endpoints: z.array(httpUrl).default(() => []),
  /** Model to serve when launching (`mii.serve(model)`); unset means the model's `path`. */
  model: z.string().min(1).optional(),
  /** MII deployment name; requests go to `POST /mii/<deployment_name>`. */
  deployment_name: z.string().min(1).default('deepspeed-mii'),
  /** Protocol spoken: MII's REST API or MII's OpenAI-compatible server. */
  protocol: z.enum(['mii', 'openai']).default('mii'),
  tensor_parallel: positiveInt.default(1),
  replica_num: positiveInt.default(1),
  /** Start an MII server ourselves and stop it on shutdown. */
  launch: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  /** MII's `restful_api_port` (51080 in mii/config.py). */
  port: port.default(51080),
  timeout_ms: positiveInt.default(60000),
  retries: nonNegativeInt.default(2),
  startup_timeout_ms: positiveInt.default(600000),
  routing: routingSchema.prefault({}),
});

export const batcherSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Most requests in one batch. */
  max_batch_size: positiveInt.default(32),
  /** Longest a request waits for companions, in milliseconds. */
  batch_timeout_ms: nonNegativeInt.default(50),
  /** Batch sizes dispatched as soon as they are reached (Triton's preferred_batch_size). */
  preferred_batch_sizes: z.array(positiveInt).default(() => []),
  /** Most requests waiting; beyond it requests fail at once with QUEUE_FULL. */
  max_queue_size: positiveInt.default(1024),
  /** Time a request may wait and run before REQUEST_TIMEOUT, in milliseconds; 0 means no limit. */
  request_timeout_ms: nonNegativeInt.default(30000),
  /** Number of priority levels (0 is the highest). */
  priority_levels: positiveInt.default(1),
});

export const cacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Memory budget of the KV cache, in MiB; never exceeded. */
  max_memory_mb: positiveInt.default(512),
  /** Tokens per KV block. */
  block_size: positiveInt.default(16),
  /** Reuse cached prefixes across requests. */
  prefix_reuse: z.boolean().default(true),
});

export const tunerSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** What the tuner maximizes: throughput, low latency, or goodput (throughput within the SLOs). */
  objective: z.enum(['throughput', 'latency', 'goodput']).default('throughput'),
  /** Online tuning adjusts knobs while serving; offline runs a search with `muai tune`. */
  mode: z.enum(['online', 'offline']).default('online'),
  /** Time between online adjustments, in milliseconds. */
  interval_ms: positiveInt.default(30000),
  /** Knobs the tuner may change. */
  parameters: z
    .array(z.enum(['max_batch_size', 'batch_timeout_ms', 'cache_max_memory_mb', 'max_concurrency']))
    .default(() => ['max_batch_size' as const, 'batch_timeout_ms' as const]),
  /** Latency SLO (p99 end to end), in milliseconds; unset means none. */
  target_p99_latency_ms: positiveInt.optional(),
  /** Time-to-first-token SLO, in milliseconds; unset means none. */
  ttft_slo_ms: positiveInt.optional(),
  /** Time-per-output-token SLO, in milliseconds; unset means none. */
  tpot_slo_ms: positiveInt.optional(),
});

export const optimizationSchema = z.strictObject({
  /** Master switch. False turns off every optional feature below; the embedded engine keeps serving. */
  enabled: z.boolean().default(true),
  /** Engines tried in order among the enabled ones. `pytorch` means `onnx`. */
  engine_preference: z
    .array(engineName)
    .min(1)
    .default((): EngineName[] => ['onnx'])
    .transform((names) => [...new Set(names)]),
  /** Retry a failed request on the next engine. */
  fallback_on_error: z.boolean().default(true),
  onnx: onnxSchema.prefault({}),
  vllm: vllmSchema.prefault({}),
  deepspeed: deepspeedSchema.prefault({}),
  batcher: batcherSchema.prefault({}),
  cache: cacheSchema.prefault({}),
  tuner: tunerSchema.prefault({}),
});

// ---------------------------------------------------------------- optimization.yaml: monitoring

export const prometheusSchema = z.strictObject({
  enabled: z.boolean().default(false),
  port: port.default(9090),
  /** Interface the exporter binds: loopback by default (safer); `0.0.0.0` lets a Prometheus on another host scrape it. */
  host: z.string().min(1).default('127.0.0.1'),
  path: z.string().startsWith('/').default('/metrics'),
  /** Also expose vLLM's series (`vllm:num_requests_waiting`, ...) that routers and autoscalers read. */
  vllm_compatible: z.boolean().default(true),
});

export const tracingSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** OTLP collector endpoint. */
  endpoint: httpUrl.default('http://localhost:4317'),
  protocol: z.enum(['grpc', 'http']).default('grpc'),
  /** Share of traces kept (0 to 1). */
  sample_rate: fraction.default(1),
  /** Record prompt and completion text on spans. Off by default: prompts may be private. */
  record_prompts: z.boolean().default(false),
  service_name: z.string().min(1).default('muai'),
});

export const serverSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8000),
  /** When set, requests must send `Authorization: Bearer <api_key>`. */
  api_key: z.string().min(1).optional(),
  /** More accepted keys (one per client, or old and new while rotating); any of them or api_key is accepted. */
  api_keys: z.array(z.string().min(1)).default(() => []),
  /** Largest request body, in bytes. */
  body_limit_bytes: positiveInt.default(1048576),
  /** Longest prompt accepted, in tokens. */
  max_prompt_tokens: positiveInt.default(8192),
  /** Largest `max_tokens` a request may ask for. */
  max_tokens_limit: positiveInt.default(4096),
  /** Most generation requests in flight at once; beyond it a request gets 429 QUEUE_FULL with Retry-After. 0 means no limit. */
  max_concurrent_requests: nonNegativeInt.default(512),
  /** Time in-flight requests get to finish on shutdown, in milliseconds. */
  drain_timeout_ms: nonNegativeInt.default(10000),
  /** Models loaded at start; `/ready` answers ready only once they are loaded. */
  preload_models: z.array(z.string().min(1)).default(() => []),
  /** Also serve `/metrics` on the server's own port. */
  expose_metrics: z.boolean().default(true),
});

export const loggingSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  format: z.enum(['json', 'pretty']).default('json'),
  /** Also write logs (JSON lines, rotated by size and daily) to this file. `muai serve` uses `logs/muai.log` when unset; `-` means standard output only. */
  file: z.string().min(1).optional(),
});

export const anomalyRuleSchema = z.strictObject({
  name: z.string().min(1),
  /** Series of the performance monitor watched, e.g. `latency_p99_ms`, `error_rate`, `queue_depth`. */
  metric: z.string().min(1),
  detector: z.enum(['threshold', 'zscore', 'ewma', 'cusum', 'mad', 'burn_rate']).default('threshold'),
  /** Limit for `threshold`; number of deviations for `zscore`/`ewma`/`mad`; decision interval for `cusum`; error budget (0.001 for a 99.9% SLO) for `burn_rate`. */
  threshold: z.number(),
  direction: z.enum(['above', 'below', 'both']).default('above'),
  /** Rolling window the detector reads, in seconds. */
  window_s: positiveInt.default(300),
  /** How long the condition must hold before the alert fires, in seconds. */
  for_s: nonNegativeInt.default(0),
  severity: z.enum(['info', 'warning', 'critical']).default('warning'),
});

export const alertTargetSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('log') }),
  z.strictObject({
    type: z.literal('webhook'),
    url: httpUrl,
    /** `alertmanager` sends Alertmanager's webhook v4 JSON. */
    format: z.enum(['json', 'alertmanager']).default('json'),
    headers: z.record(z.string(), z.string()).default(() => ({})),
  }),
  z.strictObject({ type: z.literal('slack'), url: httpUrl }),
  /** A real Alertmanager (base URL); alerts are pushed to `/api/v2/alerts` and re-sent while firing. */
  z.strictObject({ type: z.literal('alertmanager'), url: httpUrl, resend_interval_ms: positiveInt.default(60000) }),
]);

export const anomalySchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Time between checks, in milliseconds. */
  check_interval_ms: positiveInt.default(10000),
  /** Least time between two alerts of the same rule, in milliseconds. */
  cooldown_ms: nonNegativeInt.default(300000),
  /** Detection rules; empty means the anomaly package's built-in rules. */
  rules: z.array(anomalyRuleSchema).default(() => []),
  /** Where alerts go. */
  targets: z.array(alertTargetSchema).default(() => [{ type: 'log' as const }]),
});

export const monitoringSchema = z.strictObject({
  /** Master switch. False turns off Prometheus, tracing and anomaly alerts; the server keeps serving. */
  enabled: z.boolean().default(true),
  prometheus: prometheusSchema.prefault({}),
  tracing: tracingSchema.prefault({}),
  server: serverSchema.prefault({}),
  logging: loggingSchema.prefault({}),
  anomaly: anomalySchema.prefault({}),
});

// ---------------------------------------------------------------- cluster: state shared by replicas

export const clusterSchema = z.strictObject({
  redis: z
    .strictObject({
      /** redis://[user:password@]host:port[/db]; unset means no shared state (each replica on its own). */
      url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').optional(),
      /** Prefix of every key MuAI writes, so several deployments can share one Redis. */
      key_prefix: z.string().min(1).default('muai:'),
      /** Time one Redis command may take before the replica serves from local state, in milliseconds. */
      command_timeout_ms: positiveInt.default(500),
    })
    .prefault({}),
  response_cache: z
    .strictObject({
      /** Cache responses of deterministic requests (temperature 0) in Redis, shared by replicas. */
      enabled: z.boolean().default(true),
      /** Time a cached response lives, in seconds. */
      ttl_s: positiveInt.default(300),
      /** Most cached responses; the oldest are dropped beyond it. */
      max_entries: positiveInt.default(10000),
      /** Responses larger than this are not cached, in bytes. */
      max_entry_bytes: positiveInt.default(262144),
    })
    .prefault({}),
  rate_limit: z
    .strictObject({
      /** Requests per minute per API key, summed over every replica; 0 means no limit. */
      requests_per_minute: nonNegativeInt.default(0),
    })
    .prefault({}),
});

/** The whole configuration: system.yaml and optimization.yaml merged. */
export const muaiConfigSchema = z.strictObject({
  models: systemSchema.shape.models,
  router: systemSchema.shape.router,
  optimization: optimizationSchema.prefault({}),
  monitoring: monitoringSchema.prefault({}),
  cluster: clusterSchema.prefault({}),
});

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type DeepPartial<T> = T extends (infer E)[]
  ? E[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** The effective configuration: complete, defaulted, frozen. */
export type MuaiConfig = DeepReadonly<z.output<typeof muaiConfigSchema>>;
export type OptimizationConfig = MuaiConfig['optimization'];
export type MonitoringConfig = MuaiConfig['monitoring'];
export type ModelConfig = DeepReadonly<z.output<typeof modelSchema>>;
export type RouterConfig = MuaiConfig['router'];
export type RouterRule = DeepReadonly<z.output<typeof routerRuleSchema>>;
export type OnnxConfig = OptimizationConfig['onnx'];
export type VllmConfig = OptimizationConfig['vllm'];
export type DeepSpeedConfig = OptimizationConfig['deepspeed'];
export type BatcherConfig = OptimizationConfig['batcher'];
export type CacheConfig = OptimizationConfig['cache'];
export type TunerConfig = OptimizationConfig['tuner'];
export type PrometheusConfig = MonitoringConfig['prometheus'];
export type TracingConfig = MonitoringConfig['tracing'];
export type ServerConfig = MonitoringConfig['server'];
export type LoggingConfig = MonitoringConfig['logging'];
export type AnomalyConfig = MonitoringConfig['anomaly'];
export type ClusterConfig = MuaiConfig['cluster'];
export type AnomalyRule = DeepReadonly<z.output<typeof anomalyRuleSchema>>;
export type AlertTarget = DeepReadonly<z.output<typeof alertTargetSchema>>;
/** What a configuration file (or `overrides`) may contain: any subset, in file form. */
export type MuaiConfigInput = DeepPartial<z.input<typeof muaiConfigSchema>>;
