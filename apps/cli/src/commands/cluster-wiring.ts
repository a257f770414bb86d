import type { MuaiConfig } from '@muai/config';
import { createCluster, type Cluster, type ClusterLogger } from '@muai/cluster';
import type { EngineFactory } from '@muai/orchestrator';
import type { PrometheusExporter } from '@muai/monitoring';
// Static imports: the CLI depends on both engine packages (a dynamic import in one file and static
// ones elsewhere is what Nx's module-boundary rule forbids).
import { createVllmEngine, vllmOptionsFromConfig } from '@muai/engines-vllm';
import { createDeepSpeedEngine, deepspeedOptionsFromConfig } from '@muai/engines-deepspeed';

/** What `muai serve` adds when the `cluster` section asks for shared state. */
export interface ClusterWiring {
  cluster: Cluster;
  /** For `startServer({ plugins })`: rate limits and the response cache. */
  plugins: Array<ReturnType<Cluster['plugin']>>;
  /** For `createOrchestratorFromConfig({ engines })`: enabled remote engines with shared cooldowns. */
  engines: Record<string, EngineFactory>;
  close(): Promise<void>;
}

/**
 * Builds the cluster state from `config.cluster`, or undefined when it asks for nothing (no Redis
 * URL and no rate limit). The response cache and shared cooldowns need Redis (`cluster.redis.url`,
 * `MUAI_CLUSTER_REDIS_URL`); a rate limit without Redis counts per replica.
 */
export function createClusterWiring(config: MuaiConfig, options: { exporter?: PrometheusExporter | undefined; logger?: ClusterLogger } = {}): ClusterWiring | undefined {
  const section = config.cluster;
  const redisUrl = section.redis.url;
  const requestsPerMinute = section.rate_limit.requests_per_minute;
  if (redisUrl === undefined && requestsPerMinute === 0) return undefined;
  const cluster = createCluster({
    ...(redisUrl !== undefined ? { redisUrl } : {}),
    keyPrefix: section.redis.key_prefix,
    commandTimeoutMs: section.redis.command_timeout_ms,
    responseCache:
      redisUrl !== undefined && section.response_cache.enabled
        ? { ttlSeconds: section.response_cache.ttl_s, maxEntries: section.response_cache.max_entries, maxEntryBytes: section.response_cache.max_entry_bytes }
        : false,
    requestsPerMinute,
    ...(options.exporter ? { registry: options.exporter.registry } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const engines: Record<string, EngineFactory> = {};
  const cooldowns = cluster.cooldowns;
  // Only engines the config enables: an injected factory must not switch an engine on.
  if (cooldowns && config.optimization.enabled && config.optimization.vllm.enabled) {
    engines.vllm = async ({ section: engineSection }) => {
      const { enabled: _enabled, ...rest } = engineSection as Record<string, unknown>;
      return createVllmEngine(vllmOptionsFromConfig(rest, { sharedCooldowns: cooldowns }));
    };
  }
  if (cooldowns && config.optimization.enabled && config.optimization.deepspeed.enabled) {
    engines.deepspeed = async ({ section: engineSection }) => {
      const { enabled: _enabled, ...rest } = engineSection as Record<string, unknown>;
      return createDeepSpeedEngine(deepspeedOptionsFromConfig(rest, { sharedCooldowns: cooldowns }));
    };
  }
  return { cluster, plugins: [cluster.plugin()], engines, close: () => cluster.close() };
}
