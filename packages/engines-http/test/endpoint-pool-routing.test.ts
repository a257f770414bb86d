import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EndpointPool } from '../src/endpoint-pool.js';
import type { EndpointLease, SharedCooldowns } from '../src/endpoint-pool.js';

const URLS = ['http://a:8000', 'http://b:8000', 'http://c:8000', 'http://d:8000', 'http://e:8000'];

function affinityPool(endpoints: readonly string[], loadFactor = 1.25, extra: Partial<ConstructorParameters<typeof EndpointPool>[0]> = {}): EndpointPool {
  return new EndpointPool({ engine: 'test', endpoints, routing: { policy: 'prefix-affinity', prefixLength: 64, loadFactor }, ...extra });
}

const keyArbitrary = fc.string({ minLength: 1, maxLength: 80 });

describe('EndpointPool prefix-affinity (consistent hashing with bounded loads)', () => {
  it('never places a request above the load bound while another endpoint has room', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 5 }),
        fc.double({ min: 1, max: 3, noNaN: true }),
        fc.array(fc.record({ key: keyArbitrary, release: fc.nat({ max: 6 }) }), { minLength: 1, maxLength: 60 }),
        async (count, loadFactor, steps) => {
          const pool = affinityPool(URLS.slice(0, count), loadFactor);
          const held: EndpointLease[] = [];
          for (const step of steps) {
            const before = pool.snapshot();
            const bound = pool.loadBound(before);
            const lease = await pool.acquire(new Set(), step.key);
            const chosen = before.find((state) => state.url === lease.endpoint)!;
            // The bound always leaves room somewhere (load factor >= 1), so the chosen one had room.
            expect(chosen.outstanding + 1).toBeLessThanOrEqual(bound);
            held.push(lease);
            // Release a few, so loads go up and down.
            for (let index = 0; index < step.release && held.length > 0; index += 1) held.splice(step.release % held.length, 1)[0]!.release(true);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('sends the same prefix to the same endpoint while loads are balanced', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), keyArbitrary, fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), async (count, prefix, suffixA, suffixB) => {
        const pool = affinityPool(URLS.slice(0, count));
        const padded = prefix.padEnd(64, '.');
        const first = await pool.acquire(new Set(), padded + suffixA);
        first.release(true);
        const second = await pool.acquire(new Set(), padded + suffixB);
        second.release(true);
        // Only the first prefixLength (64) characters are hashed: the suffix does not matter.
        expect(second.endpoint).toBe(first.endpoint);
        expect(pool.preview(padded)).toBe(first.endpoint);
      }),
      { numRuns: 300 },
    );
  });

  it('removing one endpoint remaps only the keys it owned', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.nat({ max: 4 }), fc.array(keyArbitrary, { minLength: 1, maxLength: 100 }), (count, removedIndex, keys) => {
        const endpoints = URLS.slice(0, count);
        const removed = endpoints[removedIndex % count]!;
        const full = affinityPool(endpoints);
        const reduced = affinityPool(endpoints.filter((url) => url !== removed));
        for (const key of keys) {
          const before = full.preview(key);
          const after = reduced.preview(key);
          if (before !== removed) expect(after).toBe(before);
          else expect(after).not.toBe(removed);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('remaps only the keys of an endpoint that cools down (the ring skips it), and takes them back after', async () => {
    const pool = affinityPool(URLS.slice(0, 3), 1.25, { probe: async () => true, cooldownMs: 60_000 });
    const keys = Array.from({ length: 300 }, (_, index) => `document-${index} shared system prompt`);
    const before = keys.map((key) => pool.preview(key));
    const victim = before[0]!;
    pool.markFailure(victim);
    const during = keys.map((key) => pool.preview(key));
    for (const [index, owner] of before.entries()) {
      if (owner === victim) expect(during[index]).not.toBe(victim);
      else expect(during[index]).toBe(owner);
    }
    pool.markSuccess(victim);
    expect(keys.map((key) => pool.preview(key))).toEqual(before);
  });

  it('spreads distinct prefixes over every endpoint (no endpoint starves)', () => {
    const pool = affinityPool(URLS.slice(0, 3));
    const counts = new Map<string, number>();
    for (let index = 0; index < 3000; index += 1) {
      const owner = pool.preview(`prefix number ${index} ${'x'.repeat(index % 7)}`)!;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    expect(counts.size).toBe(3);
    for (const count of counts.values()) expect(count).toBeGreaterThan(3000 / 3 / 2);
  });

  it('spills a hot prefix to the next endpoint on the ring once its owner is at the bound', async () => {
    const pool = affinityPool(URLS.slice(0, 3), 1.25);
    const leases: EndpointLease[] = [];
    for (let index = 0; index < 12; index += 1) leases.push(await pool.acquire(new Set(), 'the same hot prefix'));
    const loads = pool.snapshot().map((state) => state.outstanding);
    // 12 requests, 3 endpoints, factor 1.25: bound ceil(1.25 * 12 / 3) = 5 at the last placement.
    expect(Math.max(...loads)).toBeLessThanOrEqual(5);
    expect(loads.reduce((sum, load) => sum + load, 0)).toBe(12);
    for (const lease of leases) lease.release(true);
  });

  it('falls back to least-outstanding for a request without a routing key', async () => {
    const pool = affinityPool(URLS.slice(0, 2));
    const held = await pool.acquire(new Set(), 'k');
    const other = await pool.acquire();
    expect(other.endpoint).not.toBe(held.endpoint);
  });

  it('round-robin visits every healthy endpoint in turn', async () => {
    const pool = new EndpointPool({ engine: 'test', endpoints: URLS.slice(0, 3), routing: { policy: 'round-robin' } });
    const seen: string[] = [];
    for (let index = 0; index < 6; index += 1) {
      const lease = await pool.acquire(new Set(), 'same key');
      seen.push(lease.endpoint);
    }
    expect(seen.slice(0, 3).sort()).toEqual(URLS.slice(0, 3));
    expect(seen.slice(3)).toEqual(seen.slice(0, 3));
  });

  it('rejects invalid routing options with CONFIG_INVALID listing every problem', () => {
    expect(() => new EndpointPool({ engine: 'test', endpoints: URLS, routing: { loadFactor: 0.5, prefixLength: 0 } })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', problems: [expect.objectContaining({ path: 'routing.loadFactor' }), expect.objectContaining({ path: 'routing.prefixLength' })] }),
    );
  });
});

describe('EndpointPool shared cooldowns', () => {
  function memoryCooldowns(): SharedCooldowns & { entries: Map<string, number> } {
    const entries = new Map<string, number>();
    return {
      entries,
      cooledUntil: (url) => entries.get(url) ?? 0,
      report: (url, until) => entries.set(url, until),
      clear: (url) => entries.delete(url),
    };
  }

  it("skips an endpoint another replica reported down, and clears it when it serves again", async () => {
    const shared = memoryCooldowns();
    const replicaA = new EndpointPool({ engine: 'test', endpoints: URLS.slice(0, 2), sharedCooldowns: shared, cooldownMs: 60_000, probe: async () => true });
    const replicaB = new EndpointPool({ engine: 'test', endpoints: URLS.slice(0, 2), sharedCooldowns: shared, cooldownMs: 60_000, probe: async () => true });
    replicaA.markFailure(URLS[0]!);
    expect(shared.entries.get(URLS[0]!)).toBeGreaterThan(Date.now());
    // Replica B never saw a failure, yet it avoids the endpoint.
    for (let index = 0; index < 4; index += 1) {
      const lease = await replicaB.acquire();
      expect(lease.endpoint).toBe(URLS[1]);
      lease.release(true);
    }
    expect(replicaB.snapshot()[0]!.cooldownUntil).toBe(shared.entries.get(URLS[0]!));
    replicaA.markSuccess(URLS[0]!);
    expect(shared.entries.has(URLS[0]!)).toBe(false);
  });

  it('keeps working on local state when the shared store throws', async () => {
    const broken: SharedCooldowns = {
      cooledUntil: () => {
        throw new Error('redis is down');
      },
      report: () => {
        throw new Error('redis is down');
      },
      clear: () => {
        throw new Error('redis is down');
      },
    };
    const pool = new EndpointPool({ engine: 'test', endpoints: URLS.slice(0, 2), sharedCooldowns: broken, probe: async () => false });
    pool.markFailure(URLS[0]!);
    const lease = await pool.acquire();
    expect(lease.endpoint).toBe(URLS[1]);
    lease.release(true);
  });
});
