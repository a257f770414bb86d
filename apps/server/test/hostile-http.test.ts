import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ERROR_CODES } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { createServer } from '../src/index.js';

// Issue 19, hostile HTTP (bulk part): generated bodies, headers and parameters through Fastify's
// inject. Every answer is < 500, every rejection names a code from ERROR_CODES (docs/errors.md), and
// the next good request is answered. The raw-socket part (malformed HTTP against a spawned
// `muai serve`) is apps/cli/test/reliability-hostile-socket.test.ts.

const documented = new Set(Object.keys(ERROR_CODES));

async function engine() {
  const fake = new FakeEngine({ name: 'fake', respond: () => 'alpha beta gamma' });
  await fake.load({ name: 'tiny', path: '/nowhere' });
  return fake;
}

const jsonValue = fc.jsonValue({ maxDepth: 3 });
// Values typed the way a confused or malicious client sends them: wrong types, huge numbers, NaN-ish strings.
const anyField = fc.oneof(jsonValue, fc.string({ maxLength: 40 }), fc.double(), fc.integer(), fc.constant(null), fc.boolean());
const fieldNames = ['model', 'prompt', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'seed', 'stop', 'stop_token_ids', 'n', 'stream', 'stream_options', 'user', 'logprobs', '__proto__', 'constructor'];
const hostileBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...fieldNames), anyField, { maxKeys: 8 }),
  fc.record({
    model: fc.oneof(fc.constant('tiny'), fc.string({ maxLength: 300 }), fc.constantFrom('../../etc/passwd', '/etc/passwd', '..%2F..%2Fetc', 'tiny\r\nx-injected: 1', 'C:\\Windows')),
    prompt: fc.oneof(fc.string({ maxLength: 200 }), fc.array(fc.string(), { maxLength: 3 }), anyField),
    max_tokens: fc.oneof(fc.integer({ min: -5, max: 10_000 }), anyField),
    stream: fc.oneof(fc.boolean(), anyField),
  }),
  fc.record({
    model: fc.constantFrom('tiny', 'nope'),
    messages: fc.oneof(
      fc.array(fc.record({ role: fc.oneof(fc.constantFrom('system', 'user', 'assistant', 'tool', 'developer'), fc.string({ maxLength: 10 })), content: fc.oneof(fc.string({ maxLength: 100 }), fc.array(fc.record({ type: fc.constantFrom('text', 'image'), text: anyField }), { maxLength: 3 }), anyField) }), { maxLength: 4 }),
      anyField,
    ),
    max_tokens: fc.oneof(fc.integer({ min: 1, max: 8 }), anyField),
    stream: fc.boolean(),
  }),
  jsonValue,
);
// Raw payloads: not JSON at all, truncated JSON, JSON of the wrong type, binary.
const rawPayload = fc.oneof(
  fc.string({ maxLength: 200 }),
  hostileBody.map((body) => JSON.stringify(body) ?? 'null').chain((text) => fc.nat({ max: text.length }).map((cut) => text.slice(0, cut))),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);
const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', ''),
  fc.string({ maxLength: 30 }).filter((value) => !/[\r\n]/.test(value)),
);
const route = fc.oneof(
  fc.constantFrom('/v1/completions', '/v1/chat/completions', '/v1/models', '/health', '/ready', '/metrics'),
  fc.constantFrom('/v1/../etc/passwd', '/v1/%2e%2e/%2e%2e/etc/passwd', '/v1/models/..%2F..%2Fsecret', '//v1/completions', '/v1/completions?model=../../x', '/v1/completions/%00'),
  fc.webPath().map((path) => `/v1${path}`),
  fc.webUrl({ withQueryParameters: true, withFragments: true }).map((url) => new URL(url).pathname + new URL(url).search),
);
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
const headerValue = fc.string({ maxLength: 60 }).filter((value) => /^[\t\x20-\x7e]*$/.test(value));
const extraHeaders = fc.dictionary(fc.constantFrom('authorization', 'via', 'x-forwarded-for', 'accept', 'accept-encoding', 'origin', 'x-request-id', 'content-encoding', 'transfer-encoding', 'expect', 'cookie'), headerValue, { maxKeys: 4 });

function expectDocumented(response: { statusCode: number; body: string; headers: Record<string, unknown> }, context: string): void {
  expect(response.statusCode, context).toBeLessThan(500);
  // HEAD answers carry no body by definition.
  if (response.statusCode < 400 || context.startsWith('HEAD ')) return;
  let code: unknown;
  try {
    code = (JSON.parse(response.body) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  expect(documented.has(String(code)), `${context} -> ${response.statusCode} ${response.body.slice(0, 200)}`).toBe(true);
}

describe('hostile HTTP: generated requests through inject', () => {
  it('answers ≥ 10 000 generated bodies, headers and parameters with < 500 and a documented code, and the next good request', async () => {
    const app = createServer({ engine: await engine(), bodyLimitBytes: 64 * 1024 });
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(method, route, fc.oneof(hostileBody.map((body) => JSON.stringify(body) ?? 'null'), rawPayload), contentType, extraHeaders, async (verb, url, payload, type, headers) => {
        runs += 1;
        const response = await app.inject({
          method: verb,
          url,
          headers: { ...headers, ...(type ? { 'content-type': type } : {}) },
          ...(verb === 'GET' || verb === 'HEAD' ? {} : { payload }),
        });
        expectDocumented(response, `${verb} ${url} ${type} ${payload.slice(0, 80)}`);
        // No header value is ever built from request text (model names, parameters).
        for (const name of Object.keys(response.headers)) expect(name).not.toBe('x-injected');
      }),
      { numRuns: 10_000 },
    );
    expect(runs).toBeGreaterThanOrEqual(10_000);
    const good = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'hi', max_tokens: 2 } });
    expect(good.statusCode).toBe(200);
    expect(good.json().choices[0].text).toBe('alpha beta ');
    await app.close();
  }, 120_000);

  it('maps Fastify’s own rejections and unknown routes to documented codes with the matching status', async () => {
    const app = createServer({ engine: await engine(), bodyLimitBytes: 1024 });
    const cases = [
      { name: 'bad JSON', request: { method: 'POST' as const, url: '/v1/completions', headers: { 'content-type': 'application/json' }, payload: '{"prompt":' } },
      { name: 'body too large', request: { method: 'POST' as const, url: '/v1/completions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ prompt: 'x'.repeat(4096) }) } },
      { name: 'unsupported media type', request: { method: 'POST' as const, url: '/v1/completions', headers: { 'content-type': 'text/html' }, payload: '<p>' } },
      { name: 'empty JSON body', request: { method: 'POST' as const, url: '/v1/completions', headers: { 'content-type': 'application/json' }, payload: '' } },
      { name: 'unknown route', request: { method: 'GET' as const, url: '/v2/nothing' } },
      { name: 'wrong method', request: { method: 'DELETE' as const, url: '/v1/completions' } },
      { name: 'bad content-encoding', request: { method: 'POST' as const, url: '/v1/completions', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, payload: 'not gzip' } },
    ];
    for (const { name, request } of cases) {
      const response = await app.inject(request);
      const code = response.json().error?.code as keyof typeof ERROR_CODES;
      expect(documented.has(code), `${name}: ${response.body}`).toBe(true);
      expect(response.statusCode, name).toBe(ERROR_CODES[code] === 499 ? 400 : ERROR_CODES[code]);
      expect(response.body, name).not.toContain('FST_ERR');
    }
    await app.close();
  });
});
