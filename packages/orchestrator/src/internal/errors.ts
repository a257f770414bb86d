import { MuaiError } from '@muai/core';

/** Codes that describe the request itself: another engine would fail the same way, so no fallback. */
const REQUEST_ERROR_CODES = new Set(['INVALID_REQUEST', 'REQUEST_ABORTED', 'CONTEXT_LENGTH_EXCEEDED', 'QUEUE_FULL', 'REQUEST_TIMEOUT']);

export function isRequestError(error: unknown): boolean {
  return MuaiError.isInstance(error) && REQUEST_ERROR_CODES.has(error.code);
}

/** True when a dynamic import failed because the package is not installed. */
export function isModuleNotFound(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true;
  const message = error instanceof Error ? error.message : '';
  return /Cannot find (package|module)|Failed to (load url|resolve import)/i.test(message);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
