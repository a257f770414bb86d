import { CapabilityUnsupportedError, InvalidRequestError, ModelNotFoundError, MuaiError, toMuaiError } from '@muai/core';
import type {
  Engine,
  EngineCapabilities,
  EngineHealth,
  GenerationRequest,
  GenerationResult,
  LoadedModelInfo,
  ModelSpec,
  StreamChunk,
  TensorMap,
} from '@muai/core';
import { HttpClient, OpenAiProtocolClient, launchServer } from '@muai/engines-http';
import type { EndpointState, LaunchedServer, LogLine } from '@muai/engines-http';
import { VLLM_INSTALL_HINT, vllmServeArgs } from './launch.js';
import type { VllmLaunchOptions } from './launch.js';
import { parseVllmMetrics } from './metrics.js';
import type { VllmMetricsSnapshot } from './metrics.js';

export interface VllmEngineOptions {
  /** Base URLs of vLLM servers serving the same model(s), as a list or comma-separated. Required unless `launch` is set. */
  endpoints?: readonly string[] | string;
  /** Served model id used when a request names no loaded model. Default: the only loaded model. */
  model?: string;
  /** Bearer token (vLLM's `--api-key`). Default none. */
  apiKey?: string;
  /** Per-request timeout in ms (whole request, stream included). Default 60000. */
  timeoutMs?: number;
  /** Extra attempts for retryable failures (connection refused/reset, 502/503/504 before any byte). Default 2. */
  retries?: number;
  /** First retry delay in ms (doubles, full jitter). Default 100. */
  retryBaseMs?: number;
  /** Largest retry delay in ms. Default 2000. */
  retryMaxMs?: number;
  /** How long a failing endpoint is out before a `/health` probe may bring it back, in ms. Default 5000. */
  cooldownMs?: number;
  /** Consecutive failures before an endpoint cools down. Default 1. */
  failureThreshold?: number;
  /** Temperature when a request has none. Default 0 (greedy). */
  defaultTemperature?: number;
  /** max_tokens when a request has none. Default: not sent (vLLM fills the context). */
  defaultMaxTokens?: number;
  /** Most prompts in one batched `/v1/completions` call. Default 64. */
  maxBatchPrompts?: number;
  /** Start `vllm serve` on load() and stop it on close(): `true` or launch options. Default off. */
  launch?: boolean | VllmLaunchOptions;
  /** Receives the launched server's log lines (also settable in `launch.log`). */
  log?: LogLine;
  /** fetch implementation; default the global fetch. */
  fetch?: typeof fetch;
}

/** One endpoint's scrape of `/metrics`. */
export interface VllmServerMetrics {
  endpoint: string;
  /** Present when the scrape worked. */
  metrics?: VllmMetricsSnapshot;
  /** Present when it failed. */
  error?: MuaiError;
}

/** Result of `/tokenize`. */
export interface VllmTokenization {
  count: number;
  maxModelLen?: number;
  tokens: number[];
}

interface LoadedModel {
  served: string;
  contextLength?: number;
}

/**
 * MuAI engine for vLLM's OpenAI-compatible server: completions and chat, JSON and SSE streaming,
 * batched prompts, several endpoints with least-outstanding balancing, timeouts, retries and
 * cooldown; `/v1/models`, `/health`, `/tokenize` and `/metrics`; optionally launches `vllm serve`.
 */
