/**
 * Errors of MuAI. Every error carries a stable `code` (never changes between versions), a message
 * that says what to do, optional structured `details`, and the underlying `cause`.
 * `MuaiError.isInstance` works across two copies of the package (a `Symbol.for` marker).
 */

/** Every stable error code, with the HTTP status the server answers it with. */
export const ERROR_CODES = {
  CONFIG_INVALID: 400,
  CONFIG_NOT_FOUND: 400,
  INVALID_REQUEST: 400,
  REQUEST_TOO_LARGE: 413,
  CONTEXT_LENGTH_EXCEEDED: 400,
  UNAUTHORIZED: 401,
  MODEL_NOT_FOUND: 404,
  NOT_FOUND: 404,
  WORKFLOW_NOT_FOUND: 404,
  CAPABILITY_UNSUPPORTED: 400,
  REQUEST_ABORTED: 499,
  MODEL_INVALID: 500,
  MODEL_LOAD_FAILED: 500,
  ENGINE_ERROR: 502,
  ENGINE_UNAVAILABLE: 503,
  QUEUE_FULL: 429,
  RATE_LIMITED: 429,
  CACHE_FULL: 503,
  SHUTTING_DOWN: 503,
  REQUEST_TIMEOUT: 504,
  LOOP_DETECTED: 508,
  PORT_IN_USE: 500,
  HUB_UNAUTHORIZED: 500,
  HUB_NO_ONNX: 500,
  HUB_DOWNLOAD_FAILED: 502,
  BENCH_TARGET_UNREACHABLE: 503,
  BENCH_TARGET_INVALID: 502,
  DATASET_INVALID: 400,
  ALERT_DELIVERY_FAILED: 502,
  DEPENDENCY_MISSING: 500,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const MARKER = Symbol.for('muai.error');

export interface MuaiErrorOptions {
  /** The error that led to this one. */
  cause?: unknown;
  /** Structured facts about the failure (key path, limit, port, ...). Never prompt text. */
  details?: Record<string, unknown>;
}

/** The base of every error MuAI throws on purpose. */
export class MuaiError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  private readonly [MARKER] = true;

  constructor(code: ErrorCode, message: string, options: MuaiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MuaiError';
    this.code = code;
    this.details = options.details ?? {};
  }

  /** HTTP status that matches this error's code. */
  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }

  /** True for any MuaiError, even one created by another copy of @muai/core. */
  static isInstance(value: unknown): value is MuaiError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
  }

  /** True when `value` is a MuaiError with the given code. */
  static hasCode(value: unknown, code: ErrorCode): value is MuaiError {
    return MuaiError.isInstance(value) && value.code === code;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** One problem found in a configuration. */
export interface ConfigProblem {
  /** File the value came from, or `env:NAME`, or `override`. */
  source?: string;
  /** 1-based line in `source`, when known. */
  line?: number;
  /** Dotted key path, e.g. `optimization.batcher.max_batch_size`. */
  path: string;
  /** The offending value, as given. */
  value?: unknown;
  /** What was expected instead. */
  expected: string;
}

function formatProblem(problem: ConfigProblem): string {
  const where = problem.source ? `${problem.source}${problem.line ? `:${problem.line}` : ''}: ` : '';
  const value = 'value' in problem ? ` (got ${JSON.stringify(problem.value)})` : '';
  return `${where}${problem.path || '<root>'}: ${problem.expected}${value}`;
}

export class ConfigInvalidError extends MuaiError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[], options: MuaiErrorOptions = {}) {
    const lines = problems.map((p) => `  - ${formatProblem(p)}`).join('\n');
    super(
      'CONFIG_INVALID',
      `Configuration is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines}\nFix the values above; run \`muai config validate\` to check again.`,
      { ...options, details: { ...options.details, problems } },
    );
    this.name = 'ConfigInvalidError';
    this.problems = problems;
  }
}

