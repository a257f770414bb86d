import { CapabilityUnsupportedError, EngineUnavailableError, InvalidRequestError, ModelNotFoundError, toMuaiError } from '@muai/core';
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
import { HttpClient, OpenAiProtocolClient, findExecutable, launchServer, pythonCanImport } from '@muai/engines-http';
import type { EndpointState, LaunchedServer, LogLine } from '@muai/engines-http';
import { DEEPSPEED_INSTALL_HINT, miiOpenAiServerArgs, miiServeArgs } from './launch.js';
import type { DeepSpeedLaunchOptions } from './launch.js';
import { MiiRestClient } from './mii-rest.js';

/** `mii`: MII's RESTful gateway (`POST /mii/<deployment>`). `openai`: MII's OpenAI-compatible server. */
export type DeepSpeedProtocol = 'mii' | 'openai';

export interface DeepSpeedEngineOptions {
  /** Base URLs of MII servers, as a list or comma-separated. Required unless `launch` is set. */
  endpoints?: readonly string[] | string;
  /** MII deployment name (REST path `/mii/<name>`; `--deployment-name` when launching). Default `deepspeed-mii`. */
  deploymentName?: string;
  /** Default `mii` (the REST API). */
  protocol?: DeepSpeedProtocol;
  /** OpenAI protocol: served model id used when a request names no loaded model. */
  model?: string;
  /** Bearer token (MII OpenAI server's `--api-keys`). Default none. */
  apiKey?: string;
  /** Per-request timeout in ms. Default 60000. */
  timeoutMs?: number;
  /** Extra attempts for retryable failures (refused/reset connection, 502/503/504). Default 2. */
  retries?: number;
  /** First retry delay in ms (doubles, full jitter). Default 100. */
  retryBaseMs?: number;
  /** Largest retry delay in ms. Default 2000. */
  retryMaxMs?: number;
  /** How long a failing endpoint is out before a probe may bring it back, in ms. Default 5000. */
  cooldownMs?: number;
  /** Consecutive failures before an endpoint cools down. Default 1. */
  failureThreshold?: number;
  /** Temperature when a request has none. Default 0 (greedy). */
  defaultTemperature?: number;
  /** Max new tokens when a request has none. Default not sent (server default). */
  defaultMaxTokens?: number;
  /** Start an MII server on load() and stop it on close(): `true` or launch options. Default off. */
  launch?: boolean | DeepSpeedLaunchOptions;
  /** Receives the launched server's log lines. */
  log?: LogLine;
  fetch?: typeof fetch;
}

interface LoadedModel {
  served: string;
  contextLength?: number;
}

/**
 * MuAI engine for DeepSpeed-MII: its RESTful gateway (default) or its OpenAI-compatible server,
 * over several endpoints with balancing, timeouts, retries and cooldown; optionally launches MII.
 */
