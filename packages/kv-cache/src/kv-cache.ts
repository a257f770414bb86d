import { ConfigInvalidError, InvalidRequestError, RequestAbortedError, type ConfigProblem } from '@muai/core';
import { CacheFullError } from './errors.js';
import { fnv1aBlockHash, ROOT_BLOCK_HASH, type BlockHashFunction } from './hash.js';
import type {
  KvArray,
  KvCacheEvent,
  KvCacheOptions,
  KvCacheStats,
  KvElementType,
  KvKind,
  KvSequence,
  KvTensorView,
  KvTokenRange,
  KvWaitOptions,
} from './types.js';

/** Default budget: config `cache.max_memory_mb` default (512) in bytes. */
export const DEFAULT_MAX_MEMORY_BYTES = 512 * 1024 * 1024;
/** Default tokens per block. */
export const DEFAULT_BLOCK_SIZE = 16;

const MAX_TOKEN_ID = 0x7fffffff;

/**
 * One block slot. Its storage is laid out `[layer][kind][head][token][dim]`, so the tokens of one
 * (layer, kind, head) are one contiguous run of `blockSize * headDim` elements, the same order as
 * a row of a `[batch, kvHeads, totalLength, headDim]` tensor: copies are one `set` per head.
 */
class Block {
  refCount = 0;
  /** Identity in the prefix table; 0 when the block is not registered (private or free). */
  entryId = 0;
  hash = 0;
  /** entryId of the previous block of the chain; 0 for a sequence's first block. */
  parentEntryId = 0;
  /** Token ids of a committed block, checked on every hash hit. */
  readonly tokens: Int32Array;
  constructor(
    readonly id: number,
    readonly storage: KvArray,
    blockSize: number,
  ) {
    this.tokens = new Int32Array(blockSize);
  }
}

class Sequence implements KvSequence {
  blocks: Block[] = [];
  tokens: number[] = [];
  cachedLength = 0;
  /** Full blocks frozen (matched or committed). */
  committedBlocks = 0;
  /** Chain state after the last frozen block, to hash the next one. */
  lastHash = ROOT_BLOCK_HASH;
  lastEntryId = 0;
  released = false;
  constructor(
    readonly owner: KvCache,
    readonly id: number,
    private readonly blockSize: number,
  ) {}
  get length(): number {
    return this.tokens.length;
  }
  get committedLength(): number {
    return this.committedBlocks * this.blockSize;
  }
  get blockIds(): readonly number[] {
    return this.blocks.map((block) => block.id);
  }
}

interface Waiter {
  blocks: number;
  resolve: () => void;
  reject: (error: unknown) => void;
  cleanup: () => void;
}

function checkPositiveInteger(problems: ConfigProblem[], path: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    problems.push({ path, value, expected: 'a positive integer' });
  }
}

/**
 * Paged key/value block store with LRU eviction, a byte budget and automatic prefix reuse.
 * Independent of any runtime: keys/values are plain typed arrays.
 * See README.md for the engine workflow (match, write, commit, read, release).
 */
export class KvCache {
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly elementType: KvElementType;
  readonly blockSize: number;
  readonly maxMemoryBytes: number;
  readonly enabled: boolean;
  /** Bytes of key/value data per block: 2 × layers × heads × blockSize × headDim × element bytes. */
  readonly blockBytes: number;
  /** Elements per block. */
  readonly blockElements: number;
  /** Blocks the budget allows: floor(maxMemoryBytes / blockBytes). */
  readonly maxBlocks: number;

  private readonly hashBlock: BlockHashFunction;
  private readonly onEvent: ((event: KvCacheEvent) => void) | undefined;
  /** Every block slot with storage; ids are indexes. */
  private readonly slots: Block[] = [];
  /** Slots with storage that hold nothing. */
  private readonly freeBlocks: Block[] = [];
  /** Unreferenced registered blocks, least recently used first (Set keeps insertion order). */
  private readonly evictable = new Set<Block>();
  /** hash → registered blocks with that hash (more than one only on collisions). */
  private readonly table = new Map<number, Block[]>();
  private readonly live = new Set<Sequence>();
  private readonly waiters: Waiter[] = [];
  private nextSequenceId = 1;
  private nextEntryId = 1;
  private activeBlocks = 0;
  private readonly counters = {
    lookups: 0,
    lookupHits: 0,
    queriedTokens: 0,
    hitTokens: 0,
    evictions: 0,
    allocationFailures: 0,
  };

