import { setMaxListeners } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { InvalidRequestError } from '@muai/core';
import { arrivalTimes } from './arrivals.js';
import type { ArrivalOptions } from './arrivals.js';
import type { BenchPrompt, CountTokens } from './dataset.js';
import type { BenchTarget } from './target.js';

/** One request as measured. Times in ms from the start of the run. */
export interface BenchRequestRecord {
  /** Order of dispatch, from 0. */
  index: number;
  /** When the arrival process released it. */
  scheduledMs: number;
  /** When it was sent (after waiting for a concurrency slot). */
  startMs: number;
  status: 'ok' | 'error' | 'cancelled';
  /** Send → first chunk with text. */
  ttftMs?: number;
  /** Gaps between successive chunks with text (per chunk, as vLLM's ITL). */
  itlsMs: number[];
  /** Send → end of the response. */
  e2elMs: number;
  promptTokens: number;
  outputTokens: number;
  /** Whether the token counts came from the server's `usage`. */
  usageFromServer: boolean;
  httpStatus?: number;
  error?: string;
}

export interface ProgressEvent {
  sent: number;
  finished: number;
  failed: number;
  /** Requests the run will send; undefined when bounded by time only. */
  total?: number;
  elapsedMs: number;
}

/** Options of one benchmark run. */
export interface RunOptions extends ArrivalOptions {
  target: BenchTarget;
  /** The dataset; cycled when more requests than prompts are sent. */
  prompts: readonly BenchPrompt[];
  /** Requests to send (vLLM's --num-prompts). Default: one per prompt, unless `durationSec` bounds the run. */
  numPrompts?: number;
  /** Stop sending after this many seconds; in-flight requests get `graceSec` to finish. */
  durationSec?: number;
  /** After the last send (duration reached), in-flight requests are cancelled after this long. Default 30. */
  graceSec?: number;
  /** At most this many requests in flight (closed loop when the rate is infinite). */
  maxConcurrency?: number;
  /** Cancels the run: nothing more is sent, in-flight requests are cancelled, results are kept. */
  signal?: AbortSignal;
  /** Counts output tokens from the text when the server sends no `usage` (else one per chunk). */
  countTokens?: CountTokens;
  /** Called at most every `progressIntervalMs` (default 250) and once at the end. */
  onProgress?: (event: ProgressEvent) => void;
  progressIntervalMs?: number;
}

