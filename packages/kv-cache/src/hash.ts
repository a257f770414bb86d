/**
 * Block hashing for prefix reuse: FNV-1a 64 over the bytes of the parent hash and the block's
 * token ids, folded to a 53-bit safe integer so it can key a `Map` without BigInt.
 * A hash only finds candidates; the cache always verifies the stored token ids and the parent
 * block before reusing anything, so a collision can cost a miss but never return wrong data.
 */

/**
 * Hashes one full block of token ids chained to its parent's hash.
 * Must be a pure function of its inputs. `parentHash` is {@link ROOT_BLOCK_HASH} for a sequence's
 * first block. The returned number is used as a map key (any number is accepted).
 */
export type BlockHashFunction = (parentHash: number, tokenIds: Int32Array) => number;

/** Parent hash of a sequence's first block. */
export const ROOT_BLOCK_HASH = 0;

const TWO_POW_32 = 4294967296;
// FNV-1a 64 offset basis 0xcbf29ce484222325, split into 32-bit halves.
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
// FNV 64 prime is 2^40 + 0x1b3: multiply by 0x1b3 and add (lo << 8) into the high half.
const PRIME_LOW_PART = 0x1b3;

// Running FNV state, in two 32-bit halves (module-level to avoid allocating per call).
let stateHi = 0;
let stateLo = 0;

/** Feeds 32-bit words (as 4 little-endian bytes each) into the running FNV-1a 64 state. */
function absorb(words: ArrayLike<number>): void {
  let hi = stateHi;
  let lo = stateLo;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]! >>> 0;
    for (let shift = 0; shift < 32; shift += 8) {
      lo = (lo ^ ((word >>> shift) & 0xff)) >>> 0;
      const product = lo * PRIME_LOW_PART; // < 2^41, exact in a double
      const carry = Math.floor(product / TWO_POW_32);
      hi = (Math.imul(hi, PRIME_LOW_PART) + carry + (lo << 8)) >>> 0;
      lo = product >>> 0;
    }
  }
  stateHi = hi;
  stateLo = lo;
}

/**
 * FNV-1a 64 of a byte sequence given as 32-bit little-endian words, returned as [hi, lo].
 * Exposed for tests that compare it with a BigInt reference.
 */
export function fnv1a64Words(words: ArrayLike<number>): [number, number] {
  stateHi = OFFSET_HI;
  stateLo = OFFSET_LO;
  absorb(words);
  return [stateHi, stateLo];
}

/** Folds a [hi, lo] pair into a non-negative safe integer (53 bits). */
function fold53(hi: number, lo: number): number {
  return (hi & 0x1fffff) * TWO_POW_32 + lo;
}

const parentWords = new Uint32Array(2);

/**
 * The default {@link BlockHashFunction}: FNV-1a 64 over the parent hash (as two 32-bit words)
 * followed by each token id (as a 32-bit word), folded to 53 bits.
 */
export const fnv1aBlockHash: BlockHashFunction = (parentHash, tokenIds) => {
  parentWords[0] = Math.floor(parentHash / TWO_POW_32);
  parentWords[1] = parentHash >>> 0;
  stateHi = OFFSET_HI;
  stateLo = OFFSET_LO;
  absorb(parentWords);
  absorb(tokenIds);
  return fold53(stateHi, stateLo);
};
