import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, SharedRateLimiter, SharedResponseCache, RedisLink, responseCacheKey } from '../src/index.js';
import { startRedis, until } from './redis-server.js';
import type { RunningRedis } from './redis-server.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function redis(port?: number): Promise<RunningRedis> {
  const server = await startRedis(port);
  cleanups.push(() => server.kill());
  return server;
}

const quiet = { warn: () => undefined, info: () => undefined };

function link(url: string): RedisLink {
  const created = new RedisLink({ url, logger: quiet });
  cleanups.push(() => created.close());
  return created;
}

function cluster(options: ConstructorParameters<typeof Cluster>[0]): Cluster {
  const created = new Cluster({ logger: quiet, ...options });
  cleanups.push(() => created.close());
  return created;
}

/** A stand-in server: the cluster plugin in front of a completions route that counts engine calls. */
async function replica(state: Cluster): Promise<FastifyInstance & { engineCalls: number }> {
  const app = Fastify() as unknown as FastifyInstance & { engineCalls: number };
  app.engineCalls = 0;
  const answer = async (request: { body: unknown }) => {
    app.engineCalls += 1;
    const body = request.body as { prompt?: string };
    return { id: `cmpl-${app.engineCalls}`, object: 'text_completion', created: 1, model: 'default', choices: [{ index: 0, text: `echo ${body.prompt ?? ''}`, finish_reason: 'stop' }] };
  };
  app.post('/v1/completions', answer);
  app.post('/v1/chat/completions', answer);
  await app.register(state.plugin());
  await app.ready();
  cleanups.push(() => app.close());
  return app;
}

const completion = (prompt: string, extra: Record<string, unknown> = {}) => ({ method: 'POST' as const, url: '/v1/completions', payload: { model: 'default', prompt, temperature: 0, max_tokens: 8, ...extra } });

describe('response cache key', () => {
  it('is the same for the same deterministic request in any field order, and absent for sampling or streaming', () => {
    const a = responseCacheKey('/v1/completions', { model: 'm', prompt: 'p', temperature: 0, max_tokens: 4 });
    const b = responseCacheKey('/v1/completions', { max_tokens: 4, temperature: 0, prompt: 'p', model: 'm', user: 'someone' });
    expect(a).toBeDefined();
    expect(b).toBe(a);
    expect(responseCacheKey('/v1/completions', { model: 'm', prompt: 'p', temperature: 0, max_tokens: 5 })).not.toBe(a);
    expect(responseCacheKey('/v1/chat/completions', { model: 'm', prompt: 'p', temperature: 0, max_tokens: 4 })).not.toBe(a);
    expect(responseCacheKey('/v1/completions', { model: 'm', prompt: 'p', temperature: 0.7 })).toBeUndefined();
    expect(responseCacheKey('/v1/completions', { model: 'm', prompt: 'p', temperature: 0, stream: true })).toBeUndefined();
    expect(responseCacheKey('/v1/completions', { model: 'm', prompt: 'p' })).toBeDefined();
    expect(responseCacheKey('/v1/completions', { model: 'm', prompt: 'p' }, false)).toBeUndefined();
  });
});

describe('shared state in a real redis-server', () => {
  it('shares cached responses between replicas, with a TTL and a size bound', async () => {
    const server = await redis();
    const replicaA = new SharedResponseCache(link(server.url), { ttlSeconds: 1, maxEntries: 3 });
    const replicaB = new SharedResponseCache(link(server.url), { ttlSeconds: 1, maxEntries: 3 });
    await until(() => replicaB.get('warm').then(() => true));
    await until(async () => (await replicaA.sharedSize()) !== undefined);
    await replicaA.set('k1', 'one');
    expect(await replicaB.get('k1')).toBe('one');
    for (const key of ['k2', 'k3', 'k4', 'k5']) await replicaA.set(key, key);
    expect(await replicaA.sharedSize()).toBe(3);
    // The two oldest went when the bound was passed: B has none of them locally and Redis dropped them.
    const fresh = new SharedResponseCache(link(server.url), { ttlSeconds: 1, maxEntries: 3 });
    await until(async () => (await fresh.sharedSize()) !== undefined);
    expect(await fresh.get('k1')).toBeUndefined();
    expect(await fresh.get('k2')).toBeUndefined();
    expect(await fresh.get('k5')).toBe('k5');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const late = new SharedResponseCache(link(server.url), { ttlSeconds: 1, maxEntries: 3 });
    await until(async () => (await late.sharedSize()) !== undefined);
    expect(await late.get('k5')).toBeUndefined();
  });

  it('admits the limit once over three replicas, not three times', async () => {
    const server = await redis();
    const limiters = [0, 1, 2].map(() => new SharedRateLimiter(link(server.url), { limit: 5, windowMs: 60_000 }));
    for (const limiter of limiters) await until(async () => (await limiter.hit('warm-up')).scope === 'redis');
    const decisions = [];
    for (let round = 0; round < 5; round += 1) for (const limiter of limiters) decisions.push(await limiter.hit('api-key-1'));
    expect(decisions.every((decision) => decision.scope === 'redis')).toBe(true);
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(5);
    const refused = decisions.find((decision) => !decision.allowed)!;
    expect(refused.resetMs).toBeGreaterThan(0);
    expect(refused.resetMs).toBeLessThanOrEqual(60_000);
    // Another key has its own budget.
    expect((await limiters[0]!.hit('api-key-2')).allowed).toBe(true);
  });

  it("tells every replica about an endpoint another one found down, including replicas started later", async () => {
    const server = await redis();
    const replicaA = cluster({ redisUrl: server.url });
    const replicaB = cluster({ redisUrl: server.url });
    await until(() => replicaA.redisUp && replicaB.redisUp);
    await new Promise((resolve) => setTimeout(resolve, 100)); // subscriptions in place
    const until60s = Date.now() + 60_000;
    replicaA.cooldowns!.report('http://10.0.0.5:8000', until60s);
    await until(() => replicaB.cooldowns!.cooledUntil('http://10.0.0.5:8000') === until60s);
    const replicaC = cluster({ redisUrl: server.url });
    await until(() => replicaC.cooldowns!.cooledUntil('http://10.0.0.5:8000') === until60s);
    replicaB.cooldowns!.clear('http://10.0.0.5:8000');
    await until(() => replicaA.cooldowns!.cooledUntil('http://10.0.0.5:8000') === 0 && replicaC.cooldowns!.cooledUntil('http://10.0.0.5:8000') === 0);
  });
});

