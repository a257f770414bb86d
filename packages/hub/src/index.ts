export { pullModel, resolveModel, isHubId, isValidRepoId } from './resolve-model.js';
export type { HubOptions, PullResult } from './resolve-model.js';
export type { PullEvent } from './events.js';
export { createProgressPrinter } from './progress.js';
export type { ProgressPrinterOptions, ProgressStream } from './progress.js';
export { HubUnauthorizedError, HubNoOnnxError, HubDownloadError } from './errors.js';
export type { HubDownloadFailure } from './errors.js';
export { defaultCacheDir } from './internal/settings.js';
export { DTYPE_SUFFIXES } from './internal/select-files.js';
