/**
 * The logging contract: what MuAI code calls to log, whatever writes the lines (pino in the CLI,
 * `console` in a script, nothing by default). Messages come first and structured details second,
 * so that `console` fits as is; an adapter turns pino's `(details, message)` order around.
 */

/** Log levels, lowest first (pino's names and order). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Structured fields of a log line (request id, model, duration, ...). Never prompts or keys. */
export type LogDetails = Record<string, unknown>;

/**
 * A logger. `warn` is the one method every implementation must have (the orchestrator's original
 * contract); the others are optional so that any `{ warn }` object keeps working.
 */
export interface Logger {
  warn(message: string, details?: LogDetails): void;
  error?(message: string, details?: LogDetails): void;
  info?(message: string, details?: LogDetails): void;
  debug?(message: string, details?: LogDetails): void;
  /** A logger that adds `bindings` to every line (e.g. `{ requestId }`). */
  child?(bindings: LogDetails): Logger;
}

/** Writes nothing: the default when no logger is given. */
export const NOOP_LOGGER: Logger = Object.freeze({
  warn: () => {},
  error: () => {},
  info: () => {},
  debug: () => {},
  child: () => NOOP_LOGGER,
});

/** The subset of pino's API the adapter needs (pino's `Logger` fits). */
export interface PinoLike {
  warn(details: LogDetails, message: string): void;
  error(details: LogDetails, message: string): void;
  info(details: LogDetails, message: string): void;
  debug(details: LogDetails, message: string): void;
  child(bindings: LogDetails): PinoLike;
}

/** A `Logger` writing through pino (or anything with pino's `(details, message)` order). */
export function loggerFromPino(pino: PinoLike): Logger {
  return {
    warn: (message, details = {}) => pino.warn(details, message),
    error: (message, details = {}) => pino.error(details, message),
    info: (message, details = {}) => pino.info(details, message),
    debug: (message, details = {}) => pino.debug(details, message),
    child: (bindings) => loggerFromPino(pino.child(bindings)),
  };
}
