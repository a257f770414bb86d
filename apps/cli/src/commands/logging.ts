import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import pino, { type DestinationStream, type LevelWithSilent, type LoggerOptions, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import { loggerFromPino, type Logger, type Tracer } from '@muai/core';
import type { LoggingConfig } from '@muai/config';

/** Where `muai serve` writes its log file when `monitoring.logging.file` is unset (the guide's path). */
export const DEFAULT_SERVE_LOG_FILE = 'logs/muai.log';

/** `monitoring.logging.file` values that mean "standard output only, no file". */
const NO_FILE = new Set(['-', 'stdout', 'none']);

/**
 * Paths pino replaces with `[redacted]`: API keys and Authorization headers anywhere they are
 * logged, and prompt text (prompts may be private; `monitoring.tracing.record_prompts` is the
 * only switch that records them, on spans, never in logs).
 */
export const REDACTED_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'authorization',
  'api_key',
  'apiKey',
  '*.api_key',
  '*.apiKey',
  'prompt',
  'messages',
  'input',
  '*.prompt',
  '*.messages',
  'body',
  'req.body',
];

/** Rotation of the log file: the live file keeps its name; older ones are `<file>.1` (newest) to `<file>.<keep>`. */
export interface RotationOptions {
  /** Rotate once the file reaches this many bytes. Default 100 MiB. */
  maxBytes?: number;
  /** Rotate a non-empty file this often, in milliseconds. Default one day. */
  intervalMs?: number;
  /** Rotated files kept. Default 7. */
  keep?: number;
}

export interface RotatingFile {
  stream: DestinationStream;
  /** Renames the live file to `<file>.1` (shifting older ones) and reopens a fresh one. */
  rotate(): void;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/**
 * A log file that rotates by size and by time, logrotate style: `tail -F logs/muai.log` keeps
 * following the live file. Renaming while writes are pending is safe: they go to the open file
 * descriptor, which is the renamed file, and `reopen` waits for them.
 */
export function createRotatingFile(file: string, options: RotationOptions = {}): RotatingFile {
  const maxBytes = options.maxBytes ?? 100 * 1024 * 1024;
  const keep = options.keep ?? 7;
  mkdirSync(dirname(file), { recursive: true });
  const destination = pino.destination({ dest: file, sync: false, mkdir: true });
  let written = 0;
  let closed = false;
  const rotate = (): void => {
    rmSync(`${file}.${keep}`, { force: true });
    for (let index = keep - 1; index >= 1; index -= 1) {
      if (existsSync(`${file}.${index}`)) renameSync(`${file}.${index}`, `${file}.${index + 1}`);
    }
    if (existsSync(file)) renameSync(file, `${file}.1`);
    written = 0;
    destination.reopen();
  };
  destination.on('write', (bytes: number) => {
    written += bytes;
    if (written >= maxBytes) rotate();
  });
  const timer = setInterval(() => {
    if (written > 0) rotate();
  }, options.intervalMs ?? 24 * 60 * 60 * 1000);
  timer.unref();
  return {
    stream: destination,
    rotate,
    close: () =>
      new Promise<void>((done) => {
        clearInterval(timer);
        if (closed) return done();
        closed = true;
        destination.once('close', () => done());
        // end() writes what is buffered, then closes (flushSync would throw before the file is open).
        destination.end();
      }),
  };
}

/**
 * Facts about in-flight requests by request id; the oldest are forgotten past `capacity`, so that
 * requests that never log their completion (a socket destroyed early) cannot grow it.
 */
class ByRequest<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity = 10_000) {}
  set(requestId: string, value: V): void {
    this.entries.set(requestId, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }
  get(requestId: string): V | undefined {
    return this.entries.get(requestId);
  }
  delete(requestId: string): void {
    this.entries.delete(requestId);
  }
}

/** The trace id of an OpenTelemetry span (`spanContext().traceId`), if the span is one. */
function traceIdOf(span: unknown): string | undefined {
  const context = (span as { spanContext?: () => { traceId?: string } } | undefined)?.spanContext?.();
  const traceId = context?.traceId;
  return traceId && !/^0+$/.test(traceId) ? traceId : undefined;
}

