import { describe, expect, it } from 'vitest';
import {
  ConfigInvalidError,
  ERROR_CODES,
  MuaiError,
  PortInUseError,
  QueueFullError,
  throwIfAborted,
  toMuaiError,
} from './index.js';
import { FakeEngine } from './testing/index.js';

describe('MuaiError', () => {
  it('carries a stable code, a message that says what to do, and the cause', () => {
    const cause = new Error('EADDRINUSE');
    const error = new PortInUseError(9090, 'MUAI_MON_PROMETHEUS_PORT', { cause });
    expect(error.code).toBe('PORT_IN_USE');
    expect(error.message).toContain('9090');
    expect(error.message).toContain('MUAI_MON_PROMETHEUS_PORT');
    expect(error.cause).toBe(cause);
    expect(error.details).toMatchObject({ port: 9090 });
  });

  it('is recognised across copies of the package by its Symbol.for marker', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('muai.error')]: true, code: 'QUEUE_FULL' });
    expect(MuaiError.isInstance(foreign)).toBe(true);
    expect(MuaiError.isInstance(new Error('plain'))).toBe(false);
    expect(MuaiError.hasCode(new QueueFullError(3), 'QUEUE_FULL')).toBe(true);
  });

  it('maps every code to an HTTP status', () => {
    for (const code of Object.keys(ERROR_CODES) as Array<keyof typeof ERROR_CODES>) {
      expect(new MuaiError(code, 'x').httpStatus).toBeGreaterThanOrEqual(400);
    }
    expect(new QueueFullError(1).httpStatus).toBe(429);
  });

  it('lists every config problem with source, line, path, value and expectation', () => {
    const error = new ConfigInvalidError([
      { source: 'a.yaml', line: 3, path: 'optimization.batcher.max_batch_size', value: -1, expected: 'a positive integer' },
      { source: 'env:MUAI_MON_PROMETHEUS_PORT', path: 'monitoring.prometheus.port', value: 'abc', expected: 'an integer port' },
    ]);
    expect(error.message).toContain('a.yaml:3: optimization.batcher.max_batch_size: a positive integer (got -1)');
    expect(error.message).toContain('env:MUAI_MON_PROMETHEUS_PORT: monitoring.prometheus.port');
    expect(error.problems).toHaveLength(2);
  });

  it('wraps foreign errors and keeps MuaiErrors', () => {
    const own = new QueueFullError(2);
    expect(toMuaiError(own)).toBe(own);
    const wrapped = toMuaiError(new TypeError('boom'), 'ENGINE_ERROR');
    expect(wrapped.code).toBe('ENGINE_ERROR');
    expect(wrapped.message).toBe('boom');
  });

  it('throwIfAborted throws REQUEST_ABORTED only once aborted', () => {
    const controller = new AbortController();
    expect(() => throwIfAborted(controller.signal)).not.toThrow();
    controller.abort();
    expect(() => throwIfAborted(controller.signal)).toThrow(expect.objectContaining({ code: 'REQUEST_ABORTED' }));
  });
});

describe('FakeEngine (core/testing)', () => {
  it('honours maxTokens, stop sequences and abort like a real engine', async () => {
    const engine = new FakeEngine({ respond: () => 'one two three four five' });
    const limited = await engine.generate({ prompt: 'x', maxTokens: 2 });
    expect(limited.text).toBe('one two ');
    expect(limited.finishReason).toBe('length');
    const stopped = await engine.generate({ prompt: 'x', stop: ['three'] });
    expect(stopped.text).toBe('one two ');
    expect(stopped.finishReason).toBe('stop');
    // Cancelled before it started: rejected, nothing ran. Cancelled while running: ends with 'abort'.
    const controller = new AbortController();
    controller.abort();
    await expect(engine.generate({ prompt: 'x', signal: controller.signal })).rejects.toMatchObject({ code: 'REQUEST_ABORTED' });
    const slow = new FakeEngine({ respond: () => 'one two three four five', delayMs: 5 });
    const running = new AbortController();
    const chunks: string[] = [];
    let finish: string | undefined;
    for await (const chunk of slow.stream({ prompt: 'x', signal: running.signal })) {
      chunks.push(chunk.text);
      if (chunks.length === 2) running.abort();
      finish = chunk.finishReason ?? finish;
    }
    expect(finish).toBe('abort');
    expect(chunks.join('')).toBe('one two ');
    await expect(engine.infer('m', {})).rejects.toMatchObject({ code: 'CAPABILITY_UNSUPPORTED' });
  });
});
