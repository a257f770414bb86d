import { describe, expect, it } from 'vitest';
import { EndpointPool, normalizeEndpoint } from '../src/endpoint-pool.js';

function clock(start = 1000) {
  const state = { now: start };
  return { now: () => state.now, advance: (ms: number) => (state.now += ms) };
}

describe('EndpointPool', () => {
  it('normalizes URLs (trailing slash, /v1 suffix, missing scheme)', () => {
    expect(normalizeEndpoint('http://h:8000/v1/')).toBe('http://h:8000');
    expect(normalizeEndpoint('h:8000')).toBe('http://h:8000');
  });

  it('sends each request to the endpoint with the fewest outstanding requests', async () => {
    const pool = new EndpointPool({ engine: 'test', endpoints: ['http://a', 'http://b', 'http://c'] });
    const first = await pool.acquire();
    const second = await pool.acquire();
    const third = await pool.acquire();
    expect(new Set([first.endpoint, second.endpoint, third.endpoint]).size).toBe(3);
    second.release(true);
    // b (or whichever was second) is now the only one with 0 outstanding.
    expect((await pool.acquire()).endpoint).toBe(second.endpoint);
  });

  it('keeps a slow endpoint from receiving more work than the others', async () => {
    const pool = new EndpointPool({ engine: 'test', endpoints: ['http://slow', 'http://fast'] });
    const held = await pool.acquire(); // never released: a long request
    for (let index = 0; index < 5; index += 1) {
      const lease = await pool.acquire();
      expect(lease.endpoint).not.toBe(held.endpoint);
      lease.release(true);
    }
  });

  it('cools a failing endpoint down, then probes it before it gets traffic again', async () => {
    const time = clock();
    const probes: string[] = [];
    let probeResult = false;
    const pool = new EndpointPool({
      engine: 'test',
      endpoints: ['http://a', 'http://b'],
      cooldownMs: 5000,
      now: time.now,
      probe: async (endpoint) => {
        probes.push(endpoint);
        return probeResult;
      },
    });
    pool.markFailure('http://a');
    for (let index = 0; index < 3; index += 1) {
      const lease = await pool.acquire();
      expect(lease.endpoint).toBe('http://b');
      lease.release(true);
    }
    expect(probes).toEqual([]);
    time.advance(5001);
    // a's cooldown is over but it has not passed a probe; b is healthy so it is preferred without probing.
    expect((await pool.acquire()).endpoint).toBe('http://b');
    pool.markFailure('http://b');
    // Now b is cooling and a must pass a probe: it fails, so it cools again and b is probed as the soonest to return.
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(probes).toEqual(['http://a', 'http://b']);
    probeResult = true;
    const back = await pool.acquire();
    expect(['http://a', 'http://b']).toContain(back.endpoint);
    expect(pool.snapshot().find((state) => state.url === back.endpoint)!.failures).toBe(0);
  });

  it('recovers a single endpoint at once when its probe passes (no waiting out the cooldown)', async () => {
    const pool = new EndpointPool({ engine: 'test', endpoints: ['http://only'], cooldownMs: 60_000, probe: async () => true });
    pool.markFailure('http://only');
    expect((await pool.acquire()).endpoint).toBe('http://only');
  });

  it('needs failureThreshold consecutive failures before cooling down', async () => {
    const pool = new EndpointPool({ engine: 'test', endpoints: ['http://a', 'http://b'], failureThreshold: 2, probe: async () => false });
    pool.markFailure('http://a');
    expect(pool.snapshot()[0]!.cooldownUntil).toBe(0);
    pool.markSuccess('http://a');
    pool.markFailure('http://a');
    expect(pool.snapshot()[0]!.cooldownUntil).toBe(0);
    pool.markFailure('http://a');
    expect(pool.snapshot()[0]!.cooldownUntil).toBeGreaterThan(0);
  });

  it('rejects an empty endpoint list with ENGINE_UNAVAILABLE', () => {
    expect(() => new EndpointPool({ engine: 'test', endpoints: [] })).toThrow(/no endpoints/);
  });
});
