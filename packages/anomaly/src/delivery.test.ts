import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertNotification } from './alert.js';
import { AnomalyDetector } from './anomaly-detector.js';
import {
  AlertDispatcher,
  createAlertmanagerTarget,
  createAlertmanagerWebhookTarget,
  createSlackTarget,
  createWebhookTarget,
  parseRetryAfter,
  type AnomalyLogger,
} from './delivery.js';

interface Received {
  at: number;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A loopback HTTP receiver that records every request and answers from a script of replies. */
async function receiver(replies: Array<{ status: number; headers?: Record<string, string>; body?: string }>) {
  const received: Received[] = [];
  let index = 0;
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    request.on('end', () => {
      received.push({ at: Date.now(), url: request.url ?? '', headers: request.headers, body: JSON.parse(text) as unknown });
      const reply = replies[Math.min(index++, replies.length - 1)] ?? { status: 200 };
      response.writeHead(reply.status, reply.headers ?? {});
      response.end(reply.body ?? 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function memoryLogger() {
  const lines: string[] = [];
  const logger: AnomalyLogger = { warn: (message) => lines.push(`warn ${message}`), info: (message) => lines.push(`info ${message}`) };
  return { logger, lines };
}

const notification: AlertNotification = {
  status: 'firing',
  alert: {
    fingerprint: '0123456789abcdef',
    rule: 'MuaiLatencyP99High',
    state: 'firing',
    labels: { alertname: 'MuaiLatencyP99High', severity: 'warning', series: 'latency_p99_ms' },
    annotations: { summary: 'p99 <high> & rising', value: '512' },
    activeSince: 1_700_000_000_000,
    startsAt: 1_700_000_000_000,
    value: 512,
    score: 9,
  },
};

describe('delivery to loopback receivers', () => {
  it('generic webhook: JSON with the alert in Alertmanager alert shape', async () => {
    const sink = await receiver([{ status: 200 }]);
    const { logger } = memoryLogger();
    const dispatcher = new AlertDispatcher([createWebhookTarget({ url: `${sink.url}/hook`, headers: { authorization: 'Bearer x' } })], { logger });
    dispatcher.dispatch(notification);
    await dispatcher.flush();
    dispatcher.close();
    expect(sink.received).toHaveLength(1);
    expect(sink.received[0]?.headers.authorization).toBe('Bearer x');
    expect(sink.received[0]?.body).toMatchObject({
      source: 'muai',
      status: 'firing',
      alert: { labels: { alertname: 'MuaiLatencyP99High' }, startsAt: '2023-11-14T22:13:20.000Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: '0123456789abcdef' },
    });
  });

  it('Alertmanager webhook body: version "4" with group fields', async () => {
    const sink = await receiver([{ status: 200 }]);
    const dispatcher = new AlertDispatcher([createAlertmanagerWebhookTarget({ url: sink.url })], memoryLogger());
    dispatcher.dispatch({ ...notification, status: 'resolved', alert: { ...notification.alert, state: 'resolved', endsAt: 1_700_000_060_000 } });
    await dispatcher.flush();
    dispatcher.close();
    const body = sink.received[0]?.body as Record<string, unknown>;
    expect(body).toMatchObject({ version: '4', status: 'resolved', receiver: 'muai', truncatedAlerts: 0, groupLabels: { alertname: 'MuaiLatencyP99High' } });
    expect(typeof body.groupKey).toBe('string');
    expect(body.alerts).toEqual([expect.objectContaining({ status: 'resolved', endsAt: '2023-11-14T22:14:20.000Z', fingerprint: '0123456789abcdef' })]);
  });

  it('retries a 500 with backoff and succeeds on the following 200', async () => {
    const sink = await receiver([{ status: 500, body: 'boom' }, { status: 200 }]);
    const { logger, lines } = memoryLogger();
    const outcomes: string[] = [];
    const dispatcher = new AlertDispatcher([createWebhookTarget({ url: sink.url })], { logger, backoffMs: 50, onOutcome: (_target, outcome) => outcomes.push(outcome) });
    dispatcher.dispatch(notification);
    await dispatcher.flush();
    dispatcher.close();
    expect(sink.received).toHaveLength(2);
    expect(outcomes).toEqual(['retried', 'sent']);
    expect(lines).toEqual([]);
    // ±20% jitter around 50 ms.
    expect((sink.received[1]?.at ?? 0) - (sink.received[0]?.at ?? 0)).toBeGreaterThanOrEqual(35);
  });

  it('does not retry a 4xx: one attempt, a logged failure, a failed count', async () => {
    const sink = await receiver([{ status: 400, body: 'invalid_payload' }]);
    const { logger, lines } = memoryLogger();
    const outcomes: string[] = [];
    const dispatcher = new AlertDispatcher([createSlackTarget({ url: sink.url })], { logger, backoffMs: 10, onOutcome: (_target, outcome) => outcomes.push(outcome) });
    dispatcher.dispatch(notification);
    await dispatcher.flush();
    dispatcher.close();
    expect(sink.received).toHaveLength(1);
    expect(outcomes).toEqual(['failed']);
    expect(lines.join('\n')).toMatch(/alert delivery to slack:127\.0\.0\.1:\d+ failed .*HTTP 400 invalid_payload/);
  });

  it('Slack: text + blocks, escaped; a 429 waits for Retry-After before the retry', async () => {
    const sink = await receiver([{ status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' }, { status: 200 }]);
    const dispatcher = new AlertDispatcher([createSlackTarget({ url: sink.url })], { ...memoryLogger(), backoffMs: 10 });
    dispatcher.dispatch(notification);
    await dispatcher.flush();
    dispatcher.close();
    expect(sink.received).toHaveLength(2);
    expect((sink.received[1]?.at ?? 0) - (sink.received[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
    const body = sink.received[1]?.body as { text: string; blocks: Array<{ type: string }> };
    expect(body.text).toBe('[FIRING] MuaiLatencyP99High: p99 &lt;high&gt; &amp; rising');
    expect(body.blocks.map((block) => block.type)).toEqual(['header', 'section', 'context']);
  });

  it('Slack: at most one message per second per webhook', async () => {
    const sink = await receiver([{ status: 200 }]);
    const dispatcher = new AlertDispatcher([createSlackTarget({ url: sink.url })], memoryLogger());
    dispatcher.dispatch(notification);
    dispatcher.dispatch({ ...notification, status: 'resolved' });
    await dispatcher.flush();
    dispatcher.close();
    expect(sink.received).toHaveLength(2);
    expect((sink.received[1]?.at ?? 0) - (sink.received[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('an unreachable target is a logged failure after the retries, not an exception', async () => {
    const { logger, lines } = memoryLogger();
    const outcomes: string[] = [];
    // Port 9 (discard) on loopback: connection refused.
    const dispatcher = new AlertDispatcher([createWebhookTarget({ url: 'http://127.0.0.1:9/hook' })], { logger, backoffMs: 5, maxAttempts: 3, onOutcome: (_t, outcome) => outcomes.push(outcome) });
    dispatcher.dispatch(notification);
    await dispatcher.flush();
    dispatcher.close();
    expect(outcomes).toEqual(['retried', 'retried', 'failed']);
    expect(lines.join('\n')).toMatch(/failed .*check that http:\/\/127\.0\.0\.1:9\/hook is reachable/);
  });

  it('drops (and counts) notifications beyond the bounded queue; dispatch never waits', async () => {
    const outcomes: string[] = [];
    let release: () => void = () => {};
    const slow = { name: 'slow', send: () => new Promise<void>((resolve) => (release = resolve)) };
    const dispatcher = new AlertDispatcher([slow], { ...memoryLogger(), queueSize: 2, onOutcome: (_t, outcome) => outcomes.push(outcome) });
    const started = performance.now();
    for (let index = 0; index < 5; index++) dispatcher.dispatch(notification);
    expect(performance.now() - started).toBeLessThan(50);
    // One in flight, two queued, two dropped.
    expect(outcomes).toEqual(['dropped', 'dropped']);
    dispatcher.close();
    release();
  });

  it('Alertmanager API v2: an array of postable alerts; firing ones re-sent with endsAt ahead, resolved ones with endsAt = resolve time', async () => {
    const sink = await receiver([{ status: 200 }]);
    const target = createAlertmanagerTarget({ url: `${sink.url}/`, resendIntervalMs: 100, resolvedResendMs: 400 });
    const dispatcher = new AlertDispatcher([target], memoryLogger());
    dispatcher.dispatch(notification);
    await new Promise((resolve) => setTimeout(resolve, 550));
    const firing = sink.received.map((request) => request.body as Array<{ labels: Record<string, string>; startsAt: string; endsAt: string }>);
    expect(sink.received.every((request) => request.url === '/api/v2/alerts')).toBe(true);
    expect(firing.length).toBeGreaterThanOrEqual(3);
    for (const [index, body] of firing.entries()) {
      expect(body).toHaveLength(1);
      expect(body[0]?.labels.alertname).toBe('MuaiLatencyP99High');
      expect(body[0]?.startsAt).toBe('2023-11-14T22:13:20.000Z');
      // endsAt = send time + 4 × 100 ms.
      expect(Date.parse(body[0]?.endsAt ?? '') - (sink.received[index]?.at ?? 0)).toBeGreaterThan(300);
    }
    const resolvedAt = Date.now();
    dispatcher.dispatch({ ...notification, status: 'resolved', alert: { ...notification.alert, state: 'resolved', endsAt: resolvedAt } });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = sink.received.slice(firing.length).map((request) => (request.body as Array<{ endsAt: string }>)[0]?.endsAt);
    // The resolve itself plus re-sends for ~400 ms, all with endsAt = the resolve time; then nothing.
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.length).toBeLessThanOrEqual(6);
    expect(new Set(after)).toEqual(new Set([new Date(resolvedAt).toISOString()]));
    dispatcher.close();
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('AnomalyDetector lifecycle', () => {
  function detector(options: { forMs?: number; cooldownMs?: number } = {}) {
    const { logger, lines } = memoryLogger();
    const fired: string[] = [];
    const instance = new AnomalyDetector({
      rules: [{ name: 'QueueHigh', series: 'queue_depth', detector: { kind: 'threshold', limit: 10 }, forMs: options.forMs ?? 2000, severity: 'critical', summary: 'queue high' }],
      cooldownMs: options.cooldownMs ?? 0,
      logger,
      labels: { service: 'muai' },
      onFire: (rule, severity) => fired.push(`${rule}/${severity}`),
    });
    return { instance, lines, fired };
  }

  it('pending → firing after `for`, one notification while firing, resolved notice when it clears', async () => {
    const { instance, lines, fired } = detector();
    expect(instance.observe({ queue_depth: 50 }, 0)).toEqual([]);
    expect(instance.alerts()).toMatchObject([{ state: 'pending', rule: 'QueueHigh' }]);
    expect(instance.observe({ queue_depth: 50 }, 1000)).toEqual([]);
    const firing = instance.observe({ queue_depth: 50 }, 2000);
    expect(firing).toMatchObject([{ status: 'firing', alert: { labels: { alertname: 'QueueHigh', severity: 'critical', service: 'muai' }, startsAt: 2000, activeSince: 0 } }]);
    expect(instance.observe({ queue_depth: 60 }, 3000)).toEqual([]);
    expect(instance.observe({ queue_depth: 60, other: 1 }, 3500)).toEqual([]);
    // A missing value keeps the state.
    expect(instance.observe({}, 3600)).toEqual([]);
    expect(instance.alerts()).toMatchObject([{ state: 'firing' }]);
    const resolved = instance.observe({ queue_depth: 1 }, 4000);
    expect(resolved).toMatchObject([{ status: 'resolved', alert: { endsAt: 4000, fingerprint: firing[0]?.alert.fingerprint } }]);
    expect(instance.alerts()).toEqual([]);
    await instance.flush();
    instance.close();
    expect(fired).toEqual(['QueueHigh/critical']);
    expect(lines.filter((line) => line.includes('alert '))).toHaveLength(2);
    expect(instance.metricsText()).toContain('muai_anomaly_alerts_total{rule="QueueHigh",severity="critical"} 1');
    expect(instance.metricsText()).toContain('muai_anomaly_deliveries_total{target="log",outcome="sent"} 2');
  });

  it('a condition that clears while pending never notifies', () => {
    const { instance, fired } = detector();
    instance.observe({ queue_depth: 50 }, 0);
    instance.observe({ queue_depth: 5 }, 1000);
    instance.observe({ queue_depth: 50 }, 2000);
    expect(instance.alerts()).toMatchObject([{ state: 'pending', activeSince: 2000 }]);
    instance.close();
    expect(fired).toEqual([]);
  });

  it('cooldown: a rule fires again only after cooldownMs since its last firing', () => {
    const { instance, fired } = detector({ forMs: 0, cooldownMs: 10_000 });
    instance.observe({ queue_depth: 50 }, 0);
    instance.observe({ queue_depth: 0 }, 1000);
    instance.observe({ queue_depth: 50 }, 2000);
    expect(instance.alerts()).toMatchObject([{ state: 'pending' }]);
    instance.observe({ queue_depth: 50 }, 10_000);
    instance.close();
    expect(fired).toEqual(['QueueHigh/critical', 'QueueHigh/critical']);
  });

  it('the fingerprint depends on the labels only', () => {
    const first = detector().instance;
    const second = detector().instance;
    first.observe({ queue_depth: 50 }, 0);
    second.observe({ queue_depth: 99 }, 5);
    expect(first.alerts()[0]?.fingerprint).toBe(second.alerts()[0]?.fingerprint);
    expect(first.alerts()[0]?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    first.close();
    second.close();
  });
});
