import { ModelNotFoundError } from '@muai/core';
import type { ModelSpec } from '@muai/core';
import { isModuleNotFound, messageOf } from './errors.js';

/** The part of @muai/hub this file uses (loaded on demand, so that it stays optional). */
interface HubModule {
  pullModel(repo: string, options: { dtype?: string; onEvent?: (event: unknown) => void }): Promise<{ path: string }>;
  createProgressPrinter?(stream?: NodeJS.WritableStream): (event: unknown) => void;
  isValidRepoId?(value: string): boolean;
}

/**
 * The snapshot folder of a Hugging Face Hub id given as `models.<name>.path` (e.g.
 * `onnx-community/SmolLM2-135M-Instruct`): downloaded into the Hugging Face cache on the model's first
 * load, found there afterwards (offline too, with HF_HUB_OFFLINE=1). Progress goes to stderr.
 * Without @muai/hub installed, a MODEL_NOT_FOUND that names the package to install.
 */
export async function resolveHubModel(spec: ModelSpec, importModule: (specifier: string) => Promise<unknown>): Promise<string> {
  const missing = (reason: string): ModelNotFoundError =>
    new ModelNotFoundError(
      spec.name,
      `Its path "${spec.path}" is a Hugging Face Hub id, and downloading it needs the @muai/hub package (${reason}): npm install @muai/hub. Or point models.${spec.name}.path at a local model folder, or serve the model with vLLM (optimization.vllm.enabled: true).`,
      { details: { path: spec.path, package: '@muai/hub' } },
    );
  let hub: Partial<HubModule>;
  try {
    hub = (await importModule('@muai/hub')) as Partial<HubModule>;
  } catch (error) {
    if (isModuleNotFound(error)) throw missing('it is not installed');
    throw missing(`it failed to load: ${messageOf(error)}`);
  }
  if (typeof hub.pullModel !== 'function') throw missing('the installed copy does not export pullModel');
  if (typeof hub.isValidRepoId === 'function' && !hub.isValidRepoId(spec.path)) {
    throw new ModelNotFoundError(
      spec.name,
      `Its path "${spec.path}" is neither a local folder nor a Hugging Face Hub id (org/name). Point models.${spec.name}.path at an exported model folder (config.json, tokenizer.json, onnx/model.onnx) or at a Hub repository with ONNX files.`,
      { details: { path: spec.path } },
    );
  }
  const dtype = spec.dtype ?? (spec.loadIn8bit === true ? 'q8' : undefined);
  const onEvent = typeof hub.createProgressPrinter === 'function' ? hub.createProgressPrinter(process.stderr) : undefined;
  const pulled = await hub.pullModel(spec.path, { ...(dtype !== undefined ? { dtype } : {}), ...(onEvent ? { onEvent } : {}) });
  return pulled.path;
}
