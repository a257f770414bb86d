import { MuaiError } from '@muai/core';
import { alertJson, alertmanagerWebhookBody, isoTime, slackMessage, type AlertNotification, type PostableAlert } from './alert.js';

/** Where the anomaly package writes. Any object with `warn` works (console, pino, …). */
export interface AnomalyLogger {
  warn(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
  error?(message: string, details?: Record<string, unknown>): void;
}

/** One place alerts go. `send` resolves on success and throws a DeliveryError (or any error: network) on failure. */
export interface AlertTarget {
  /** Shown in logs, metrics (`target` label) and `muai alerts test`, e.g. `slack`, `alertmanager:127.0.0.1:9093`. */
  readonly name: string;
  send(notification: AlertNotification, signal: AbortSignal): Promise<void>;
  /** Least time between two sends through this target, ms (Slack allows about one message per second). Default 0. */
  readonly minIntervalMs?: number;
  /** Called once when the detector stops (timers, re-sends). */
  close?(): void;
}

/** A failed delivery. `retryable`: 5xx, 429 and network errors; 4xx are not retried. */
export class DeliveryError extends MuaiError {
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** From a 429's Retry-After, ms. */
  readonly retryAfterMs: number | undefined;
  constructor(target: string, message: string, options: { status?: number; retryable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super('ALERT_DELIVERY_FAILED', `Alert delivery to ${target} failed: ${message}`, {
      details: { target, ...(options.status === undefined ? {} : { status: options.status }) },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.name = 'DeliveryError';
    this.status = options.status;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Seconds or an HTTP date, as Retry-After allows; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, nowMs = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export interface HttpTargetOptions {
  url: string;
  headers?: Readonly<Record<string, string>>;
  /** Per-attempt timeout, ms. Default 5000. */
  timeoutMs?: number;
  /** Replaces global fetch (tests). */
  fetch?: typeof fetch;
}

/** POSTs JSON; maps the reply to success or a DeliveryError. */
async function postJson(name: string, options: HttpTargetOptions, body: unknown, signal: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 5000);
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, timeout]),
    });
  } catch (error) {
    throw new DeliveryError(name, `request failed (${error instanceof Error ? error.message : String(error)}); check that ${options.url} is reachable`, {
      retryable: !signal.aborted,
      cause: error,
    });
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const status = response.status;
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
  throw new DeliveryError(name, `HTTP ${status} ${text.slice(0, 200)}`.trim(), {
    status,
    retryable: status >= 500 || status === 429 || status === 408,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Writes each notification through the logger (warn when firing, info when resolved). */
export function createLogTarget(logger: AnomalyLogger): AlertTarget {
  return {
    name: 'log',
    async send(notification) {
      const alert = notification.alert;
      const line = `alert ${notification.status}${notification.test ? ' (test)' : ''}: ${alert.rule} [${alert.labels.severity ?? 'warning'}] ${alert.annotations.summary ?? ''} (value ${alert.annotations.value ?? alert.value}, fingerprint ${alert.fingerprint})`;
      const details = { alert: alertJson(notification) };
      if (notification.status === 'resolved') (logger.info ?? logger.warn).call(logger, line, details);
      else logger.warn(line, details);
    },
  };
}

/** Generic webhook: `{ source: "muai", status, alert }` with the alert in Alertmanager's alert shape. */
export function createWebhookTarget(options: HttpTargetOptions): AlertTarget {
  const name = `webhook:${hostOf(options.url)}`;
  return {
    name,
    send: (notification, signal) =>
      postJson(name, options, { source: 'muai', status: notification.status, test: notification.test === true, alert: alertJson(notification) }, signal),
  };
}

/** Alertmanager-compatible webhook body (version "4"), for any receiver written for Alertmanager. */
export function createAlertmanagerWebhookTarget(options: HttpTargetOptions & { receiver?: string }): AlertTarget {
  const name = `webhook-am:${hostOf(options.url)}`;
  return {
    name,
    send: (notification, signal) => postJson(name, options, alertmanagerWebhookBody(notification, options.receiver ? { receiver: options.receiver } : {}), signal),
  };
}

/** Slack incoming webhook: `text` fallback plus blocks. 429 is retried after Retry-After by the dispatcher. */
export function createSlackTarget(options: HttpTargetOptions): AlertTarget {
  const name = `slack:${hostOf(options.url)}`;
  return { name, minIntervalMs: 1000, send: (notification, signal) => postJson(name, options, slackMessage(notification), signal) };
}

export interface AlertmanagerTargetOptions extends HttpTargetOptions {
  /**
   * Alertmanager's base URL (e.g. `http://127.0.0.1:9093`); alerts go to `${url}/api/v2/alerts`.
   */
  url: string;
  /** Re-send every firing alert this often, ms, so Alertmanager does not time it out. Default 60 000. */
  resendIntervalMs?: number;
  /** Keep re-sending a resolved alert this long, ms (Alertmanager keeps no state across restarts). Default 300 000. */
  resolvedResendMs?: number;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
}

/**
 * Pushes alerts to a real Alertmanager through API v2 (`POST /api/v2/alerts`, a JSON array). A firing
 * alert carries `endsAt` = now + 4 × the re-send interval, and is re-sent every interval while it
 * fires, so Alertmanager resolves it by itself if MuAI stops; a resolved one carries `endsAt` = the
 * resolve time and is re-sent for `resolvedResendMs`. `resend` is driven by the dispatcher's timer.
 */
export interface AlertmanagerTarget extends AlertTarget {
  /** Alerts to push again now (firing, or resolved less than resolvedResendMs ago). */
  due(): AlertNotification[];
  /** How often the dispatcher calls `due()` and re-sends, ms. */
  readonly resendIntervalMs: number;
}

export function createAlertmanagerTarget(options: AlertmanagerTargetOptions): AlertmanagerTarget {
  const base = options.url.replace(/\/+$/, '');
  const post = { ...options, url: base.endsWith('/api/v2/alerts') ? base : `${base}/api/v2/alerts` };
  const name = `alertmanager:${hostOf(options.url)}`;
  const resendIntervalMs = options.resendIntervalMs ?? 60_000;
  const resolvedResendMs = options.resolvedResendMs ?? 300_000;
  const now = options.now ?? Date.now;
  const known = new Map<string, AlertNotification>();
  const postable = (notification: AlertNotification): PostableAlert => {
    const alert = notification.alert;
    const endsAt = notification.status === 'resolved' ? (alert.endsAt ?? now()) : now() + 4 * resendIntervalMs;
    return { labels: { ...alert.labels }, annotations: { ...alert.annotations }, startsAt: isoTime(alert.startsAt), endsAt: isoTime(endsAt) };
  };
  return {
    name,
    resendIntervalMs,
    async send(notification, signal) {
      if (!notification.test) known.set(notification.alert.fingerprint, notification);
      await postJson(name, post, [postable(notification)], signal);
    },
    due() {
      const cutoff = now() - resolvedResendMs;
      const result: AlertNotification[] = [];
      for (const [fingerprint, notification] of known) {
        if (notification.status === 'resolved' && (notification.alert.endsAt ?? 0) < cutoff) known.delete(fingerprint);
        else result.push(notification);
      }
      return result;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Dispatcher: one bounded queue and one worker per target, so a slow target never delays another
// and nothing waits on delivery.

/** Counts by target and outcome (`sent`, `failed` after the last retry, `dropped` from a full queue, `retried`). */
export type DeliveryOutcome = 'sent' | 'failed' | 'dropped' | 'retried';

export interface DispatcherOptions {
  /** Waiting notifications per target; more are dropped (and counted). Default 1000. */
  queueSize?: number;
  /** Attempts per notification, including the first. Default 5. */
  maxAttempts?: number;
  /** First backoff, ms; doubles per attempt with ±20% jitter. Default 250. */
  backoffMs?: number;
  /** Longest backoff (and longest Retry-After honoured), ms. Default 30 000. */
  maxBackoffMs?: number;
  logger: AnomalyLogger;
  /** Sees every outcome (metrics). */
  onOutcome?: (target: string, outcome: DeliveryOutcome) => void;
  /** Random source for jitter. Default Math.random. */
  random?: () => number;
}

interface Lane {
  target: AlertTarget;
  queue: AlertNotification[];
  running: boolean;
  idle: Array<() => void>;
  /** When the last send through this lane started (for minIntervalMs). */
  lastSendAt: number;
}

export class AlertDispatcher {
  private readonly lanes: Lane[];
  private readonly controller = new AbortController();
  private readonly queueSize: number;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly random: () => number;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly resendTimers: Array<ReturnType<typeof setInterval>> = [];

  constructor(
    targets: readonly AlertTarget[],
    private readonly options: DispatcherOptions,
  ) {
    this.lanes = targets.map((target) => ({ target, queue: [], running: false, idle: [], lastSendAt: Number.NEGATIVE_INFINITY }));
    this.queueSize = options.queueSize ?? 1000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.backoffMs = options.backoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.random = options.random ?? Math.random;
    for (const lane of this.lanes) {
      const target = lane.target as Partial<AlertmanagerTarget>;
      if (typeof target.due === 'function' && typeof target.resendIntervalMs === 'number') {
        const due = target.due.bind(target);
        const timer = setInterval(() => {
          for (const notification of due()) this.enqueue(lane, notification);
        }, target.resendIntervalMs);
        timer.unref();
        this.resendTimers.push(timer);
      }
    }
  }

  get targets(): readonly AlertTarget[] {
    return this.lanes.map((lane) => lane.target);
  }

  /** Queues the notification for every target; returns at once. */
  dispatch(notification: AlertNotification): void {
    for (const lane of this.lanes) this.enqueue(lane, notification);
  }

  /** Sends through one target now, with the same retries; resolves to the error or undefined. For `muai alerts test`. */
  async sendNow(target: AlertTarget, notification: AlertNotification): Promise<Error | undefined> {
    try {
      await this.attempt(target, notification);
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /** Resolves when every queue is empty (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all(
      this.lanes.map((lane) => (lane.running || lane.queue.length > 0 ? new Promise<void>((resolve) => lane.idle.push(resolve)) : undefined)),
    );
  }

  /** Stops timers and aborts in-flight sends; waiting notifications are dropped. */
  close(): void {
    for (const timer of this.resendTimers) clearInterval(timer);
    for (const timer of this.timers) clearTimeout(timer);
    this.controller.abort(new Error('dispatcher closed'));
    for (const lane of this.lanes) {
      lane.queue.length = 0;
      lane.target.close?.();
      for (const resolve of lane.idle.splice(0)) resolve();
    }
  }

  private enqueue(lane: Lane, notification: AlertNotification): void {
    if (this.controller.signal.aborted) return;
    if (lane.queue.length >= this.queueSize) {
      this.options.onOutcome?.(lane.target.name, 'dropped');
      this.options.logger.warn(`alert delivery to ${lane.target.name} dropped: queue full (${this.queueSize})`);
      return;
    }
    lane.queue.push(notification);
    if (!lane.running) void this.drain(lane);
  }

  private async drain(lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (lane.queue.length > 0 && !this.controller.signal.aborted) {
        const notification = lane.queue.shift() as AlertNotification;
        const wait = lane.lastSendAt + (lane.target.minIntervalMs ?? 0) - Date.now();
        if (wait > 0) await this.sleep(wait);
        lane.lastSendAt = Date.now();
        try {
          await this.attempt(lane.target, notification);
          this.options.onOutcome?.(lane.target.name, 'sent');
        } catch (error) {
          if (this.controller.signal.aborted) break;
          this.options.onOutcome?.(lane.target.name, 'failed');
          this.options.logger.warn(
            `alert delivery to ${lane.target.name} failed (${notification.status} ${notification.alert.rule}): ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    } finally {
      lane.running = false;
      for (const resolve of lane.idle.splice(0)) resolve();
    }
  }

  private async attempt(target: AlertTarget, notification: AlertNotification): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await target.send(notification, this.controller.signal);
        return;
      } catch (error) {
        const retryable = error instanceof DeliveryError ? error.retryable : !this.controller.signal.aborted;
        if (!retryable || attempt >= this.maxAttempts || this.controller.signal.aborted) throw error;
        this.options.onOutcome?.(target.name, 'retried');
        const backoff = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1)) * (0.8 + 0.4 * this.random());
        const retryAfter = error instanceof DeliveryError ? error.retryAfterMs : undefined;
        await this.sleep(retryAfter === undefined ? backoff : Math.min(this.maxBackoffMs, retryAfter));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}
