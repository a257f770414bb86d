import { createHash } from 'node:crypto';
import type { RedisLink } from './redis-link.js';

export interface RateLimitOptions {
  /** Requests per window per key, summed over every replica. */
  limit: number;
  /** Window length in ms. Default 60000 (a minute). */
  windowMs?: number;
  /** Prefix of the Redis keys. Default `muai:`. */
  keyPrefix?: string;
  /** Clock (epoch ms), for tests. Default Date.now. */
  now?: () => number;
}

/** The outcome of one request against the limit. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests counted in this window, this one included. */
  count: number;
  limit: number;
  /** Requests left in this window. */
  remaining: number;
  /** Ms until the window ends (the `Retry-After` of a refusal). */
  resetMs: number;
  /** `redis` when the count is shared by every replica, `local` when Redis was down. */
  scope: 'redis' | 'local';
}

// Fixed window: one counter per key and window, created with the window's remaining lifetime.
const COUNT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}`;

/**
 * Requests per key (an API key, hashed) in fixed windows, counted in Redis so that N replicas
 * admit the limit once, not N times. While Redis is down each replica counts alone (local windows),
 * so the limit still holds per replica and no request fails because of Redis.
 */
export class SharedRateLimiter {
  private readonly link: RedisLink | undefined;
  readonly limit: number;
  private readonly windowMs: number;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly local = new Map<string, { window: number; count: number }>();

  constructor(link: RedisLink | undefined, options: RateLimitOptions) {
    this.link = link;
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 60_000;
    this.prefix = options.keyPrefix ?? 'muai:';
    this.now = options.now ?? Date.now;
  }

  /** Counts one request of `key` and says whether it is admitted. Never throws. */
  async hit(key: string): Promise<RateLimitDecision> {
    const now = this.now();
    const window = Math.floor(now / this.windowMs);
    const windowEnd = (window + 1) * this.windowMs;
    const id = createHash('sha256').update(key).digest('hex').slice(0, 32);
    const shared = await this.link?.run((client) => client.eval(COUNT_SCRIPT, 1, `${this.prefix}rl:${id}:${window}`, String(windowEnd - now)) as Promise<[number, number]>);
    if (Array.isArray(shared)) {
      const [count, ttl] = shared;
      return this.decide(Number(count), ttl > 0 ? Number(ttl) : windowEnd - now, 'redis');
    }
    let entry = this.local.get(id);
    if (!entry || entry.window !== window) {
      entry = { window, count: 0 };
      this.local.set(id, entry);
      // Drop other keys' finished windows, so the map stays as small as the set of active keys.
      for (const [other, value] of this.local) if (value.window < window) this.local.delete(other);
    }
    entry.count += 1;
    return this.decide(entry.count, windowEnd - now, 'local');
  }

  private decide(count: number, resetMs: number, scope: 'redis' | 'local'): RateLimitDecision {
    return { allowed: count <= this.limit, count, limit: this.limit, remaining: Math.max(0, this.limit - count), resetMs, scope };
  }
}
