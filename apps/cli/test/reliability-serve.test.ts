/**
 * Issue 19 against the built `muai serve` (a real process, real sockets):
 * - malformed HTTP from a raw node:net client: broken chunked encoding, oversized headers and
 *   bodies, slow clients sending a byte a second, connections dropped mid-request and mid-stream →
 *   never a 5xx, every rejection with a documented code, RSS bounded, the next good request answered;
 * - SIGTERM with streams in flight: all finish, new requests get 503 SHUTTING_DOWN, exit 0; a
 *   second SIGTERM stops at once with a log line, each open stream ending with an error event;
 * - model names and path-like parameters cannot reach files outside the configured models (API).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '@muai/core';
import { cliBin, spawnServe, type ServedCli } from './cli-harness.js';

const documented = new Set(Object.keys(ERROR_CODES));
const served: ServedCli[] = [];
afterEach(async () => {
  for (const server of served.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  }
});

async function serve(env: Record<string, string> = {}): Promise<ServedCli> {
  const server = await spawnServe({ env: { MUAI_MON_LOGGING_FILE: '-', ...env }, waitReady: true });
  served.push(server);
  return server;
}

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]);
}

/** Sends raw bytes (in pieces, `gapMs` apart), then reads until the server closes or `waitMs` passes. */
function raw(url: string, pieces: readonly (string | Buffer)[], options: { gapMs?: number; waitMs?: number; destroyAfterMs?: number } = {}): Promise<string> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(finish, options.waitMs ?? 5_000);
    socket.on('data', (data) => (received += data.toString('latin1')));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', async () => {
      for (const piece of pieces) {
        if (socket.destroyed) break;
        socket.write(piece);
        if (options.gapMs) await new Promise((done) => setTimeout(done, options.gapMs));
      }
      if (options.destroyAfterMs !== undefined) setTimeout(finish, options.destroyAfterMs);
    });
  });
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
}

function codeOf(answer: string): string | undefined {
  return /"code":"([A-Z_]+)"/.exec(answer)?.[1];
}

const goodBody = JSON.stringify({ model: 'default', prompt: 'hello', max_tokens: 3 });
const good = (url: string) => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: goodBody });

