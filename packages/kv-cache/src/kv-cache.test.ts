import { describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import { CacheFullError } from './errors.js';
import { fnv1a64Words, fnv1aBlockHash } from './hash.js';
import { createKvCache, kvCacheOptionsFromConfig, type KvCache } from './kv-cache.js';
import type { KvCacheEvent, KvCacheOptions } from './types.js';
import { findMismatch, writeExpected } from './test-support.js';

const GEOMETRY = { numLayers: 2, numKvHeads: 2, headDim: 4, blockSize: 4 } as const;
// 2 (k,v) * 2 layers * 2 heads * 4 tokens * 4 dims * 4 bytes
const BLOCK_BYTES = 2 * 2 * 2 * 4 * 4 * 4;

function makeCache(blocks: number, options: Partial<KvCacheOptions> = {}): KvCache {
  return createKvCache({ ...GEOMETRY, maxMemoryBytes: blocks * BLOCK_BYTES, ...options });
}

/** Runs a full prompt through the cache like an engine: match, append the rest, write, commit. */
function run(cache: KvCache, tokens: number[], { commit = true } = {}) {
  const sequence = cache.match(tokens);
  const cached = sequence.cachedLength;
  cache.append(sequence, tokens.slice(cached));
  writeExpected(cache, sequence, tokens, cached, tokens.length);
  if (commit) cache.commit(sequence);
  return sequence;
}

const range = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);

describe('geometry and options', () => {
  it('computes block bytes from the geometry and fits whole blocks in the budget', () => {
    const cache = createKvCache({ numLayers: 24, numKvHeads: 2, headDim: 64, elementType: 'float16', maxMemoryBytes: 10_000_000 });
    expect(cache.blockSize).toBe(16);
    expect(cache.blockBytes).toBe(2 * 24 * 2 * 16 * 64 * 2);
    expect(cache.maxBlocks).toBe(Math.floor(10_000_000 / cache.blockBytes));
    expect(createKvCache({ numLayers: 1, numKvHeads: 1, headDim: 1 }).stats().bytesBudget).toBe(512 * 1024 * 1024);
  });

  it('reports every bad option at once with CONFIG_INVALID, including a budget below one block', () => {
    let error: unknown;
    try {
      createKvCache({ numLayers: 0, numKvHeads: 1.5, headDim: 4, blockSize: -1 });
    } catch (caught) {
      error = caught;
    }
    expect(MuaiError.hasCode(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as MuaiError).message).toMatch(/numLayers[\s\S]*numKvHeads[\s\S]*blockSize/);
    expect(() => makeCache(0.5)).toThrowError(/at least one block/);
  });

  it('maps the config cache section to options', () => {
    expect(kvCacheOptionsFromConfig({ max_memory_mb: 3, block_size: 32, prefix_reuse: false })).toEqual({
      maxMemoryBytes: 3 * 1024 * 1024,
      blockSize: 32,
      enabled: false,
    });
    expect(kvCacheOptionsFromConfig({})).toEqual({});
  });
});

