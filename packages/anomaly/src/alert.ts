/** Severity of a rule; Alertmanager routes on the `severity` label. */
export type Severity = 'info' | 'warning' | 'critical';

/** Where an alert is in its life, as in Prometheus: pending (condition holds, `for` not yet met), firing, resolved. */
export type AlertState = 'pending' | 'firing' | 'resolved';

/** One alert instance: a rule whose condition holds (or held). Times in ms since the epoch. */
export interface Alert {
  /** Stable id from the labels (same labels, same fingerprint), 16 hex digits. */
  readonly fingerprint: string;
  readonly rule: string;
  readonly state: AlertState;
  /** Includes `alertname` (the rule name), `severity` and `series`. */
  readonly labels: Readonly<Record<string, string>>;
  /** `summary`, `description`, `value`, `detector`. */
  readonly annotations: Readonly<Record<string, string>>;
  /** When the condition started holding (pending) or the alert fired. */
  readonly activeSince: number;
  /** When it fired; equals activeSince for pending alerts. */
  readonly startsAt: number;
  /** When it resolved; undefined while active. */
  readonly endsAt?: number;
  /** Last sample value of the watched series. */
  readonly value: number;
  /** Last detector score (see the detector). */
  readonly score: number;
}

/** What targets deliver: an alert that just fired or resolved (or a test alert). */
export interface AlertNotification {
  readonly status: 'firing' | 'resolved';
  readonly alert: Alert;
  /** Sent by `sendTest()`, not by a rule. */
  readonly test?: boolean;
}

/**
 * FNV-1a 64-bit over the labels sorted by name (name and value separated by 0xff, like Prometheus's
 * label hash), as 16 hex digits. Same label set, same fingerprint, whatever the insertion order.
 */
export function fingerprintOf(labels: Readonly<Record<string, string>>): string {
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  const feed = (text: string): void => {
    for (const byte of Buffer.from(text, 'utf8')) {
      hash ^= BigInt(byte);
      hash = (hash * prime) & mask;
    }
    hash ^= 0xffn;
    hash = (hash * prime) & mask;
  };
  for (const name of Object.keys(labels).sort()) {
    feed(name);
    feed(labels[name] as string);
  }
  return hash.toString(16).padStart(16, '0');
}

/** RFC 3339 with milliseconds. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Alertmanager's "not set" time, shown as endsAt of a firing alert in webhook bodies. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** One alert as Alertmanager's webhook and `GET /v1/alerts` show it. */
export interface AlertJson {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export function alertJson(notification: AlertNotification, generatorURL = ''): AlertJson {
  const alert = notification.alert;
  return {
    status: notification.status,
    labels: { ...alert.labels },
    annotations: { ...alert.annotations },
    startsAt: isoTime(alert.startsAt),
    endsAt: alert.endsAt === undefined ? ZERO_TIME : isoTime(alert.endsAt),
    generatorURL,
    fingerprint: alert.fingerprint,
  };
}

/** Alertmanager webhook body (`webhook_config`, version "4") for one alert, its own group. */
export function alertmanagerWebhookBody(notification: AlertNotification, options: { receiver?: string; externalURL?: string } = {}) {
  const alert = alertJson(notification, options.externalURL ?? '');
  const groupLabels = { alertname: notification.alert.labels.alertname ?? notification.alert.rule };
  return {
    version: '4' as const,
    groupKey: `{}:{alertname="${groupLabels.alertname}"}`,
    truncatedAlerts: 0,
    status: notification.status,
    receiver: options.receiver ?? 'muai',
    groupLabels,
    commonLabels: { ...alert.labels },
    commonAnnotations: { ...alert.annotations },
    externalURL: options.externalURL ?? '',
    alerts: [alert],
  };
}

/** A postable alert of Alertmanager's API v2 (`POST /api/v2/alerts` takes an array of them). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

/** Escapes the three characters Slack reads as markup. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Slack incoming-webhook message: a plain `text` fallback and Block Kit blocks. */
export function slackMessage(notification: AlertNotification) {
  const alert = notification.alert;
  const icon = notification.status === 'resolved' ? 'RESOLVED' : alert.labels.severity === 'critical' ? 'CRITICAL' : 'FIRING';
  const title = `[${icon}] ${alert.rule}${notification.test ? ' (test)' : ''}`;
  const summary = alert.annotations.summary ?? alert.rule;
  const labels = Object.entries(alert.labels)
    .map(([name, value]) => `\`${slackEscape(name)}\`=${slackEscape(value)}`)
    .join(' ');
  const when = notification.status === 'resolved' && alert.endsAt !== undefined ? `resolved ${isoTime(alert.endsAt)}` : `since ${isoTime(alert.startsAt)}`;
  return {
    text: slackEscape(`${title}: ${summary}`),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: `*${slackEscape(summary)}*\nvalue ${slackEscape(alert.annotations.value ?? String(alert.value))}, ${when}`.slice(0, 2800) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: labels.slice(0, 2800) || 'no labels' }] },
    ],
  };
}
