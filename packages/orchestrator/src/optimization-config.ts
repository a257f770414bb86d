import { optimizationSchema } from '@muai/config';
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

/** The `optimization` defaults of @muai/config's schema: the one set of defaults every package uses. */
export const OPTIMIZATION_DEFAULTS = optimizationSchema.parse({});

/** Default `engine_preference`, from @muai/config. */
export const DEFAULT_ENGINE_PREFERENCE: readonly string[] = OPTIMIZATION_DEFAULTS.engine_preference;

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
 * Accepts the `optimization` section, or a whole config that contains one, and fills in the
 * defaults of @muai/config's schema (enabled true when a section is given, as the seed's
 * `OptimizationConfig(enabled=True)`; nothing given means optimization off).
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
  const defaults = OPTIMIZATION_DEFAULTS;
  return {
    enabled: section.enabled ?? input !== undefined,
    enginePreference: [...new Set(preference)],
    fallbackOnError: section.fallback_on_error ?? defaults.fallback_on_error,
    engines,
    batcher: {
      enabled: batcher.enabled ?? defaults.batcher.enabled,
      maxBatchSize: batcher.max_batch_size ?? defaults.batcher.max_batch_size,
      batchTimeoutMs: batcher.batch_timeout_ms ?? defaults.batcher.batch_timeout_ms,
      maxQueueSize: batcher.max_queue_size ?? defaults.batcher.max_queue_size,
      raw: batcher,
    },
    cache: { enabled: cache.enabled ?? defaults.cache.enabled, maxMemoryMb: cache.max_memory_mb ?? defaults.cache.max_memory_mb, raw: cache },
  };
}

/** Remote engines with a section of their own in the config (`optimization.vllm`, `.deepspeed`). */
const REMOTE_ENGINES: readonly string[] = ['vllm', 'deepspeed'];

/**
 * The order engines are tried in: @muai/config's `engineOrder` rule, extended to custom engines
 * (an engine listed in `engine_preference` that has a factory is enabled). With optimization off
 * only the embedded engine serves.
 *   1. remote engines switched on but not listed (`MUAI_OPT_VLLM_ENABLED=true` alone means "use vLLM");
 *   2. the listed engines that are enabled, in order;
 *   3. `onnx`, when enabled and not listed, if `fallback_on_error` (or nothing else is enabled).
 */
export function engineOrderOf(settings: OptimizationSettings, hasFactory: (name: string) => boolean = () => false): string[] {
  const onnxEnabled = settings.engines['onnx']?.enabled !== false;
  if (!settings.enabled) return onnxEnabled ? ['onnx'] : [];
  const enabled = (name: string): boolean => {
    if (name === 'onnx') return onnxEnabled;
    const section = settings.engines[name];
    return section !== undefined ? section.enabled === true : hasFactory(name);
  };
  const order: string[] = [];
  // Only an engine's own `enabled: true` puts an unlisted engine first (a factory alone does not).
  for (const name of REMOTE_ENGINES) if (!settings.enginePreference.includes(name) && settings.engines[name]?.enabled === true) order.push(name);
  for (const name of settings.enginePreference) if (enabled(name) && !order.includes(name)) order.push(name);
  if (!order.includes('onnx') && onnxEnabled && (settings.fallbackOnError || order.length === 0)) order.push('onnx');
  return order;
}

/** Converts `snake_case` keys to `camelCase` (one level), for handing config sections to engine factories. */
export function camelCaseKeys(section: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section)) {
    out[key.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase())] = value;
  }
  return out;
}
