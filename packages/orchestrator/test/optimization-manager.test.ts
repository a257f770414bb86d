import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MuaiError, InvalidRequestError, RequestTimeoutError } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { OptimizationManager } from '../src/index.js';
import { memoryLogger, moduleNotFound } from './helpers.js';

const respond = () => 'answer';

describe('OptimizationManager engine choice', () => {
  it('tries engines in engine_preference order among the enabled ones, embedded onnx last', () => {
    const manager = new OptimizationManager({ engine_preference: ['deepspeed', 'vllm', 'pytorch'], vllm: { enabled: true }, deepspeed: { enabled: false } });
    expect(manager.candidates('m')).toEqual(['vllm', 'onnx']);
    const disabled = new OptimizationManager({ enabled: false, engine_preference: ['vllm'], vllm: { enabled: true } });
    expect(disabled.candidates('m')).toEqual(['onnx']);
  });

  it('serves on the first available engine and says so in engineUsed', async () => {
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], vllm: { enabled: true } },
      { engines: { vllm: () => new FakeEngine({ name: 'vllm', respond }), onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    const result = await manager.infer('m', { prompt: 'test' });
    expect(result.engineUsed).toBe('vllm');
    expect(result.outputs.text).toBe('answer');
  });

  it('skips a package that is not installed with ONE warning and one counted fallback, never a crash', async () => {
    const logger = memoryLogger();
    const recordFallback = vi.fn();
    const importModule = vi.fn(async (specifier: string) => {
      throw moduleNotFound(specifier);
    });
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'pytorch'], vllm: { enabled: true } },
      { logger, importModule, metrics: { recordFallback }, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    for (let i = 0; i < 3; i += 1) {
      const result = await manager.infer('qwen_chat', { prompt: 'test' });
      expect(result.engineUsed).toBe('onnx');
    }
    expect(importModule).toHaveBeenCalledWith('@muai/engines-vllm');
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain('npm install @muai/engines-vllm');
    expect(manager.stats().fallbacks).toBe(1);
    expect(manager.stats().unavailable).toEqual({ vllm: 'not_installed' });
    expect(recordFallback).toHaveBeenCalledTimes(1);
    expect(recordFallback).toHaveBeenCalledWith({ from: 'vllm', to: 'onnx', reason: 'not_installed', model: 'qwen_chat' });
  });

  it('skips an unreachable server (health not ok) with one warning', async () => {
    const logger = memoryLogger();
    const remote = new FakeEngine({ name: 'vllm', failWith: new Error('connect ECONNREFUSED 127.0.0.1:8000') });
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], vllm: { enabled: true } },
      { logger, engines: { vllm: () => remote, onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    await manager.generate({ model: 'm', prompt: 'a' });
    const second = await manager.generate({ model: 'm', prompt: 'b' });
    expect(second.engineUsed).toBe('onnx');
    expect(remote.calls).toHaveLength(0);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain('unreachable');
    expect(manager.stats().fallbacks).toBe(1);
  });

  it('retries a failed request on the next engine when fallback_on_error is true', async () => {
    const failing = new FakeEngine({ name: 'vllm' });
    failing.generate = async () => {
      throw new Error('CUDA out of memory');
    };
    const onFallback = vi.fn();
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], vllm: { enabled: true }, fallback_on_error: true },
      { logger: memoryLogger(), onFallback, engines: { vllm: () => failing, onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    const result = await manager.generate({ model: 'm', prompt: 'x' });
    expect(result.engineUsed).toBe('onnx');
    expect(onFallback).toHaveBeenCalledWith({ from: 'vllm', to: 'onnx', reason: 'ENGINE_ERROR', model: 'm' });
    expect(manager.stats().fallbacksByEngine).toEqual({ vllm: 1 });
  });

  it('throws a coded ENGINE_ERROR without retrying when fallback_on_error is false', async () => {
    const failing = new FakeEngine({ name: 'vllm' });
    failing.generate = async () => {
      throw new Error('boom');
    };
    const backup = new FakeEngine({ name: 'onnx', respond });
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], vllm: { enabled: true }, fallback_on_error: false },
      { logger: memoryLogger(), engines: { vllm: () => failing, onnx: () => backup } },
    );
    const error = await manager.generate({ model: 'm', prompt: 'x' }).catch((caught: unknown) => caught);
    expect(MuaiError.hasCode(error, 'ENGINE_ERROR')).toBe(true);
    expect((error as MuaiError).message).toContain('boom');
    expect(backup.calls).toHaveLength(0);
  });

  it('never retries errors about the request itself', async () => {
    const first = new FakeEngine({ name: 'vllm' });
    first.generate = async () => {
      throw new InvalidRequestError('maxTokens too large');
    };
    const backup = new FakeEngine({ name: 'onnx', respond });
    const manager = new OptimizationManager({ engine_preference: ['vllm'], vllm: { enabled: true } }, { logger: memoryLogger(), engines: { vllm: () => first, onnx: () => backup } });
    await expect(manager.generate({ model: 'm', prompt: 'x' })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    expect(backup.calls).toHaveLength(0);
  });

  it('falls back in a stream only before the first chunk, and labels chunks with the engine', async () => {
    const failing = new FakeEngine({ name: 'vllm', respond, failWith: new Error('down') });
    failing.health = async () => ({ ok: true, models: [] });
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], vllm: { enabled: true } },
      { logger: memoryLogger(), engines: { vllm: () => failing, onnx: () => new FakeEngine({ name: 'onnx', respond: () => 'one two three' }) } },
    );
    const chunks = [];
    for await (const chunk of manager.stream({ model: 'm', prompt: 'x' })) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.text).join('')).toBe('one two three');
    expect(new Set(chunks.map((chunk) => chunk.engineUsed))).toEqual(new Set(['onnx']));
    expect(chunks.at(-1)?.finishReason).toBe('stop');
  });

  it('wraps generation in a batcher per model and engine when batcher.enabled', async () => {
    const engine = new FakeEngine({ name: 'onnx', respond });
    const batchSpy = vi.spyOn(engine, 'generateBatch');
    const manager = new OptimizationManager(
      { batcher: { enabled: true, max_batch_size: 4, batch_timeout_ms: 20 } },
      { logger: memoryLogger(), engines: { onnx: () => engine } },
    );
    const results = await Promise.all([0, 1, 2, 3].map((i) => manager.generate({ model: 'm', prompt: `p${i}` })));
    expect(results.map((result) => result.text)).toEqual(['answer', 'answer', 'answer', 'answer']);
    expect(batchSpy).toHaveBeenCalledTimes(1);
    expect(batchSpy.mock.calls[0]?.[0]).toHaveLength(4);
  });

  it('passes the KV cache options to the embedded engine when cache.enabled', async () => {
    let received: Record<string, unknown> | undefined;
    const importModule = async (specifier: string) => {
      if (specifier !== '@muai/engines-onnx') throw moduleNotFound(specifier);
      return {
        createOnnxEngine: (options: Record<string, unknown>) => {
          received = options;
          return new FakeEngine({ name: 'onnx', respond });
        },
      };
    };
    const manager = new OptimizationManager({ cache: { enabled: true, max_memory_mb: 64, block_size: 16 }, onnx: { enabled: true, threads: 2 } }, { importModule, logger: memoryLogger() });
    await manager.getEngine('pytorch');
    expect(received).toMatchObject({ intraOpNumThreads: 2, kvCache: { enabled: true, maxMemoryMb: 64, blockSize: 16 } });
    const off = new OptimizationManager({ cache: { enabled: false } }, { importModule, logger: memoryLogger() });
    await off.getEngine('onnx');
    expect(received?.kvCache).toBeUndefined();
  });

  it('reports a hub id given to the embedded engine as MODEL_NOT_FOUND with what to do', async () => {
    const importModule = async () => ({ createOnnxEngine: () => new FakeEngine({ name: 'onnx' }) });
    const manager = new OptimizationManager(undefined, { importModule, logger: memoryLogger(), models: { qwen_chat: { name: 'qwen_chat', path: 'Qwen/Qwen-7B-Chat' } } });
    const error = await manager.generate({ model: 'qwen_chat', prompt: 'hi' }).catch((caught: unknown) => caught);
    expect(MuaiError.hasCode(error, 'MODEL_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('models.qwen_chat.path');
  });

  it('falls back from the real @muai/engines-vllm client when its server does not answer (loopback, closed port)', async () => {
    const logger = memoryLogger();
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'pytorch'], vllm: { enabled: true, endpoints: ['http://127.0.0.1:9'], timeout_ms: 2000, retries: 0 } },
      { logger, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    const result = await manager.infer('qwen_chat', { prompt: 'test' });
    expect(result.engineUsed).toBe('onnx');
    expect(manager.stats().unavailable).toEqual({ vllm: 'unreachable' });
    expect(logger.warnings).toHaveLength(1);
  });
});