describe('prefix reuse', () => {
  it('reuses whole committed blocks, leaves at least one token to compute, and returns the data written', () => {
    const cache = makeCache(16);
    const prompt = range(100, 10);
    const first = run(cache, prompt);
    expect(first.cachedLength).toBe(0);
    cache.release(first);

    const again = cache.match(prompt);
    expect(again.cachedLength).toBe(8); // 2 full blocks of 4; the partial block was private
    expect(findMismatch(cache, again, prompt, 8)).toBeUndefined();
    cache.release(again);

    // A prompt of exactly 8 tokens reuses one block only: the last token must be computed.
    const exact = cache.match(prompt.slice(0, 8));
    expect(exact.cachedLength).toBe(4);
    cache.release(exact);

    // Sharing stops at the first block that differs.
    const diverging = [...prompt.slice(0, 6), 999, ...prompt.slice(7)];
    const partial = cache.match(diverging);
    expect(partial.cachedLength).toBe(4);
    cache.release(partial);

    const stats = cache.stats();
    expect(stats.lookups).toBe(4);
    expect(stats.lookupHits).toBe(3);
    expect(stats.lookupMisses).toBe(1);
    expect(stats.queriedTokens).toBe(10 + 10 + 8 + 10);
    expect(stats.hitTokens).toBe(8 + 4 + 4);
    expect(stats.missTokens).toBe(stats.queriedTokens - stats.hitTokens);
  });

  it('match with recordStats: false reuses blocks without counting a lookup or emitting match', () => {
    const events: KvCacheEvent[] = [];
    const cache = makeCache(16, { onEvent: (event) => events.push(event) });
    const prompt = range(100, 10);
    cache.release(run(cache, prompt));
    const before = cache.stats();
    events.length = 0;
    const quiet = cache.match(prompt, { recordStats: false });
    expect(quiet.cachedLength).toBe(8);
    expect(findMismatch(cache, quiet, prompt, 8)).toBeUndefined();
    cache.release(quiet);
    const after = cache.stats();
    expect([after.lookups, after.lookupHits, after.queriedTokens, after.hitTokens]).toEqual([before.lookups, before.lookupHits, before.queriedTokens, before.hitTokens]);
    expect(events.some((event) => event.type === 'match')).toBe(false);
  });

  it('shares blocks between live sequences and keeps them while any holds them', () => {
    const cache = makeCache(16);
    const base = range(1, 8);
    const a = run(cache, [...base, 50]);
    const b = cache.match([...base, 60, 61]);
    expect(b.cachedLength).toBe(8);
    expect(b.blockIds).toEqual(a.blockIds.slice(0, 2));
    cache.release(a);
    expect(cache.stats().blocksActive).toBe(2); // shared blocks still referenced by b
    cache.clear(); // evicts only unreferenced blocks
    expect(findMismatch(cache, b, base, 8)).toBeUndefined();
    cache.release(b);
    expect(cache.stats().blocksCached).toBe(2);
  });

  it('does not reuse uncommitted blocks, and keeps a duplicate commit private', () => {
    const cache = makeCache(16);
    const prompt = range(7, 9);
    const a = run(cache, prompt, { commit: false });
    expect(cache.match(prompt).cachedLength).toBe(0);
    const b = run(cache, prompt); // computes the same blocks concurrently
    expect(cache.commit(a)).toBe(0); // b's blocks are already the cached copy
    const bBlocks = b.blockIds;
    cache.release(a);
    cache.release(b);
    expect(cache.stats().blocksCached).toBe(2);
    const c = cache.match(prompt);
    expect(c.blockIds).toEqual(bBlocks.slice(0, 2));
  });

  it('continues a chain after a duplicate commit so later blocks are still found', () => {
    const cache = makeCache(32);
    const prompt = range(1, 13);
    const a = run(cache, prompt.slice(0, 5)); // caches block 0
    const b = cache.match(prompt.slice(0, 1)); // matches nothing, computes everything itself
    cache.append(b, prompt);
    writeExpected(cache, b, prompt, 0, 13);
    expect(cache.commit(b)).toBe(2); // block 0 is a duplicate; blocks 1 and 2 are new
    cache.release(a);
    cache.release(b);
    const c = cache.match([...prompt, 0]);
    expect(c.cachedLength).toBe(12);
    expect(findMismatch(cache, c, prompt, 12)).toBeUndefined();
  });

  it('never reuses the wrong data when every hash collides', () => {
    const cache = makeCache(32, { hashBlock: () => 42 });
    const one = range(10, 9);
    const two = range(20, 9);
    const shifted = [...one.slice(4, 8), ...one.slice(0, 4), 0]; // same blocks, different order
    cache.release(run(cache, one));
    cache.release(run(cache, two));
    expect(cache.match(shifted).cachedLength).toBe(0);
    const hit = cache.match(two);
    expect(hit.cachedLength).toBe(8);
    expect(findMismatch(cache, hit, two, 8)).toBeUndefined();
  });

  it('with enabled: false computes everything and stores the same data', () => {
    const cache = makeCache(16, { enabled: false });
    const prompt = range(3, 9);
    const a = run(cache, prompt);
    expect(cache.commit(a)).toBe(0);
    cache.release(a);
    expect(cache.stats().blocksCached).toBe(0);
    const b = run(cache, prompt);
    expect(b.cachedLength).toBe(0);
    expect(findMismatch(cache, b, prompt, 9)).toBeUndefined();
  });
});

