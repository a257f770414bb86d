import { MuaiError, ModelNotFoundError, toMuaiError } from '@muai/core';
import type { Engine, EngineCapabilities, GenerationRequest, GenerationResult, LoadedModelInfo, ModelSpec, StreamChunk } from '@muai/core';
import { OpenAiProtocolClient, RemoteEngine, applyRemoteConfig, definedOptions, matchServedModel, resolveLaunchOptions } from '@muai/engines-http';
import type { LaunchedServer, RemoteConfigSection, RemoteEngineOptions } from '@muai/engines-http';
import { VLLM_INSTALL_HINT, vllmServeArgs } from './launch.js';
import type { VllmLaunchOptions } from './launch.js';
import { parseVllmMetrics } from './metrics.js';
import type { VllmMetricsSnapshot } from './metrics.js';

/**
 * Options of the vLLM engine. The shared ones (endpoints, model, apiKey, timeoutMs, retries,
 * retryBaseMs, retryMaxMs, cooldownMs, failureThreshold, defaultTemperature, defaultMaxTokens, log,
 * fetch) are documented, with their defaults, on RemoteEngineOptions of @muai/engines-http.
 */
export interface VllmEngineOptions extends RemoteEngineOptions {
  /** Bearer token (vLLM's `--api-key`). Default none. */
  apiKey?: string;
  /** max_tokens when a request has none. Default: not sent (vLLM fills the context). */
  defaultMaxTokens?: number;
  /** Most prompts in one batched `/v1/completions` call. Default 64. */
  maxBatchPrompts?: number;
  /** Start `vllm serve` on load() and stop it on close(): `true` or launch options. Default off. */
  launch?: boolean | VllmLaunchOptions;
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
export class VllmEngine extends RemoteEngine<'vllm', LoadedModel> implements Engine {
  readonly capabilities: EngineCapabilities = {
    textGeneration: true,
    streaming: true,
    batching: true,
    embeddings: false,
    tensorInference: false,
  };
  private readonly protocol: OpenAiProtocolClient;
  private readonly options: VllmEngineOptions;
  private readonly launchOptions: VllmLaunchOptions | undefined;
  private launching: Promise<LaunchedServer> | undefined;

  constructor(options: VllmEngineOptions) {
    const launch = resolveLaunchOptions(options.launch);
    super('vllm', options, {
      launchEndpoint: launch ? `http://${launch.host ?? '127.0.0.1'}:${launch.port ?? 8000}` : undefined,
      missingEndpoints: 'The vLLM engine needs `endpoints` (URLs of running vLLM servers) or `launch`.',
    });
    this.options = options;
    this.launchOptions = launch;
    this.protocol = new OpenAiProtocolClient({
      http: this.http,
      engine: this.name,
      dialect: 'vllm',
      ...definedOptions(options, ['defaultTemperature', 'defaultMaxTokens', 'maxBatchPrompts']),
    });
  }

  private async ensureLaunched(model: string): Promise<void> {
    const launch = this.launchOptions;
    if (!launch || this.server) return;
    this.launching ??= this.startServer(launch, launch.log ?? this.options.log, {
      command: launch.executable ?? 'vllm',
      args: vllmServeArgs(launch.model ?? model, launch),
      env: { ...(launch.env ?? process.env), ...(this.options.apiKey ? { VLLM_API_KEY: this.options.apiKey } : {}) },
      installHint: VLLM_INSTALL_HINT,
    });
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
    const { wanted, match } = matchServedModel(served, [
      spec.options?.servedModelName,
      this.launchOptions?.servedModelName,
      spec.path,
      spec.name,
      this.options.model,
    ]);
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

  /** The served model id for a request. */
  servedModelOf(request: GenerationRequest): string {
    return this.servedOpenAiModel(
      request,
      this.options.model,
      'No model is loaded on the vLLM engine; call load() or set `model`.',
      'Several models are loaded; name one in `model`.',
    );
  }

  private nameOf(request: GenerationRequest, served: string): string {
    if (request.model !== undefined) return request.model;
    return [...this.loaded.entries()].find(([, model]) => model.served === served)?.[0] ?? served;
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
    return this.nameBatchResults(requests, results, (request, result) => this.nameOf(request, result.model));
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
}

/** Creates a vLLM engine. See VllmEngineOptions for options and defaults. */
export function createVllmEngine(options: VllmEngineOptions): VllmEngine {
  return new VllmEngine(options);
}

/** The `optimization.vllm` section of system.yaml (snake_case, as @muai/config parses it). */
export interface VllmConfigSection extends RemoteConfigSection {
  tensor_parallel_size?: number;
  dtype?: string;
  gpu_memory_utilization?: number;
  max_num_seqs?: number;
  max_model_len?: number;
  enable_prefix_caching?: boolean;
  api_key?: string;
  extra_args?: readonly string[];
}

/** Maps the `optimization.vllm` config section onto engine options (empty endpoints mean `http://host:port`). */
export function vllmOptionsFromConfig(section: VllmConfigSection, extra: Partial<VllmEngineOptions> = {}): VllmEngineOptions {
  const host = section.host ?? '127.0.0.1';
  const port = section.port ?? 8000;
  const options: VllmEngineOptions = { ...extra };
  if (section.api_key !== undefined) options.apiKey = section.api_key;
  const launchOptions = (): VllmLaunchOptions => {
    const launch: VllmLaunchOptions = { host, port };
    if (section.tensor_parallel_size !== undefined) launch.tensorParallelSize = section.tensor_parallel_size;
    if (section.dtype !== undefined) launch.dtype = section.dtype;
    if (section.gpu_memory_utilization !== undefined) launch.gpuMemoryUtilization = section.gpu_memory_utilization;
    if (section.max_num_seqs !== undefined) launch.maxNumSeqs = section.max_num_seqs;
    if (section.max_model_len !== undefined) launch.maxModelLen = section.max_model_len;
    if (section.enable_prefix_caching !== undefined) launch.enablePrefixCaching = section.enable_prefix_caching;
    if (section.extra_args !== undefined && section.extra_args.length > 0) launch.extraArgs = section.extra_args;
    return launch;
  };
  return applyRemoteConfig(section, options, launchOptions, `http://${host}:${port}`);
}
