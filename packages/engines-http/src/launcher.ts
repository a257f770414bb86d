import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import { EngineUnavailableError } from '@muai/core';

/** Receives each line a launched server writes. */
export type LogLine = (line: string, stream: 'stdout' | 'stderr') => void;

/** Finds an executable on PATH (or checks an absolute path). Returns its full path or undefined. */
export function findExecutable(command: string, searchPath: string = process.env.PATH ?? ''): string | undefined {
  const candidates = isAbsolute(command) || command.includes('/') ? [command] : searchPath.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Checks that `python` can import `module`, within `timeoutMs`. */
export function pythonCanImport(python: string, module: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): boolean {
  const result = spawnSync(python, ['-c', `import ${module}`], { env, stdio: 'ignore', timeout: timeoutMs });
  return result.status === 0;
}

export interface LaunchOptions {
  /** Engine name, for errors (`vllm`, `deepspeed`). */
  engine: string;
  /** Executable name or path. */
  command: string;
  args: readonly string[];
  /** Environment of the child. Default process.env. PATH in it is used to find `command`. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** What to tell the user when `command` is missing. */
  installHint: string;
  /** Resolves true when the server is ready (e.g. `GET /health` answers 200). Must not throw. */
  ready: (signal: AbortSignal) => Promise<boolean>;
  /** How long to wait for readiness, in ms. Default 600000 (model loading is slow). */
  startupTimeoutMs?: number;
  /** Delay between readiness checks, in ms. Default 500. */
  pollIntervalMs?: number;
  /** Receives the child's log lines. Default: dropped. */
  log?: LogLine;
  /** Time between SIGTERM and SIGKILL on stop, in ms. Default 15000. */
  stopGraceMs?: number;
}

/** A server process we started; `stop()` ends it and its children. */
export interface LaunchedServer {
  readonly pid: number;
  readonly command: string;
  readonly args: readonly string[];
  /** The last log lines (up to 50), for error messages. */
  recentLog(): string[];
  /** True once the process has exited. */
  readonly exited: boolean;
  /** SIGTERM to the process group, then SIGKILL after the grace period. Idempotent. */
  stop(): Promise<void>;
}

class ManagedProcess implements LaunchedServer {
  readonly pid: number;
  readonly command: string;
  readonly args: readonly string[];
  exited = false;
  readonly exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly graceMs: number;
  private stopping: Promise<void> | undefined;

  constructor(child: ChildProcess, command: string, args: readonly string[], log: LogLine | undefined, graceMs: number) {
    this.child = child;
    this.pid = child.pid ?? -1;
    this.command = command;
    this.args = args;
    this.graceMs = graceMs;
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        resolve({ code, signal });
      });
    });
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        if (this.lines.length > 50) this.lines.shift();
        log?.(line, name);
      });
    }
  }

  recentLog(): string[] {
    return [...this.lines];
  }

  private signal(signal: NodeJS.Signals): void {
    try {
      // Negative pid: the whole process group (servers spawn workers).
      process.kill(-this.pid, signal);
    } catch {
      try {
        this.child.kill(signal);
      } catch {
        // Already gone.
      }
    }
  }

  stop(): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.stopping ??= (async () => {
      this.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.graceMs);
      });
      const outcome = await Promise.race([this.exitPromise, killed]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.signal('SIGKILL');
        await this.exitPromise;
      }
    })();
    return this.stopping;
  }
}

/**
 * Starts a server process, streams its log lines, and waits until `ready` passes. Fails with
 * EngineUnavailableError (ENGINE_UNAVAILABLE) when the command is not installed, when the process
 * exits before it is ready, or when it is not ready within `startupTimeoutMs` (it is stopped then).
 */
export async function launchServer(options: LaunchOptions): Promise<LaunchedServer> {
  const env = options.env ?? process.env;
  const executable = findExecutable(options.command, env.PATH ?? '');
  if (!executable) {
    throw new EngineUnavailableError(options.engine, `\`${options.command}\` was not found on PATH`, options.installHint, {
      details: { command: options.command },
    });
  }
  const child = spawn(executable, [...options.args], {
    env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const server = new ManagedProcess(child, executable, options.args, options.log, options.stopGraceMs ?? 15_000);
  const timeoutMs = options.startupTimeoutMs ?? 600_000;
  const deadline = Date.now() + timeoutMs;
  const fail = async (reason: string, cause?: unknown): Promise<never> => {
    await server.stop();
    const tail = server.recentLog().slice(-10).join('\n');
    throw new EngineUnavailableError(options.engine, reason, `Its last log lines:\n${tail || '(none)'}`, {
      cause,
      details: { command: options.command, args: [...options.args] },
    });
  };
  for (;;) {
    const early = await Promise.race([
      server.exitPromise.then((exit) => ({ kind: 'exit' as const, exit })),
      spawnError.then((error) => ({ kind: 'error' as const, error })),
      new Promise<{ kind: 'tick' }>((resolve) => setTimeout(() => resolve({ kind: 'tick' }), 0)),
    ]);
    if (early.kind === 'exit') return fail(`\`${options.command}\` exited before it was ready (code ${early.exit.code ?? early.exit.signal})`);
    if (early.kind === 'error') return fail(`\`${options.command}\` could not start: ${early.error.message}`, early.error);
    const remaining = deadline - Date.now();
    if (remaining <= 0) return fail(`\`${options.command}\` was not ready within ${timeoutMs} ms`);
    if (await options.ready(AbortSignal.timeout(Math.min(remaining, 5000)))) return server;
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.pollIntervalMs ?? 500, Math.max(0, deadline - Date.now()))));
  }
}
