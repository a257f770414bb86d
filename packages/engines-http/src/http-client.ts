import { MuaiError, throwIfAborted } from '@muai/core';
import { EndpointPool } from './endpoint-pool.js';
import type { EndpointProbe, EndpointState, RoutingOptions, SharedCooldowns } from './endpoint-pool.js';
import {
  errorFromFetchFailure,
  errorFromStatus,
  isEndpointFailure,
  isRetryableError,
  malformedResponseError,
} from './errors.js';
import type { ErrorContext } from './errors.js';
import { backoffDelay, sleep } from './retry.js';

/** Options of the shared HTTP client. Every field but `endpoints` and `engine` has a default. */
export interface HttpClientOptions {
  /** One or more base URLs of servers that serve the same model(s). */
  endpoints: readonly string[] | string;
  /** Engine name used in errors (`vllm`, `deepspeed`). */
  engine: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Per-request timeout in ms, covering connect, response and (for streams) the whole body. Default 60000. */
  timeoutMs?: number;
  /** Extra attempts after a retryable failure (connection refused/reset, 502/503/504 before any byte). Default 2. */
  retries?: number;
  /** First backoff delay in ms; doubles each retry, full jitter. Default 100. */
  retryBaseMs?: number;
  /** Largest backoff delay in ms. Default 2000. */
  retryMaxMs?: number;
  /** How long a failing endpoint is taken out, in ms. Default 5000. */
  cooldownMs?: number;
  /** Consecutive failures before an endpoint cools down. Default 1. */
  failureThreshold?: number;
  /** Health check that brings a cooled endpoint back. Default: `GET healthPath` answers 2xx. */
  probe?: EndpointProbe;
  /** Path probed by the default probe. Default `/health`. */
  healthPath?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** `fetch` to use. Default the global fetch (undici). */
  fetch?: typeof fetch;
  /** Random source for jitter, for tests. */
  random?: () => number;
  /** How requests pick an endpoint (EndpointPool's RoutingOptions). Default least-outstanding. */
  routing?: RoutingOptions;
  /** Cooldowns shared with other replicas (EndpointPool's SharedCooldowns). Default local only. */
  sharedCooldowns?: SharedCooldowns;
}

/** One HTTP call. */
export interface HttpRequest {
  path: string;
  method?: 'GET' | 'POST';
  /** Serialized as JSON. */
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Overrides the client's timeout. */
  timeoutMs?: number;
  /** Retry retryable failures on other endpoints. Default true. */
  retry?: boolean;
  /** Send to this endpoint only (no balancing, no retry elsewhere). */
  endpoint?: string;
  /** Model, for error messages. */
  model?: string | undefined;
  /** `Accept` header. */
  accept?: string;
  /** What the `prefix-affinity` routing policy hashes (the prompt, or chat messages joined). */
  routingKey?: string;
  /** Extra headers of this request (e.g. `via`, see `hopHeaders`). */
  headers?: Record<string, string>;
}

/**
 * The `Via` header that carries a request's hop chain (GenerationRequest.via) to the next server,
 * so that MuAI servers pointing at each other detect the loop instead of recursing.
 */
export function hopHeaders(via: readonly string[] | undefined): Record<string, string> {
  return via && via.length > 0 ? { via: via.join(', ') } : {};
}

/** An open response; the endpoint stays claimed until `finish` is called. */
export interface OpenResponse {
  readonly endpoint: string;
  readonly response: Response;
  /** Fires on the caller's cancel or the timeout; reading the body stops then. */
  readonly signal: AbortSignal;
  /** Maps a failure while reading the body (timeout, cancel, reset). */
  mapError(error: unknown): MuaiError;
  /** Releases the endpoint; `ok: false` counts a failure against it. Idempotent. */
  finish(ok: boolean): void;
  readonly context: ErrorContext;
}

/**
 * HTTP over several endpoints with least-outstanding (or prefix-affinity) balancing, timeouts, retries with backoff for
 * failures where nothing reached the model, cooldown of failing endpoints, and errors mapped to
 * MuAI codes. Uses the global fetch of Node 20 (undici); no other HTTP dependency.
 */
export class HttpClient {
  readonly pool: EndpointPool;
  readonly engine: string;
  private readonly options: HttpClientOptions;
  private readonly fetchImpl: typeof fetch;

  constructor(options: HttpClientOptions) {
    this.options = options;
    this.engine = options.engine;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    const endpoints = typeof options.endpoints === 'string' ? options.endpoints.split(',').filter(Boolean) : options.endpoints;
    const healthPath = options.healthPath ?? '/health';
    this.pool = new EndpointPool({
      endpoints,
      engine: options.engine,
      ...(options.cooldownMs !== undefined ? { cooldownMs: options.cooldownMs } : {}),
      ...(options.failureThreshold !== undefined ? { failureThreshold: options.failureThreshold } : {}),
      ...(options.routing ? { routing: options.routing } : {}),
      ...(options.sharedCooldowns ? { sharedCooldowns: options.sharedCooldowns } : {}),
      probe: options.probe ?? ((endpoint, signal) => this.probeHealth(endpoint, healthPath, signal)),
    });
  }

  /** Default probe: `GET <path>` answers 2xx. */
  async probeHealth(endpoint: string, path: string, signal: AbortSignal): Promise<boolean> {
    const status = await this.probeStatus(endpoint, path, signal);
    return status !== undefined && status >= 200 && status < 300;
  }

