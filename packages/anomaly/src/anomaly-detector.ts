import { fingerprintOf, type Alert, type AlertNotification, type Severity } from './alert.js';
import {
  AlertDispatcher,
  createAlertmanagerTarget,
  createAlertmanagerWebhookTarget,
  createLogTarget,
  createSlackTarget,
  createWebhookTarget,
  type AlertTarget,
  type AnomalyLogger,
  type DeliveryOutcome,
  type DispatcherOptions,
} from './delivery.js';
import { createDetector, type Detector } from './detectors.js';
import { assertValidAnomalyConfig, builtinRules, rulesFromConfig, type AnomalyConfigInput, type AnomalyRule, type SeriesValues } from './rules.js';

export interface AnomalyDetectorOptions {
  /** Default: builtinRules({ checkIntervalMs }). */
  rules?: readonly AnomalyRule[];
  /** Default: one log target. */
  targets?: readonly AlertTarget[];
  /** Least time between two firings of the same rule, ms. Default 300 000. */
  cooldownMs?: number;
  /** Only for the built-in rules' scale. Default 10 000. */
  checkIntervalMs?: number;
  /** Labels added to every alert, e.g. `{ service: 'muai', instance: 'host:8000' }`. */
  labels?: Readonly<Record<string, string>>;
  /** Default: console (warn/info). */
  logger?: AnomalyLogger;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
  /** Called once per firing (e.g. PrometheusExporter.recordAlert for `muai_anomaly_alerts_total`). */
  onFire?: (rule: string, severity: Severity) => void;
  /** Queue size, retries and backoff of delivery. */
  delivery?: Omit<DispatcherOptions, 'logger' | 'onOutcome'>;
}

interface RuleState {
  readonly rule: AnomalyRule;
  readonly detector: Detector;
  readonly labels: Readonly<Record<string, string>>;
  readonly fingerprint: string;
  phase: 'inactive' | 'pending' | 'firing';
  activeSince: number;
  startsAt: number;
  lastFiredAt: number;
  value: number;
  score: number;
}

/** Result of one target in `sendTest()`. */
export interface TargetTestResult {
  target: string;
  ok: boolean;
  error?: string;
  elapsedMs: number;
}

const consoleLogger: AnomalyLogger = {
  warn: (message) => console.warn(`[muai] ${message}`),
  info: (message) => console.info(`[muai] ${message}`),
};

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * Runs rules over series values and delivers alerts. `observe(values)` steps every rule's detector
 * with its series' value and moves its alert through pending → firing → resolved (Prometheus
 * semantics: `for` keeps it pending, a cleared condition resolves a firing alert and sends a
 * resolved notice, a cleared pending one is dropped silently). A firing alert is notified once
 * (de-duplication by fingerprint) and a rule fires at most once per cooldown. Notifications go to
 * the dispatcher's queues; `observe` never waits for delivery.
 */
export class AnomalyDetector {
  private readonly states: RuleState[];
  private readonly dispatcher: AlertDispatcher;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly logger: AnomalyLogger;
  private readonly onFire: ((rule: string, severity: Severity) => void) | undefined;
  private readonly fired = new Map<string, number>();
  private readonly deliveries = new Map<string, number>();

