import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundled default model: what it is and where it came from. */
export interface DefaultModelInfo {
  /** Folder name and model name: `stories260K`. */
  name: string;
  /** Absolute path of the converted folder inside this installed package. */
  path: string;
  description: string;
  /** Where the weights come from (upstream project and files). */
  source: string;
  license: string;
}

export const DEFAULT_MODEL_NAME = 'stories260K';

/** This module's file, in the ESM build, the CJS build and the TypeScript source (tests). */
function ownFile(): string {
  if (typeof __filename === 'string') return __filename;
  return fileURLToPath(import.meta.url);
}

/**
 * The root of the installed @muai/models package: the module lives in `<root>/dist` when built and
 * in `<root>/src` in the repository, so the root is one level up either way. Never the cwd.
 */
export function modelsPackageRoot(): string {
  return resolve(dirname(ownFile()), '..');
}

/**
 * Absolute path of the bundled default model (stories260K converted to the Optimum layout), inside
 * the installed package: `<package>/default-model/stories260K`. The package's build writes it from
 * the original llama2.c files in `assets/` (see README.md), outside `dist/` so that rebuilding the
 * code never removes it; the published package ships it.
 */
export function defaultModelPath(): string {
  return join(modelsPackageRoot(), 'default-model', DEFAULT_MODEL_NAME);
}

/** Facts about the bundled default model (see defaultModelPath). */
export function defaultModelInfo(): DefaultModelInfo {
  return {
    name: DEFAULT_MODEL_NAME,
    path: defaultModelPath(),
    description:
      'stories260K: a 260K-parameter Llama-architecture model trained on TinyStories. It continues text as a short children\'s story; it is not an assistant and does not answer questions.',
    source: 'karpathy/tinyllamas stories260K (llama2.c checkpoint stories260K.bin + tok512.bin), converted by @muai/models',
    license: 'MIT',
  };
}

/** True when the default model's folder is complete (the package was built). */
export function defaultModelAvailable(): boolean {
  const path = defaultModelPath();
  return ['config.json', 'tokenizer.json', 'onnx/model.onnx'].every((file) => existsSync(join(path, file)));
}
