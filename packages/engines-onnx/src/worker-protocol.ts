import { MuaiError, ERROR_CODES } from '@muai/core';
import type { ErrorCode } from '@muai/core';

/** Main thread -> worker: a call, or the abort of a running call (`index` picks one request of a batch). */
export type ToWorker = { id: number; method: string; args: unknown[] } | { id: number; abort: true; index?: number };

/** Worker -> main thread. `models` is the worker engine's model list after load/unload. */
export type FromWorker =
  | { id: number; ok: true; value: unknown; models?: string[] }
  | { id: number; ok: false; error: SerializedError; models?: string[] }
  | { id: number; chunk: unknown }
  | { id: number; end: true };

export interface SerializedError {
  code?: string;
  message: string;
  details?: Record<string, unknown>;
  name?: string;
}

/** An error as plain data that survives postMessage (code and message kept exactly). */
export function serializeError(error: unknown): SerializedError {
  if (MuaiError.isInstance(error)) {
    let details: Record<string, unknown> = {};
    try {
      details = structuredClone(error.details);
    } catch {
      // Details that cannot be cloned (functions, handles) are dropped; code and message stay.
    }
    return { code: error.code, message: error.message, details, name: error.name };
  }
  if (error instanceof Error) return { message: error.message, name: error.name };
  return { message: String(error) };
}

/** The MuaiError a serialized error stands for; errors without a known code become ENGINE_ERROR. */
export function deserializeError(error: SerializedError): MuaiError {
  const known = error.code !== undefined && Object.hasOwn(ERROR_CODES, error.code);
  const rebuilt = known
    ? new MuaiError(error.code as ErrorCode, error.message, { details: error.details ?? {} })
    : new MuaiError('ENGINE_ERROR', `The ONNX worker thread failed: ${error.message}`, { details: { ...error.details, name: error.name } });
  if (known && error.name !== undefined) rebuilt.name = error.name;
  return rebuilt;
}
