import { EngineUnavailableError } from '@muai/core';
import type { Engine } from '@muai/core';
import type { EngineSectionInput, OptimizationSettings } from '../optimization-config.js';
import { camelCaseKeys } from '../optimization-config.js';
import type { EngineFactory } from '../optimization-manager.js';
import { isModuleNotFound } from './errors.js';

/** Built-in engine packages: their factory and, where the package has one, its config-section mapper. */
const PACKAGES: Record<string, { specifier: string; factory: string; fromConfig?: string }> = {
  onnx: { specifier: '@muai/engines-onnx', factory: 'createOnnxEngine' },
  vllm: { specifier: '@muai/engines-vllm', factory: 'createVllmEngine', fromConfig: 'vllmOptionsFromConfig' },
  deepspeed: { specifier: '@muai/engines-deepspeed', factory: 'createDeepSpeedEngine', fromConfig: 'deepspeedOptionsFromConfig' },
};

export interface EngineLoaderOptions {
  /** Factories that replace the built-in packages, by engine name. */
  engines?: Record<string, EngineFactory> | undefined;
  /** Loads engine packages; default `import()`. */
  importModule?: ((specifier: string) => Promise<unknown>) | undefined;
}

/**
 * Creates engine `name`: from an injected factory, else from its package, loaded by dynamic import
 * so that a package that is not installed is an ENGINE_UNAVAILABLE (`reason: not_installed`) naming
 * the package to install, never a crash.
 */
export async function createEngine(name: string, settings: OptimizationSettings, options: EngineLoaderOptions): Promise<Engine> {
  const section = settings.engines[name] ?? {};
  const injected = options.engines?.[name];
  if (injected) return injected({ name, section, settings });
  const known = PACKAGES[name];
  if (!known) {
    throw new EngineUnavailableError(name, 'no engine package or factory is known by that name', 'Remove it from optimization.engine_preference, or pass a factory in `engines`.', { details: { reason: 'not_installed' } });
  }
  let module: Record<string, unknown>;
  try {
    const load = options.importModule ?? ((specifier: string) => import(specifier));
    module = (await load(known.specifier)) as Record<string, unknown>;
  } catch (error) {
    if (isModuleNotFound(error)) {
      throw new EngineUnavailableError(name, `the package ${known.specifier} is not installed`, `Install it with \`npm install ${known.specifier}\`, or set optimization.${name}.enabled to false.`, { cause: error, details: { reason: 'not_installed' } });
    }
    throw error;
  }
  // optimization.onnx.worker_thread: the same engine, with ONNX Runtime in a worker thread.
  const factoryName = name === 'onnx' && section.worker_thread === true ? 'createOnnxWorkerEngine' : known.factory;
  const factory = module[factoryName];
  if (typeof factory !== 'function') {
    throw new EngineUnavailableError(name, `${known.specifier} does not export ${factoryName}()`, `Install a version of ${known.specifier} that matches @muai/orchestrator.`, { details: { reason: 'not_installed' } });
  }
  const mapper = known.fromConfig === undefined ? undefined : module[known.fromConfig];
  let engineOptionsValue: Record<string, unknown>;
  if (typeof mapper === 'function') {
    const { enabled: _enabled, ...rest } = section;
    engineOptionsValue = (mapper as (section: Record<string, unknown>) => Record<string, unknown>)(rest);
  } else {
    engineOptionsValue = engineOptions(name, section, settings);
  }
  return (await (factory as (options: Record<string, unknown>) => Engine | Promise<Engine>)(engineOptionsValue)) as Engine;
}

/** Options for a built-in engine factory: the config section camelCased, plus the KV cache for onnx. */
function engineOptions(name: string, section: EngineSectionInput, settings: OptimizationSettings): Record<string, unknown> {
  const { enabled: _enabled, ...rest } = section;
  const options = camelCaseKeys(rest);
  if (name === 'onnx') {
    // The seed's onnx keys, in the engine's option names.
    if (typeof rest.threads === 'number') options.intraOpNumThreads = rest.threads;
    if (typeof rest.inter_op_threads === 'number') options.interOpNumThreads = rest.inter_op_threads;
    if (settings.enabled && settings.cache.enabled) {
      const { enabled: _cacheEnabled, ...cache } = settings.cache.raw;
      options.kvCache = { ...camelCaseKeys(cache), enabled: true, maxMemoryMb: settings.cache.maxMemoryMb };
    }
    return options;
  }
  if (typeof options.endpoint === 'string' && options.endpoints === undefined) options.endpoints = [options.endpoint];
  const endpoints = options.endpoints;
  if ((!Array.isArray(endpoints) || endpoints.length === 0) && typeof rest.host === 'string' && typeof rest.port === 'number') {
    options.endpoints = [`http://${rest.host}:${rest.port}`];
  }
  return options;
}
