import { randomUUID } from 'node:crypto';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { RedisOptions } from 'ioredis';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, type ErrorCode } from '@muai/core';
import { RedisLink, consoleClusterLogger } from './redis-link.js';
import type { ClusterLogger } from './redis-link.js';
import { SharedResponseCache, responseCacheKey } from './response-cache.js';
import type { ResponseCacheOptions } from './response-cache.js';
import { SharedRateLimiter } from './rate-limiter.js';
import { RedisSharedCooldowns } from './shared-cooldowns.js';

export interface ClusterOptions {
  /** `redis://host:port[/db]`. Unset: every part works on this replica's local state only. */
  redisUrl?: string;
  /** Prefix of every Redis key. Default `muai:`. */
  keyPrefix?: string;
  /** Longest one Redis command may take before local state answers, in ms. Default 500. */
  commandTimeoutMs?: number;
  /** Response cache for deterministic requests; `false` turns it off. Default on, ResponseCacheOptions defaults. */
  responseCache?: false | Omit<ResponseCacheOptions, 'keyPrefix'>;
  /** Requests per minute per API key over every replica; 0 or unset means no limit. */
  requestsPerMinute?: number;
  /** Rate limit window, ms. Default 60000. */
  rateLimitWindowMs?: number;
  /**
   * Whether a request without `temperature` is greedy (MuAI's engines default to temperature 0),
   * so that its response may be cached. Default true.
   */
  absentTemperatureIsGreedy?: boolean;
  /** Registry that gets `muai_cluster_*` metrics (a @muai/monitoring exporter's `registry`). */
  registry?: Registry;
  logger?: ClusterLogger;
  /** Extra ioredis options. */
  redis?: RedisOptions;
}

/** The documented code of a refusal (docs/errors.md), and its status. */
const RATE_LIMITED: ErrorCode = 'RATE_LIMITED';

/** Routes whose non-streaming, deterministic answers are cached. */
const CACHED_ROUTES = new Set(['/v1/completions', '/v1/chat/completions']);

/**
 * State that several `muai serve` replicas agree on, in Redis (the pattern of LiteLLM's proxy):
 * a response cache for deterministic requests, per-API-key rate limits, and remote-endpoint
 * cooldowns. Nothing here can fail a request: when Redis is unreachable each part falls back to
 * this replica's local state, the outage is logged once, `muai_cluster_redis_up` drops to 0, and
 * the connection is retried in the background.
 */
export class Cluster {
  readonly link: RedisLink | undefined;
  readonly responseCache: SharedResponseCache | undefined;
  readonly rateLimiter: SharedRateLimiter | undefined;
  /** Pass as `sharedCooldowns` to a remote engine or EndpointPool; undefined without Redis. */
  readonly cooldowns: RedisSharedCooldowns | undefined;
  private readonly options: ClusterOptions;
  private readonly cacheResults: Counter<'result'> | undefined;
  private readonly limited: Counter | undefined;

