import { CapabilityUnsupportedError, EngineUnavailableError, ModelNotFoundError } from '@muai/core';
import type { Engine, EngineCapabilities, GenerationRequest, GenerationResult, LoadedModelInfo, ModelSpec, StreamChunk } from '@muai/core';
import { OpenAiProtocolClient, RemoteEngine, applyRemoteConfig, definedOptions, findExecutable, matchServedModel, pythonCanImport, resolveLaunchOptions } from '@muai/engines-http';
import type { RemoteConfigSection, RemoteEngineOptions } from '@muai/engines-http';
import { DEEPSPEED_INSTALL_HINT, miiOpenAiServerArgs, miiServeArgs } from './launch.js';
import type { DeepSpeedLaunchOptions } from './launch.js';
import { MiiRestClient } from './mii-rest.js';

/** `mii`: MII's RESTful gateway (`POST /mii/<deployment>`). `openai`: MII's OpenAI-compatible server. */
export type DeepSpeedProtocol = 'mii' | 'openai';

/**
 * Options of the DeepSpeed-MII engine. The shared ones (endpoints, apiKey, timeoutMs, retries,
 * retryBaseMs, retryMaxMs, cooldownMs, failureThreshold, defaultTemperature, defaultMaxTokens, log,
 * fetch) are documented, with their defaults, on RemoteEngineOptions of @muai/engines-http.
 */
export interface DeepSpeedEngineOptions extends RemoteEngineOptions {
  /** MII deployment name (REST path `/mii/<name>`; `--deployment-name` when launching). Default `deepspeed-mii`. */
  deploymentName?: string;
  /** Default `mii` (the REST API). */
  protocol?: DeepSpeedProtocol;
  /** OpenAI protocol: served model id used when a request names no loaded model. */
  model?: string;
  /** Bearer token (MII OpenAI server's `--api-keys`). Default none. */
  apiKey?: string;
  /** Start an MII server on load() and stop it on close(): `true` or launch options. Default off. */
  launch?: boolean | DeepSpeedLaunchOptions;
}

interface LoadedModel {
  served: string;
}

/** REST readiness: the gateway's resource accepts only POST, so 405 (or 2xx) means "up, and the deployment exists". */
function restDeploymentAnswers(status: number | undefined): boolean {
  return status === 405 || (status !== undefined && status >= 200 && status < 300);
}

/**
 * MuAI engine for DeepSpeed-MII: its RESTful gateway (default) or its OpenAI-compatible server,
 * over several endpoints with balancing, timeouts, retries and cooldown; optionally launches MII
 * (close() stops it: SIGTERM runs terminate_server(); SIGKILL after the grace period).
 */
export class DeepSpeedEngine extends RemoteEngine<'deepspeed', LoadedModel> implements Engine {
  readonly capabilities: EngineCapabilities;
  readonly protocol: DeepSpeedProtocol;
  readonly deploymentName: string;
  private readonly rest: MiiRestClient;
  private readonly openai: OpenAiProtocolClient;
  private readonly options: DeepSpeedEngineOptions;
  private readonly launchOptions: DeepSpeedLaunchOptions | undefined;

  constructor(options: DeepSpeedEngineOptions) {
    const protocol = options.protocol ?? 'mii';
    const launch = resolveLaunchOptions(options.launch);
    const launchPort = launch?.port ?? (protocol === 'mii' ? 51080 : 8000);
    const launchHost = launch?.host ?? '127.0.0.1';
    super('deepspeed', options, {
      launchEndpoint: launch ? `http://${launchHost === '0.0.0.0' ? '127.0.0.1' : launchHost}:${launchPort}` : undefined,
      missingEndpoints: 'The DeepSpeed engine needs `endpoints` (URLs of running MII servers) or `launch`.',
    });
    this.options = options;
    this.protocol = protocol;
    this.deploymentName = options.deploymentName ?? 'deepspeed-mii';
    // REST streaming is not offered by MII's gateway; only the OpenAI server streams.
    this.capabilities = { textGeneration: true, streaming: this.protocol === 'openai', batching: true, embeddings: false, tensorInference: false };
    this.launchOptions = launch;
    const sampling = definedOptions(options, ['defaultMaxTokens', 'defaultTemperature']);
    this.rest = new MiiRestClient({ http: this.http, engine: this.name, deploymentName: this.deploymentName, ...sampling });
    this.openai = new OpenAiProtocolClient({ http: this.http, engine: this.name, dialect: 'mii', ...sampling });
  }

