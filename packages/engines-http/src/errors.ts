import { MuaiError, RequestAbortedError, RequestTimeoutError, errorCauseCode } from '@muai/core';
import type { ErrorCode } from '@muai/core';

/** Where a failure happened, for messages and details. */
export interface ErrorContext {
  /** Engine name, e.g. `vllm`. */
  engine: string;
  /** Base URL of the endpoint that failed. */
  endpoint: string;
  /** Request path, e.g. `/v1/completions`. */
  path?: string;
  /** Model the request was for, when known. */
  model?: string;
}

/** The error body of an OpenAI-style server, in any of the shapes seen in the wild. */
export interface ServerErrorBody {
  message: string;
  type?: string;
  /** vLLM puts the HTTP status here (int); OpenAI and FastChat put a string or number code. */
  code?: string | number;
}

/**
 * Reads an error body. Accepts vLLM's current nested shape `{"error": {message, type, param, code}}`,
 * the older flat `{"object": "error", message, type, param, code}`, FastAPI's `{"detail": ...}`,
 * `{"error": "Unauthorized"}`, and plain text.
 */
export function parseServerErrorBody(text: string): ServerErrorBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { message: text.trim().slice(0, 500) };
  }
  if (typeof parsed === 'string') return { message: parsed };
  if (typeof parsed !== 'object' || parsed === null) return { message: String(parsed) };
  const record = parsed as Record<string, unknown>;
  const pick = (source: Record<string, unknown>): ServerErrorBody => {
    const body: ServerErrorBody = { message: typeof source.message === 'string' ? source.message : JSON.stringify(source) };
    if (typeof source.type === 'string') body.type = source.type;
    if (typeof source.code === 'string' || typeof source.code === 'number') body.code = source.code;
    return body;
  };
  if (typeof record.error === 'object' && record.error !== null) return pick(record.error as Record<string, unknown>);
  if (typeof record.error === 'string') {
    const body: ServerErrorBody = { message: record.error };
    if (typeof record.error_type === 'string') body.type = record.error_type;
    return body;
  }
  if (typeof record.message === 'string') return pick(record);
  if (record.detail !== undefined) {
    const detail = record.detail;
    if (typeof detail === 'string') return { message: detail };
    if (typeof detail === 'object' && detail !== null && typeof (detail as Record<string, unknown>).error === 'object') {
      return pick((detail as { error: Record<string, unknown> }).error);
    }
    return { message: JSON.stringify(detail) };
  }
  return { message: text.trim().slice(0, 500) };
}

const CONTEXT_LENGTH = /maximum context length|context length|context window|max_model_len|too many tokens|prompt is too long|exceeds the max/i;
const MODEL_MISSING = /model[^.]*(does not exist|not found|is not served)|unknown model|no such model/i;
/** FastChat's ErrorCode.INVALID_MODEL, used by DeepSpeed-MII's OpenAI server for an unknown model (with HTTP 400). */
const FASTCHAT_INVALID_MODEL = 40301;

function where(context: ErrorContext): string {
  return `${context.endpoint}${context.path ?? ''}`;
}

