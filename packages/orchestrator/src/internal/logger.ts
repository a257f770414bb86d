import type { Logger } from '@muai/core';

/** Where the orchestrator writes warnings: @muai/core's Logger (any object with `warn` works: console, pino through loggerFromPino, ...). */
export type { Logger };

/** The default logger: warnings to stderr with a `[muai]` prefix, nothing else. */
export const consoleLogger: Logger = {
  warn(message: string): void {
    console.warn(`[muai] ${message}`);
  },
};

/** Reports `error` through the logger once per `key`. */
export function reportOnce(logger: Logger, reported: Set<string>, key: string, error: unknown): void {
  if (reported.has(key)) return;
  reported.add(key);
  logger.warn(`${key} failed and was ignored: ${error instanceof Error ? error.message : String(error)}`);
}

/** Calls `fn` and swallows what it throws, reporting it once per `key` through the logger. */
export function safely(logger: Logger, reported: Set<string>, key: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    reportOnce(logger, reported, key, error);
  }
}
