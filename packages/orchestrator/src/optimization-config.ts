/**
 * The `optimization` section as the OptimizationManager reads it. Keys are the seed's YAML keys
 * (snake_case), so a config from @muai/config's `loadOptimizationConfig` / `loadConfig` fits as is,
 * and so does a hand-written partial object such as `{ enabled: true }`.
 */

/** One engine's section (`optimization.vllm`, `.deepspeed`, `.onnx`). Extra keys go to the engine. */
export type EngineSectionInput = {
  enabled?: boolean | undefined;
  [key: string]: unknown;
};

export type BatcherSectionInput = {
  enabled?: boolean | undefined;
  max_batch_size?: number | undefined;
  batch_timeout_ms?: number | undefined;
  max_queue_size?: number | undefined;
  [key: string]: unknown;
};

export type CacheSectionInput = {
  enabled?: boolean | undefined;
  max_memory_mb?: number | undefined;
  [key: string]: unknown;
};

/** The `optimization` section; every key optional. */
export type OptimizationConfigInput = {
  enabled?: boolean | undefined;
  engine_preference?: readonly string[] | undefined;
  fallback_on_error?: boolean | undefined;
  vllm?: EngineSectionInput | undefined;
  deepspeed?: EngineSectionInput | undefined;
  onnx?: EngineSectionInput | undefined;
  batcher?: BatcherSectionInput | undefined;
  cache?: CacheSectionInput | undefined;
  [key: string]: unknown;
};

/** The section after defaults. */
export interface OptimizationSettings {
  enabled: boolean;
  /** Engine names in the order they are tried, `pytorch` already mapped to `onnx`, duplicates removed. */
  enginePreference: string[];
  fallbackOnError: boolean;
  engines: Record<string, EngineSectionInput>;
  batcher: { enabled: boolean; maxBatchSize: number; batchTimeoutMs: number; maxQueueSize: number; raw: BatcherSectionInput };
  cache: { enabled: boolean; maxMemoryMb: number; raw: CacheSectionInput };
}

/** Default `engine_preference` (the seed's order; `pytorch` is the embedded engine's alias). */
export const DEFAULT_ENGINE_PREFERENCE: readonly string[] = ['vllm', 'deepspeed', 'onnx'];

/** Engine names that mean "the embedded ONNX Runtime engine". */
export const EMBEDDED_ENGINE_ALIASES: readonly string[] = ['onnx', 'pytorch'];

/** Maps `pytorch` (the seed's in-process engine) to `onnx`, our embedded engine. */
export function canonicalEngineName(name: string): string {
  return EMBEDDED_ENGINE_ALIASES.includes(name) ? 'onnx' : name;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Accepts the `optimization` section, or a whole config that contains one, and fills in defaults:
 * enabled true when a section is given (the seed's `OptimizationConfig(enabled=True)`), fallback_on_error
 * true, batcher and cache off.
 */
export function normalizeOptimizationConfig(input?: OptimizationConfigInput | { optimization?: OptimizationConfigInput | undefined }): OptimizationSettings {
  let section: OptimizationConfigInput = {};
  if (isRecord(input)) {
    const nested = (input as { optimization?: unknown }).optimization;
    section = (isRecord(nested) ? nested : input) as OptimizationConfigInput;
  }
  const preference = (section.engine_preference ?? DEFAULT_ENGINE_PREFERENCE).map(canonicalEngineName);
  const engines: Record<string, EngineSectionInput> = {};
  for (const name of ['vllm', 'deepspeed', 'onnx']) {
    const value = section[name];
    if (isRecord(value)) engines[name] = value as EngineSectionInput;
  }
  const batcher = section.batcher ?? {};
  const cache = section.cache ?? {};
  return {
    enabled: section.enabled ?? input !== undefined,
    enginePreference: [...new Set(preference)],
    fallbackOnError: section.fallback_on_error ?? true,
    engines,
    batcher: {
      enabled: batcher.enabled ?? false,
      maxBatchSize: batcher.max_batch_size ?? 8,
      batchTimeoutMs: batcher.batch_timeout_ms ?? 10,
      maxQueueSize: batcher.max_queue_size ?? 1000,
      raw: batcher,
    },
    cache: { enabled: cache.enabled ?? false, maxMemoryMb: cache.max_memory_mb ?? 512, raw: cache },
  };
}

/** Converts `snake_case` keys to `camelCase` (one level), for handing config sections to engine factories. */
export function camelCaseKeys(section: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section)) {
    out[key.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase())] = value;
  }
  return out;
}
