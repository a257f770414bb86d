import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@muai/config';
import type { VllmEngine } from '@muai/engines-vllm';
import type { EngineFactoryContext } from '@muai/orchestrator';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startRedis, until, type RunningRedis } from '../../../../packages/cluster/test/redis-server.js';
import { createClusterWiring, type ClusterWiring } from './cluster-wiring.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const quiet = { warn: () => undefined, info: () => undefined };

describe('createClusterWiring', () => {
  it('builds nothing when the cluster section asks for nothing', () => {
    expect(createClusterWiring(parseConfig({}))).toBeUndefined();
  });

  it("gives enabled vLLM engines cooldowns shared through Redis: one replica's failure is every replica's", async () => {
    const redis: RunningRedis = await startRedis();
    cleanups.push(() => redis.kill());
    const endpoints = ['http://127.0.0.1:9', 'http://127.0.0.1:10'];
    const config = parseConfig({ optimization: { vllm: { enabled: true, endpoints, routing: { policy: 'prefix-affinity' } } }, cluster: { redis: { url: redis.url } } });
    const replicas: ClusterWiring[] = [0, 1].map(() => createClusterWiring(config, { logger: quiet })!);
    for (const replica of replicas) cleanups.push(() => replica.close());
    expect(replicas[0]!.plugins).toHaveLength(1);
    const context = { name: 'vllm', section: config.optimization.vllm, settings: {} } as unknown as EngineFactoryContext;
    const engines = (await Promise.all(replicas.map((replica) => replica.engines.vllm!(context)))) as VllmEngine[];
    await until(() => replicas.every((replica) => replica.cluster.redisUp));
    await new Promise((resolve) => setTimeout(resolve, 100)); // subscriptions in place
    expect(engines[0]!.http.pool.policy).toBe('prefix-affinity');
    engines[0]!.http.pool.markFailure(endpoints[0]!);
    await until(() => engines[1]!.http.pool.snapshot()[0]!.cooldownUntil > Date.now());
    const lease = await engines[1]!.http.pool.acquire(new Set(), 'any prompt');
    expect(lease.endpoint).toBe(endpoints[1]);
    lease.release(true);
  });

  it('leaves engines the config does not enable alone', () => {
    const wiring = createClusterWiring(parseConfig({ cluster: { redis: { url: 'redis://127.0.0.1:1' }, rate_limit: { requests_per_minute: 5 } } }), { logger: quiet })!;
    cleanups.push(() => wiring.close());
    expect(Object.keys(wiring.engines)).toEqual([]);
    expect(wiring.cluster.rateLimiter?.limit).toBe(5);
  });
});