export class VllmEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'vllm';
  readonly capabilities: EngineCapabilities = {
    textGeneration: true,
    streaming: true,
    batching: true,
    embeddings: false,
    tensorInference: false,
  };
  readonly http: HttpClient;
  private readonly protocol: OpenAiProtocolClient;
  private readonly options: VllmEngineOptions;
  private readonly launchOptions: VllmLaunchOptions | undefined;
  private readonly loaded = new Map<string, LoadedModel>();
  private server: LaunchedServer | undefined;
  private launching: Promise<LaunchedServer> | undefined;

  constructor(options: VllmEngineOptions) {
    this.options = options;
    this.launchOptions = options.launch === true ? {} : options.launch === false ? undefined : options.launch;
    const given = typeof options.endpoints === 'string' ? options.endpoints.split(',').filter(Boolean) : [...(options.endpoints ?? [])];
    const endpoints = this.launchOptions
      ? [`http://${this.launchOptions.host ?? '127.0.0.1'}:${this.launchOptions.port ?? 8000}`, ...given]
      : given;
    if (endpoints.length === 0) {
      throw new InvalidRequestError('The vLLM engine needs `endpoints` (URLs of running vLLM servers) or `launch`.');
    }
    this.http = new HttpClient({
      engine: this.name,
      endpoints,
      healthPath: '/health',
      ...pick(options, ['apiKey', 'timeoutMs', 'retries', 'retryBaseMs', 'retryMaxMs', 'cooldownMs', 'failureThreshold', 'fetch']),
    });
    this.protocol = new OpenAiProtocolClient({
      http: this.http,
      engine: this.name,
      dialect: 'vllm',
      ...pick(options, ['defaultTemperature', 'defaultMaxTokens', 'maxBatchPrompts']),
    });
  }

  /** The process started by `launch`, if any. */
  get launchedServer(): LaunchedServer | undefined {
    return this.server;
  }

  /** Endpoint states (outstanding requests, failures, cooldown). */
  endpointStates(): EndpointState[] {
    return this.http.endpointStates();
  }

  private async ensureLaunched(model: string): Promise<void> {
    const launch = this.launchOptions;
    if (!launch || this.server) return;
    this.launching ??= (async () => {
      const endpoint = this.http.pool.endpoints[0]!;
      const env = { ...(launch.env ?? process.env), ...(this.options.apiKey ? { VLLM_API_KEY: this.options.apiKey } : {}) };
      const log = launch.log ?? this.options.log;
      return launchServer({
        engine: this.name,
        command: launch.executable ?? 'vllm',
        args: vllmServeArgs(launch.model ?? model, launch),
        env,
        installHint: VLLM_INSTALL_HINT,
        ready: (signal) => this.http.probeHealth(endpoint, '/health', signal),
        ...(launch.startupTimeoutMs !== undefined ? { startupTimeoutMs: launch.startupTimeoutMs } : {}),
        ...(launch.stopGraceMs !== undefined ? { stopGraceMs: launch.stopGraceMs } : {}),
        ...(log ? { log } : {}),
      });
    })();
    try {
      this.server = await this.launching;
    } finally {
      this.launching = undefined;
    }
  }

  /**
   * Checks that the server serves the model: the first of `options.servedModelName`, `path`,
   * `name` and the engine's `model` found at `/v1/models`. MODEL_NOT_FOUND otherwise.
   */
  async load(spec: ModelSpec): Promise<LoadedModelInfo> {
    await this.ensureLaunched(spec.path || spec.name);
    const served = await this.protocol.listModels();
    const wanted = [spec.options?.servedModelName, this.launchOptions?.servedModelName, spec.path, spec.name, this.options.model].filter(
      (id): id is string => typeof id === 'string' && id.length > 0,
    );
    const match = wanted.map((id) => served.find((model) => model.id === id)).find((model) => model !== undefined);
    if (!match) {
      throw new ModelNotFoundError(
        spec.name,
        `The vLLM server serves ${served.map((model) => `"${model.id}"`).join(', ') || 'no models'}; set the model's path to one of them.`,
        { details: { engine: this.name, tried: wanted, served: served.map((model) => model.id) } },
      );
    }
    const entry: LoadedModel = { served: match.id };
    if (match.maxModelLen !== undefined) entry.contextLength = match.maxModelLen;
    this.loaded.set(spec.name, entry);
    const info: LoadedModelInfo = { name: spec.name, kind: 'causal-lm' };
    if (match.maxModelLen !== undefined) info.contextLength = match.maxModelLen;
    return info;
  }

  async unload(modelName: string): Promise<void> {
    this.loaded.delete(modelName);
  }

  models(): readonly string[] {
    return [...this.loaded.keys()];
  }

  /** The served model id for a request. */
  servedModelOf(request: GenerationRequest): string {
    if (request.model !== undefined) return this.loaded.get(request.model)?.served ?? request.model;
    if (this.options.model !== undefined) return this.options.model;
    const only = [...this.loaded.values()];
    if (only.length === 1) return only[0]!.served;
    throw new InvalidRequestError(
      only.length === 0 ? 'No model is loaded on the vLLM engine; call load() or set `model`.' : 'Several models are loaded; name one in `model`.',
    );
  }

  private nameOf(request: GenerationRequest, served: string): string {
    if (request.model !== undefined) return request.model;
    return [...this.loaded.entries()].find(([, model]) => model.served === served)?.[0] ?? served;
  }

  /** `/health` on every endpoint; ok when at least one answers 200. */
  async health(): Promise<EngineHealth> {
    const endpoints = this.http.pool.endpoints;
    const results = await Promise.all(endpoints.map((endpoint) => this.http.probeHealth(endpoint, '/health', AbortSignal.timeout(2000))));
    const failing = endpoints.filter((_endpoint, index) => !results[index]);
    const health: EngineHealth = { ok: failing.length < endpoints.length, models: this.models() };
    if (failing.length > 0) health.detail = `unhealthy: ${failing.join(', ')}`;
    return health;
  }

  async generate(request: GenerationRequest): Promise<GenerationResult> {
    const served = this.servedModelOf(request);
    const result = await this.protocol.generate(request, served);
    return { ...result, model: this.nameOf(request, served) };
  }

  async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    yield* this.protocol.stream(request, this.servedModelOf(request));
  }

  /** Prompts sharing model and sampling parameters go in one `/v1/completions` call. */
  async generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    const results = await this.protocol.generateBatch(requests, (request) => this.servedModelOf(request));
    return results.map((result, index) =>
      result instanceof Error ? toMuaiError(result) : { ...result, model: this.nameOf(requests[index]!, result.model) },
    );
  }

  /** `POST /tokenize`: the prompt's token count (and ids) as the server's tokenizer sees them. */
  async tokenize(prompt: string, options: { model?: string; signal?: AbortSignal } = {}): Promise<VllmTokenization> {
    const model = this.servedModelOf(options.model !== undefined ? { model: options.model } : {});
    const { body } = await this.http.json<{ count?: unknown; max_model_len?: unknown; tokens?: unknown }>({
      path: '/tokenize',
      body: { model, prompt },
      signal: options.signal,
      model,
    });
    if (typeof body.count !== 'number') {
      throw new MuaiError('ENGINE_ERROR', 'vLLM /tokenize answered without `count`. Check the server version.', { details: { engine: this.name } });
    }
    const out: VllmTokenization = { count: body.count, tokens: Array.isArray(body.tokens) ? (body.tokens as number[]) : [] };
    if (typeof body.max_model_len === 'number') out.maxModelLen = body.max_model_len;
    return out;
  }

  /** Prompt token count via `/tokenize`. */
  async countTokens(prompt: string, options: { model?: string; signal?: AbortSignal } = {}): Promise<number> {
    return (await this.tokenize(prompt, options)).count;
  }

  /** Scrapes `/metrics` on every endpoint (or one) into typed snapshots of vLLM's `vllm:` series. */
  async readServerMetrics(endpoint?: string): Promise<VllmServerMetrics[]> {
    const endpoints = endpoint ? [endpoint] : this.http.pool.endpoints;
    return Promise.all(
      endpoints.map(async (url): Promise<VllmServerMetrics> => {
        try {
          const { body } = await this.http.text({ path: '/metrics', endpoint: url, timeoutMs: 5000 });
          return { endpoint: url, metrics: parseVllmMetrics(body) };
        } catch (error) {
          return { endpoint: url, error: toMuaiError(error, 'ENGINE_ERROR') };
        }
      }),
    );
  }

  async infer(_modelName: string, _inputs: TensorMap): Promise<TensorMap> {
    throw new CapabilityUnsupportedError(this.name, 'raw tensor inference');
  }

  /** Forgets loaded models and stops a launched server (SIGTERM, then SIGKILL). Idempotent. */
  async close(): Promise<void> {
    this.loaded.clear();
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

/** Creates a vLLM engine. See VllmEngineOptions for options and defaults. */
export function createVllmEngine(options: VllmEngineOptions): VllmEngine {
  return new VllmEngine(options);
}

/** The `optimization.vllm` section of system.yaml (snake_case, as @muai/config parses it). */
export interface VllmConfigSection {
  endpoints?: readonly string[];
  model?: string;
  tensor_parallel_size?: number;
  dtype?: string;
  gpu_memory_utilization?: number;
  max_num_seqs?: number;
  max_model_len?: number;
  enable_prefix_caching?: boolean;
  launch?: boolean;
  host?: string;
  port?: number;
  api_key?: string;
  timeout_ms?: number;
  retries?: number;
  startup_timeout_ms?: number;
  extra_args?: readonly string[];
}

/** Maps the `optimization.vllm` config section onto engine options (empty endpoints mean `http://host:port`). */
export function vllmOptionsFromConfig(section: VllmConfigSection, extra: Partial<VllmEngineOptions> = {}): VllmEngineOptions {
  const host = section.host ?? '127.0.0.1';
  const port = section.port ?? 8000;
  const options: VllmEngineOptions = { ...extra };
  if (section.model !== undefined) options.model = section.model;
  if (section.api_key !== undefined) options.apiKey = section.api_key;
  if (section.timeout_ms !== undefined) options.timeoutMs = section.timeout_ms;
  if (section.retries !== undefined) options.retries = section.retries;
  if (section.launch) {
    const launch: VllmLaunchOptions = { host, port };
    if (section.model !== undefined) launch.model = section.model;
    if (section.tensor_parallel_size !== undefined) launch.tensorParallelSize = section.tensor_parallel_size;
    if (section.dtype !== undefined) launch.dtype = section.dtype;
    if (section.gpu_memory_utilization !== undefined) launch.gpuMemoryUtilization = section.gpu_memory_utilization;
    if (section.max_num_seqs !== undefined) launch.maxNumSeqs = section.max_num_seqs;
    if (section.max_model_len !== undefined) launch.maxModelLen = section.max_model_len;
    if (section.enable_prefix_caching !== undefined) launch.enablePrefixCaching = section.enable_prefix_caching;
    if (section.startup_timeout_ms !== undefined) launch.startupTimeoutMs = section.startup_timeout_ms;
    if (section.extra_args !== undefined && section.extra_args.length > 0) launch.extraArgs = section.extra_args;
    options.launch = launch;
    if (section.endpoints && section.endpoints.length > 0) options.endpoints = section.endpoints;
  } else {
    options.endpoints = section.endpoints && section.endpoints.length > 0 ? section.endpoints : [`http://${host}:${port}`];
  }
  return options;
}