  /** `GET <path>` on one endpoint; the status, or undefined when unreachable. Never throws. */
  async probeStatus(endpoint: string, path: string, signal: AbortSignal): Promise<number | undefined> {
    try {
      const response = await this.fetchImpl(`${endpoint}${path}`, { signal, headers: this.headers() });
      await response.body?.cancel();
      return response.status;
    } catch {
      return undefined;
    }
  }

  get timeoutMs(): number {
    return this.options.timeoutMs ?? 60_000;
  }

  /** Endpoint states (outstanding, failures, cooldown), for reports and tests. */
  endpointStates(): EndpointState[] {
    return this.pool.snapshot();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { ...this.options.headers, ...extra };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  /**
   * Sends a request and returns the open response once a 2xx status arrived. Non-2xx answers are
   * read and thrown as MuaiErrors. Retryable failures go to another endpoint after a backoff.
   */
  async open(request: HttpRequest): Promise<OpenResponse> {
    throwIfAborted(request.signal);
    const retries = request.retry === false || request.endpoint ? 0 : (this.options.retries ?? 2);
    const tried = new Set<string>();
    let lastError: MuaiError | undefined;
    for (let attempt = 0; attempt <= retries; attempt += 1) {
      if (attempt > 0) {
        await sleep(
          backoffDelay(attempt - 1, {
            baseMs: this.options.retryBaseMs ?? 100,
            maxMs: this.options.retryMaxMs ?? 2000,
            ...(this.options.random ? { random: this.options.random } : {}),
          }),
          request.signal,
        );
      }
      let lease;
      if (request.endpoint) {
        lease = { endpoint: request.endpoint, release: (_ok: boolean) => undefined };
      } else {
        try {
          lease = await this.pool.acquire(tried, request.routingKey);
        } catch (error) {
          throw lastError ?? error;
        }
      }
      tried.add(lease.endpoint);
      try {
        return await this.attempt(request, lease);
      } catch (error) {
        const mapped = MuaiError.isInstance(error) ? error : errorFromFetchFailure(error, { engine: this.engine, endpoint: lease.endpoint });
        lastError = mapped;
        if (!isRetryableError(mapped)) throw mapped;
      }
    }
    throw lastError ?? new MuaiError('INTERNAL', 'No attempt was made.');
  }

  private async attempt(request: HttpRequest, lease: { endpoint: string; release(ok: boolean): void }): Promise<OpenResponse> {
    const timeoutMs = request.timeoutMs ?? this.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const context: ErrorContext = { engine: this.engine, endpoint: lease.endpoint, path: request.path };
    if (request.model !== undefined) context.model = request.model;
    const mapError = (error: unknown) => errorFromFetchFailure(error, context, { caller: request.signal, timeout, timeoutMs });
    let finished = false;
    const finish = (ok: boolean) => {
      if (finished) return;
      finished = true;
      lease.release(ok);
    };
    let response: Response;
    try {
      const init: RequestInit = {
        method: request.method ?? (request.body === undefined ? 'GET' : 'POST'),
        signal,
        headers: this.headers({
          ...request.headers,
          ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(request.accept ? { accept: request.accept } : {}),
        }),
      };
      if (request.body !== undefined) init.body = JSON.stringify(request.body);
      response = await this.fetchImpl(`${lease.endpoint}${request.path}`, init);
    } catch (error) {
      const mapped = mapError(error);
      finish(!isEndpointFailure(mapped) || mapped.code === 'REQUEST_ABORTED');
      throw mapped;
    }
    if (!response.ok) {
      let text = '';
      try {
        text = await response.text();
      } catch {
        // The status alone decides the code.
      }
      const mapped = errorFromStatus(response.status, text, context);
      finish(response.status < 500);
      throw mapped;
    }
    // Once the status line arrived, a broken connection is a cut response: not retryable, and not "unreachable".
    const mapBodyError = (error: unknown): MuaiError => {
      const mapped = mapError(error);
      if (mapped.code !== 'ENGINE_UNAVAILABLE') return mapped;
      return new MuaiError(
        'ENGINE_ERROR',
        `${this.engine} at ${lease.endpoint}${request.path} closed the connection in the middle of its response (${String(mapped.details.errno ?? 'reset')}). The server may have crashed; see its log.`,
        { cause: error, details: { ...mapped.details, retryable: false, cut: true } },
      );
    };
    return { endpoint: lease.endpoint, response, signal, mapError: mapBodyError, finish, context };
  }

  /** Sends a request and parses a JSON answer. Malformed JSON is ENGINE_ERROR (not retried). */
  async json<T = unknown>(request: HttpRequest): Promise<{ endpoint: string; body: T }> {
    const open = await this.open({ ...request, accept: request.accept ?? 'application/json' });
    let text: string;
    try {
      text = await open.response.text();
    } catch (error) {
      const mapped = open.mapError(error);
      open.finish(mapped.code === 'REQUEST_ABORTED');
      throw mapped;
    }
    try {
      const body = JSON.parse(text) as T;
      open.finish(true);
      return { endpoint: open.endpoint, body };
    } catch (error) {
      open.finish(false);
      throw malformedResponseError(open.context, `body is not JSON: ${JSON.stringify(text.slice(0, 80))}`, error);
    }
  }

  /** Sends a request and returns the body as text (for Prometheus `/metrics`). */
  async text(request: HttpRequest): Promise<{ endpoint: string; body: string }> {
    const open = await this.open(request);
    try {
      const body = await open.response.text();
      open.finish(true);
      return { endpoint: open.endpoint, body };
    } catch (error) {
      const mapped = open.mapError(error);
      open.finish(mapped.code === 'REQUEST_ABORTED');
      throw mapped;
    }
  }
}