  constructor(options: AnomalyDetectorOptions = {}) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? consoleLogger;
    this.cooldownMs = options.cooldownMs ?? 300_000;
    this.onFire = options.onFire;
    const rules = options.rules ?? builtinRules(options.checkIntervalMs === undefined ? {} : { checkIntervalMs: options.checkIntervalMs });
    this.states = rules.map((rule) => {
      const labels = { ...options.labels, ...rule.labels, alertname: rule.name, severity: rule.severity ?? 'warning', series: rule.series };
      return {
        rule,
        detector: createDetector(rule.detector),
        labels,
        fingerprint: fingerprintOf(labels),
        phase: 'inactive',
        activeSince: 0,
        startsAt: 0,
        lastFiredAt: Number.NEGATIVE_INFINITY,
        value: Number.NaN,
        score: 0,
      };
    });
    this.dispatcher = new AlertDispatcher(options.targets ?? [createLogTarget(this.logger)], {
      ...options.delivery,
      logger: this.logger,
      onOutcome: (target, outcome) => this.countDelivery(target, outcome),
    });
  }

  /** Series the rules read (an adapter need fill only these). */
  get series(): string[] {
    return [...new Set(this.states.map((state) => state.rule.series))];
  }

  get rules(): readonly AnomalyRule[] {
    return this.states.map((state) => state.rule);
  }

  get targets(): readonly AlertTarget[] {
    return this.dispatcher.targets;
  }

  /**
   * Steps every rule with its series' value at `timeMs` (default now); a series without a finite
   * value is skipped. Returns the notifications this check produced (already queued for delivery).
   */
  observe(values: SeriesValues, timeMs: number = this.now()): AlertNotification[] {
    const notifications: AlertNotification[] = [];
    for (const state of this.states) {
      const value = values[state.rule.series];
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const verdict = state.detector.step(value, timeMs);
      state.value = value;
      state.score = verdict.score;
      if (verdict.anomalous) {
        if (state.phase === 'inactive') {
          state.phase = 'pending';
          state.activeSince = timeMs;
        }
        if (state.phase === 'pending' && timeMs - state.activeSince >= (state.rule.forMs ?? 0) && timeMs - state.lastFiredAt >= this.cooldownMs) {
          state.phase = 'firing';
          state.startsAt = timeMs;
          state.lastFiredAt = timeMs;
          const severity = state.rule.severity ?? 'warning';
          this.fired.set(`${state.rule.name}\u0000${severity}`, (this.fired.get(`${state.rule.name}\u0000${severity}`) ?? 0) + 1);
          try {
            this.onFire?.(state.rule.name, severity);
          } catch (error) {
            this.logger.warn(`anomaly onFire hook failed: ${error instanceof Error ? error.message : String(error)}`);
          }
          notifications.push({ status: 'firing', alert: this.alertOf(state, 'firing') });
        }
      } else if (state.phase === 'firing') {
        state.phase = 'inactive';
        notifications.push({ status: 'resolved', alert: { ...this.alertOf(state, 'resolved'), endsAt: timeMs } });
      } else {
        state.phase = 'inactive';
      }
    }
    for (const notification of notifications) this.dispatcher.dispatch(notification);
    return notifications;
  }

  /** Pending and firing alerts, firing first. */
  alerts(): Alert[] {
    const active = this.states.filter((state) => state.phase !== 'inactive').map((state) => this.alertOf(state, state.phase as 'pending' | 'firing'));
    return active.sort((a, b) => (a.state === b.state ? a.rule.localeCompare(b.rule) : a.state === 'firing' ? -1 : 1));
  }

  /**
   * Sends one test alert (`alertname` MuaiTestAlert, severity info) through every target, with the
   * usual retries, and reports each result. Does not touch rule state.
   */
  async sendTest(): Promise<TargetTestResult[]> {
    const at = this.now();
    const labels = { alertname: 'MuaiTestAlert', severity: 'info', series: 'test' };
    const alert: Alert = {
      fingerprint: fingerprintOf(labels),
      rule: 'MuaiTestAlert',
      state: 'firing',
      labels,
      annotations: { summary: 'Test alert from `muai alerts test`; nothing is wrong.', value: '0' },
      activeSince: at,
      startsAt: at,
      value: 0,
      score: 0,
    };
    return Promise.all(
      this.dispatcher.targets.map(async (target) => {
        const started = performance.now();
        const error = await this.dispatcher.sendNow(target, { status: 'firing', alert, test: true });
        this.countDelivery(target.name, error ? 'failed' : 'sent');
        return { target: target.name, ok: !error, ...(error ? { error: error.message } : {}), elapsedMs: performance.now() - started };
      }),
    );
  }

  /** Fired alerts by rule and severity. */
  firedCounts(): Array<{ rule: string; severity: string; count: number }> {
    return [...this.fired].map(([key, count]) => {
      const [rule, severity] = key.split('\u0000') as [string, string];
      return { rule, severity, count };
    });
  }

  /** Delivery outcomes by target. */
  deliveryCounts(): Array<{ target: string; outcome: DeliveryOutcome; count: number }> {
    return [...this.deliveries].map(([key, count]) => {
      const [target, outcome] = key.split('\u0000') as [string, DeliveryOutcome];
      return { target, outcome, count };
    });
  }

  /**
   * Prometheus text of `muai_anomaly_deliveries_total{target,outcome}`, `muai_anomaly_active_alerts{state}`
   * and, unless `alerts: false` (when a PrometheusExporter already counts them through `onFire`),
   * `muai_anomaly_alerts_total{rule,severity}`.
   */
  metricsText(options: { alerts?: boolean; prefix?: string } = {}): string {
    const p = options.prefix ?? 'muai_';
    const lines: string[] = [];
    if (options.alerts !== false) {
      lines.push(`# HELP ${p}anomaly_alerts_total Anomaly alerts fired, by rule and severity.`, `# TYPE ${p}anomaly_alerts_total counter`);
      for (const { rule, severity, count } of this.firedCounts()) lines.push(`${p}anomaly_alerts_total{rule="${escapeLabel(rule)}",severity="${escapeLabel(severity)}"} ${count}`);
    }
    lines.push(
      `# HELP ${p}anomaly_deliveries_total Alert deliveries by target and outcome (sent, retried, failed after retries, dropped from a full queue).`,
      `# TYPE ${p}anomaly_deliveries_total counter`,
    );
    for (const { target, outcome, count } of this.deliveryCounts()) lines.push(`${p}anomaly_deliveries_total{target="${escapeLabel(target)}",outcome="${outcome}"} ${count}`);
    lines.push(`# HELP ${p}anomaly_active_alerts Alerts pending or firing now.`, `# TYPE ${p}anomaly_active_alerts gauge`);
    for (const phase of ['pending', 'firing'] as const) lines.push(`${p}anomaly_active_alerts{state="${phase}"} ${this.states.filter((state) => state.phase === phase).length}`);
    return `${lines.join('\n')}\n`;
  }

  /** Resolves when every delivery queue is empty. */
  flush(): Promise<void> {
    return this.dispatcher.flush();
  }

  /** Stops delivery (timers, in-flight sends). */
  close(): void {
    this.dispatcher.close();
  }

  private countDelivery(target: string, outcome: DeliveryOutcome): void {
    const key = `${target}\u0000${outcome}`;
    this.deliveries.set(key, (this.deliveries.get(key) ?? 0) + 1);
  }

  private alertOf(state: RuleState, phase: 'pending' | 'firing' | 'resolved'): Alert {
    const rule = state.rule;
    return {
      fingerprint: state.fingerprint,
      rule: rule.name,
      state: phase,
      labels: state.labels,
      annotations: {
        summary: rule.summary ?? `${rule.series} is anomalous`,
        description: `${rule.series} = ${formatNumber(state.value)} (${rule.detector.kind} score ${formatNumber(state.score)})`,
        value: formatNumber(state.value),
        detector: rule.detector.kind,
      },
      activeSince: state.activeSince,
      startsAt: phase === 'pending' ? state.activeSince : state.startsAt,
      value: state.value,
      score: state.score,
    };
  }
}

