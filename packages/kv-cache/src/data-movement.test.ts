import { describe, expect, it } from 'vitest';
import type { MuaiError } from '@muai/core';
import { createKvCache, type KvCache } from './kv-cache.js';
import type { KvElementType } from './types.js';
import { newArray, presentTensor, prefixHashes, expectedElement, tensorIndex } from './test-support.js';

function makeCache(elementType: KvElementType = 'float32', blockSize = 4): KvCache {
  return createKvCache({ numLayers: 3, numKvHeads: 2, headDim: 5, blockSize, elementType, maxMemoryBytes: 1 << 20 });
}

const SENTINEL = 3;
const tokensA = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];

for (const elementType of ['float32', 'float16'] as const) {
  describe(`readPrefixInto / writeFrom (${elementType})`, () => {
    it('scatters a left-padded batch row into blocks and gathers it into another padded row, every layer and kind', () => {
      const cache = makeCache(elementType);
      const sequence = cache.match(tokensA);
      cache.append(sequence, tokensA);
      // Source: batch of 3, our sequence in row 1 with 4 tokens of left padding, total 16.
      const other = [5, 6, 7];
      for (let layer = 0; layer < cache.numLayers; layer++) {
        for (const kind of ['key', 'value'] as const) {
          const present = presentTensor(cache, [other, tokensA, other], [13, 4, 0], 16, layer, kind, SENTINEL);
          cache.writeFrom(sequence, layer, kind, { data: present, totalLength: 16, batchIndex: 1, tokenOffset: 4 });
        }
      }
      for (let layer = 0; layer < cache.numLayers; layer++) {
        for (const kind of ['key', 'value'] as const) {
          // Target: batch of 2, our sequence in row 0 padded by 6 in a total of 17; row 1 untouched.
          const target = newArray(cache, 2 * cache.numKvHeads * 17 * cache.headDim, SENTINEL);
          cache.readPrefixInto(sequence, layer, kind, { data: target, totalLength: 17, batchIndex: 0, tokenOffset: 6 });
          const reference = presentTensor(cache, [tokensA, []], [6, 0], 17, layer, kind, SENTINEL);
          expect(Array.from(target)).toEqual(Array.from(reference));
        }
      }
    });

    it('copies partial ranges that start and end inside blocks', () => {
      const cache = makeCache(elementType, 4);
      const sequence = cache.match(tokensA);
      cache.append(sequence, tokensA);
      const layer = 2;
      const present = presentTensor(cache, [tokensA], [0], tokensA.length, layer, 'value', SENTINEL);
      // Write tokens [3, 9) from a tensor that holds only those tokens (negative offset).
      const onlyNew = newArray(cache, cache.numKvHeads * 6 * cache.headDim, SENTINEL);
      for (let head = 0; head < cache.numKvHeads; head++) {
        for (let t = 0; t < 6; t++) {
          for (let dim = 0; dim < cache.headDim; dim++) {
            onlyNew[tensorIndex(cache, 6, 0, head, t, dim)] = present[tensorIndex(cache, tokensA.length, 0, head, t + 3, dim)]!;
          }
        }
      }
      cache.writeFrom(sequence, layer, 'value', { data: onlyNew, totalLength: 6, tokenOffset: -3 }, { tokenStart: 3, tokenCount: 6 });
      // Read tokens [2, 10) into a row: [2, 3) and [9, 10) were never written; check only [3, 9) against the naive index.
      const target = newArray(cache, cache.numKvHeads * 12 * cache.headDim, SENTINEL);
      cache.readPrefixInto(sequence, layer, 'value', { data: target, totalLength: 12, tokenOffset: 1 }, { tokenStart: 3, tokenCount: 6 });
      const hashes = prefixHashes(tokensA);
      for (let head = 0; head < cache.numKvHeads; head++) {
        for (let t = 0; t < 12; t++) {
          for (let dim = 0; dim < cache.headDim; dim++) {
            const p = t - 1;
            const want = p >= 3 && p < 9 ? expectedElement(cache, hashes[p]!, layer, 'value', head, dim) : SENTINEL;
            expect(target[tensorIndex(cache, 12, 0, head, t, dim)]).toBe(want);
          }
        }
      }
    });

    it('reads by block ids as well as by sequence', () => {
      const cache = makeCache(elementType, 4);
      const sequence = cache.match(tokensA);
      cache.append(sequence, tokensA);
      const present = presentTensor(cache, [tokensA], [0], 11, 0, 'key', SENTINEL);
      cache.writeFrom(sequence, 0, 'key', { data: present, totalLength: 11 });
      const target = newArray(cache, cache.numKvHeads * 8 * cache.headDim, SENTINEL);
      cache.readPrefixInto(sequence.blockIds.slice(0, 2), 0, 'key', { data: target, totalLength: 8 });
      expect(Array.from(target)).toEqual(Array.from(presentTensor(cache, [tokensA.slice(0, 8)], [0], 8, 0, 'key', SENTINEL)));
    });
  });
}

describe('data movement validation', () => {
  it('rejects a tensor of the wrong element type, shape, batch row or token range with INVALID_REQUEST', () => {
    const cache = makeCache('float32');
    const sequence = cache.match(tokensA);
    cache.append(sequence, tokensA);
    const good = new Float32Array(cache.numKvHeads * 11 * cache.headDim);
    const attempts = [
      () => cache.writeFrom(sequence, 0, 'key', { data: new Uint16Array(good.length), totalLength: 11 }),
      () => cache.writeFrom(sequence, 0, 'key', { data: good, totalLength: 12 }),
      () => cache.writeFrom(sequence, 0, 'key', { data: good, totalLength: 11, batchIndex: 1 }),
      () => cache.writeFrom(sequence, 0, 'key', { data: good, totalLength: 11, tokenOffset: 1 }),
      () => cache.writeFrom(sequence, 3, 'key', { data: good, totalLength: 11 }),
      () => cache.writeFrom(sequence, 0, 'key', { data: good, totalLength: 11 }, { tokenStart: 5, tokenCount: 7 }),
      () => cache.readPrefixInto(sequence, 0, 'value', { data: good, totalLength: 10 + 1 }, { tokenCount: 12 }),
      () => cache.readPrefixInto([99], 0, 'value', { data: good, totalLength: 11 }),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrowError(expect.objectContaining({ code: 'INVALID_REQUEST' }) as MuaiError);
    }
    expect(() => cache.writeFrom(sequence, 0, 'key', { data: good, totalLength: 11 })).not.toThrow();
  });

  it('refuses to write into frozen (committed or matched) tokens, which other sequences may share', () => {
    const cache = makeCache('float32', 4);
    const sequence = cache.match(tokensA);
    cache.append(sequence, tokensA);
    cache.commit(sequence);
    expect(sequence.committedLength).toBe(8);
    const data = new Float32Array(cache.numKvHeads * 11 * cache.headDim);
    expect(() => cache.writeFrom(sequence, 0, 'key', { data, totalLength: 11 }, { tokenStart: 7, tokenCount: 4 })).toThrowError(
      /frozen/,
    );
    // The default range starts at the first unfrozen token.
    expect(() => cache.writeFrom(sequence, 0, 'key', { data, totalLength: 11 })).not.toThrow();
  });
});