  constructor(options: ClusterOptions = {}) {
    this.options = options;
    const keyPrefix = options.keyPrefix ?? 'muai:';
    if (options.redisUrl) {
      this.link = new RedisLink({
        url: options.redisUrl,
        logger: options.logger ?? consoleClusterLogger,
        ...(options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
        ...(options.registry ? { registry: options.registry } : {}),
        ...(options.redis ? { redis: options.redis } : {}),
      });
      this.cooldowns = new RedisSharedCooldowns(this.link, { keyPrefix });
    }
    if (options.responseCache !== false) this.responseCache = new SharedResponseCache(this.link, { ...options.responseCache, keyPrefix });
    if (options.requestsPerMinute !== undefined && options.requestsPerMinute > 0) {
      this.rateLimiter = new SharedRateLimiter(this.link, {
        limit: options.requestsPerMinute,
        keyPrefix,
        ...(options.rateLimitWindowMs !== undefined ? { windowMs: options.rateLimitWindowMs } : {}),
      });
    }
    if (options.registry) {
      const registers = [options.registry];
      this.cacheResults = new Counter({
        name: 'muai_cluster_response_cache_requests_total',
        help: 'Cacheable requests by result: hit (answered from the shared response cache) or miss.',
        labelNames: ['result'] as const,
        registers,
      });
      this.limited = new Counter({ name: 'muai_cluster_rate_limited_total', help: 'Requests refused with 429 by the per-API-key rate limit.', registers });
    }
  }

  /** True when Redis is configured and reachable. */
  get redisUp(): boolean {
    return this.link?.up ?? false;
  }

  /** The server-side parts as one Fastify plugin (pass it in `startServer({ plugins })`). */
  plugin(): FastifyPluginAsync {
    const plugin: FastifyPluginAsync = async (app) => {
      if (this.rateLimiter) app.addHook('onRequest', (request, reply) => this.limit(request, reply));
      if (this.responseCache) {
        app.addHook('preHandler', (request, reply) => this.serveCached(request, reply));
        app.addHook('onSend', async (request, reply, payload) => {
          const key = cacheKeys.get(request);
          if (key === undefined) return payload;
          void reply.header('x-muai-cache', 'miss');
          if (reply.statusCode === 200 && typeof payload === 'string') void this.responseCache?.set(key, payload);
          return payload;
        });
      }
    };
    // Hooks apply to every route of the server, not only inside this plugin (what fastify-plugin does).
    (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
    return plugin;
  }

  private async limit(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const limiter = this.rateLimiter;
    if (!limiter || request.method !== 'POST' || !request.url.startsWith('/v1/')) return;
    const decision = await limiter.hit(clientKey(request));
    void reply.header('x-ratelimit-limit', String(decision.limit));
    void reply.header('x-ratelimit-remaining', String(decision.remaining));
    void reply.header('x-ratelimit-reset', String(Math.ceil(decision.resetMs / 1000)));
    if (decision.allowed) return;
    this.limited?.inc();
    const retryAfter = Math.max(1, Math.ceil(decision.resetMs / 1000));
    await reply
      .status(ERROR_CODES[RATE_LIMITED])
      .header('retry-after', String(retryAfter))
      .send({
        error: {
          message: `Rate limit reached: ${decision.limit} requests per ${Math.round((this.options.rateLimitWindowMs ?? 60_000) / 1000)} s for this API key. Retry after ${retryAfter} s.`,
          type: 'rate_limit_error',
          param: null,
          code: RATE_LIMITED,
        },
      });
  }

  private async serveCached(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const cache = this.responseCache;
    const route = request.routeOptions.url;
    if (!cache || request.method !== 'POST' || route === undefined || !CACHED_ROUTES.has(route)) return;
    const key = responseCacheKey(route, request.body, this.options.absentTemperatureIsGreedy ?? true);
    if (key === undefined) return;
    const cached = await cache.get(key);
    if (cached === undefined) {
      this.cacheResults?.inc({ result: 'miss' });
      cacheKeys.set(request, key);
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(cached) as Record<string, unknown>;
    } catch {
      cacheKeys.set(request, key);
      return;
    }
    this.cacheResults?.inc({ result: 'hit' });
    // A fresh id and time: the answer is the same, the response is new.
    const id = typeof body.id === 'string' ? body.id : 'cmpl-x';
    body.id = `${id.slice(0, id.indexOf('-') + 1) || 'cmpl-'}${randomUUID().replaceAll('-', '')}`;
    body.created = Math.floor(Date.now() / 1000);
    await reply.header('x-muai-cache', 'hit').send(body);
  }

  /** Closes the Redis connections. */
  async close(): Promise<void> {
    await this.cooldowns?.close();
    await this.link?.close();
  }
}

/** The cache key chosen for a request in preHandler, read again in onSend. */
const cacheKeys = new WeakMap<FastifyRequest, string>();

/** The rate-limit key of a request: its API key (bearer token), else its address. */
function clientKey(request: FastifyRequest): string {
  const header = request.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? `key:${header.slice(7)}` : `ip:${request.ip}`;
}

/** Creates the cluster state; see ClusterOptions. */
export function createCluster(options: ClusterOptions = {}): Cluster {
  return new Cluster(options);
}
