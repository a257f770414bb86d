export { HttpClient, hopHeaders } from './http-client.js';
export type { HttpClientOptions, HttpRequest, OpenResponse } from './http-client.js';
export { DEFAULT_LOAD_FACTOR, DEFAULT_PREFIX_LENGTH, EndpointPool, hash32, normalizeEndpoint } from './endpoint-pool.js';
export type { EndpointPoolOptions, EndpointProbe, EndpointState, EndpointLease, RoutingOptions, RoutingPolicy, SharedCooldowns } from './endpoint-pool.js';
export { parseSse } from './sse.js';
export type { SseEvent } from './sse.js';
export { backoffDelay, sleep } from './retry.js';
export type { BackoffOptions } from './retry.js';
export {
  errorFromStatus,
  errorFromFetchFailure,
  parseServerErrorBody,
  isRetryableError,
  isEndpointFailure,
  malformedResponseError,
} from './errors.js';
export type { ErrorContext, ServerErrorBody, AbortSources } from './errors.js';
export { OpenAiProtocolClient, mapFinishReason, routingKeyOf } from './openai-protocol.js';
export type { OpenAiDialect, OpenAiProtocolOptions, ServedModel } from './openai-protocol.js';
export { parsePrometheusText, sumSamples } from './prometheus-text.js';
export type { PrometheusSample } from './prometheus-text.js';
export { launchServer, findExecutable, pythonCanImport } from './launcher.js';
export type { LaunchOptions, LaunchedServer, LogLine } from './launcher.js';
export { RemoteEngine, applyRemoteConfig, definedOptions, matchServedModel, resolveLaunchOptions, splitEndpoints } from './remote-engine.js';
export type { RemoteConfigSection, RemoteEngineOptions, RemoteLaunchOptions, RemoteEngineSetup } from './remote-engine.js';