describe('budget and eviction', () => {
  it('evicts unreferenced cached blocks least recently used first, tail blocks of a sequence first', () => {
    const events: KvCacheEvent[] = [];
    const cache = makeCache(6, { onEvent: (event) => events.push(event) });
    const a = run(cache, range(0, 9)); // blocks 0,1 cached + 1 private
    const b = run(cache, range(100, 9));
    const [a0, a1] = a.blockIds;
    const [b0, b1] = b.blockIds;
    cache.release(a);
    cache.release(b);
    expect(cache.inspect().evictionOrder).toEqual([a1, a0, b1, b0]);
    // Touch a: match pins then release makes it most recent.
    cache.release(cache.match(range(0, 9)));
    expect(cache.inspect().evictionOrder).toEqual([b1, b0, a1, a0]);
    // 6 blocks total, 4 cached and 2 free: 3 new blocks evict exactly b's tail block.
    const c = cache.match(range(500, 1));
    cache.append(c, range(500, 12));
    const evicted = events.filter((event) => event.type === 'evict').map((event) => (event as { blockId: number }).blockId);
    expect(evicted).toEqual([b1]);
    expect(cache.stats().evictions).toBe(1);
    expect(cache.match(range(100, 9)).cachedLength).toBe(4);
    expect(cache.match(range(0, 9)).cachedLength).toBe(8);
  });

  it('refuses with CACHE_FULL when every block is referenced, without taking any block', () => {
    const cache = makeCache(4);
    const a = cache.match([1]);
    cache.append(a, range(0, 12)); // 3 blocks
    const b = cache.match([1]);
    let error: unknown;
    try {
      cache.append(b, range(0, 8)); // needs 2, 1 available
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CacheFullError);
    expect(MuaiError.hasCode(error, 'CACHE_FULL')).toBe(true);
    expect((error as MuaiError).details).toMatchObject({ requestedBlocks: 2, availableBlocks: 1, totalBlocks: 4 });
    expect(b.length).toBe(0);
    expect(cache.stats()).toMatchObject({ blocksActive: 3, blocksFree: 1, allocationFailures: 1 });
    expect(cache.stats().bytesAllocated).toBeLessThanOrEqual(cache.stats().bytesBudget);
    cache.append(b, range(0, 4));
    expect(cache.stats().blocksFree).toBe(0);
  });

  it('waitForSpace resolves in FIFO order as sequences release', async () => {
    const cache = makeCache(4);
    const a = cache.match([1]);
    cache.append(a, range(0, 16));
    const order: string[] = [];
    const big = cache.waitForSpace(3).then(() => order.push('big'));
    const small = cache.waitForSpace(1).then(() => order.push('small'));
    await Promise.resolve();
    expect(order).toEqual([]);
    cache.release(a);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
  });

  it('waitForSpace rejects on timeout, abort, and when the request exceeds the whole budget', async () => {
    const cache = makeCache(2);
    const a = cache.match([1]);
    cache.append(a, range(0, 8));
    await expect(cache.waitForSpace(1, { timeoutMs: 5 })).rejects.toMatchObject({ code: 'CACHE_FULL' });
    const controller = new AbortController();
    const waiting = cache.waitForSpace(1, { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'REQUEST_ABORTED' });
    await expect(cache.waitForSpace(3)).rejects.toMatchObject({ code: 'CACHE_FULL' });
  });

  it('acquire matches, waits for room, appends the rest, and releases on failure', async () => {
    const cache = makeCache(4);
    const prompt = range(0, 9);
    cache.release(run(cache, prompt)); // 2 blocks cached
    const holder = cache.match([1]);
    cache.append(holder, range(0, 8)); // 2 blocks: evicts nothing, uses free ones
    const pending = cache.acquire([...prompt, 77, 78, 79, 80]); // reuses 8, needs 2 more blocks
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(settled).toBe(false);
    cache.release(holder);
    const sequence = await pending;
    expect(sequence.cachedLength).toBe(8);
    expect(sequence.length).toBe(13);
    await expect(cache.acquire(range(0, 30), { timeoutMs: 5 })).rejects.toMatchObject({ code: 'CACHE_FULL' });
    expect(cache.stats().sequences).toBe(1);
  });
});