  constructor(options: KvCacheOptions) {
    const problems: ConfigProblem[] = [];
    checkPositiveInteger(problems, 'numLayers', options.numLayers);
    checkPositiveInteger(problems, 'numKvHeads', options.numKvHeads);
    checkPositiveInteger(problems, 'headDim', options.headDim);
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    checkPositiveInteger(problems, 'blockSize', blockSize);
    const elementType = options.elementType ?? 'float32';
    if (elementType !== 'float32' && elementType !== 'float16') {
      problems.push({ path: 'elementType', value: elementType, expected: "'float32' or 'float16'" });
    }
    const maxMemoryBytes = options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
    if (typeof maxMemoryBytes !== 'number' || !Number.isFinite(maxMemoryBytes) || maxMemoryBytes < 0) {
      problems.push({ path: 'maxMemoryBytes', value: maxMemoryBytes, expected: 'a non-negative number of bytes' });
    }
    if (options.hashBlock !== undefined && typeof options.hashBlock !== 'function') {
      problems.push({ path: 'hashBlock', expected: 'a function (parentHash, tokenIds) => number' });
    }
    if (problems.length > 0) throw new ConfigInvalidError(problems);

    this.numLayers = options.numLayers;
    this.numKvHeads = options.numKvHeads;
    this.headDim = options.headDim;
    this.elementType = elementType;
    this.blockSize = blockSize;
    this.maxMemoryBytes = maxMemoryBytes;
    this.enabled = options.enabled ?? true;
    this.hashBlock = options.hashBlock ?? fnv1aBlockHash;
    this.onEvent = options.onEvent;
    this.blockElements = 2 * this.numLayers * this.numKvHeads * blockSize * this.headDim;
    this.blockBytes = this.blockElements * (elementType === 'float16' ? 2 : 4);
    this.maxBlocks = Math.floor(maxMemoryBytes / this.blockBytes);
    if (this.maxBlocks < 1) {
      throw new ConfigInvalidError([
        {
          path: 'maxMemoryBytes',
          value: maxMemoryBytes,
          expected: `at least one block (${this.blockBytes} bytes for this model and blockSize ${blockSize}); raise cache.max_memory_mb or lower cache.block_size`,
        },
      ]);
    }
  }

  // ---------------------------------------------------------------- sequences and prefix reuse

  /**
   * Starts a sequence for a prompt and pins the longest cached prefix of it, in whole blocks,
   * always leaving at least one token to compute (so the engine gets logits). The returned
   * sequence's `length` and `cachedLength` are the reused token count; compute tokens from there.
   * Never allocates, so it never fails for lack of room.
   *
   * `options.recordStats: false` leaves the lookup counters and the `match` event out: for an
   * engine storing a finished sequence's blocks, which is bookkeeping, not a request's lookup.
   */
  match(tokenIds: ArrayLike<number>, options: { recordStats?: boolean } = {}): KvSequence {
    const record = options.recordStats !== false;
    const tokens = this.toTokenArray(tokenIds);
    const sequence = new Sequence(this, this.nextSequenceId++, this.blockSize);
    this.live.add(sequence);
    let matched = 0;
    if (this.enabled) {
      const candidates = Math.floor(Math.max(0, tokens.length - 1) / this.blockSize);
      for (let index = 0; index < candidates; index++) {
        const blockTokens = tokens.subarray(index * this.blockSize, (index + 1) * this.blockSize);
        const hash = this.hashBlock(sequence.lastHash, blockTokens);
        const block = this.lookup(hash, sequence.lastEntryId, blockTokens);
        if (block === undefined) break;
        this.pin(block);
        sequence.blocks.push(block);
        sequence.lastHash = hash;
        sequence.lastEntryId = block.entryId;
        matched++;
      }
      if (record) {
        this.counters.lookups++;
        if (matched > 0) this.counters.lookupHits++;
        this.counters.queriedTokens += tokens.length;
        this.counters.hitTokens += matched * this.blockSize;
      }
    }
    const hitTokens = matched * this.blockSize;
    for (let i = 0; i < hitTokens; i++) sequence.tokens.push(tokens[i]!);
    sequence.cachedLength = hitTokens;
    sequence.committedBlocks = matched;
    if (record) this.emit({ type: 'match', sequenceId: sequence.id, queriedTokens: tokens.length, hitTokens });
    return sequence;
  }