describe('malformed HTTP over raw sockets against muai serve', () => {
  it('rejects each with a documented code (never 5xx), survives drops and slow clients, keeps RSS bounded and answers the next good request', async () => {
    const server = await serve({ MUAI_MON_SERVER_BODY_LIMIT_BYTES: '65536' });
    const pid = server.child.pid!;
    expect((await good(server.url)).status).toBe(200);
    const rssBefore = rssKiB(pid);
    const head = (extra = '') => `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}`;
    const cases: Array<{ name: string; pieces: Array<string | Buffer>; expect: number | 'closed' }> = [
      { name: 'chunk size not hex', pieces: [`${head('Transfer-Encoding: chunked\r\n')}\r\nzz\r\n{}\r\n0\r\n\r\n`], expect: 400 },
      { name: 'chunk longer than announced', pieces: [`${head('Transfer-Encoding: chunked\r\n')}\r\n2\r\n{"model":1}\r\n0\r\n\r\n`], expect: 400 },
      { name: 'chunked and content-length together', pieces: [`${head('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n')}\r\n2\r\n{}\r\n0\r\n\r\n`], expect: 400 },
      { name: 'headers of 64 KiB', pieces: [`${head(`X-Big: ${'a'.repeat(65_536)}\r\n`)}Content-Length: 2\r\n\r\n{}`], expect: 413 },
      { name: '10 000 header lines', pieces: [`${head(Array.from({ length: 10_000 }, (_, index) => `X-H${index}: v\r\n`).join(''))}Content-Length: 2\r\n\r\n{}`], expect: 413 },
      { name: 'declared body of 10 MB', pieces: [`${head('Content-Length: 10000000\r\n')}\r\n{"prompt":"`], expect: 413 },
      { name: 'chunked body of 200 KB', pieces: [`${head('Transfer-Encoding: chunked\r\n')}\r\n`, ...Array.from({ length: 50 }, () => `fa0\r\n${'x'.repeat(4000)}\r\n`), '0\r\n\r\n'], expect: 413 },
      { name: 'negative content-length', pieces: [`${head('Content-Length: -5\r\n')}\r\n{}`], expect: 400 },
      { name: 'not HTTP at all', pieces: [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])], expect: 400 },
      { name: 'bare LF and spaces in the request line', pieces: ['GET  /v1/models  HTTP/1.1\nHost: x\n\n'], expect: 400 },
      { name: 'CRLF injection in the request target', pieces: ['GET /v1/models%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: x\r\n\r\n'], expect: 404 },
    ];
    let rejections = 0;
    for (const testCase of cases) {
      const answer = await raw(server.url, testCase.pieces, { waitMs: 5_000 });
      const status = statusOf(answer);
      expect(status, `${testCase.name}: ${answer.slice(0, 300)}`).toBe(testCase.expect);
      expect(documented.has(codeOf(answer) ?? ''), `${testCase.name}: ${answer.slice(0, 300)}`).toBe(true);
      // Request text may be quoted (escaped) in the JSON body, never as a header.
      expect(answer.split('\r\n\r\n')[0]!.toLowerCase()).not.toContain('x-injected');
      rejections += 1;
    }
    // Dropped connections: half a request, and a stream abandoned after its first event (30 of each).
    const dropped = await Promise.all([
      ...Array.from({ length: 30 }, () => raw(server.url, [`${head('Content-Length: 500\r\n')}\r\n{"prompt":"half`], { destroyAfterMs: 20 })),
      ...Array.from({ length: 30 }, () => raw(server.url, [`${head(`Content-Length: ${Buffer.byteLength(JSON.stringify({ model: 'default', prompt: 'tell a long story', max_tokens: 300, stream: true }))}\r\n`)}\r\n${JSON.stringify({ model: 'default', prompt: 'tell a long story', max_tokens: 300, stream: true })}`], { destroyAfterMs: 150 })),
    ]);
    for (const answer of dropped.slice(30)) if (answer !== '') expect(statusOf(answer)).toBe(200);
    // Three slow clients sending a byte a second while good requests are answered.
    const slow = Array.from({ length: 3 }, () => raw(server.url, [...`${head('Content-Length: 60\r\n')}\r\n`.slice(0, 8)], { gapMs: 1_000, waitMs: 9_000 }));
    const during = await Promise.all(Array.from({ length: 5 }, () => good(server.url)));
    expect(during.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
    for (const answer of await Promise.all(slow)) if (answer !== '') expect(statusOf(answer)).toBeLessThan(500);
    // Still the same process, still answering, memory bounded.
    expect(server.child.exitCode).toBeNull();
    const after = await good(server.url);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { choices: unknown[] }).choices).toHaveLength(1);
    const rssAfter = rssKiB(pid);
    console.info(`raw sockets: ${rejections} malformed requests rejected with codes, 60 dropped connections, 3 slow clients; RSS ${rssBefore} → ${rssAfter} KiB`);
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024);
  }, 60_000);
});

// CI drains 20 streams; `MUAI_RELIABILITY_FULL=1` drains the issue's 100.
const STREAMS = process.env['MUAI_RELIABILITY_FULL'] === '1' ? 100 : 20;

describe('SIGTERM with streams in flight', () => {
  // ignore_eos: the streams run their full length whatever the model emits, so that they are surely in
  // flight when the signal comes (the tiny model may end a greedy stream after a few tokens).
  const streamBody = JSON.stringify({ model: 'default', prompt: 'once upon a time', max_tokens: 400, ignore_eos: true, stream: true });
  const openStream = async (url: string) => {
    const response = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody });
    return response.text();
  };

  it('lets all of them finish, answers new requests 503 SHUTTING_DOWN meanwhile, and exits 0', async () => {
    const server = await serve({ MUAI_MON_SERVER_DRAIN_TIMEOUT_MS: '30000' });
    const streams = Array.from({ length: STREAMS }, () => openStream(server.url));
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    // Requests sent before the process handles the signal are still served (200); from then on, 503.
    let refused: Response | undefined;
    for (let attempt = 0; attempt < 100 && !refused; attempt += 1) {
      // A keep-alive socket the draining server closed may reset once; a new connection then answers.
      const response = await good(server.url).catch((error: unknown) => (String((error as Error).cause).includes('ECONNRESET') ? undefined : Promise.reject(error)));
      if (response === undefined) continue;
      if (response.status === 503) refused = response;
      else expect(response.status).toBe(200);
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBe('SHUTTING_DOWN');
    for (const text of await Promise.all(streams)) {
      expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
      expect(text).not.toContain('"error"');
    }
    expect(await server.exited).toBe(0);
    expect(server.logs()).toContain('drained');
    // The streams were in flight when the signal came (the server's own count in its log line).
    expect(Number(/draining: (\d+) request\(s\) in flight/.exec(server.logs())?.[1])).toBeGreaterThan(0);
    console.info(`SIGTERM: ${STREAMS} streams in flight all finished, new request 503 SHUTTING_DOWN, exit 0`);
  }, 60_000);

  it('a second SIGTERM stops at once: a log line, each open stream ends with a SHUTTING_DOWN error event, exit 0', async () => {
    const server = await serve({ MUAI_MON_SERVER_DRAIN_TIMEOUT_MS: '60000' });
    const long = JSON.stringify({ model: 'default', prompt: 'once upon a time', max_tokens: 2000, ignore_eos: true, stream: true });
    const streams = Array.from({ length: 5 }, async () => (await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: long })).text());
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    const started = Date.now();
    for (const text of await Promise.all(streams)) expect(text).toContain('"code":"SHUTTING_DOWN"');
    expect(await server.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(server.logs()).toMatch(/stopping with \d+ request\(s\) in flight \(second signal\)/);
  }, 60_000);
});

