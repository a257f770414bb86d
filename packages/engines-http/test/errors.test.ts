import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { MuaiError } from '@muai/core';
import { errorFromFetchFailure, errorFromStatus, isRetryableError, parseServerErrorBody } from '../src/errors.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const context = { engine: 'vllm', endpoint: 'http://127.0.0.1:1', path: '/v1/completions' };

describe('parseServerErrorBody', () => {
  it('reads the nested (v0.10+) and flat (older) vLLM shapes', () => {
    expect(parseServerErrorBody(fixture('vllm-error-nested.json'))).toMatchObject({ type: 'BadRequestError', code: 400 });
    expect(parseServerErrorBody(fixture('vllm-error-flat.json'))).toMatchObject({ message: 'The model `gpt-4` does not exist.', code: 404 });
  });

  it('reads the auth body, FastAPI detail and plain text', () => {
    expect(parseServerErrorBody('{"error": "Unauthorized"}').message).toBe('Unauthorized');
    expect(parseServerErrorBody('{"detail": "Not Found"}').message).toBe('Not Found');
    expect(parseServerErrorBody('<html>Bad gateway</html>').message).toBe('<html>Bad gateway</html>');
  });
});

describe('errorFromStatus', () => {
  it('maps 400 with a context-length message to CONTEXT_LENGTH_EXCEEDED', () => {
    expect(errorFromStatus(400, fixture('vllm-error-nested.json'), context).code).toBe('CONTEXT_LENGTH_EXCEEDED');
  });

  it('maps other 400s to INVALID_REQUEST and keeps the server message', () => {
    const error = errorFromStatus(400, '{"error":{"message":"temperature must be non-negative","type":"BadRequestError","param":null,"code":400}}', context);
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toContain('temperature must be non-negative');
    expect(isRetryableError(error)).toBe(false);
  });

  it('maps an unknown model to MODEL_NOT_FOUND (vLLM 404, MII 400 with code 40301)', () => {
    expect(errorFromStatus(404, fixture('vllm-error-flat.json'), context).code).toBe('MODEL_NOT_FOUND');
    expect(errorFromStatus(400, '{"object":"error","message":"Model x not found.","code":40301}', context).code).toBe('MODEL_NOT_FOUND');
  });

  it('maps 500 to ENGINE_ERROR (not retried) and 502/503/504 to retryable ENGINE_UNAVAILABLE', () => {
    const internal = errorFromStatus(500, '{"error":{"message":"boom","type":"InternalServerError","code":500}}', context);
    expect(internal.code).toBe('ENGINE_ERROR');
    expect(isRetryableError(internal)).toBe(false);
    for (const status of [502, 503, 504]) {
      const error = errorFromStatus(status, '', context);
      expect(error.code).toBe('ENGINE_UNAVAILABLE');
      expect(isRetryableError(error)).toBe(true);
    }
  });

  it('maps 401 to UNAUTHORIZED and 429 to QUEUE_FULL', () => {
    expect(errorFromStatus(401, '{"error": "Unauthorized"}', context).code).toBe('UNAUTHORIZED');
    expect(errorFromStatus(429, '', context).code).toBe('QUEUE_FULL');
  });
});

describe('errorFromFetchFailure', () => {
  it('maps a refused connection to retryable ENGINE_UNAVAILABLE', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    const error = errorFromFetchFailure(refused, context);
    expect(error.code).toBe('ENGINE_UNAVAILABLE');
    expect(isRetryableError(error)).toBe(true);
    expect(error.message).toContain('127.0.0.1:1');
  });

  it('tells the caller cancel (REQUEST_ABORTED) from our timeout (REQUEST_TIMEOUT)', () => {
    const caller = new AbortController();
    caller.abort();
    expect(errorFromFetchFailure(new Error('aborted'), context, { caller: caller.signal }).code).toBe('REQUEST_ABORTED');
    const timeout = new AbortController();
    timeout.abort();
    const error = errorFromFetchFailure(new Error('aborted'), context, { timeout: timeout.signal, timeoutMs: 250 });
    expect(error.code).toBe('REQUEST_TIMEOUT');
    expect(error.details.timeoutMs).toBe(250);
  });

  it('keeps MuaiErrors as they are', () => {
    const original = new MuaiError('INVALID_REQUEST', 'x');
    expect(errorFromFetchFailure(original, context)).toBe(original);
  });
});