/** What a run measured, before statistics. */
export interface RunRecord {
  /** Wall-clock start (ISO 8601). */
  date: string;
  /** First send → last response end, in seconds. */
  durationS: number;
  requests: BenchRequestRecord[];
  /** Most requests in flight at once, as counted by the generator. */
  maxInFlight: number;
  /** CPU time of this process (user + system) during the run, in ms. */
  cpuMs: number;
  /** Whether the run was cut short by the signal. */
  interrupted: boolean;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Waits until `performance.now()` reaches `due`. Timers run on the loop's cached clock and in
 * whole milliseconds, so they fire up to ~1 ms early or late: sleep to 1 ms before, then yield to
 * the loop until due (I/O keeps flowing meanwhile).
 */
async function waitUntil(due: number, signal: AbortSignal): Promise<void> {
  for (;;) {
    const remaining = due - performance.now();
    if (remaining <= 0 || signal.aborted) return;
    if (remaining > 2) await sleep(remaining - 1, signal);
    else await yieldToLoop();
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Runs one benchmark: sends requests by the arrival process (all at once, Poisson or gamma at
 * `requestRate`, or a ramp-up), never more than `maxConcurrency` in flight, and records each.
 * Stops after `numPrompts` requests, after `durationSec`, or when `signal` fires.
 */
export async function runBenchmark(options: RunOptions): Promise<RunRecord> {
  const { target, prompts } = options;
  if (prompts.length === 0) throw new InvalidRequestError('The dataset is empty: there is nothing to send.');
  const maxConcurrency = options.maxConcurrency ?? Number.POSITIVE_INFINITY;
  if (!(maxConcurrency >= 1)) throw new InvalidRequestError(`--max-concurrency must be >= 1 (got ${maxConcurrency}).`);
  const duration = options.durationSec;
  if (duration !== undefined && !(duration > 0)) throw new InvalidRequestError(`--duration must be > 0 seconds (got ${duration}).`);
  const total = options.numPrompts ?? (duration !== undefined ? Number.POSITIVE_INFINITY : prompts.length);
  if (!(total >= 1)) throw new InvalidRequestError(`--num-prompts must be >= 1 (got ${total}).`);
  if (options.rampUpStrategy !== undefined && total === Number.POSITIVE_INFINITY) {
    throw new InvalidRequestError('A ramp-up spreads over a number of requests: give --num-prompts with --ramp-up-strategy.');
  }
  const finiteRate = options.rampUpStrategy !== undefined || (options.requestRate ?? Number.POSITIVE_INFINITY) !== Number.POSITIVE_INFINITY;
  if (total === Number.POSITIVE_INFINITY && !finiteRate && maxConcurrency === Number.POSITIVE_INFINITY) {
    throw new InvalidRequestError('A run bounded only by --duration needs --max-concurrency or a finite --request-rate.');
  }

  // Arrival schedule: the whole of it for a count (vLLM's rescaling), in blocks for a duration.
  const block = 4096;
  let schedule: number[] = [];
  let scheduleOffset = 0;
  let blockSeed = options.seed ?? 0;
  const timeOf = (i: number): number => {
    if (!finiteRate) return 0;
    if (total !== Number.POSITIVE_INFINITY) {
      if (schedule.length === 0) schedule = arrivalTimes(total, options);
      return schedule[i]! * 1000;
    }
    while (i - scheduleOffset >= schedule.length) {
      const base = schedule.length > 0 ? schedule[schedule.length - 1]! : 0;
      scheduleOffset += schedule.length;
      // Without a fixed count there is nothing to rescale to: raw gamma gaps.
      const raw = arrivalTimes(block, { ...options, seed: blockSeed++ }, false);
      const gaps = raw.map((t, k) => t - (k === 0 ? 0 : raw[k - 1]!));
      let t = base;
      schedule = gaps.map((gap) => (t += gap));
    }
    return schedule[i - scheduleOffset]! * 1000;
  };

  const stop = new AbortController();
  const cancel = new AbortController();
  // One listener per request in flight or waiting for a slot: not a leak.
  setMaxListeners(0, stop.signal, cancel.signal);
  const onAbort = (): void => {
    interrupted = true;
    stop.abort();
    cancel.abort();
  };
  let interrupted = false;
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const records: BenchRequestRecord[] = [];
  const date = new Date().toISOString();
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  let inFlight = 0;
  let maxInFlight = 0;
  let sent = 0;
  let finished = 0;
  let failed = 0;
  let lastEnd = t0;
  let slotWaiters: Array<() => void> = [];
  const inFlightDone = new Set<Promise<void>>();

  let durationTimer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  if (duration !== undefined) {
    durationTimer = setTimeout(() => {
      stop.abort();
      graceTimer = setTimeout(() => cancel.abort(), (options.graceSec ?? 30) * 1000);
    }, duration * 1000);
  }

  const progressEvery = options.progressIntervalMs ?? 250;
  let lastProgress = 0;
  const progress = (force: boolean): void => {
    if (!options.onProgress) return;
    const now = performance.now();
    if (!force && now - lastProgress < progressEvery) return;
    lastProgress = now;
    const event: ProgressEvent = { sent, finished, failed, elapsedMs: now - t0 };
    if (total !== Number.POSITIVE_INFINITY) event.total = total;
    options.onProgress(event);
  };
  const progressTimer = options.onProgress ? setInterval(() => progress(true), Math.max(progressEvery, 100)) : undefined;

  const release = (): void => {
    inFlight--;
    const next = slotWaiters.shift();
    if (next) next();
  };
  const acquire = (): Promise<void> | undefined => {
    if (inFlight < maxConcurrency) return undefined;
    return new Promise<void>((resolve) => {
      const onStop = (): void => {
        slotWaiters = slotWaiters.filter((waiter) => waiter !== wake);
        resolve();
      };
      const wake = (): void => {
        stop.signal.removeEventListener('abort', onStop);
        resolve();
      };
      slotWaiters.push(wake);
      stop.signal.addEventListener('abort', onStop, { once: true });
    });
  };

  const keepText = options.countTokens !== undefined;
  for (let i = 0; i < total && !stop.signal.aborted; i++) {
    const scheduled = timeOf(i);
    if (scheduled > 0) await waitUntil(t0 + scheduled, stop.signal);
    if (stop.signal.aborted) break;
    const slot = acquire();
    if (slot) await slot;
    if (stop.signal.aborted) break;
    const prompt = prompts[i % prompts.length]!;
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    sent++;
    const start = performance.now();
    const index = i;
    const done = target.send(prompt, cancel.signal, keepText).then((outcome) => {
      release();
      const first = outcome.chunkTimes[0];
      const itls: number[] = new Array<number>(Math.max(0, outcome.chunkTimes.length - 1));
      for (let k = 1; k < outcome.chunkTimes.length; k++) itls[k - 1] = outcome.chunkTimes[k]! - outcome.chunkTimes[k - 1]!;
      const usageFromServer = outcome.outputTokens !== undefined;
      const outputTokens =
        outcome.outputTokens ?? (options.countTokens && outcome.text !== undefined ? options.countTokens(outcome.text) : outcome.chunkTimes.length);
      const record: BenchRequestRecord = {
        index,
        scheduledMs: scheduled,
        startMs: start - t0,
        status: outcome.status,
        itlsMs: itls,
        e2elMs: outcome.endTime - start,
        promptTokens: outcome.promptTokens ?? prompt.promptTokens ?? 0,
        outputTokens,
        usageFromServer,
      };
      if (first !== undefined) record.ttftMs = first - start;
      if (outcome.httpStatus !== undefined) record.httpStatus = outcome.httpStatus;
      if (outcome.error !== undefined) record.error = outcome.error;
      records.push(record);
      if (outcome.endTime > lastEnd) lastEnd = outcome.endTime;
      finished++;
      if (outcome.status !== 'ok') failed++;
      progress(false);
    });
    inFlightDone.add(done);
    void done.finally(() => inFlightDone.delete(done));
  }
  await Promise.all([...inFlightDone]);
  if (durationTimer) clearTimeout(durationTimer);
  if (graceTimer) clearTimeout(graceTimer);
  if (progressTimer) clearInterval(progressTimer);
  options.signal?.removeEventListener('abort', onAbort);
  progress(true);
  const cpu = process.cpuUsage(cpuStart);
  records.sort((a, b) => a.index - b.index);
  // Dispatch order is start order, so the first record started first.
  const firstStart = records[0]?.startMs ?? 0;
  return {
    date,
    durationS: Math.max(0, (lastEnd - t0 - firstStart) / 1000),
    requests: records,
    maxInFlight,
    cpuMs: (cpu.user + cpu.system) / 1000,
    interrupted,
  };
}

/** Facts about the machine the generator ran on, stored with every result. */
export function machineFacts(): Record<string, string | number> {
  const list = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: list.length,
    cpu_model: list[0]?.model ?? 'unknown',
    // Other work on the machine skews every latency: keep the load the run started under.
    loadavg_1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}
