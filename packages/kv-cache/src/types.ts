import type { BlockHashFunction } from './hash.js';

/** How keys/values are stored: `float32` in Float32Array, `float16` as raw IEEE half bits in Uint16Array. */
export type KvElementType = 'float32' | 'float16';

/** The typed array that holds keys/values of a given element type. */
export type KvArray = Float32Array | Uint16Array;

/** Which half of a layer's cache: keys or values. */
export type KvKind = 'key' | 'value';

/** Options of {@link createKvCache}. Geometry fields are required; the rest have defaults. */
export interface KvCacheOptions {
  /** Decoder layers of the model (one key and one value tensor each). */
  numLayers: number;
  /** Key/value heads per layer (`num_key_value_heads`; fewer than attention heads under GQA). */
  numKvHeads: number;
  /** Elements per head (`head_dim`, usually hidden_size / num_attention_heads). */
  headDim: number;
  /** Storage element type. Default `'float32'`. */
  elementType?: KvElementType;
  /** Tokens per block. Default 16 (as vLLM). Only full blocks are shared between sequences. */
  blockSize?: number;
  /**
   * Budget for key/value data in bytes; never exceeded. Default 512 MiB
   * (config `cache.max_memory_mb` × 1024 × 1024). Must hold at least one block.
   */
  maxMemoryBytes?: number;
  /**
   * When false, nothing is shared: `match` never hits and `commit` caches nothing, so every
   * sequence computes its whole prompt (the same output, only slower). Default true.
   */
  enabled?: boolean;
  /** Block hash (default FNV-1a 64 folded to 53 bits). Tests inject colliding functions here. */
  hashBlock?: BlockHashFunction;
  /** Called synchronously for monitoring; errors it throws are swallowed. */
  onEvent?: (event: KvCacheEvent) => void;
}

/**
 * A region of a `[batch, kvHeads, totalLength, headDim]` tensor (the layout of ONNX
 * `past_key_values.*` / `present.*`), one batch row of which is read or written.
 */
export interface KvTensorView {
  /** The whole tensor's data: Float32Array for `float32` caches, Uint16Array for `float16`. */
  data: KvArray;
  /** Length of the token axis (`totalLength`, the third dimension). */
  totalLength: number;
  /** Batch row holding the sequence. Default 0. */
  batchIndex?: number;
  /**
   * Index on the token axis of the sequence's token 0: the row's left padding in a left-padded
   * batch. Token `p` lives at `tokenOffset + p`. May be negative when the tensor starts at a later
   * token (e.g. it holds only new tokens). Default 0.
   */
  tokenOffset?: number;
}

/** A range of a sequence's token positions. */
export interface KvTokenRange {
  /** First token position. Default 0. */
  tokenStart?: number;
  /** Number of tokens. Default: up to the end of the sequence (or of the given blocks). */
  tokenCount?: number;
}

/**
 * A sequence's view of the cache: its block table and how many of its tokens are stored, shared
 * and frozen. Handles come from `match`/`acquire` and end with `release`.
 */
export interface KvSequence {
  /** Unique id within the cache. */
  readonly id: number;
  /** Token positions that have blocks (matched plus appended). */
  readonly length: number;
  /** Tokens reused from the cache by `match` (a multiple of the block size); compute from here. */
  readonly cachedLength: number;
  /** Tokens in frozen full blocks (matched or committed); they can no longer be written. */
  readonly committedLength: number;
  /** Block ids in order (block `i` holds tokens `[i*blockSize, (i+1)*blockSize)`). */
  readonly blockIds: readonly number[];
  /** True after `release`. */
  readonly released: boolean;
}

/** Options of waiting for room in the cache. */
export interface KvWaitOptions {
  /** Stops waiting with REQUEST_ABORTED. */
  signal?: AbortSignal;
  /** Stops waiting with CACHE_FULL after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

/** Counters and gauges for monitoring. Token counts follow vLLM's prefix_cache_queries/hits. */
export interface KvCacheStats {
  enabled: boolean;
  blockSize: number;
  /** Bytes of key/value data in one block. */
  blockBytes: number;
  /** The memory budget in bytes (`maxMemoryBytes`). */
  bytesBudget: number;
  /** Bytes of blocks holding data (active plus cached). */
  bytesUsed: number;
  /** Bytes of block storage currently allocated (used plus pooled free blocks); ≤ bytesBudget. */
  bytesAllocated: number;
  /** Blocks the budget allows. */
  blocksTotal: number;
  /** Blocks referenced by at least one live sequence. */
  blocksActive: number;
  /** Unreferenced blocks kept for prefix reuse; evicted LRU when room is needed. */
  blocksCached: number;
  /** Blocks neither active nor cached (allocated or not). */
  blocksFree: number;
  /** Live sequences. */
  sequences: number;
  /** `match` calls. */
  lookups: number;
  /** `match` calls that reused at least one block. */
  lookupHits: number;
  /** `match` calls that reused nothing. */
  lookupMisses: number;
  /** Prompt tokens looked up. */
  queriedTokens: number;
  /** Tokens reused from the cache. */
  hitTokens: number;
  /** Tokens looked up but not reused (`queriedTokens - hitTokens`). */
  missTokens: number;
  /** Cached blocks evicted to make room. */
  evictions: number;
  /** Allocations refused with CACHE_FULL. */
  allocationFailures: number;
}

/** Events passed to `onEvent`. */
export type KvCacheEvent =
  | { type: 'match'; sequenceId: number; queriedTokens: number; hitTokens: number }
  | { type: 'commit'; sequenceId: number; cachedBlocks: number }
  | { type: 'evict'; blockId: number }
  | { type: 'release'; sequenceId: number }
  | { type: 'cache-full'; requestedBlocks: number; availableBlocks: number };