  /**
   * Extends a sequence with tokens whose keys/values the caller will write, allocating blocks for
   * them (all or nothing). Frees and evicts LRU cached blocks as needed; throws CacheFullError
   * (code CACHE_FULL) when the budget is held by live sequences. Returns the first new position.
   */
  append(sequence: KvSequence, tokenIds: ArrayLike<number>): number {
    const state = this.own(sequence);
    const tokens = this.toTokenArray(tokenIds);
    const start = state.tokens.length;
    const needed = this.blocksNeeded(state, tokens.length);
    const blocks = this.allocate(needed);
    for (const block of blocks) state.blocks.push(block);
    for (let i = 0; i < tokens.length; i++) state.tokens.push(tokens[i]!);
    return start;
  }

  /** New blocks `append(sequence, …)` of `tokenCount` tokens would allocate. */
  blocksNeeded(sequence: KvSequence, tokenCount: number): number {
    const state = this.own(sequence);
    const total = state.tokens.length + tokenCount;
    return Math.max(0, Math.ceil(total / this.blockSize) - state.blocks.length);
  }

  /**
   * Freezes the sequence's full blocks up to `upToTokens` (default: all of its tokens) and, when
   * the cache is enabled, registers them for reuse by later `match` calls. Call it only after the
   * keys and values of those tokens are written for every layer. Frozen tokens can no longer be
   * written. A block whose content is already cached stays private to this sequence.
   * Returns how many blocks became reusable.
   */
  commit(sequence: KvSequence, upToTokens?: number): number {
    const state = this.own(sequence);
    const limit = upToTokens ?? state.tokens.length;
    if (!Number.isInteger(limit) || limit < 0 || limit > state.tokens.length) {
      throw new InvalidRequestError(
        `commit: upToTokens must be an integer in [0, ${state.tokens.length}] (the sequence length); got ${String(upToTokens)}.`,
      );
    }
    const fullBlocks = Math.floor(limit / this.blockSize);
    let cached = 0;
    for (let index = state.committedBlocks; index < fullBlocks; index++) {
      const block = state.blocks[index]!;
      const base = index * this.blockSize;
      for (let i = 0; i < this.blockSize; i++) block.tokens[i] = state.tokens[base + i]!;
      if (this.enabled) {
        const hash = this.hashBlock(state.lastHash, block.tokens);
        const existing = this.lookup(hash, state.lastEntryId, block.tokens);
        if (existing === undefined) {
          block.entryId = this.nextEntryId++;
          block.hash = hash;
          block.parentEntryId = state.lastEntryId;
          const bucket = this.table.get(hash);
          if (bucket === undefined) this.table.set(hash, [block]);
          else bucket.push(block);
          cached++;
        }
        state.lastEntryId = (existing ?? block).entryId;
        state.lastHash = hash;
      }
      state.committedBlocks = index + 1;
    }
    if (cached > 0) this.emit({ type: 'commit', sequenceId: state.id, cachedBlocks: cached });
    return cached;
  }

  /**
   * Ends a sequence (finished or cancelled): unreferences its blocks. Registered blocks stay
   * cached for reuse (tail blocks become the least recently used); private ones are freed at once.
   * Calling it twice is harmless.
   */
  release(sequence: KvSequence): void {
    const state = this.own(sequence, true);
    if (state.released) return;
    state.released = true;
    this.live.delete(state);
    for (let index = state.blocks.length - 1; index >= 0; index--) {
      const block = state.blocks[index]!;
      block.refCount--;
      if (block.refCount === 0) {
        this.activeBlocks--;
        if (block.entryId !== 0) this.evictable.add(block);
        else this.freeBlocks.push(block);
      }
    }
    state.blocks = [];
    this.emit({ type: 'release', sequenceId: state.id });
    this.wakeWaiters();
  }