/** Turns a non-2xx HTTP answer into a MuaiError with a stable code. `retryable` is set in details. */
export function errorFromStatus(status: number, bodyText: string, context: ErrorContext): MuaiError {
  const body = parseServerErrorBody(bodyText);
  const details: Record<string, unknown> = {
    engine: context.engine,
    endpoint: context.endpoint,
    status,
    retryable: status === 502 || status === 503 || status === 504,
  };
  if (context.path !== undefined) details.path = context.path;
  if (context.model !== undefined) details.model = context.model;
  if (body.type !== undefined) details.serverType = body.type;
  if (body.code !== undefined) details.serverCode = body.code;
  const server = `${context.engine} at ${where(context)} answered ${status}: ${body.message}`;
  let code: ErrorCode;
  let hint: string;
  if (status === 400 || status === 422) {
    if (CONTEXT_LENGTH.test(body.message)) {
      code = 'CONTEXT_LENGTH_EXCEEDED';
      hint = 'Shorten the prompt or lower maxTokens so prompt + output fit the model context.';
    } else if (body.code === FASTCHAT_INVALID_MODEL || MODEL_MISSING.test(body.message)) {
      code = 'MODEL_NOT_FOUND';
      hint = 'Use a model id the server serves (see its /v1/models).';
    } else {
      code = 'INVALID_REQUEST';
      hint = 'Fix the request fields named above.';
    }
  } else if (status === 401 || status === 403) {
    code = 'UNAUTHORIZED';
    hint = 'Set apiKey to a key the server accepts.';
  } else if (status === 404) {
    if (MODEL_MISSING.test(body.message) || context.model !== undefined && body.message.includes(context.model)) {
      code = 'MODEL_NOT_FOUND';
      hint = 'Use a model id the server serves (see its /v1/models).';
    } else {
      code = 'ENGINE_ERROR';
      hint = 'The path does not exist on this server; check that the endpoint URL points at the right kind of server.';
    }
  } else if (status === 508 || body.code === 'LOOP_DETECTED') {
    // A MuAI server further on saw its own Via entry: the endpoints form a loop. Passed on as is, so
    // the first server's caller learns the cause instead of a generic engine error.
    code = 'LOOP_DETECTED';
    hint = 'Endpoints of MuAI servers point at each other; point optimization.vllm.endpoints (or deepspeed) at the real inference server.';
  } else if (status === 429) {
    code = 'QUEUE_FULL';
    hint = 'The server is overloaded; retry later or add endpoints.';
  } else if (details.retryable === true) {
    code = 'ENGINE_UNAVAILABLE';
    hint = 'The server is starting, overloaded or down; retry later or add endpoints.';
  } else {
    code = 'ENGINE_ERROR';
    hint = 'See the server log for the cause.';
  }
  return new MuaiError(code, `${server}. ${hint}`, { details });
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);


/** Signals that tell apart the caller's cancel from our own timeout. */
export interface AbortSources {
  caller?: AbortSignal | undefined;
  timeout?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/**
 * Turns a failed `fetch` (or a failed body read) into a MuaiError: the caller's cancel becomes
 * REQUEST_ABORTED, our timeout REQUEST_TIMEOUT, a refused or reset connection ENGINE_UNAVAILABLE
 * (retryable), anything else ENGINE_ERROR.
 */
export function errorFromFetchFailure(error: unknown, context: ErrorContext, sources: AbortSources = {}): MuaiError {
  if (MuaiError.isInstance(error)) return error;
  const details = { engine: context.engine, endpoint: context.endpoint, ...(context.path ? { path: context.path } : {}) };
  if (sources.caller?.aborted) return new RequestAbortedError({ cause: error, details });
  if (sources.timeout?.aborted) {
    return new RequestTimeoutError(sources.timeoutMs ?? 0, { cause: error, details: { ...details, retryable: false } });
  }
  const code = errorCauseCode(error);
  if (code !== undefined && CONNECT_CODES.has(code)) {
    return new MuaiError(
      'ENGINE_UNAVAILABLE',
      `Cannot reach ${context.engine} at ${where(context)} (${code}). Check that the server is running and the endpoint URL is right.`,
      { cause: error, details: { ...details, errno: code, retryable: true } },
    );
  }
  const text = error instanceof Error ? error.message : String(error);
  return new MuaiError('ENGINE_ERROR', `Request to ${context.engine} at ${where(context)} failed: ${text}.`, {
    cause: error,
    details: { ...details, ...(code ? { errno: code } : {}), retryable: false },
  });
}

/** True when the error is safe to retry on another endpoint (nothing was generated yet). */
export function isRetryableError(error: unknown): boolean {
  return MuaiError.isInstance(error) && error.details.retryable === true;
}

/** True when the failure says something about the endpoint's health (it should cool down). */
export function isEndpointFailure(error: unknown): boolean {
  if (!MuaiError.isInstance(error)) return true;
  return error.code === 'ENGINE_UNAVAILABLE' || error.code === 'ENGINE_ERROR' || error.code === 'REQUEST_TIMEOUT';
}

/** An ENGINE_ERROR for a body that is not the JSON the protocol promises. */
export function malformedResponseError(context: ErrorContext, reason: string, cause?: unknown): MuaiError {
  return new MuaiError(
    'ENGINE_ERROR',
    `${context.engine} at ${where(context)} sent a malformed response (${reason}). Check that the endpoint is the right kind of server and its version is supported.`,
    { cause, details: { engine: context.engine, endpoint: context.endpoint, ...(context.path ? { path: context.path } : {}), retryable: false } },
  );
}