export class EngineUnavailableError extends MuaiError {
  constructor(engine: string, reason: string, hint: string, options: MuaiErrorOptions = {}) {
    super('ENGINE_UNAVAILABLE', `Engine "${engine}" is unavailable: ${reason}. ${hint}`, {
      ...options,
      details: { engine, ...options.details },
    });
    this.name = 'EngineUnavailableError';
  }
}

export class ModelNotFoundError extends MuaiError {
  constructor(model: string, hint: string, options: MuaiErrorOptions = {}) {
    super('MODEL_NOT_FOUND', `Model "${model}" was not found. ${hint}`, { ...options, details: { model, ...options.details } });
    this.name = 'ModelNotFoundError';
  }
}

export class InvalidRequestError extends MuaiError {
  constructor(message: string, options: MuaiErrorOptions = {}) {
    super('INVALID_REQUEST', message, options);
    this.name = 'InvalidRequestError';
  }
}

export class QueueFullError extends MuaiError {
  constructor(limit: number, options: MuaiErrorOptions = {}) {
    super(
      'QUEUE_FULL',
      `The request queue is full (${limit} waiting). Retry later, or raise optimization.batcher.max_queue_size.`,
      { ...options, details: { limit, ...options.details } },
    );
    this.name = 'QueueFullError';
  }
}

export class RequestTimeoutError extends MuaiError {
  constructor(timeoutMs: number, options: MuaiErrorOptions = {}) {
    super('REQUEST_TIMEOUT', `The request did not finish within ${timeoutMs} ms. Retry, or raise the request timeout.`, {
      ...options,
      details: { timeoutMs, ...options.details },
    });
    this.name = 'RequestTimeoutError';
  }
}

export class RequestAbortedError extends MuaiError {
  constructor(options: MuaiErrorOptions = {}) {
    super('REQUEST_ABORTED', 'The request was cancelled by its caller.', options);
    this.name = 'RequestAbortedError';
  }
}

export class PortInUseError extends MuaiError {
  constructor(port: number, variable: string, options: MuaiErrorOptions = {}) {
    super('PORT_IN_USE', `Port ${port} is already in use. Stop the other process or choose another port with ${variable}.`, {
      ...options,
      details: { port, variable, ...options.details },
    });
    this.name = 'PortInUseError';
  }
}

/** An optional package a feature loads on demand is not installed; the message names the package. */
export class DependencyMissingError extends MuaiError {
  constructor(packageName: string, feature: string, options: MuaiErrorOptions = {}) {
    super('DEPENDENCY_MISSING', `${feature} needs the package ${packageName}, which is not installed. Run \`npm install ${packageName}\`.`, {
      ...options,
      details: { package: packageName, feature, ...options.details },
    });
    this.name = 'DependencyMissingError';
  }
}

/** A request came back to a MuAI server it already passed through (two servers pointing at each other). */
export class LoopDetectedError extends MuaiError {
  constructor(message: string, options: MuaiErrorOptions = {}) {
    super('LOOP_DETECTED', message, options);
    this.name = 'LoopDetectedError';
  }
}

export class CapabilityUnsupportedError extends MuaiError {
  constructor(engine: string, capability: string, options: MuaiErrorOptions = {}) {
    super(
      'CAPABILITY_UNSUPPORTED',
      `Engine "${engine}" does not support ${capability}. Use an engine whose capabilities include it.`,
      { ...options, details: { engine, capability, ...options.details } },
    );
    this.name = 'CapabilityUnsupportedError';
  }
}

/** Wraps anything thrown into a MuaiError, keeping MuaiErrors as they are. */
export function toMuaiError(error: unknown, code: ErrorCode = 'INTERNAL', message?: string): MuaiError {
  if (MuaiError.isInstance(error)) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new MuaiError(code, message ?? text, { cause: error });
}

/**
 * The `code` of a Node.js system or network error (ECONNREFUSED, ENOTFOUND, ECONNRESET, ...) found
 * on `error` or along its `cause` chain (fetch wraps the socket error), or undefined.
 */
export function errorCauseCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Throws RequestAbortedError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RequestAbortedError({ cause: signal.reason });
}