  /**
   * Readiness of one endpoint. REST: `GET /mii/<name>` answering 405 (or 2xx) means "up, and the
   * deployment exists". OpenAI: `GET /health` is 200.
   */
  protected override async probe(endpoint: string, signal: AbortSignal): Promise<boolean> {
    if (this.protocol === 'openai') return this.http.probeHealth(endpoint, '/health', signal);
    return restDeploymentAnswers(await this.http.probeStatus(endpoint, this.rest.path, signal));
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
    const served = launch.model ?? model;
    this.server = await this.startServer(launch, launch.log ?? this.options.log, {
      command: executable,
      args: this.protocol === 'mii' ? miiServeArgs(served, this.deploymentName, launch) : miiOpenAiServerArgs(served, this.deploymentName, launch),
      env,
      installHint: DEEPSPEED_INSTALL_HINT,
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
      const { match } = matchServedModel(served, [spec.options?.servedModelName, spec.path, spec.name, this.options.model]);
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
    if (!statuses.some(restDeploymentAnswers)) {
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

  private servedOf(request: GenerationRequest): string {
    if (this.protocol === 'mii') return this.deploymentName;
    const noneLoaded = 'No model is loaded on the DeepSpeed engine; call load() or set `model`.';
    return this.servedOpenAiModel(request, this.options.model, noneLoaded, noneLoaded);
  }

  private nameOf(request: GenerationRequest): string {
    return request.model ?? (this.loaded.size === 1 ? [...this.loaded.keys()][0]! : this.options.model ?? this.deploymentName);
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
    return this.nameBatchResults(requests, results, (request) => this.nameOf(request));
  }
}

/** Creates a DeepSpeed-MII engine. See DeepSpeedEngineOptions for options and defaults. */
export function createDeepSpeedEngine(options: DeepSpeedEngineOptions): DeepSpeedEngine {
  return new DeepSpeedEngine(options);
}

/** The `optimization.deepspeed` section of system.yaml (snake_case, as @muai/config parses it). */
export interface DeepSpeedConfigSection extends RemoteConfigSection {
  deployment_name?: string;
  protocol?: DeepSpeedProtocol;
  tensor_parallel?: number;
  replica_num?: number;
}

/** Maps the `optimization.deepspeed` config section onto engine options (empty endpoints mean `http://host:port`). */
export function deepspeedOptionsFromConfig(section: DeepSpeedConfigSection, extra: Partial<DeepSpeedEngineOptions> = {}): DeepSpeedEngineOptions {
  const protocol = section.protocol ?? 'mii';
  const host = section.host ?? '127.0.0.1';
  const port = section.port ?? (protocol === 'mii' ? 51080 : 8000);
  const options: DeepSpeedEngineOptions = { ...extra, protocol };
  if (section.deployment_name !== undefined) options.deploymentName = section.deployment_name;
  const launchOptions = (): DeepSpeedLaunchOptions => {
    const launch: DeepSpeedLaunchOptions = { port };
    if (section.host !== undefined) launch.host = section.host;
    if (section.tensor_parallel !== undefined) launch.tensorParallel = section.tensor_parallel;
    if (section.replica_num !== undefined) launch.replicaNum = section.replica_num;
    return launch;
  };
  return applyRemoteConfig(section, options, launchOptions, `http://${host}:${port}`);
}