/**
 * A loopback vLLM stand-in that answers `/health` and `/v1/models` but never answers a generation:
 * the server accepted the request and hangs (a wedged GPU worker, a deadlock).
 */
async function hangingVllm(): Promise<{ url: string; hung: () => number; close: () => Promise<void> }> {
  let hung = 0;
  const server: Server = createServer((request, response) => {
    if (request.url === '/health') return void response.end();
    if (request.url === '/v1/models') {
      response.setHeader('content-type', 'application/json');
      return void response.end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model', max_model_len: 2048 }] }));
    }
    hung += 1; // never answers
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hung: () => hung,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('OptimizationManager and an engine that never answers', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });
  const vllmSection = (url: string) => ({ enabled: true, endpoints: [url], model: 'm', timeout_ms: 300, retries: 0 });

  it('falls back to the next engine when the engine\'s own timeout_ms runs out before any token, and skips it for a while', async () => {
    const hanging = await hangingVllm();
    closers.push(hanging.close);
    const onFallback = vi.fn();
    const logger = memoryLogger();
    const backup = new FakeEngine({ name: 'onnx', respond });
    // fallback_on_error off: a hung server is treated like one that refuses connections.
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], fallback_on_error: false, vllm: vllmSection(hanging.url) },
      { logger, onFallback, engines: { onnx: () => backup } },
    );
    const started = performance.now();
    const result = await manager.generate({ model: 'm', prompt: 'x' });
    expect(result.engineUsed).toBe('onnx');
    expect(performance.now() - started).toBeLessThan(300 + 2000);
    expect(hanging.hung()).toBe(1);
    expect(onFallback).toHaveBeenCalledWith({ from: 'vllm', to: 'onnx', reason: 'timeout', model: 'm' });
    expect(manager.stats().unavailable).toEqual({ vllm: 'timeout' });
    expect(logger.warnings).toEqual([`Engine "vllm" is unavailable (timeout): ${hanging.url} accepted the request and did not answer within optimization.vllm.timeout_ms (300 ms). Falling back to the next engine in optimization.engine_preference.`]);
    // A stream falls back the same way, and does not wait again: the engine is skipped.
    const chunks = [];
    for await (const chunk of manager.stream({ model: 'm', prompt: 'x' })) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.text).join('')).toBe('answer');
    expect(new Set(chunks.map((chunk) => chunk.engineUsed))).toEqual(new Set(['onnx']));
    expect(hanging.hung()).toBe(1);
  });

  it('still answers REQUEST_TIMEOUT when no other engine exists', async () => {
    const hanging = await hangingVllm();
    closers.push(hanging.close);
    const manager = new OptimizationManager(
      { engine_preference: ['vllm'], fallback_on_error: false, vllm: vllmSection(hanging.url) },
      { logger: memoryLogger(), engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    expect(manager.candidates('m')).toEqual(['vllm']);
    const error = await manager.generate({ model: 'm', prompt: 'x' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'REQUEST_TIMEOUT', details: { timeoutMs: 300 } });
  });

  it('never falls back on the caller\'s cancel or the request\'s own deadline', async () => {
    const hanging = await hangingVllm();
    closers.push(hanging.close);
    const backup = new FakeEngine({ name: 'onnx', respond });
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], vllm: vllmSection(hanging.url) },
      { logger: memoryLogger(), engines: { onnx: () => backup } },
    );
    const controller = new AbortController();
    const cancelled = manager.generate({ model: 'm', prompt: 'x', signal: controller.signal }).catch((caught: unknown) => caught);
    setTimeout(() => controller.abort(), 50);
    expect(await cancelled).toMatchObject({ code: 'REQUEST_ABORTED' });
    expect(backup.calls).toHaveLength(0);
    expect(manager.stats().unavailable).toEqual({});

    // A deadline of the request itself (the batcher's request_timeout_ms) carries no endpoint.
    const slow = new FakeEngine({ name: 'vllm' });
    slow.generate = async () => {
      throw new RequestTimeoutError(100, { details: { phase: 'executing' } });
    };
    const deadline = new OptimizationManager({ engine_preference: ['vllm', 'onnx'], vllm: { enabled: true } }, { logger: memoryLogger(), engines: { vllm: () => slow, onnx: () => backup } });
    await expect(deadline.generate({ model: 'm', prompt: 'x' })).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(backup.calls).toHaveLength(0);
  });

  it('a timeout after the first streamed chunk ends the stream with REQUEST_TIMEOUT (it cannot be retried)', async () => {
    const cut = new FakeEngine({ name: 'vllm' });
    cut.health = async () => ({ ok: true, models: [] });
    cut.stream = async function* () {
      yield { text: 'partial', tokenId: 1 };
      throw new RequestTimeoutError(300, { details: { engine: 'vllm', endpoint: 'http://127.0.0.1:1' } });
    };
    const backup = new FakeEngine({ name: 'onnx', respond });
    const manager = new OptimizationManager({ engine_preference: ['vllm', 'onnx'], vllm: { enabled: true } }, { logger: memoryLogger(), engines: { vllm: () => cut, onnx: () => backup } });
    const texts: string[] = [];
    const error = await (async () => {
      for await (const chunk of manager.stream({ model: 'm', prompt: 'x' })) texts.push(chunk.text);
    })().catch((caught: unknown) => caught);
    expect(texts).toEqual(['partial']);
    expect(error).toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(backup.calls).toHaveLength(0);
  });
});
