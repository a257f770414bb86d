/** Small helpers for the orchestrator and the CLI. */
import { stringify } from 'yaml';
import type { LoadedConfig, ValueSource } from './load.js';
import { ENGINE_NAMES, resolveEngineName } from './schema.js';
import type { EngineName, MuaiConfig } from './schema.js';

export interface SourceEntry {
  /** Dotted key path, e.g. `monitoring.prometheus.port`. */
  path: string;
  value: unknown;
  /** `default`, a file path, `env:MUAI_...`, or `override`. */
  source: ValueSource;
}

/** Every leaf value of a loaded configuration with where it came from, in schema order. */
export function describeSources(loaded: Pick<LoadedConfig, 'config' | 'sources'>): SourceEntry[] {
  return Object.entries(loaded.sources).map(([path, source]) => {
    let value: unknown = loaded.config;
    for (const key of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
    return { path, value, source };
  });
}

/**
 * Whether an engine may serve requests. `pytorch` is read as `onnx`. The embedded `onnx` engine
 * depends only on `optimization.onnx.enabled` (it is the baseline, like PyTorch in the seed);
 * `vllm` and `deepspeed` also need `optimization.enabled`.
 */
export function isEngineEnabled(config: Pick<MuaiConfig, 'optimization'>, name: string): boolean {
  const engine = resolveEngineName(name);
  if (engine === undefined) return false;
  const optimization = config.optimization;
  if (engine === 'onnx') return optimization.onnx.enabled;
  return optimization.enabled && optimization[engine].enabled;
}

/**
 * The order engines are tried in: remote engines that are enabled but not listed in
 * `engine_preference` first (switching one on, e.g. `MUAI_OPT_VLLM_ENABLED=true`, means "use it"),
 * then the listed engines that are enabled, in their order, then the embedded `onnx` engine when
 * it is enabled, not listed, and `fallback_on_error` is true (or nothing else is enabled).
 */
export function engineOrder(config: Pick<MuaiConfig, 'optimization'>): EngineName[] {
  const listed = config.optimization.engine_preference;
  const order: EngineName[] = [];
  for (const engine of ENGINE_NAMES) {
    if (engine !== 'onnx' && !listed.includes(engine) && isEngineEnabled(config, engine)) order.push(engine);
  }
  for (const engine of listed) if (isEngineEnabled(config, engine) && !order.includes(engine)) order.push(engine);
  if (!order.includes('onnx') && isEngineEnabled(config, 'onnx') && (config.optimization.fallback_on_error || order.length === 0)) {
    order.push('onnx');
  }
  return order;
}

/** The configuration as YAML in file form, loadable again with the same result. */
export function configToYaml(config: MuaiConfig): string {
  return stringify(config, { lineWidth: 0 });
}

const VLLM_DTYPE_NAMES: Readonly<Record<string, string>> = Object.freeze({ fp16: 'float16', bf16: 'bfloat16', fp32: 'float32' });

/** vLLM's own name for `optimization.vllm.dtype` (the seed's `fp16` is `float16`), for `vllm serve --dtype`. */
export function vllmDtypeFlag(dtype: string): string {
  return VLLM_DTYPE_NAMES[dtype] ?? dtype;
}