export class DeepSpeedEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'deepspeed';
  readonly capabilities: EngineCapabilities;
  readonly protocol: DeepSpeedProtocol;
  readonly deploymentName: string;
  readonly http: HttpClient;
  private readonly rest: MiiRestClient;
  private readonly openai: OpenAiProtocolClient;
  private readonly options: DeepSpeedEngineOptions;
  private readonly launchOptions: DeepSpeedLaunchOptions | undefined;
  private readonly loaded = new Map<string, LoadedModel>();
  private server: LaunchedServer | undefined;

  constructor(options: DeepSpeedEngineOptions) {
    this.options = options;
    this.protocol = options.protocol ?? 'mii';
    this.deploymentName = options.deploymentName ?? 'deepspeed-mii';
    // REST streaming is not offered by MII's gateway; only the OpenAI server streams.
    this.capabilities = { textGeneration: true, streaming: this.protocol === 'openai', batching: true, embeddings: false, tensorInference: false };
    this.launchOptions = options.launch === true ? {} : options.launch === false ? undefined : options.launch;
    const given = typeof options.endpoints === 'string' ? options.endpoints.split(',').filter(Boolean) : [...(options.endpoints ?? [])];
    const launchPort = this.launchOptions?.port ?? (this.protocol === 'mii' ? 51080 : 8000);
    const launchHost = this.launchOptions?.host ?? '127.0.0.1';
    const endpoints = this.launchOptions ? [`http://${launchHost === '0.0.0.0' ? '127.0.0.1' : launchHost}:${launchPort}`, ...given] : given;
    if (endpoints.length === 0) {
      throw new InvalidRequestError('The DeepSpeed engine needs `endpoints` (URLs of running MII servers) or `launch`.');
    }
    const http: ConstructorParameters<typeof HttpClient>[0] = {
      engine: this.name,
      endpoints,
      probe: (endpoint, signal) => this.probe(endpoint, signal),
    };
    for (const key of ['apiKey', 'timeoutMs', 'retries', 'retryBaseMs', 'retryMaxMs', 'cooldownMs', 'failureThreshold', 'fetch'] as const) {
      if (options[key] !== undefined) Object.assign(http, { [key]: options[key] });
    }
    this.http = new HttpClient(http);
    const restOptions: ConstructorParameters<typeof MiiRestClient>[0] = { http: this.http, engine: this.name, deploymentName: this.deploymentName };
    if (options.defaultMaxTokens !== undefined) restOptions.defaultMaxTokens = options.defaultMaxTokens;
    if (options.defaultTemperature !== undefined) restOptions.defaultTemperature = options.defaultTemperature;
    this.rest = new MiiRestClient(restOptions);
    const openaiOptions: ConstructorParameters<typeof OpenAiProtocolClient>[0] = { http: this.http, engine: this.name, dialect: 'mii' };
    if (options.defaultMaxTokens !== undefined) openaiOptions.defaultMaxTokens = options.defaultMaxTokens;
    if (options.defaultTemperature !== undefined) openaiOptions.defaultTemperature = options.defaultTemperature;
    this.openai = new OpenAiProtocolClient(openaiOptions);
  }

  /**
   * Readiness of one endpoint. REST: the gateway's resource accepts only POST, so `GET /mii/<name>`
   * answering 405 (or 2xx) means "up, and the deployment exists". OpenAI: `GET /health` is 200.
   */
  private async probe(endpoint: string, signal: AbortSignal): Promise<boolean> {
    if (this.protocol === 'openai') return this.http.probeHealth(endpoint, '/health', signal);
    const status = await this.http.probeStatus(endpoint, this.rest.path, signal);
    return status === 405 || (status !== undefined && status >= 200 && status < 300);
  }

  get launchedServer(): LaunchedServer | undefined {
    return this.server;
  }

  endpointStates(): EndpointState[] {
    return this.http.endpointStates();
  }

  private async ensureLaunched(model: string): Promise<void> {
    const launch = this.launchOptions;
    if (!launch || this.server) return;
    const env = launch.env ?? process.env;
    const python = launch.python ?? 'python3';
    const executable = findExecutable(python, env.PATH ?? '');
    if (!executable) {
      throw new EngineUnavailableError(this.name, `\`${python}\` was not found on PATH`, DEEPSPEED_INSTALL_HINT, { details: { command: python } });
    }
    if (!launch.skipImportCheck && !pythonCanImport(executable, 'mii', env)) {
      throw new EngineUnavailableError(this.name, `\`${python}\` cannot import the \`mii\` module`, DEEPSPEED_INSTALL_HINT, {
        details: { command: python },
      });
    }
    const endpoint = this.http.pool.endpoints[0]!;
    const served = launch.model ?? model;
    const log = launch.log ?? this.options.log;
    this.server = await launchServer({
      engine: this.name,
      command: executable,
      args: this.protocol === 'mii' ? miiServeArgs(served, this.deploymentName, launch) : miiOpenAiServerArgs(served, this.deploymentName, launch),
      env,
      installHint: DEEPSPEED_INSTALL_HINT,
      ready: (signal) => this.probe(endpoint, signal),
      ...(launch.startupTimeoutMs !== undefined ? { startupTimeoutMs: launch.startupTimeoutMs } : {}),
      ...(launch.stopGraceMs !== undefined ? { stopGraceMs: launch.stopGraceMs } : {}),
      ...(log ? { log } : {}),
    });
  }

  /**
   * REST: checks that some endpoint has the deployment (MODEL_NOT_FOUND when every reachable one
   * answers 404, ENGINE_UNAVAILABLE when none is reachable). OpenAI: checks `/v1/models`.
   */
  async load(spec: ModelSpec): Promise<LoadedModelInfo> {
    await this.ensureLaunched(spec.path || spec.name);
    if (this.protocol === 'openai') {
      const served = await this.openai.listModels();
      const wanted = [spec.options?.servedModelName, spec.path, spec.name, this.options.model].filter(
        (id): id is string => typeof id === 'string' && id.length > 0,
      );
      const match = wanted.map((id) => served.find((model) => model.id === id)).find((model) => model !== undefined);
      if (!match) {
        throw new ModelNotFoundError(spec.name, `The MII server serves ${served.map((model) => `"${model.id}"`).join(', ') || 'no models'}.`, {
          details: { engine: this.name },
        });
      }
      this.loaded.set(spec.name, { served: match.id });
      return { name: spec.name, kind: 'causal-lm' };
    }
    const statuses = await Promise.all(
      this.http.pool.endpoints.map((endpoint) => this.http.probeStatus(endpoint, this.rest.path, AbortSignal.timeout(this.options.timeoutMs ?? 10_000))),
    );
    if (!statuses.some((status) => status === 405 || (status !== undefined && status >= 200 && status < 300))) {
      if (statuses.some((status) => status === 404)) {
        throw new ModelNotFoundError(
          spec.name,
          `No MII deployment named "${this.deploymentName}" answers at ${this.http.pool.endpoints.join(', ')}; set deploymentName to the name given to mii.serve().`,
          { details: { engine: this.name, deploymentName: this.deploymentName } },
        );
      }
      throw new EngineUnavailableError(this.name, `no endpoint answers (${this.http.pool.endpoints.join(', ')})`, 'Check that the MII server runs with enable_restful_api=True.');
    }
    this.loaded.set(spec.name, { served: this.deploymentName });
    return { name: spec.name, kind: 'causal-lm' };
  }

  async unload(modelName: string): Promise<void> {
    this.loaded.delete(modelName);
  }

  models(): readonly string[] {
    return [...this.loaded.keys()];
  }

  private servedOf(request: GenerationRequest): string {
    if (this.protocol === 'mii') return this.deploymentName;
    if (request.model !== undefined) return this.loaded.get(request.model)?.served ?? request.model;
    if (this.options.model !== undefined) return this.options.model;
    const only = [...this.loaded.values()];
    if (only.length === 1) return only[0]!.served;
    throw new InvalidRequestError('No model is loaded on the DeepSpeed engine; call load() or set `model`.');
  }

  private nameOf(request: GenerationRequest): string {
    return request.model ?? (this.loaded.size === 1 ? [...this.loaded.keys()][0]! : this.options.model ?? this.deploymentName);
  }

  async health(): Promise<EngineHealth> {
    const endpoints = this.http.pool.endpoints;
    const results = await Promise.all(endpoints.map((endpoint) => this.probe(endpoint, AbortSignal.timeout(2000))));
    const failing = endpoints.filter((_endpoint, index) => !results[index]);
    const health: EngineHealth = { ok: failing.length < endpoints.length, models: this.models() };
    if (failing.length > 0) health.detail = `unhealthy: ${failing.join(', ')}`;
    return health;
  }

  async generate(request: GenerationRequest): Promise<GenerationResult> {
    const served = this.servedOf(request);
    const result = this.protocol === 'mii' ? await this.rest.generate(request, served) : await this.openai.generate(request, served);
    return { ...result, model: this.nameOf(request) };
  }

  /** OpenAI protocol only (MII's REST gateway does not stream): CAPABILITY_UNSUPPORTED otherwise. */
  async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    if (this.protocol !== 'openai') {
      throw new CapabilityUnsupportedError(this.name, "streaming over MII's REST API (use protocol 'openai')");
    }
    yield* this.openai.stream(request, this.servedOf(request));
  }

  /** Same-parameter prompts go in one call (`prompts` list for REST, `prompt` list for OpenAI). */
  async generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    const results =
      this.protocol === 'mii'
        ? await this.rest.generateBatch(requests, (request) => this.servedOf(request))
        : await this.openai.generateBatch(requests, (request) => this.servedOf(request));
    return results.map((result, index) => (result instanceof Error ? toMuaiError(result) : { ...result, model: this.nameOf(requests[index]!) }));
  }

  async infer(_modelName: string, _inputs: TensorMap): Promise<TensorMap> {
    throw new CapabilityUnsupportedError(this.name, 'raw tensor inference');
  }

  /** Forgets loaded models and stops a launched server (SIGTERM runs terminate_server(); SIGKILL after the grace period). */
  async close(): Promise<void> {
    this.loaded.clear();
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }
}

