export { Cluster, createCluster } from './cluster.js';
export type { ClusterOptions } from './cluster.js';
export { RedisLink, consoleClusterLogger, redactUrl } from './redis-link.js';
export type { ClusterLogger, RedisLinkOptions } from './redis-link.js';
export { SharedResponseCache, responseCacheKey } from './response-cache.js';
export type { ResponseCacheOptions } from './response-cache.js';
export { SharedRateLimiter } from './rate-limiter.js';
export type { RateLimitDecision, RateLimitOptions } from './rate-limiter.js';
export { RedisSharedCooldowns } from './shared-cooldowns.js';
