import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { MuaiError } from '@muai/core';
import type { GenerationResult, StreamChunk } from '@muai/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine, createOnnxWorkerEngine } from '../src/index.js';
import type { OnnxEngine, OnnxWorkerEngine } from '../src/index.js';
import { DISTILBERT, HAS_TINY, REPO_ROOT, TINY, collect, expectCode } from './helpers.js';

/**
 * The worker runs JavaScript, not the TypeScript under test: bundle src/worker-entry.ts (this
 * package's source; other packages stay external and resolve to their builds, which Nx's
 * `^build` makes first) into node_modules/.cache, so the test needs no build of this package.
 */
const WORKER_DIR = resolve(REPO_ROOT, 'node_modules/.cache/muai-engines-onnx-test');
const WORKER_SCRIPT = resolve(WORKER_DIR, `worker-entry-${process.pid}.mjs`);

async function buildWorkerScript(): Promise<void> {
  mkdirSync(WORKER_DIR, { recursive: true });
  await build({
    entryPoints: [resolve(import.meta.dirname, '../src/worker-entry.ts')],
    outfile: WORKER_SCRIPT,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
}

const PROMPTS = ['Hello world', 'What is the capital of France? Answer in one word.', 'The cache must not change the answer'];

beforeAll(buildWorkerScript);
afterAll(() => rmSync(WORKER_SCRIPT, { force: true }));

describe.skipIf(!HAS_TINY)('OnnxWorkerEngine on the generated tiny model', () => {
  let local: OnnxEngine;
  let worker: OnnxWorkerEngine;
  beforeAll(async () => {
    local = createOnnxEngine({ intraOpNumThreads: 1 });
    worker = createOnnxWorkerEngine({ intraOpNumThreads: 1, workerScript: WORKER_SCRIPT });
    await local.load({ name: 'tiny', path: TINY });
    const info = await worker.load({ name: 'tiny', path: TINY });
    expect(info).toMatchObject({ name: 'tiny', kind: 'causal-lm' });
  });
  afterAll(async () => {
    await local.close();
    await worker.close();
  });

  it('has the name, capabilities and model list of the in-process engine', async () => {
    expect(worker.name).toBe('onnx');
    expect(worker.capabilities).toEqual(local.capabilities);
    expect(worker.models()).toEqual(['tiny']);
    expect(await worker.health()).toEqual({ ok: true, models: ['tiny'] });
    expect(await worker.describeModel('tiny')).toEqual(local.describeModel('tiny'));
    expect(await worker.encodeRequest({ prompt: 'Hello world' })).toEqual(local.encodeRequest({ prompt: 'Hello world' }));
  });

  it('generate gives the same greedy tokens and text as OnnxEngine', async () => {
    for (const prompt of PROMPTS) {
      const ours = await worker.generate({ prompt, maxTokens: 24 });
      const theirs = await local.generate({ prompt, maxTokens: 24 });
      expect(ours.tokenIds, prompt).toEqual(theirs.tokenIds);
      expect(ours).toMatchObject({ text: theirs.text, finishReason: theirs.finishReason, usage: theirs.usage, engineUsed: 'onnx', model: 'tiny' });
    }
  });

  it('stream deltas concatenate to the same text, one chunk per token', async () => {
    const theirs = await local.generate({ prompt: PROMPTS[0]!, maxTokens: 24 });
    const chunks = await collect(worker.stream({ prompt: PROMPTS[0]!, maxTokens: 24 }));
    expect(chunks.map((chunk) => chunk.text).join('')).toBe(theirs.text);
    expect(chunks.flatMap((chunk) => (chunk.tokenId === undefined ? [] : [chunk.tokenId]))).toEqual(theirs.tokenIds);
    expect(chunks.at(-1)).toMatchObject({ finishReason: theirs.finishReason, usage: theirs.usage });
  });

  it('generateBatch (and concurrent generate calls) give the in-process results, in order', async () => {
    const requests = PROMPTS.map((prompt, i) => ({ prompt, maxTokens: 10 + 5 * i }));
    const theirs = (await local.generateBatch(requests)) as GenerationResult[];
    const batch = (await worker.generateBatch(requests)) as GenerationResult[];
    const concurrent = await Promise.all(requests.map((request) => worker.generate(request)));
    expect(batch.map((result) => result.tokenIds)).toEqual(theirs.map((result) => result.tokenIds));
    expect(concurrent.map((result) => result.tokenIds)).toEqual(theirs.map((result) => result.tokenIds));
    expect((await worker.batchStats('tiny')).steps).toBeGreaterThan(0);
    // Limits change in the worker between steps (what the tuner does), and the results stay the same.
    expect(await worker.setLimits({ maxBatchSize: 2 })).toEqual(['tiny']);
    const limited = await Promise.all(requests.map((request) => worker.generate(request)));
    expect(limited.map((result) => result.tokenIds)).toEqual(theirs.map((result) => result.tokenIds));
    expect(await worker.setLimits({ maxBatchSize: 16 }, 'tiny')).toEqual(['tiny']);
  });

  it('a failing request in a batch is a MuaiError with the in-process code; the others succeed', async () => {
    const results = await worker.generateBatch([{ prompt: 'Hello', maxTokens: 3 }, { prompt: 'Hello', maxTokens: 0 }]);
    expect(results[0]).toMatchObject({ finishReason: 'length' });
    const [, theirs] = await local.generateBatch([{ prompt: 'Hello', maxTokens: 3 }, { prompt: 'Hello', maxTokens: 0 }]);
    expect(MuaiError.isInstance(results[1])).toBe(true);
    expect(results[1]).toMatchObject({ code: 'INVALID_REQUEST', message: (theirs as Error).message });
  });

  it('aborting mid-stream ends the stream with finishReason abort', async () => {
    const controller = new AbortController();
    const chunks: StreamChunk[] = [];
    for await (const chunk of worker.stream({ prompt: 'Hello world', maxTokens: 1000, signal: controller.signal })) {
      chunks.push(chunk);
      if (chunks.length === 3) controller.abort();
    }
    expect(chunks.at(-1)?.finishReason).toBe('abort');
    expect(chunks.at(-1)?.usage?.completionTokens ?? Infinity).toBeLessThan(1000);
  });

  it('a generate aborted by its signal reports what the in-process engine reports', async () => {
    const controller = new AbortController();
    controller.abort();
    const settle = async (engine: { generate: OnnxEngine['generate'] }): Promise<unknown> =>
      engine.generate({ prompt: 'Hello', maxTokens: 50, signal: controller.signal }).then(
        (result) => ({ finishReason: result.finishReason }),
        (error: MuaiError) => ({ code: error.code }),
      );
    expect(await settle(worker)).toEqual(await settle(local));
  });

  it('bad requests fail with the same code and message as in process', async () => {
    const theirs = await expectCode(() => local.generate({ prompt: 'x', maxTokens: 0 }), 'INVALID_REQUEST');
    const ours = await expectCode(() => worker.generate({ prompt: 'x', maxTokens: 0 }), 'INVALID_REQUEST');
    expect(ours.message).toBe(theirs.message);
    await expectCode(() => collect(worker.stream({ prompt: 'x', maxTokens: 0 })), 'INVALID_REQUEST');
    await expectCode(() => worker.generate({ model: 'nope', prompt: 'x' }), 'MODEL_NOT_FOUND');
    await expectCode(() => worker.load({ name: 'missing', path: resolve(REPO_ROOT, 'models/does-not-exist') }), 'MODEL_NOT_FOUND');
    expect(worker.models()).toEqual(['tiny']);
  });
});

describe('OnnxWorkerEngine tensor inference (tiny-distilbert-cls)', () => {
  it('infer gives the same logits as OnnxEngine and leaves the caller inputs usable', async () => {
    const ids = [101, 1045, 2293, 2023, 3185, 999, 102];
    const inputs = {
      input_ids: { type: 'int64' as const, data: BigInt64Array.from(ids, BigInt), dims: [1, ids.length] },
      attention_mask: { type: 'int64' as const, data: new BigInt64Array(ids.length).fill(1n), dims: [1, ids.length] },
    };
    const local = createOnnxEngine({ intraOpNumThreads: 1 });
    const worker = createOnnxWorkerEngine({ intraOpNumThreads: 1, workerScript: WORKER_SCRIPT });
    try {
      await local.load({ name: 'bert', path: DISTILBERT });
      await worker.load({ name: 'bert', path: DISTILBERT });
      const theirs = await local.infer('bert', inputs);
      const ours = await worker.infer('bert', inputs);
      expect(ours['logits']!.type).toBe('float32');
      expect(ours['logits']!.dims).toEqual(theirs['logits']!.dims);
      expect(Array.from(ours['logits']!.data as Float32Array)).toEqual(Array.from(theirs['logits']!.data as Float32Array));
      expect(inputs.input_ids.data.length).toBe(ids.length);
      await worker.unload('bert');
      expect(worker.models()).toEqual([]);
      await expectCode(() => worker.infer('bert', inputs), 'MODEL_NOT_FOUND');
    } finally {
      await local.close();
      await worker.close();
    }
  });
});

describe('OnnxWorkerEngine lifecycle', () => {
  it('close() ends the worker thread; later calls fail with ENGINE_UNAVAILABLE', async () => {
    const worker = createOnnxWorkerEngine({ workerScript: WORKER_SCRIPT });
    const exited = new Promise<number>((resolveExit) => (worker as unknown as { worker: Worker }).worker.once('exit', resolveExit));
    await worker.close();
    await exited;
    await worker.close();
    await expectCode(() => worker.generate({ prompt: 'x' }), 'ENGINE_UNAVAILABLE');
    expect(await worker.health()).toMatchObject({ ok: false });
  });

  it('a worker crash rejects pending and later calls with ENGINE_ERROR naming the crash', async () => {
    const worker = createOnnxWorkerEngine({ workerScript: WORKER_SCRIPT });
    const internals = worker as unknown as { call(method: string, args: unknown[]): Promise<unknown> };
    const pending = internals.call('__crash', []);
    const error = await expectCode(() => pending, 'ENGINE_ERROR');
    expect(error.message).toContain('deliberate crash');
    const later = await expectCode(() => worker.load({ name: 'tiny', path: TINY }), 'ENGINE_ERROR');
    expect(later.message).toContain('crashed');
    await expectCode(() => collect(worker.stream({ prompt: 'x' })), 'ENGINE_ERROR');
    expect(await worker.health()).toMatchObject({ ok: false });
    await worker.close();
  });

  it('a crash during a stream rejects it with ENGINE_ERROR', async () => {
    if (!HAS_TINY) return;
    const worker = createOnnxWorkerEngine({ intraOpNumThreads: 1, workerScript: WORKER_SCRIPT });
    await worker.load({ name: 'tiny', path: TINY });
    const internals = worker as unknown as { call(method: string, args: unknown[]): Promise<unknown> };
    const chunks: StreamChunk[] = [];
    await expectCode(async () => {
      for await (const chunk of worker.stream({ prompt: 'Hello world', maxTokens: 1000 })) {
        chunks.push(chunk);
        if (chunks.length === 2) internals.call('__crash', []).catch(() => undefined);
      }
    }, 'ENGINE_ERROR');
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    await worker.close();
  });

  it('says how to fix a missing worker script', async () => {
    const error = await expectCode(() => createOnnxWorkerEngine({ workerScript: resolve(WORKER_DIR, 'absent.mjs') }), 'ENGINE_UNAVAILABLE');
    expect(error.message).toContain('npx tsup');
    expect(existsSync(WORKER_SCRIPT)).toBe(true);
  });

  it('rejects invalid options like OnnxEngine does', async () => {
    await expectCode(() => createOnnxWorkerEngine({ maxBatchSize: 0, workerScript: WORKER_SCRIPT }), 'CONFIG_INVALID');
  });
});