  /**
   * Like `match` then `append` of the rest of the prompt, waiting (FIFO) for room instead of
   * failing. Rejects with CACHE_FULL on timeout or when the prompt can never fit, and with
   * REQUEST_ABORTED when the signal fires; the sequence is released then.
   */
  async acquire(tokenIds: ArrayLike<number>, options: KvWaitOptions = {}): Promise<KvSequence> {
    const tokens = this.toTokenArray(tokenIds);
    const sequence = this.match(tokens);
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    try {
      for (;;) {
        const needed = this.blocksNeeded(sequence, tokens.length - sequence.length);
        if (needed <= this.availableBlocks && this.waiters.length === 0) {
          this.append(sequence, tokens.subarray(sequence.length));
          return sequence;
        }
        const wait: KvWaitOptions = {};
        if (options.signal !== undefined) wait.signal = options.signal;
        if (deadline !== undefined) wait.timeoutMs = Math.max(0, deadline - Date.now());
        await this.waitForSpace(needed, wait);
        // Room may have been taken between the wake-up and now; then wait again.
        if (needed <= this.availableBlocks) {
          this.append(sequence, tokens.subarray(sequence.length));
          return sequence;
        }
      }
    } catch (error) {
      this.release(sequence);
      throw error;
    }
  }

  /**
   * Resolves when `blocks` blocks can be allocated (free or evictable), in FIFO order with other
   * waiters. Allocate synchronously right after it resolves (before the next await), or another
   * caller may take the room. Rejects with CACHE_FULL when `blocks` exceeds the whole budget or on
   * timeout, and with REQUEST_ABORTED when the signal fires.
   */
  waitForSpace(blocks: number, options: KvWaitOptions = {}): Promise<void> {
    if (!Number.isInteger(blocks) || blocks < 0) {
      return Promise.reject(new InvalidRequestError(`waitForSpace: blocks must be a non-negative integer; got ${blocks}.`));
    }
    if (blocks > this.maxBlocks) {
      this.counters.allocationFailures++;
      return Promise.reject(new CacheFullError(blocks, this.availableBlocks, this.maxBlocks, { details: { reason: 'exceeds budget' } }));
    }
    if (options.signal?.aborted) return Promise.reject(new RequestAbortedError({ cause: options.signal.reason }));
    if (this.waiters.length === 0 && blocks <= this.availableBlocks) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const { signal, timeoutMs } = options;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => {
        this.removeWaiter(waiter);
        reject(new RequestAbortedError({ cause: signal?.reason }));
      };
      const waiter: Waiter = {
        blocks,
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.removeWaiter(waiter);
          this.counters.allocationFailures++;
          reject(new CacheFullError(blocks, this.availableBlocks, this.maxBlocks, { details: { waitedMs: timeoutMs } }));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /** Blocks that could be allocated now: never-allocated, free and evictable cached blocks. */
  get availableBlocks(): number {
    return this.maxBlocks - this.slots.length + this.freeBlocks.length + this.evictable.size;
  }

  /**
   * Evicts every unreferenced cached block and drops pooled storage (as vLLM's reset_prefix_cache);
   * blocks of live sequences are untouched.
   */
  clear(): void {
    for (const block of [...this.evictable]) this.evict(block);
    // Storage of evicted blocks stays pooled for reuse (bytesAllocated stays within the budget).
    this.wakeWaiters();
  }

  // ---------------------------------------------------------------- data movement

  /**
   * Gathers tokens of a sequence (default: all of them; after `match`, the cached prefix) for
   * one layer and kind into one row of a `[batch, kvHeads, totalLength, headDim]` tensor, token
   * `p` landing at `tokenOffset + p` (left padding). `source` may also be a list of block ids of
   * live blocks, read in order. One `TypedArray.set` per (block, head).
   */
  readPrefixInto(
    source: KvSequence | readonly number[],
    layer: number,
    kind: KvKind,
    target: KvTensorView,
    range: KvTokenRange = {},
  ): void {
    const blocks = this.resolveBlocks(source);
    const length = Array.isArray(source) ? blocks.length * this.blockSize : (source as KvSequence).length;
    const { start, count } = this.checkRange('readPrefixInto', range, length);
    const view = this.checkView('readPrefixInto', target, start, count);
    this.copyRuns(blocks, layer, kind, target, view, start, count, 'read');
  }

  /**
   * Scatters a sequence's keys or values for tokens `[tokenStart, tokenStart + tokenCount)` of one
   * layer from a row of a `[batch, kvHeads, totalLength, headDim]` tensor (e.g. ONNX `present.N.key`)
   * into its blocks; token `p` is read at `tokenOffset + p`. The tokens must have blocks (`append`)
   * and must not be frozen (`committedLength`). Default range: from `committedLength` to the end.
   */
  writeFrom(sequence: KvSequence, layer: number, kind: KvKind, source: KvTensorView, range: KvTokenRange = {}): void {
    const state = this.own(sequence);
    const start = range.tokenStart ?? state.committedLength;
    const { count } = this.checkRange('writeFrom', { ...range, tokenStart: start }, state.tokens.length);
    if (count > 0 && start < state.committedLength) {
      throw new InvalidRequestError(
        `writeFrom: tokens before ${state.committedLength} are frozen (matched or committed, possibly shared); write from tokenStart ${state.committedLength} on.`,
      );
    }
    const view = this.checkView('writeFrom', source, start, count);
    this.copyRuns(state.blocks, layer, kind, source, view, start, count, 'write');
  }

  /**
   * Copies tokens `[start, start + count)` of one layer and kind between blocks and one row of a
   * `[batch, kvHeads, totalLength, headDim]` tensor: `read` fills the tensor, `write` fills the
   * blocks. Inside a block each head is one contiguous run, so this is one `set` per block and head.
   */
  private copyRuns(
    blocks: ReadonlyArray<{ storage: KvTensorView['data'] }>,
    layer: number,
    kind: KvKind,
    tensor: KvTensorView,
    view: { rowBase: number; tokenOffset: number },
    start: number,
    count: number,
    direction: 'read' | 'write',
  ): void {
    const headRun = this.blockSize * this.headDim;
    const kindBase = this.kindBase(layer, kind);
    const stride = tensor.totalLength * this.headDim;
    const data = tensor.data;
    let position = start;
    const end = start + count;
    while (position < end) {
      const blockIndex = Math.floor(position / this.blockSize);
      const inBlock = position - blockIndex * this.blockSize;
      const run = Math.min(this.blockSize - inBlock, end - position) * this.headDim;
      const storage = blocks[blockIndex]!.storage;
      let blockAt = kindBase + inBlock * this.headDim;
      let tensorAt = view.rowBase + (view.tokenOffset + position) * this.headDim;
      for (let head = 0; head < this.numKvHeads; head++) {
        if (direction === 'read') data.set(storage.subarray(blockAt, blockAt + run), tensorAt);
        else storage.set(data.subarray(tensorAt, tensorAt + run), blockAt);
        blockAt += headRun;
        tensorAt += stride;
      }
      position += run / this.headDim;
    }
  }

  // ---------------------------------------------------------------- monitoring

  /** A snapshot of counters and gauges. */
  stats(): KvCacheStats {
    const used = this.activeBlocks + this.evictable.size;
    const c = this.counters;
    return {
      enabled: this.enabled,
      blockSize: this.blockSize,
      blockBytes: this.blockBytes,
      bytesBudget: this.maxMemoryBytes,
      bytesUsed: used * this.blockBytes,
      bytesAllocated: this.slots.length * this.blockBytes,
      blocksTotal: this.maxBlocks,
      blocksActive: this.activeBlocks,
      blocksCached: this.evictable.size,
      blocksFree: this.maxBlocks - used,
      sequences: this.live.size,
      lookups: c.lookups,
      lookupHits: c.lookupHits,
      lookupMisses: c.lookups - c.lookupHits,
      queriedTokens: c.queriedTokens,
      hitTokens: c.hitTokens,
      missTokens: c.queriedTokens - c.hitTokens,
      evictions: c.evictions,
      allocationFailures: c.allocationFailures,
    };
  }

  // ---------------------------------------------------------------- internals

  /** @internal Read-only view of internal state for invariant checks in tests. */
  inspect(): {
    slots: ReadonlyArray<{ id: number; refCount: number; entryId: number; cached: boolean; free: boolean }>;
    evictionOrder: number[];
    sequences: Array<{ id: number; blockIds: number[] }>;
  } {
    const free = new Set(this.freeBlocks);
    return {
      slots: this.slots.map((block) => ({
        id: block.id,
        refCount: block.refCount,
        entryId: block.entryId,
        cached: this.evictable.has(block),
        free: free.has(block),
      })),
      evictionOrder: [...this.evictable].map((block) => block.id),
      sequences: [...this.live].map((sequence) => ({ id: sequence.id, blockIds: sequence.blocks.map((block) => block.id) })),
    };
  }

  private lookup(hash: number, parentEntryId: number, tokens: Int32Array): Block | undefined {
    const bucket = this.table.get(hash);
    if (bucket === undefined) return undefined;
    for (const block of bucket) {
      if (block.parentEntryId !== parentEntryId) continue;
      let same = true;
      for (let i = 0; i < tokens.length; i++) {
        if (block.tokens[i] !== tokens[i]) {
          same = false;
          break;
        }
      }
      if (same) return block;
    }
    return undefined;
  }

  private pin(block: Block): void {
    if (block.refCount === 0) {
      this.evictable.delete(block);
      this.activeBlocks++;
    }
    block.refCount++;
  }

  /** Takes `count` blocks, all or nothing: free storage first, then new storage, then LRU eviction. */
  private allocate(count: number): Block[] {
    if (count === 0) return [];
    const available = this.availableBlocks;
    if (count > available) {
      this.counters.allocationFailures++;
      this.emit({ type: 'cache-full', requestedBlocks: count, availableBlocks: available });
      throw new CacheFullError(count, available, this.maxBlocks);
    }
    const blocks: Block[] = [];
    for (let i = 0; i < count; i++) {
      let block = this.freeBlocks.pop();
      if (block === undefined && this.slots.length < this.maxBlocks) {
        const storage = this.elementType === 'float16' ? new Uint16Array(this.blockElements) : new Float32Array(this.blockElements);
        block = new Block(this.slots.length, storage, this.blockSize);
        this.slots.push(block);
      }
      if (block === undefined) {
        const oldest = this.evictable.values().next().value as Block;
        this.evict(oldest);
        block = this.freeBlocks.pop()!;
      }
      block.refCount = 1;
      this.activeBlocks++;
      blocks.push(block);
    }
    return blocks;
  }

  private evict(block: Block): void {
    this.evictable.delete(block);
    const bucket = this.table.get(block.hash);
    if (bucket !== undefined) {
      const index = bucket.indexOf(block);
      if (index >= 0) bucket.splice(index, 1);
      if (bucket.length === 0) this.table.delete(block.hash);
    }
    block.entryId = 0;
    block.parentEntryId = 0;
    block.hash = 0;
    this.freeBlocks.push(block);
    this.counters.evictions++;
    this.emit({ type: 'evict', blockId: block.id });
  }

  private wakeWaiters(): void {
    let available = this.availableBlocks;
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      if (waiter.blocks > available) break;
      available -= waiter.blocks;
      this.waiters.shift();
      waiter.cleanup();
      waiter.resolve();
    }
  }

  private removeWaiter(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
    waiter.cleanup();
    // A large waiter at the head may have blocked smaller ones that fit now.
    this.wakeWaiters();
  }

  private own(sequence: KvSequence, allowReleased = false): Sequence {
    if (!(sequence instanceof Sequence) || sequence.owner !== this) {
      throw new InvalidRequestError('This sequence does not belong to this KV cache; use the handle returned by its match() or acquire().');
    }
    if (sequence.released && !allowReleased) {
      throw new InvalidRequestError(`Sequence ${sequence.id} was released; start a new one with match().`);
    }
    return sequence;
  }

  private resolveBlocks(source: KvSequence | readonly number[]): readonly Block[] {
    if (!Array.isArray(source)) return this.own(source as KvSequence).blocks;
    return (source as readonly number[]).map((id) => {
      const block = this.slots[id];
      if (block === undefined || (block.refCount === 0 && !this.evictable.has(block))) {
        throw new InvalidRequestError(`Block ${id} holds no data (never allocated, freed or evicted); read blocks of a live sequence.`);
      }
      return block;
    });
  }

  private toTokenArray(tokenIds: ArrayLike<number>): Int32Array {
    if (tokenIds instanceof Int32Array) return tokenIds;
    const tokens = new Int32Array(tokenIds.length);
    for (let i = 0; i < tokenIds.length; i++) {
      const id = tokenIds[i]!;
      if (!Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID) {
        throw new InvalidRequestError(`Token id at index ${i} must be an integer in [0, ${MAX_TOKEN_ID}]; got ${String(id)}.`);
      }
      tokens[i] = id;
    }
    return tokens;
  }

  private kindBase(layer: number, kind: KvKind): number {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.numLayers) {
      throw new InvalidRequestError(`layer must be an integer in [0, ${this.numLayers - 1}]; got ${layer}.`);
    }
    if (kind !== 'key' && kind !== 'value') throw new InvalidRequestError(`kind must be 'key' or 'value'; got ${String(kind)}.`);
    return (layer * 2 + (kind === 'key' ? 0 : 1)) * this.numKvHeads * this.blockSize * this.headDim;
  }

