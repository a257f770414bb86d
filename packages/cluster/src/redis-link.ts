import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** Where the cluster package reports connection changes. Default: `console.warn` / `console.info` with a `[muai]` prefix. */
export interface ClusterLogger {
  warn(message: string): void;
  info(message: string): void;
}

export const consoleClusterLogger: ClusterLogger = {
  warn: (message) => console.warn(`[muai] ${message}`),
  info: (message) => console.info(`[muai] ${message}`),
};

export interface RedisLinkOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://...`. */
  url: string;
  /** Longest one command may take before the caller falls back to local state, in ms. Default 500. */
  commandTimeoutMs?: number;
  logger?: ClusterLogger;
  /** Registry that gets the `muai_cluster_redis_up` gauge. Default: none. */
  registry?: Registry;
  /** Extra ioredis options (tests, TLS). */
  redis?: RedisOptions;
}

/**
 * One Redis connection that never makes a request fail: commands are not queued while the
 * connection is down (they reject at once, and callers use local state), the connection retries
 * in the background with a capped backoff, the outage is logged once when it starts and once when
 * it ends, and `muai_cluster_redis_up` says which state it is in.
 */
export class RedisLink {
  readonly client: Redis;
  private readonly logger: ClusterLogger;
  private readonly url: string;
  private warned = false;
  private closed = false;
  private readonly listeners = new Set<() => void>();

  constructor(options: RedisLinkOptions) {
    this.logger = options.logger ?? consoleClusterLogger;
    this.url = redactUrl(options.url);
    this.client = new Redis(options.url, {
      // Requests must not wait for Redis: no offline queue, no per-command retries.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 500,
      connectTimeout: Math.max(1000, options.commandTimeoutMs ?? 500),
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      lazyConnect: false,
      ...options.redis,
    });
    if (options.registry) {
      const isUp = () => this.up;
      new Gauge({
        name: 'muai_cluster_redis_up',
        help: 'Whether the shared Redis of cluster state is reachable (1) or the replica serves from local state (0).',
        registers: [options.registry],
        collect() {
          this.set(isUp() ? 1 : 0);
        },
      });
    }
    this.client.on('ready', () => {
      if (this.warned) this.logger.info(`Redis at ${this.url} is reachable again; cluster state is shared again.`);
      this.warned = false;
      for (const listener of this.listeners) listener();
    });
    // ioredis emits 'error' for every failed attempt; without a listener Node would crash.
    this.client.on('error', (error: Error) => this.down(error.message));
    this.client.on('close', () => this.down('connection closed'));
  }

  /** True while commands can reach Redis. */
  get up(): boolean {
    return this.client.status === 'ready';
  }

  /** Calls `listener` each time the connection becomes ready (first connect and every reconnect). */
  onReady(listener: () => void): void {
    this.listeners.add(listener);
  }

  private down(reason: string): void {
    if (this.closed || this.warned) return;
    this.warned = true;
    this.logger.warn(`Redis at ${this.url} is unreachable (${reason}); serving with local state (response cache, rate limits and cooldowns per replica) and reconnecting in the background.`);
  }

  /**
   * Runs `command` when Redis is up; `undefined` when it is down or the command fails, so that the
   * caller uses its local state. Never throws.
   */
  async run<T>(command: (client: Redis) => Promise<T>): Promise<T | undefined> {
    if (!this.up) return undefined;
    try {
      return await command(this.client);
    } catch (error) {
      // A slow or lost command: this request uses local state; ioredis reconnects if the link broke.
      if (!this.up) this.down(error instanceof Error ? error.message : String(error));
      return undefined;
    }
  }

  /** Closes the connection; no more reconnects. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** The URL without its password, for log lines. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis';
  }
}