describe('acquire under contention', () => {
  it('waits again when the room it was woken for is taken before it runs', async () => {
    const cache = makeCache(4);
    const holder = cache.match([1]);
    cache.append(holder, range(0, 16)); // all 4 blocks
    const pending = cache.acquire(range(0, 8)); // needs 2
    cache.release(holder); // wakes the waiter...
    const grabber = cache.match([1]);
    cache.append(grabber, range(0, 12)); // ...but 3 blocks are taken synchronously before it runs
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(settled).toBe(false);
    cache.release(grabber);
    const sequence = await pending;
    expect(sequence.length).toBe(8);
    expect(cache.stats().blocksActive).toBe(2);
  });
});

describe('sequence lifecycle and monitoring', () => {
  it('release is idempotent; a released sequence cannot be used', () => {
    const cache = makeCache(4);
    const a = run(cache, range(0, 5));
    cache.release(a);
    cache.release(a);
    expect(a.released).toBe(true);
    expect(() => cache.append(a, [1])).toThrowError(/released/);
    const other = makeCache(4);
    expect(() => other.release(cache.match([1]))).toThrowError(/does not belong/);
  });

  it('reports bytes and blocks, and survives a throwing event hook', () => {
    const cache = makeCache(8, {
      onEvent: () => {
        throw new Error('monitoring bug');
      },
    });
    const a = run(cache, range(0, 9));
    expect(cache.stats()).toMatchObject({
      blockBytes: BLOCK_BYTES,
      bytesBudget: 8 * BLOCK_BYTES,
      bytesUsed: 3 * BLOCK_BYTES,
      blocksTotal: 8,
      blocksActive: 3,
      blocksCached: 0,
      blocksFree: 5,
      sequences: 1,
    });
    cache.release(a);
    expect(cache.stats()).toMatchObject({ bytesUsed: 2 * BLOCK_BYTES, blocksActive: 0, blocksCached: 2, blocksFree: 6, sequences: 0 });
  });
});

describe('block hash', () => {
  it('implements FNV-1a 64 exactly (checked against BigInt)', () => {
    const reference = (words: number[]): bigint => {
      let hash = 0xcbf29ce484222325n;
      for (const word of words) {
        for (let shift = 0; shift < 32; shift += 8) {
          hash ^= BigInt((word >>> shift) & 0xff);
          hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
        }
      }
      return hash;
    };
    for (const words of [[], [0], [1, 2, 3], [0xffffffff, 0x7fffffff, 123456789], range(0, 64)]) {
      const [hi, lo] = fnv1a64Words(words);
      expect((BigInt(hi) << 32n) | BigInt(lo)).toBe(reference(words));
    }
  });

  it('depends on the parent hash and the tokens, and returns a safe integer', () => {
    const tokens = Int32Array.from(range(5, 16));
    const h = fnv1aBlockHash(0, tokens);
    expect(Number.isSafeInteger(h)).toBe(true);
    expect(fnv1aBlockHash(0, tokens)).toBe(h);
    expect(fnv1aBlockHash(h, tokens)).not.toBe(h);
    expect(fnv1aBlockHash(0, Int32Array.from(range(6, 16)))).not.toBe(h);
  });
});
