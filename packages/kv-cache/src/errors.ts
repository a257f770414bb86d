import { MuaiError, type MuaiErrorOptions } from '@muai/core';

/** Thrown when blocks are needed but every block is referenced by a live sequence. */
export class CacheFullError extends MuaiError {
  constructor(requestedBlocks: number, availableBlocks: number, totalBlocks: number, options: MuaiErrorOptions = {}) {
    super(
      'CACHE_FULL',
      `The KV cache has no room: ${requestedBlocks} block(s) needed, ${availableBlocks} free or evictable of ${totalBlocks}. ` +
        'Wait for running sequences to finish (waitForSpace) and retry, or raise cache.max_memory_mb.',
      { ...options, details: { requestedBlocks, availableBlocks, totalBlocks, ...options.details } },
    );
    this.name = 'CacheFullError';
  }
}
