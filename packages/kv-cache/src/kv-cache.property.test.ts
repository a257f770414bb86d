import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MuaiError } from '@muai/core';
import { createKvCache, type KvCache } from './kv-cache.js';
import type { BlockHashFunction } from './hash.js';
import type { KvSequence } from './types.js';
import { findMismatch, writeExpected } from './test-support.js';

type Operation =
  | { type: 'arrive'; base: number; prefix: number; suffix: number[]; commit: boolean }
  | { type: 'decode'; pick: number; tokens: number[]; commit: boolean }
  | { type: 'finish'; pick: number }
  | { type: 'cancel'; pick: number }
  | { type: 'clear' };

const token = fc.integer({ min: 0, max: 3 }); // a tiny vocabulary makes shared and colliding blocks common
const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('arrive' as const), base: fc.nat(2), prefix: fc.nat(14), suffix: fc.array(token, { minLength: 1, maxLength: 5 }), commit: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('decode' as const), pick: fc.nat(), tokens: fc.array(token, { minLength: 1, maxLength: 4 }), commit: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('finish' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('clear' as const) }) },
);

const BASES = [
  [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1],
  [0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
];

const HASHES: Record<string, BlockHashFunction | undefined> = {
  'default FNV-1a': undefined,
  'always colliding': () => 0,
  'weak (sum of tokens)': (parent, tokens) => (tokens.reduce((sum, t) => sum + t, 0) + (parent % 3)) % 4,
};

interface Live {
  sequence: KvSequence;
  tokens: number[];
}

function checkInvariants(cache: KvCache, live: Live[]): void {
  const stats = cache.stats();
  expect(stats.bytesAllocated).toBeLessThanOrEqual(stats.bytesBudget);
  expect(stats.bytesUsed).toBeLessThanOrEqual(stats.bytesAllocated);
  expect(stats.blocksActive + stats.blocksCached + stats.blocksFree).toBe(stats.blocksTotal);
  expect(stats.sequences).toBe(live.length);
  const references = new Map<number, number>();
  for (const { sequence } of live) for (const id of sequence.blockIds) references.set(id, (references.get(id) ?? 0) + 1);
  for (const slot of cache.inspect().slots) {
    expect(slot.refCount).toBe(references.get(slot.id) ?? 0);
    if (slot.refCount > 0) expect(slot.cached || slot.free).toBe(false);
    else expect(slot.cached !== slot.free).toBe(true);
    if (slot.cached) expect(slot.entryId).not.toBe(0);
  }
  // The data of every live sequence is exactly what was written for its tokens.
  for (const { sequence, tokens } of live) expect(findMismatch(cache, sequence, tokens, tokens.length)).toBeUndefined();
}

for (const [hashName, hashBlock] of Object.entries(HASHES)) {
  describe(`random arrivals, decodes, finishes, cancellations and evictions (${hashName} hash)`, () => {
    it('keeps the budget, never frees or evicts a referenced block, evicts LRU, and reuse returns the data written', () => {
      const seen = { hitTokens: 0, evictions: 0, failures: 0 };
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 3 }),
          fc.integer({ min: 3, max: 10 }),
          fc.array(operation, { minLength: 1, maxLength: 40 }),
          (blockSize, budgetBlocks, operations) => {
            const held = new Set<number>();
            const violations: string[] = [];
            const releasedAt = new Map<number, number>();
            let clock = 0;
            const cache = createKvCache({
              numLayers: 2,
              numKvHeads: 2,
              headDim: 3,
              blockSize,
              maxMemoryBytes: budgetBlocks * 2 * 2 * 2 * blockSize * 3 * 4 + 5,
              ...(hashBlock ? { hashBlock } : {}),
              onEvent: (event) => {
                if (event.type !== 'evict') return;
                // Never evict a block that a live sequence holds, and always the least recently released.
                // (The cache swallows hook errors, so violations are collected and asserted outside.)
                if (held.has(event.blockId)) violations.push(`evicted held block ${event.blockId}`);
                const tick = releasedAt.get(event.blockId)!;
                for (const id of cache.inspect().evictionOrder) {
                  if (!(releasedAt.get(id)! > tick)) violations.push(`evicted ${event.blockId} before older ${id}`);
                }
              },
            });
            expect(cache.maxBlocks).toBe(budgetBlocks);
            const live: Live[] = [];
            const syncHeld = () => {
              held.clear();
              for (const { sequence } of live) for (const id of sequence.blockIds) held.add(id);
            };
            const end = (index: number, commit: boolean) => {
              const [entry] = live.splice(index, 1);
              if (commit) cache.commit(entry!.sequence);
              const ids = entry!.sequence.blockIds;
              cache.release(entry!.sequence);
              for (let i = ids.length - 1; i >= 0; i--) releasedAt.set(ids[i]!, ++clock);
              syncHeld();
            };
            for (const op of operations) {
              if (op.type === 'arrive') {
                const tokens = [...BASES[op.base]!.slice(0, op.prefix), ...op.suffix];
                const sequence = cache.match(tokens);
                syncHeld();
                for (const id of sequence.blockIds) held.add(id);
                expect(sequence.cachedLength % blockSize).toBe(0);
                expect(sequence.cachedLength).toBeLessThan(tokens.length);
                // Reuse gives the same keys/values as recomputation.
                expect(findMismatch(cache, sequence, tokens, sequence.cachedLength)).toBeUndefined();
                const needed = cache.blocksNeeded(sequence, tokens.length - sequence.length);
                const available = cache.availableBlocks;
                try {
                  cache.append(sequence, tokens.slice(sequence.length));
                } catch (error) {
                  expect(MuaiError.hasCode(error, 'CACHE_FULL')).toBe(true);
                  expect(needed).toBeGreaterThan(available);
                  const ids = sequence.blockIds;
                  cache.release(sequence);
                  for (let i = ids.length - 1; i >= 0; i--) releasedAt.set(ids[i]!, ++clock);
                  syncHeld();
                  checkInvariants(cache, live);
                  continue;
                }
                writeExpected(cache, sequence, tokens, sequence.cachedLength, tokens.length);
                if (op.commit) cache.commit(sequence);
                live.push({ sequence, tokens });
                syncHeld();
              } else if (op.type === 'decode') {
                if (live.length === 0) continue;
                const index = op.pick % live.length;
                const entry = live[index]!;
                try {
                  cache.append(entry.sequence, op.tokens);
                } catch (error) {
                  expect(MuaiError.hasCode(error, 'CACHE_FULL')).toBe(true);
                  end(index, false); // preempted, as an engine would
                  checkInvariants(cache, live);
                  continue;
                }
                const start = entry.tokens.length;
                entry.tokens.push(...op.tokens);
                writeExpected(cache, entry.sequence, entry.tokens, start, entry.tokens.length);
                if (op.commit) cache.commit(entry.sequence);
                syncHeld();
              } else if (op.type === 'finish' || op.type === 'cancel') {
                if (live.length === 0) continue;
                end(op.pick % live.length, op.type === 'finish');
              } else {
                cache.clear();
                expect(cache.stats().blocksCached).toBe(0);
              }
              checkInvariants(cache, live);
              expect(violations).toEqual([]);
            }
            for (let i = live.length - 1; i >= 0; i--) end(i, true);
            checkInvariants(cache, live);
            expect(cache.stats().blocksActive).toBe(0);
            const stats = cache.stats();
            seen.hitTokens += stats.hitTokens;
            seen.evictions += stats.evictions;
            seen.failures += stats.allocationFailures;
          },
        ),
        { numRuns: 150 },
      );
      // The runs did exercise reuse, eviction and refusal (otherwise the checks above prove little).
      expect(seen.hitTokens).toBeGreaterThan(0);
      expect(seen.evictions).toBeGreaterThan(0);
      expect(seen.failures).toBeGreaterThan(0);
    });
  });
}