  private checkRange(operation: string, range: KvTokenRange, length: number): { start: number; count: number } {
    const start = range.tokenStart ?? 0;
    const count = range.tokenCount ?? length - start;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > length) {
      throw new InvalidRequestError(
        `${operation}: tokens [${start}, ${start + count}) are outside the sequence's ${length} token(s); append tokens first or narrow the range.`,
      );
    }
    return { start, count };
  }

  private checkView(operation: string, view: KvTensorView, start: number, count: number): { rowBase: number; tokenOffset: number } {
    const expected = this.elementType === 'float16' ? Uint16Array : Float32Array;
    if (!(view.data instanceof expected)) {
      throw new InvalidRequestError(
        `${operation}: data must be a ${expected.name} for a ${this.elementType} cache (float16 is kept as raw Uint16Array bits).`,
      );
    }
    const { totalLength } = view;
    const batchIndex = view.batchIndex ?? 0;
    const tokenOffset = view.tokenOffset ?? 0;
    const rowElements = this.numKvHeads * totalLength * this.headDim;
    if (!Number.isInteger(totalLength) || totalLength < 0 || (rowElements === 0 ? view.data.length !== 0 : view.data.length % rowElements !== 0)) {
      throw new InvalidRequestError(
        `${operation}: data length ${view.data.length} is not a whole number of [${this.numKvHeads}, ${totalLength}, ${this.headDim}] rows; check totalLength and the tensor layout [batch, kvHeads, totalLength, headDim].`,
      );
    }
    const batch = rowElements === 0 ? 0 : view.data.length / rowElements;
    if (!Number.isInteger(batchIndex) || batchIndex < 0 || (count > 0 && batchIndex >= batch)) {
      throw new InvalidRequestError(`${operation}: batchIndex ${batchIndex} is outside the tensor's batch of ${batch}.`);
    }
    if (!Number.isInteger(tokenOffset) || (count > 0 && (tokenOffset + start < 0 || tokenOffset + start + count > totalLength))) {
      throw new InvalidRequestError(
        `${operation}: tokens [${start}, ${start + count}) at tokenOffset ${tokenOffset} fall outside the token axis [0, ${totalLength}).`,
      );
    }
    return { rowBase: batchIndex * rowElements, tokenOffset };
  }

  private emit(event: KvCacheEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch {
      // Monitoring must never break the cache.
    }
  }
}

