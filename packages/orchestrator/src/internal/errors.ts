import { MuaiError } from '@muai/core';

/** Codes that describe the request itself: another engine would fail the same way, so no fallback. */
const REQUEST_ERROR_CODES = new Set(['INVALID_REQUEST', 'REQUEST_ABORTED', 'CONTEXT_LENGTH_EXCEEDED', 'QUEUE_FULL', 'REQUEST_TIMEOUT']);

export function isRequestError(error: unknown): boolean {
  return MuaiError.isInstance(error) && REQUEST_ERROR_CODES.has(error.code) && !isEngineTimeout(error);
}

/**
 * True when a remote engine's own timeout (`optimization.<engine>.timeout_ms`) ran out: the engine
 * accepted the request and never answered. @muai/engines-http puts the endpoint it waited for in
 * the error's details; the request's own deadlines (the batcher's `request_timeout_ms`, details
 * `phase`) and the caller's cancel (REQUEST_ABORTED) carry none. The engine failed, not the request:
 * before the first token another engine may serve it.
 */
export function isEngineTimeout(error: unknown): boolean {
  return MuaiError.isInstance(error) && error.code === 'REQUEST_TIMEOUT' && typeof error.details.endpoint === 'string';
}

/**
 * Why a remote engine counts as unhealthy after `error` (the request fails over to the next engine
 * and the engine is skipped for a while): `unreachable` (its server went away) or `timeout` (it
 * accepted the request and never answered). Undefined for other errors and for the embedded engine.
 */
export function remoteFailureReason(error: MuaiError, engine: string): 'unreachable' | 'timeout' | undefined {
  if (engine === 'onnx') return undefined;
  if (error.code === 'ENGINE_UNAVAILABLE') return 'unreachable';
  return isEngineTimeout(error) ? 'timeout' : undefined;
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
