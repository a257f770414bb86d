// Helpers shared by this package's tests (not exported from the package).
import type { KvCache } from './kv-cache.js';
import type { KvArray, KvKind } from './types.js';

/** Rolling hash of tokens[0..p] for each p: the "context" that determines position p's keys/values. */
export function prefixHashes(tokens: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(tokens.length);
  let h = 0x811c9dc5;
  for (let p = 0; p < tokens.length; p++) {
    h = Math.imul(h ^ (tokens[p]! + 0x9e3779b9), 0x01000193) >>> 0;
    h = Math.imul(h ^ p, 0x85ebca6b) >>> 0;
    out[p] = h;
  }
  return out;
}

/**
 * The key/value element a model would produce for position p (given its prefix hash), in a layer,
 * kind, head and dim: deterministic in token ids and positions, like a real forward pass.
 */
export function expectedElement(cache: KvCache, prefixHash: number, layer: number, kind: KvKind, head: number, dim: number): number {
  let h = prefixHash ^ Math.imul(layer + 1, 0x27d4eb2d) ^ Math.imul(head + 7, 0x165667b1) ^ (kind === 'key' ? 0x1234567 : 0x7654321);
  h = Math.imul(h ^ (h >>> 15) ^ dim, 0x2c1b3c6d) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  return cache.elementType === 'float16' ? h & 0xffff : ((h % 2001) - 1000) / 8;
}

export function newArray(cache: KvCache, length: number, fill: number): KvArray {
  const data = cache.elementType === 'float16' ? new Uint16Array(length) : new Float32Array(length);
  data.fill(fill);
  return data;
}


/** Naive per-element index of [batch, heads, totalLength, headDim]. */
export function tensorIndex(cache: KvCache, totalLength: number, batch: number, head: number, t: number, dim: number): number {
  return ((batch * cache.numKvHeads + head) * totalLength + t) * cache.headDim + dim;
}

/**
 * A present tensor for one layer/kind: row b holds the expected keys/values of `rows[b]` tokens at
 * `offsets[b] + p`; every other element is `fill`.
 */
export function presentTensor(
  cache: KvCache,
  rows: ArrayLike<number>[],
  offsets: number[],
  totalLength: number,
  layer: number,
  kind: KvKind,
  fill: number,
): KvArray {
  const data = newArray(cache, rows.length * cache.numKvHeads * totalLength * cache.headDim, fill);
  rows.forEach((tokens, b) => {
    const hashes = prefixHashes(tokens);
    for (let p = 0; p < tokens.length; p++) {
      const t = offsets[b]! + p;
      if (t < 0 || t >= totalLength) continue;
      for (let head = 0; head < cache.numKvHeads; head++) {
        for (let dim = 0; dim < cache.headDim; dim++) {
          data[tensorIndex(cache, totalLength, b, head, t, dim)] = expectedElement(cache, hashes[p]!, layer, kind, head, dim);
        }
      }
    }
  });
  return data;
}

/** Writes the expected keys/values of tokens [start, end) of `tokens` for every layer and kind. */
export function writeExpected(cache: KvCache, sequence: Parameters<KvCache['writeFrom']>[0], tokens: ArrayLike<number>, start: number, end: number): void {
  for (let layer = 0; layer < cache.numLayers; layer++) {
    for (const kind of ['key', 'value'] as const) {
      const data = presentTensor(cache, [tokens], [0], tokens.length, layer, kind, 0);
      cache.writeFrom(sequence, layer, kind, { data, totalLength: tokens.length }, { tokenStart: start, tokenCount: end - start });
    }
  }
}

/** Reads tokens [0, count) of a sequence for every layer/kind and compares with expected; returns the first mismatch. */
export function findMismatch(cache: KvCache, sequence: Parameters<KvCache['readPrefixInto']>[0], tokens: ArrayLike<number>, count: number): string | undefined {
  for (let layer = 0; layer < cache.numLayers; layer++) {
    for (const kind of ['key', 'value'] as const) {
      const data = newArray(cache, cache.numKvHeads * count * cache.headDim, 0);
      cache.readPrefixInto(sequence, layer, kind, { data, totalLength: count }, { tokenStart: 0, tokenCount: count });
      const expected = presentTensor(cache, [Array.from(tokens).slice(0, count)], [0], count, layer, kind, 0);
      for (let i = 0; i < data.length; i++) {
        if (data[i] !== expected[i]) return `layer ${layer} ${kind} element ${i}: got ${data[i]}, expected ${expected[i]}`;
      }
    }
  }
  return undefined;
}