export interface ServeLoggingOptions {
  /** The effective `monitoring.logging`. */
  config: LoggingConfig;
  /** Whether `monitoring.logging.format` was left at its default (then a terminal gets pretty lines). */
  formatIsDefault: boolean;
  /** Standard output (tests pass their own). Default `process.stdout`. */
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Folder a relative `file` resolves against. Default the working directory. */
  cwd?: string;
  rotation?: RotationOptions;
}

export interface ServeLogging {
  /** pino options for Fastify's `logger` (ServerOptions.logger): same stream, level and redaction. */
  fastifyLogger: Record<string, unknown>;
  /** The same lines as a `@muai/core` Logger, for the orchestrator and model manager. */
  logger: Logger;
  /** The log file's absolute path, when there is one. */
  file: string | undefined;
  /** Wraps the tracer so that each request's log lines carry the trace id of its server span. */
  traceRequests(tracer: Tracer): Tracer;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/**
 * The logging of `muai serve`: JSON lines (pretty on a terminal unless the format is set) on
 * standard output and, unless `file` is `-`, JSON lines in `file` (default `logs/muai.log`) with
 * rotation. Every line of a request carries `reqId` and, with tracing on, `trace_id`. Fastify's
 * "incoming request" line is folded into its "request completed" line, because the trace starts
 * in the route, after the first line would have been written.
 */
export function createServeLogging(options: ServeLoggingOptions): ServeLogging {
  const { config } = options;
  const stdout = options.stdout ?? process.stdout;
  const level = config.level as LevelWithSilent;
  const usePretty = config.format === 'pretty' || (options.formatIsDefault && stdout.isTTY === true);
  const streams: StreamEntry[] = [{ level: level === 'silent' ? 'fatal' : level, stream: usePretty ? pretty({ destination: stdout, colorize: stdout.isTTY === true, sync: true }) : stdout }];
  const fileSetting = config.file ?? DEFAULT_SERVE_LOG_FILE;
  const file = NO_FILE.has(fileSetting) ? undefined : resolve(options.cwd ?? process.cwd(), fileSetting);
  const rotating = file ? createRotatingFile(file, options.rotation) : undefined;
  if (rotating) streams.push({ level: level === 'silent' ? 'fatal' : level, stream: rotating.stream });
  const stream = pino.multistream(streams);

  const traceIds = new ByRequest<string>();
  const pendingRequests = new ByRequest<unknown>();
  const requestIdOf = (logger: { bindings(): Record<string, unknown> }): string | undefined => {
    const id = logger.bindings()['reqId'];
    return typeof id === 'string' ? id : undefined;
  };

  const pinoOptions: LoggerOptions = {
    level,
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    mixin(_merge, _level, logger) {
      const requestId = requestIdOf(logger);
      const traceId = requestId === undefined ? undefined : traceIds.get(requestId);
      return traceId ? { trace_id: traceId } : {};
    },
    hooks: {
      logMethod(args, method) {
        const [first, message] = args as unknown as [Record<string, unknown> | undefined, string | undefined];
        const requestId = requestIdOf(this);
        if (requestId !== undefined && message === 'incoming request' && first && 'req' in first) {
          pendingRequests.set(requestId, first['req']);
          return;
        }
        if (requestId !== undefined && message === 'request completed' && first) {
          const request = pendingRequests.get(requestId);
          pendingRequests.delete(requestId);
          method.apply(this, [{ ...(request ? { req: request } : {}), ...first }, message] as unknown as Parameters<typeof method>);
          traceIds.delete(requestId);
          return;
        }
        method.apply(this, args);
      },
    },
  };
  const logger = pino(pinoOptions, stream);

  return {
    fastifyLogger: { ...pinoOptions, stream },
    logger: loggerFromPino(logger),
    file,
    traceRequests(tracer) {
      if (!tracer.enabled) return tracer;
      const traceServerRequest: Tracer['traceServerRequest'] = (info, fn) =>
        tracer.traceServerRequest(info, (span) => {
          const traceId = traceIdOf(span);
          if (traceId && info.requestId) traceIds.set(info.requestId, traceId);
          return fn(span);
        });
      // A Proxy, not a spread: the tracer's methods may use private fields and need `this` = tracer.
      return new Proxy(tracer, {
        get(target, property) {
          if (property === 'traceServerRequest') return traceServerRequest;
          const value = Reflect.get(target, property, target) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
    close: async () => {
      await rotating?.close();
    },
  };
}