describe('model names and path-like parameters (API)', () => {
  it('never reach a file outside the configured models', async () => {
    const server = await serve();
    const names = ['../../../../etc/passwd', '/etc/passwd', '..%2F..%2Fetc%2Fpasswd', '%2e%2e/%2e%2e/etc/passwd', 'models/generated/tiny', './models/generated/tiny', '/proc/self/environ', 'default/../../etc', 'file:///etc/passwd', 'default\u0000x'];
    for (const model of names) {
      for (const route of ['/v1/completions', '/v1/chat/completions']) {
        const body = route === '/v1/completions' ? { model, prompt: 'x', max_tokens: 1 } : { model, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 };
        const response = await fetch(`${server.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const text = await response.text();
        expect(response.status, `${model}: ${text}`).toBe(404);
        expect(codeOf(text)).toBe('MODEL_NOT_FOUND');
        expect(text).not.toContain('root:');
      }
    }
    for (const path of ['/v1/models/..%2F..%2Fetc%2Fpasswd', '/v1/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/v1/models/%2e%2e']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status).toBe(404);
      expect(codeOf(await response.text())).toBe('NOT_FOUND');
    }
    // Only configured model names are served; none of the paths above became one.
    const ids = ((await (await fetch(`${server.url}/v1/models`)).json()) as { data: Array<{ id: string }> }).data.map((model) => model.id);
    expect(ids).toContain('default');
    for (const id of ids) expect(id).toMatch(/^[\w.-]+$/);
  }, 60_000);
});

describe('path-like model names (CLI)', () => {
  it('muai pull refuses names that are paths (../, absolute, URL-encoded) with INVALID_REQUEST and writes nothing', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'muai-r19-cache-'));
    try {
      for (const name of ['../../etc/passwd', '/etc/passwd', 'org/..%2F..%2Fetc', 'org/../../etc', '..', 'org/name/../../x']) {
        const result = await new Promise<{ code: number; output: string }>((resolveRun) => {
          execFile(process.execPath, [cliBin, 'pull', name], { env: { ...process.env, HF_HUB_OFFLINE: '1', MUAI_CACHE_DIR: cache, HF_HOME: cache } }, (error, stdout, stderr) => {
            resolveRun({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
          });
        });
        expect(result.code, `${name}: ${result.output}`).toBe(1);
        expect(result.output).toContain('INVALID_REQUEST');
      }
      expect(readdirSync(cache)).toEqual([]);
      expect(existsSync(join(cache, '..', 'etc'))).toBe(false);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('API keys in muai serve', () => {
  it('monitoring.server.api_keys: any listed key (or api_key) is accepted, others 401 UNAUTHORIZED, no key in the logs', async () => {
    const server = await serve({ MUAI_MON_SERVER_API_KEY: 'primary-key-r19', MUAI_MON_SERVER_API_KEYS: 'client-a-r19,client-b-r19', MUAI_MON_LOGGING_LEVEL: 'trace' });
    const call = (key: string) => fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: goodBody });
    for (const key of ['primary-key-r19', 'client-a-r19', 'client-b-r19']) expect((await call(key)).status).toBe(200);
    for (const key of ['client-c-r19', 'client-a-r1', 'Primary-key-r19', 'client-a-r19client-b-r19']) {
      const response = await call(key);
      expect(response.status).toBe(401);
      expect(codeOf(await response.text())).toBe('UNAUTHORIZED');
    }
    expect(server.logs()).toContain('"statusCode":401'); // the refused requests were logged ...
    expect(server.logs()).not.toMatch(/-r19/); // ... without their keys
  }, 60_000);
});