/** Creates a {@link KvCache}. Throws CONFIG_INVALID listing every bad option. */
export function createKvCache(options: KvCacheOptions): KvCache {
  return new KvCache(options);
}

/** The `cache` section of MuAI config (snake_case, as in muai.yaml). */
export interface KvCacheConfigSection {
  enabled?: boolean;
  max_memory_mb?: number;
  block_size?: number;
  prefix_reuse?: boolean;
}

/**
 * Maps the config `cache` section to options (geometry comes from the model):
 * `max_memory_mb` → `maxMemoryBytes` (MiB), `block_size` → `blockSize`,
 * `prefix_reuse` → `enabled`. Whether to use the cache at all (`cache.enabled`) is the engine's call.
 */
export function kvCacheOptionsFromConfig(config: KvCacheConfigSection): Pick<KvCacheOptions, 'maxMemoryBytes' | 'blockSize' | 'enabled'> {
  const options: Pick<KvCacheOptions, 'maxMemoryBytes' | 'blockSize' | 'enabled'> = {};
  if (config.max_memory_mb !== undefined) options.maxMemoryBytes = config.max_memory_mb * 1024 * 1024;
  if (config.block_size !== undefined) options.blockSize = config.block_size;
  if (config.prefix_reuse !== undefined) options.enabled = config.prefix_reuse;
  return options;
}