/** Creates a DeepSpeed-MII engine. See DeepSpeedEngineOptions for options and defaults. */
export function createDeepSpeedEngine(options: DeepSpeedEngineOptions): DeepSpeedEngine {
  return new DeepSpeedEngine(options);
}

/** The `optimization.deepspeed` section of system.yaml (snake_case, as @muai/config parses it). */
export interface DeepSpeedConfigSection {
  endpoints?: readonly string[];
  model?: string;
  deployment_name?: string;
  protocol?: DeepSpeedProtocol;
  tensor_parallel?: number;
  replica_num?: number;
  launch?: boolean;
  host?: string;
  port?: number;
  timeout_ms?: number;
  retries?: number;
  startup_timeout_ms?: number;
}

/** Maps the `optimization.deepspeed` config section onto engine options (empty endpoints mean `http://host:port`). */
export function deepspeedOptionsFromConfig(section: DeepSpeedConfigSection, extra: Partial<DeepSpeedEngineOptions> = {}): DeepSpeedEngineOptions {
  const protocol = section.protocol ?? 'mii';
  const host = section.host ?? '127.0.0.1';
  const port = section.port ?? (protocol === 'mii' ? 51080 : 8000);
  const options: DeepSpeedEngineOptions = { ...extra, protocol };
  if (section.deployment_name !== undefined) options.deploymentName = section.deployment_name;
  if (section.model !== undefined) options.model = section.model;
  if (section.timeout_ms !== undefined) options.timeoutMs = section.timeout_ms;
  if (section.retries !== undefined) options.retries = section.retries;
  if (section.launch) {
    const launch: DeepSpeedLaunchOptions = { port };
    if (section.host !== undefined) launch.host = section.host;
    if (section.model !== undefined) launch.model = section.model;
    if (section.tensor_parallel !== undefined) launch.tensorParallel = section.tensor_parallel;
    if (section.replica_num !== undefined) launch.replicaNum = section.replica_num;
    if (section.startup_timeout_ms !== undefined) launch.startupTimeoutMs = section.startup_timeout_ms;
    options.launch = launch;
    if (section.endpoints && section.endpoints.length > 0) options.endpoints = section.endpoints;
  } else {
    options.endpoints = section.endpoints && section.endpoints.length > 0 ? section.endpoints : [`http://${host}:${port}`];
  }
  return options;
}
