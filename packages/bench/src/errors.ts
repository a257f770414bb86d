import { MuaiError } from '@muai/core';
import type { MuaiErrorOptions } from '@muai/core';

/** The target did not answer the preflight request (refused, DNS, timeout). No load was sent. */
export class BenchTargetUnreachableError extends MuaiError {
  constructor(url: string, reason: string, options: MuaiErrorOptions = {}) {
    super('BENCH_TARGET_UNREACHABLE', `The benchmark target ${url} is unreachable (${reason}). Start the server or fix --base-url; no load was sent.`, {
      ...options,
      details: { url, ...options.details },
    });
    this.name = 'BenchTargetUnreachableError';
  }
}

/** The target answered, but not as an OpenAI-compatible streaming endpoint. No load was sent. */
export class BenchTargetInvalidError extends MuaiError {
  constructor(url: string, reason: string, options: MuaiErrorOptions = {}) {
    super(
      'BENCH_TARGET_INVALID',
      `The benchmark target ${url} did not answer as an OpenAI-compatible streaming endpoint: ${reason}. Check --endpoint (/v1/completions or /v1/chat/completions), --api-key and --served-model-name; no load was sent.`,
      { ...options, details: { url, ...options.details } },
    );
    this.name = 'BenchTargetInvalidError';
  }
}

/** A dataset file is missing, unreadable or not in the expected format. */
export class DatasetInvalidError extends MuaiError {
  constructor(file: string, reason: string, options: MuaiErrorOptions = {}) {
    super('DATASET_INVALID', `The dataset ${file} is invalid: ${reason}.`, { ...options, details: { file, ...options.details } });
    this.name = 'DatasetInvalidError';
  }
}