describe('cluster plugin on a Fastify server', () => {
  it('answers a repeated deterministic request from the cache of another replica, and never caches sampling or streams', async () => {
    const server = await redis();
    const replicaA = await replica(cluster({ redisUrl: server.url }));
    const stateB = cluster({ redisUrl: server.url });
    const replicaB = await replica(stateB);
    await until(() => stateB.redisUp);
    const first = await replicaA.inject(completion('What is AI?'));
    expect(first.statusCode).toBe(200);
    expect(first.headers['x-muai-cache']).toBe('miss');
    await new Promise((resolve) => setTimeout(resolve, 50)); // the store runs after the response
    const second = await replicaB.inject(completion('What is AI?'));
    expect(second.headers['x-muai-cache']).toBe('hit');
    expect(second.json().choices).toEqual(first.json().choices);
    expect(second.json().id).not.toBe(first.json().id);
    expect(replicaB.engineCalls).toBe(0);
    await replicaB.inject(completion('What is AI?', { temperature: 0.8 }));
    await replicaB.inject(completion('What is AI?', { temperature: 0.8 }));
    expect(replicaB.engineCalls).toBe(2);
  });

  it('refuses the request past the limit with 429 and Retry-After, across replicas', async () => {
    const server = await redis();
    const states = [0, 1, 2].map(() => cluster({ redisUrl: server.url, requestsPerMinute: 4, responseCache: false }));
    const apps = await Promise.all(states.map((state) => replica(state)));
    await until(() => states.every((state) => state.redisUp));
    const statuses: number[] = [];
    let refusal;
    for (let round = 0; round < 3; round += 1) {
      for (const app of apps) {
        const response = await app.inject({ ...completion(`q${round}`), headers: { authorization: 'Bearer team-a' } });
        statuses.push(response.statusCode);
        if (response.statusCode === 429) refusal = response;
      }
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(4);
    expect(statuses.filter((status) => status === 429)).toHaveLength(5);
    expect(Number(refusal!.headers['retry-after'])).toBeGreaterThan(0);
    expect(refusal!.json().error.code).toBe('RATE_LIMITED');
    const other = await apps[0]!.inject({ ...completion('q'), headers: { authorization: 'Bearer team-b' } });
    expect(other.statusCode).toBe(200);
  });

  it('keeps serving when Redis dies mid-run: local state, one log line, gauge 0; reconnects when it is back', async () => {
    const server = await redis();
    const registry = new Registry();
    const warnings: string[] = [];
    const infos: string[] = [];
    const state = cluster({ redisUrl: server.url, requestsPerMinute: 1000, registry, logger: { warn: (message) => warnings.push(message), info: (message) => infos.push(message) } });
    const app = await replica(state);
    await until(() => state.redisUp);
    const gauge = async () => (await registry.getSingleMetric('muai_cluster_redis_up')!.get()).values[0]!.value;
    expect(await gauge()).toBe(1);
    expect((await app.inject(completion('before'))).statusCode).toBe(200);
    await server.kill();
    await until(() => !state.redisUp);
    for (let index = 0; index < 20; index += 1) {
      const response = await app.inject(completion(`during ${index % 3}`));
      expect(response.statusCode).toBe(200);
    }
    // Deterministic repeats are still cached, locally.
    expect(app.engineCalls).toBe(1 + 3);
    expect(await gauge()).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/unreachable.*local state/);
    const back = await redis(server.port);
    expect(back.port).toBe(server.port);
    await until(() => state.redisUp, 10_000);
    expect(await gauge()).toBe(1);
    expect(infos.some((message) => /reachable again/.test(message))).toBe(true);
    expect((await app.inject(completion('after'))).statusCode).toBe(200);
  }, 30_000);
});
