import { CapabilityUnsupportedError, InvalidRequestError, toMuaiError } from '@muai/core';
import type { EngineHealth, GenerationRequest, GenerationResult, TensorMap } from '@muai/core';
import { HttpClient } from './http-client.js';
import type { HttpClientOptions } from './http-client.js';
import type { EndpointState, RoutingOptions, RoutingPolicy } from './endpoint-pool.js';
import { launchServer } from './launcher.js';
import type { LaunchOptions, LaunchedServer, LogLine } from './launcher.js';
import type { OpenAiProtocolOptions, ServedModel } from './openai-protocol.js';

/** The HttpClient options among RemoteEngineOptions, copied only when set. */
const HTTP_OPTION_KEYS = ['apiKey', 'timeoutMs', 'retries', 'retryBaseMs', 'retryMaxMs', 'cooldownMs', 'failureThreshold', 'fetch', 'routing', 'sharedCooldowns'] as const;

/**
 * Options every remote engine (vLLM, DeepSpeed-MII) shares; each engine's options extend these.
 * `apiKey`, `timeoutMs` (default 60000), `retries` (2), `retryBaseMs` (100), `retryMaxMs` (2000),
 * `cooldownMs` (5000), `failureThreshold` (1), `fetch`, `routing` (least-outstanding) and
 * `sharedCooldowns` (none) are HttpClientOptions;
 * `defaultTemperature` (0, greedy) and `defaultMaxTokens` (not sent) are OpenAiProtocolOptions.
 */
export interface RemoteEngineOptions
  extends Pick<HttpClientOptions, (typeof HTTP_OPTION_KEYS)[number]>,
    Pick<OpenAiProtocolOptions, 'defaultTemperature' | 'defaultMaxTokens'> {
  /** Base URLs of servers serving the same model(s), as a list or comma-separated. Required unless `launch` is set. */
  endpoints?: readonly string[] | string;
  /** Served model id used when a request names no loaded model. Default: the only loaded model. */
  model?: string;
  /** Receives the launched server's log lines (also settable in `launch.log`). */
  log?: LogLine;
}

/** Launch options every remote engine shares; each engine's launch options extend these. */
export interface RemoteLaunchOptions {
  /** Model to serve; default the loaded model's `path`. */
  model?: string;
  /** Bind address. */
  host?: string;
  /** Port to listen on. */
  port?: number;
  /** Environment of the process; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Time allowed to become ready, in ms; default 600000. */
  startupTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL on close, in ms; default 15000. */
  stopGraceMs?: number;
  /** Receives the server's log lines. */
  log?: LogLine;
}

/** Copies the keys that are set (not undefined) of `source`. */
export function definedOptions<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

/** `launch: true` means default launch options; `false` or unset means no launch. */
export function resolveLaunchOptions<T extends object>(launch: boolean | T | undefined): T | undefined {
  return launch === true ? ({} as T) : launch === false ? undefined : launch;
}

/** Endpoints given as a list or a comma-separated string, as a list. */
export function splitEndpoints(endpoints: readonly string[] | string | undefined): string[] {
  return typeof endpoints === 'string' ? endpoints.split(',').filter(Boolean) : [...(endpoints ?? [])];
}

/** The first of `candidates` (non-empty strings, in order) that the server serves, and the ids tried. */
export function matchServedModel(served: readonly ServedModel[], candidates: readonly unknown[]): { wanted: string[]; match: ServedModel | undefined } {
  const wanted = candidates.filter((id): id is string => typeof id === 'string' && id.length > 0);
  const match = wanted.map((id) => served.find((model) => model.id === id)).find((model) => model !== undefined);
  return { wanted, match };
}

/** How a RemoteEngine subclass sets up its HTTP client. */
export interface RemoteEngineSetup {
  /** URL of the server `launch` starts (put first), when launching. */
  launchEndpoint: string | undefined;
  /** Error message when neither endpoints nor launch are given. */
  missingEndpoints: string;
}

/**
 * Shared bookkeeping of the remote engines: endpoint setup, the HttpClient, loaded models,
 * health over every endpoint, batch result naming, the launched server and close().
 */
export abstract class RemoteEngine<Name extends string, Loaded extends { served: string }> {
  readonly specificationVersion = 'v1' as const;
  readonly name: Name;
  readonly http: HttpClient;
  protected readonly loaded = new Map<string, Loaded>();
  protected server: LaunchedServer | undefined;

  protected constructor(name: Name, options: RemoteEngineOptions, setup: RemoteEngineSetup) {
    this.name = name;
    const given = splitEndpoints(options.endpoints);
    const endpoints = setup.launchEndpoint !== undefined ? [setup.launchEndpoint, ...given] : given;
    if (endpoints.length === 0) throw new InvalidRequestError(setup.missingEndpoints);
    const http: HttpClientOptions = {
      engine: name,
      endpoints,
      probe: (endpoint, signal) => this.probe(endpoint, signal),
      ...definedOptions(options, HTTP_OPTION_KEYS),
    };
    this.http = new HttpClient(http);
  }

  /** Readiness of one endpoint. Default: `GET /health` answers 2xx. */
  protected probe(endpoint: string, signal: AbortSignal): Promise<boolean> {
    return this.http.probeHealth(endpoint, '/health', signal);
  }