function formatNumber(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 1000) / 1000) : String(value);
}

export function createAnomalyDetector(options: AnomalyDetectorOptions = {}): AnomalyDetector {
  return new AnomalyDetector(options);
}

/** Builds the targets of `monitoring.anomaly.targets` (default: log). */
export function targetsFromConfig(config: AnomalyConfigInput, logger: AnomalyLogger, extra: { fetch?: typeof fetch } = {}): AlertTarget[] {
  const fetchOption = extra.fetch ? { fetch: extra.fetch } : {};
  return (config.targets ?? [{ type: 'log' as const }]).map((target) => {
    switch (target.type) {
      case 'log':
        return createLogTarget(logger);
      case 'webhook':
        return target.format === 'alertmanager'
          ? createAlertmanagerWebhookTarget({ url: target.url, ...(target.headers ? { headers: target.headers } : {}), ...fetchOption })
          : createWebhookTarget({ url: target.url, ...(target.headers ? { headers: target.headers } : {}), ...fetchOption });
      case 'slack':
        return createSlackTarget({ url: target.url, ...fetchOption });
      case 'alertmanager':
        return createAlertmanagerTarget({ url: target.url, ...(target.resend_interval_ms === undefined ? {} : { resendIntervalMs: target.resend_interval_ms }), ...fetchOption });
    }
  });
}

/**
 * Validates `monitoring.anomaly` (CONFIG_INVALID listing every problem) and builds the detector:
 * its rules (built-in when none are listed), targets and cooldown. Other options pass through.
 */
export function createAnomalyDetectorFromConfig(
  config: AnomalyConfigInput,
  options: Omit<AnomalyDetectorOptions, 'rules' | 'targets' | 'cooldownMs' | 'checkIntervalMs'> & { knownSeries?: readonly string[] } = {},
): AnomalyDetector {
  assertValidAnomalyConfig(config, options.knownSeries ? { knownSeries: options.knownSeries } : {});
  const logger = options.logger ?? consoleLogger;
  const { knownSeries: _knownSeries, ...rest } = options;
  return new AnomalyDetector({
    ...rest,
    logger,
    rules: rulesFromConfig(config),
    targets: targetsFromConfig(config, logger),
    cooldownMs: config.cooldown_ms ?? 300_000,
    checkIntervalMs: config.check_interval_ms ?? 10_000,
  });
}
