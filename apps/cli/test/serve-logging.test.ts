/**
 * `muai serve`'s log file as an operator reads it: the built CLI, a real chat request, tracing to
 * an OTLP receiver. The request's lines must be in the file with its request id and the trace id
 * of its server span, and must hold neither its prompt nor its Authorization header.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// The monitoring package's own OTLP test receiver (decodes with the official protos): a test fixture, hence the path import.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startHttpReceiver } from '../../../packages/monitoring/test/helpers/otlp-receiver.js';
import { spawnServe } from './cli-harness.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('muai serve logging', () => {
  it("writes a request's lines to the log file with its request id and trace id, without its prompt or API key", async () => {
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    const logFile = join(mkdtempSync(join(tmpdir(), 'muai-logs-')), 'logs', 'muai.log');
    const served = await spawnServe({
      waitReady: true,
      env: {
        MUAI_MON_LOGGING_FILE: logFile,
        MUAI_MON_TRACING_ENABLED: 'true',
        MUAI_MON_TRACING_PROTOCOL: 'http',
        MUAI_MON_TRACING_ENDPOINT: receiver.url,
      },
    });
    cleanups.push(async () => {
      if (served.child.exitCode === null) {
        served.child.kill('SIGKILL');
        await served.exited;
      }
    });
    const prompt = 'my private prompt 7f3a9c';
    const apiKey = 'sk-test-secret-41d2';
    // A raw prompt (/v1/completions): the generated models need no chat template for it.
    const response = await fetch(`${served.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ model: 'default', prompt, max_tokens: 3 }),
    });
    expect(response.status).toBe(200);
    await receiver.waitForSpans(3, 20_000);
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);

    expect(existsSync(logFile)).toBe(true);
    const text = readFileSync(logFile, 'utf8');
    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const server = receiver.spans.find((span) => span.name === 'POST /v1/completions')!;
    const requestId = server.attributes['muai.request.id'];
    expect(typeof requestId).toBe('string');
    const requestLines = lines.filter((line) => line['reqId'] === requestId);
    expect(requestLines.length).toBeGreaterThan(0);
    for (const line of requestLines) expect(line['trace_id'], JSON.stringify(line)).toBe(server.traceId);
    const completed = requestLines.find((line) => line['msg'] === 'request completed')!;
    expect(completed).toMatchObject({ req: { method: 'POST', url: '/v1/completions' }, res: { statusCode: 200 } });
    expect(text).not.toContain(prompt);
    expect(text).not.toContain(apiKey);
    // The same lines went to standard output too, as JSON (not a terminal).
    expect(served.logs()).toContain(`"reqId":"${requestId}"`);
    expect(served.logs()).not.toContain(prompt);
  }, 90_000);
});
