import { FakeEngine } from '@muai/core/testing';
import type { FakeEngineOptions } from '@muai/core/testing';
import type { Logger } from '../src/index.js';

/** A logger that keeps what it is told. */
export function memoryLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (message: string) => void warnings.push(message) };
}

/** A FakeEngine that reports a fixed context length and records loads/unloads. */
export class RecordingEngine extends FakeEngine {
  readonly loadedNames: string[] = [];
  readonly unloadedNames: string[] = [];
  constructor(options: FakeEngineOptions = {}) {
    super(options);
  }
  override async load(model: Parameters<FakeEngine['load']>[0]) {
    this.loadedNames.push(model.name);
    return super.load(model);
  }
  override async unload(modelName: string) {
    this.unloadedNames.push(modelName);
    return super.unload(modelName);
  }
}

export function moduleNotFound(specifier: string): Error {
  return Object.assign(new Error(`Cannot find package '${specifier}' imported from /app/index.js`), { code: 'ERR_MODULE_NOT_FOUND' });
}