  /** The process started by `launch`, if any. */
  get launchedServer(): LaunchedServer | undefined {
    return this.server;
  }

  /** Endpoint states (outstanding requests, failures, cooldown). */
  endpointStates(): EndpointState[] {
    return this.http.endpointStates();
  }

  /** Starts the server with the shared launch options (timeouts, log) and waits until the first endpoint is ready. */
  protected startServer(
    launch: RemoteLaunchOptions,
    log: LogLine | undefined,
    process: Pick<LaunchOptions, 'command' | 'args' | 'env' | 'installHint'>,
  ): Promise<LaunchedServer> {
    const endpoint = this.http.pool.endpoints[0]!;
    return launchServer({
      engine: this.name,
      ...process,
      ready: (signal) => this.probe(endpoint, signal),
      ...(launch.startupTimeoutMs !== undefined ? { startupTimeoutMs: launch.startupTimeoutMs } : {}),
      ...(launch.stopGraceMs !== undefined ? { stopGraceMs: launch.stopGraceMs } : {}),
      ...(log ? { log } : {}),
    });
  }

  async unload(modelName: string): Promise<void> {
    this.loaded.delete(modelName);
  }

  models(): readonly string[] {
    return [...this.loaded.keys()];
  }

  /** Probes every endpoint; ok when at least one is ready. */
  async health(): Promise<EngineHealth> {
    const endpoints = this.http.pool.endpoints;
    const results = await Promise.all(endpoints.map((endpoint) => this.probe(endpoint, AbortSignal.timeout(2000))));
    const failing = endpoints.filter((_endpoint, index) => !results[index]);
    const health: EngineHealth = { ok: failing.length < endpoints.length, models: this.models() };
    if (failing.length > 0) health.detail = `unhealthy: ${failing.join(', ')}`;
    return health;
  }

  /**
   * The served model id for a request on an OpenAI-compatible server: the loaded model it names
   * (or the name itself), else the `model` option, else the only loaded model.
   */
  protected servedOpenAiModel(request: GenerationRequest, fallbackModel: string | undefined, noneLoaded: string, several: string): string {
    if (request.model !== undefined) return this.loaded.get(request.model)?.served ?? request.model;
    if (fallbackModel !== undefined) return fallbackModel;
    const only = [...this.loaded.values()];
    if (only.length === 1) return only[0]!.served;
    throw new InvalidRequestError(only.length === 0 ? noneLoaded : several);
  }

  /** Batch results with errors as MuaiErrors and `model` renamed by `nameOf`. */
  protected nameBatchResults(
    requests: readonly GenerationRequest[],
    results: ReadonlyArray<GenerationResult | Error>,
    nameOf: (request: GenerationRequest, result: GenerationResult) => string,
  ): Array<GenerationResult | Error> {
    return results.map((result, index) => (result instanceof Error ? toMuaiError(result) : { ...result, model: nameOf(requests[index]!, result) }));
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

/** The keys every remote engine's `optimization.<engine>` section of system.yaml shares (snake_case, as @muai/config parses it). */
export interface RemoteConfigSection {
  endpoints?: readonly string[];
  model?: string;
  launch?: boolean;
  host?: string;
  port?: number;
  timeout_ms?: number;
  retries?: number;
  startup_timeout_ms?: number;
  /** How requests pick among the endpoints. */
  routing?: { policy?: RoutingPolicy; prefix_length?: number; load_factor?: number };
}

/**
 * Applies the shared keys of a config section to `options`: model, timeout_ms, retries, routing, and either
 * `launch` (from `launchOptions()`, plus model and startup_timeout_ms; endpoints only when listed) or
 * the endpoints (empty or missing ones mean `defaultEndpoint`, i.e. `http://host:port`).
 */
export function applyRemoteConfig<L extends RemoteLaunchOptions, O extends RemoteEngineOptions & { launch?: boolean | L }>(
  section: RemoteConfigSection,
  options: O,
  launchOptions: () => L,
  defaultEndpoint: string,
): O {
  if (section.model !== undefined) options.model = section.model;
  if (section.timeout_ms !== undefined) options.timeoutMs = section.timeout_ms;
  if (section.retries !== undefined) options.retries = section.retries;
  if (section.routing) {
    const routing: RoutingOptions = {};
    if (section.routing.policy !== undefined) routing.policy = section.routing.policy;
    if (section.routing.prefix_length !== undefined) routing.prefixLength = section.routing.prefix_length;
    if (section.routing.load_factor !== undefined) routing.loadFactor = section.routing.load_factor;
    options.routing = routing;
  }
  if (section.launch) {
    const launch = launchOptions();
    if (section.model !== undefined) launch.model = section.model;
    if (section.startup_timeout_ms !== undefined) launch.startupTimeoutMs = section.startup_timeout_ms;
    options.launch = launch;
    if (section.endpoints && section.endpoints.length > 0) options.endpoints = section.endpoints;
  } else {
    options.endpoints = section.endpoints && section.endpoints.length > 0 ? section.endpoints : [defaultEndpoint];
  }
  return options;
}
