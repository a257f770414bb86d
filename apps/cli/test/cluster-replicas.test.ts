/**
 * Three `muai serve` replicas (the built CLI) and a real redis-server on loopback, as issue 17's
 * proof asks: the response cache answers on one replica what another computed; a per-key limit of
 * L per minute admits L in total over the three, not 3L; and a replica SIGKILLed under load behind
 * the prefix-affinity pool (@muai/engines-http) costs the client no failed request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, OpenAiProtocolClient } from '@muai/engines-http';
// The cluster package's test helper that starts Debian's redis-server (fails loudly when missing).
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startRedis, type RunningRedis } from '../../../packages/cluster/test/redis-server.js';
import { spawnServe, type ServedCli } from './cli-harness.js';

const LIMIT = 6;
let redis: RunningRedis;
const replicas: ServedCli[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const env = {
    MUAI_CLUSTER_REDIS_URL: redis.url,
    MUAI_CLUSTER_RATE_LIMIT_REQUESTS_PER_MINUTE: String(LIMIT),
    MUAI_OPT_ONNX_THREADS: '1',
    MUAI_MON_LOGGING_LEVEL: 'warn',
  };
  replicas.push(...(await Promise.all([0, 1, 2].map(() => spawnServe({ env, waitReady: true })))));
}, 120_000);

afterAll(async () => {
  for (const replica of replicas) {
    if (replica.child.exitCode === null && replica.child.signalCode === null) replica.child.kill('SIGTERM');
    await replica.exited;
  }
  await redis?.kill();
});

const post = (url: string, body: Record<string, unknown>, key: string) =>
  fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });

describe('three replicas sharing Redis', () => {
  it('answers on every replica from the response cache what one of them computed', async () => {
    const body = { prompt: 'The response cache is shared by', max_tokens: 6, temperature: 0 };
    const first = await post(replicas[0]!.url, body, 'cache-a');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-muai-cache')).toBe('miss');
    const text = ((await first.json()) as { choices: Array<{ text: string }> }).choices[0]!.text;
    await new Promise((resolve) => setTimeout(resolve, 100)); // the store runs after the response
    for (const replica of replicas.slice(1)) {
      const again = await post(replica.url, body, 'cache-b');
      expect(again.headers.get('x-muai-cache')).toBe('hit');
      expect(((await again.json()) as { choices: Array<{ text: string }> }).choices[0]!.text).toBe(text);
    }
    const metrics = await (await fetch(`${replicas[2]!.url}/metrics`)).text();
    expect(metrics).toMatch(/muai_cluster_response_cache_requests_total\{result="hit"\} 1/);
    expect(metrics).toMatch(/muai_cluster_redis_up 1/);
  });

  it(`admits ${LIMIT} requests per minute for one API key over the three replicas, not ${3 * LIMIT}`, async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let index = 0; index < 3 * LIMIT; index += 1) {
      const response = await post(replicas[index % 3]!.url, { prompt: `limit ${index}`, max_tokens: 1, temperature: 0.5 }, 'team-limited');
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
      await response.body?.cancel();
    }
    // A minute boundary in the middle would start a new window; the count then covers two windows.
    const admitted = statuses.filter((status) => status === 200).length;
    expect([LIMIT, 2 * LIMIT]).toContain(admitted);
    expect(admitted).toBeLessThan(3 * LIMIT);
    expect(statuses.filter((status) => status === 429).length).toBe(3 * LIMIT - admitted);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('loses no client request when a replica is killed under load behind the prefix-affinity pool', async () => {
    // A different API key per request, so the per-key limit above does not apply to this load.
    let keys = 0;
    const keyed: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer load-${keys++}` } });
    const http = new HttpClient({
      fetch: keyed,
      engine: 'muai',
      endpoints: replicas.map((replica) => replica.url),
      routing: { policy: 'prefix-affinity', prefixLength: 64 },
      retries: 3,
      retryBaseMs: 20,
      cooldownMs: 60_000,
      timeoutMs: 30_000,
    });
    const client = new OpenAiProtocolClient({ http, engine: 'muai' });
    const documents = Array.from({ length: 6 }, (_, index) => `Document ${index}: ${'shared context sentence '.repeat(4)}`);
    const total = 60;
    let started = 0;
    let finished = 0;
    const failures: unknown[] = [];
    const victim = replicas[1]!;
    let killed = false;
    const worker = async (lane: number) => {
      while (started < total) {
        const index = started++;
        try {
          await client.generate({ prompt: `${documents[index % documents.length]} question ${index} from lane ${lane}`, maxTokens: 8, temperature: 0.7 }, 'default');
        } catch (error) {
          failures.push(error);
        }
        finished += 1;
        if (!killed && finished >= 15) {
          killed = true;
          victim.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map((lane) => worker(lane)));
    expect(killed).toBe(true);
    expect(await victim.exited).toBeNull(); // killed by signal, not exited
    expect(failures).toEqual([]);
    expect(finished).toBe(total);
    const states = http.endpointStates();
    const victimState = states.find((state) => state.url === victim.url)!;
    expect(victimState.cooldownUntil).toBeGreaterThan(Date.now());
    // The victim served its share before the kill, and requests sent to it afterwards (or cut in
    // flight) failed there and were retried on the survivors.
    expect(victimState.served).toBeGreaterThan(0);
    expect(victimState.failed).toBeGreaterThan(0);
    // Every request was served; the survivors took over the victim's prefixes.
    expect(states.reduce((sum, state) => sum + state.served, 0)).toBe(total);
    for (const state of states) if (state.url !== victim.url) expect(state.served).toBeGreaterThan(0);
  }, 120_000);
});
