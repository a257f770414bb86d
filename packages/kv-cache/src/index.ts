export { KvCache, createKvCache, kvCacheOptionsFromConfig, DEFAULT_BLOCK_SIZE, DEFAULT_MAX_MEMORY_BYTES } from './kv-cache.js';
export type { KvCacheConfigSection } from './kv-cache.js';
export { CacheFullError } from './errors.js';
export { fnv1aBlockHash, ROOT_BLOCK_HASH } from './hash.js';
export type { BlockHashFunction } from './hash.js';
export type {
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
