import { createHash } from 'node:crypto';
import type { RedisLink } from './redis-link.js';

export interface ResponseCacheOptions {
  /** Lifetime of an entry, in seconds. Default 300. */
  ttlSeconds?: number;
  /** Most entries, in Redis and in each replica's local copy; the oldest go first. Default 10000. */
  maxEntries?: number;
  /** Bodies larger than this are not cached, in bytes. Default 262144. */
  maxEntryBytes?: number;
  /** Prefix of the Redis keys. Default `muai:`. */
  keyPrefix?: string;
  /** Clock (epoch ms), for tests. Default Date.now. */
  now?: () => number;
}

/**
 * Body fields that change the answer of a deterministic request. Everything else (`stream`,
 * `stream_options`, `user`, `n`, `logprobs` and unknown fields) makes the request not cacheable
 * or does not change the text.
 */
const KEY_FIELDS = [
  'model',
  'prompt',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'repetition_penalty',
  'stop',
  'stop_token_ids',
  'seed',
  'frequency_penalty',
  'presence_penalty',
] as const;

/**
 * The cache key of an OpenAI-style completion body, or undefined when the request is not
 * deterministic or not cacheable: streaming, sampling (temperature above 0; an absent temperature
 * counts as greedy only when `absentTemperatureIsGreedy`, which is MuAI's engines' default),
 * several choices or log probabilities.
 */
export function responseCacheKey(route: string, body: unknown, absentTemperatureIsGreedy = true): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  if (record.stream === true) return undefined;
  if (record.n !== undefined && record.n !== null && record.n !== 1) return undefined;
  if (record.logprobs !== undefined && record.logprobs !== null && record.logprobs !== false) return undefined;
  const temperature = record.temperature;
  const greedy = temperature === 0 || ((temperature === undefined || temperature === null) && absentTemperatureIsGreedy);
  if (!greedy) return undefined;
  const picked: Record<string, unknown> = { route };
  for (const field of KEY_FIELDS) if (record[field] !== undefined && record[field] !== null) picked[field] = record[field];
  picked.temperature = 0;
  return createHash('sha256').update(stableJson(picked)).digest('hex');
}

/** JSON with object keys sorted, so that field order does not change the key. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

// Stores one entry and bounds the index: SET with TTL, index by time, drop expired and oldest beyond the bound.
const STORE_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3] - ARGV[2])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  for _, key in ipairs(oldest) do redis.call('DEL', key) end
end
return 1`;

/**
 * Responses of deterministic requests, shared by every replica through Redis, with a local copy
 * (read first, written always) that also serves alone while Redis is down. Entries live `ttlSeconds`;
 * at most `maxEntries` are kept (the oldest are dropped first), in Redis and locally.
 */
export class SharedResponseCache {
  private readonly link: RedisLink | undefined;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  readonly maxEntryBytes: number;
  private readonly prefix: string;
  private readonly now: () => number;
  /** Local copy in insertion order (Map order), with expiry times. */
  private readonly local = new Map<string, { value: string; expires: number }>();

  constructor(link: RedisLink | undefined, options: ResponseCacheOptions = {}) {
    this.link = link;
    this.ttlMs = (options.ttlSeconds ?? 300) * 1000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxEntryBytes = options.maxEntryBytes ?? 262_144;
    this.prefix = options.keyPrefix ?? 'muai:';
    this.now = options.now ?? Date.now;
  }

  /** Entries in this replica's local copy. */
  get localSize(): number {
    return this.local.size;
  }

  /** The cached body for `key`: the local copy first, then Redis. Never throws. */
  async get(key: string): Promise<string | undefined> {
    const entry = this.local.get(key);
    if (entry && entry.expires > this.now()) return entry.value;
    if (entry) this.local.delete(key);
    const shared = await this.link?.run((client) => client.get(`${this.prefix}rc:${key}`));
    if (typeof shared === 'string') {
      this.remember(key, shared);
      return shared;
    }
    return undefined;
  }

  /** Stores `value` under `key` locally and in Redis (bodies above `maxEntryBytes` are skipped). Never throws. */
  async set(key: string, value: string): Promise<void> {
    if (Buffer.byteLength(value) > this.maxEntryBytes) return;
    this.remember(key, value);
    await this.link?.run((client) =>
      client.eval(STORE_SCRIPT, 2, `${this.prefix}rc:${key}`, `${this.prefix}rc-index`, value, String(this.ttlMs), String(this.now()), String(this.maxEntries)),
    );
  }

  private remember(key: string, value: string): void {
    this.local.delete(key);
    this.local.set(key, { value, expires: this.now() + this.ttlMs });
    while (this.local.size > this.maxEntries) {
      const oldest = this.local.keys().next().value;
      if (oldest === undefined) break;
      this.local.delete(oldest);
    }
  }

  /** Entries in Redis (the index), or undefined when Redis is down. */
  sharedSize(): Promise<number | undefined> {
    return this.link ? this.link.run((client) => client.zcard(`${this.prefix}rc-index`)) : Promise.resolve(undefined);
  }
}
