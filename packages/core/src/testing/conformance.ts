import { MuaiError } from '../errors.js';
import type { Engine, ModelSpec } from '../engine.js';
import type { GenerationResult, StreamChunk } from '../types.js';

/** What the conformance suite needs from one engine under test. */
export interface ConformanceSubject {
  engine: Engine;
  /** The model as loaded (`engine.load(spec)` was called): the suite unloads and loads it again. */
  spec: ModelSpec;
  /**
   * The greedy answer the engine must give for `prompt` with at most `maxTokens` tokens, from a
   * reference: the stand-in server's rule, or another engine on the same weights. Absent: the
   * suite checks the engine against itself (stream = generate = batch, same answer twice).
   */
  expectedText?(prompt: string, maxTokens: number): string | Promise<string>;
  /** Frees servers and processes started by the setup. The suite closes the engine itself. */
  teardown?(): Promise<void>;
}

/**
 * The test functions the suite registers with: vitest's (or any runner with the same shape).
 * Passed in, so that `@muai/core/testing` needs no test framework installed.
 */
export interface ConformanceTestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => unknown, timeout?: number): void;
  beforeAll(body: () => unknown, timeout?: number): void;
  afterAll(body: () => unknown, timeout?: number): void;
}

class ConformanceFailure extends Error {}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

function equal(actual: unknown, expected: unknown, what: string): void {
  check(Object.is(actual, expected) || JSON.stringify(actual) === JSON.stringify(expected), `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

async function rejectsWithCode(promise: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    check(MuaiError.isInstance(error), `${what}: expected a MuaiError, got ${String(error)}`);
    equal(error.code, code, `${what}: error code`);
    return;
  }
  throw new ConformanceFailure(`${what}: expected a rejection with ${code}, but it resolved`);
}

async function collect(stream: AsyncIterable<StreamChunk>): Promise<StreamChunk[]> {
  const chunks: StreamChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function checkUsage(result: GenerationResult, maxTokens: number, what: string): void {
  check(result.usage.promptTokens > 0, `${what}: promptTokens > 0`);
  check(result.usage.completionTokens > 0 && result.usage.completionTokens <= maxTokens, `${what}: 0 < completionTokens (${result.usage.completionTokens}) <= maxTokens (${maxTokens})`);
  equal(result.usage.totalTokens, result.usage.promptTokens + result.usage.completionTokens, `${what}: totalTokens`);
  check(result.finishReason === 'stop' || result.finishReason === 'length', `${what}: finishReason stop or length, got ${result.finishReason}`);
  if (result.finishReason === 'length') equal(result.usage.completionTokens, maxTokens, `${what}: completionTokens at finishReason length`);
}

/**
 * One test suite of the Engine contract for every engine (like unstorage's driver suite): load and
 * unload, generate, stream, batches, cancellation, usage, finish reasons, errors with codes,
 * capabilities, health. Call it at the top level of a test file:
 *
 * ```ts
 * import { afterAll, beforeAll, describe, it } from 'vitest';
 * describeEngineConformance('my engine', async () => ({ engine, spec }), { describe, it, beforeAll, afterAll });
 * ```
 */
export function describeEngineConformance(name: string, setup: () => Promise<ConformanceSubject>, test: ConformanceTestApi): void {
  test.describe(`engine conformance: ${name}`, () => {
    let subject: ConformanceSubject | undefined;
    const get = (): ConformanceSubject => {
      if (!subject) throw new ConformanceFailure('setup did not finish');
      return subject;
    };
    const model = () => get().spec.name;
    const expected = async (prompt: string, maxTokens: number, fallback: () => Promise<string>): Promise<string> => {
      const reference = get().expectedText;
      return reference ? reference(prompt, maxTokens) : fallback();
    };

    test.beforeAll(async () => {
      subject = await setup();
    }, 120_000);
    test.afterAll(async () => {
      await subject?.engine.close();
      await subject?.engine.close(); // close() must be idempotent
      await subject?.teardown?.();
    }, 60_000);

    test.it('declares the v1 contract, a lowercase name, text generation, and lists the loaded model', () => {
      const { engine } = get();
      equal(engine.specificationVersion, 'v1', 'specificationVersion');
      check(/^[a-z][a-z0-9-]*$/.test(engine.name), `name "${engine.name}" is lowercase`);
      check(engine.capabilities.textGeneration, 'capabilities.textGeneration');
      check(engine.models().includes(model()), `models() lists ${model()}`);
    });

    test.it('generate gives the greedy answer, the engine name, consistent usage and an honest finish reason', async () => {
      const { engine } = get();
      const prompt = 'alpha beta gamma delta';
      const result = await engine.generate({ model: model(), prompt, maxTokens: 8, temperature: 0 });
      checkUsage(result, 8, 'generate');
      equal(result.engineUsed, engine.name, 'engineUsed');
      const again = await engine.generate({ model: model(), prompt, maxTokens: 8, temperature: 0 });
      equal(result.text, await expected(prompt, 8, async () => again.text), 'greedy text');
    });

    test.it('maxTokens bounds the answer (finish reason length when it is reached)', async () => {
      const result = await get().engine.generate({ model: model(), prompt: 'one two three four five six', maxTokens: 2 });
      checkUsage(result, 2, 'maxTokens 2');
      equal(result.text, await expected('one two three four five six', 2, async () => result.text), 'text at maxTokens 2');
    });

    test.it('stream yields the text of generate and ends with exactly one final chunk carrying usage', async () => {
      const { engine } = get();
      const request = { model: model(), prompt: 'red green blue', maxTokens: 8 };
      if (!engine.capabilities.streaming) {
        await rejectsWithCode(collect(engine.stream(request)), 'CAPABILITY_UNSUPPORTED', 'stream without the streaming capability');
        return;
      }
      const chunks = await collect(engine.stream(request));
      const finals = chunks.filter((chunk) => chunk.finishReason !== undefined);
      equal(finals.length, 1, 'final chunks');
      check(chunks.at(-1) === finals[0], 'the final chunk is the last one');
      check(finals[0]?.usage !== undefined, 'the final chunk carries usage');
      equal(chunks.map((chunk) => chunk.text).join(''), (await engine.generate(request)).text, 'streamed text equals generate');
    });

    test.it('generateBatch keeps order, equals single requests, and one bad request fails alone with a coded error', async () => {
      const { engine } = get();
      const prompts = ['a b c', 'd e', 'f g h i'];
      const results = await engine.generateBatch([...prompts.map((prompt) => ({ model: model(), prompt, maxTokens: 6 })), { model: model() }]);
      equal(results.length, 4, 'results');
      for (const [index, prompt] of prompts.entries()) {
        const result = results[index];
        check(result !== undefined && !(result instanceof Error), `batch item ${index} succeeded (${String(result)})`);
        equal(result.text, await expected(prompt, 6, async () => (await engine.generate({ model: model(), prompt, maxTokens: 6 })).text), `batch item ${index} text`);
      }
      check(MuaiError.isInstance(results[3]), 'the request without prompt or messages is a MuaiError in its slot');
    });

    test.it('an already-cancelled request is rejected with REQUEST_ABORTED', async () => {
      const controller = new AbortController();
      controller.abort();
      await rejectsWithCode(get().engine.generate({ model: model(), prompt: 'x y', signal: controller.signal }), 'REQUEST_ABORTED', 'aborted generate');
    });

    test.it('a request without prompt or messages is INVALID_REQUEST', async () => {
      await rejectsWithCode(get().engine.generate({ model: model() }), 'INVALID_REQUEST', 'empty request');
    });

    test.it('raw tensor inference follows its capability flag', async () => {
      const { engine } = get();
      if (engine.capabilities.tensorInference) return; // inputs are model-specific; engines test it themselves
      await rejectsWithCode(engine.infer(model(), {}), 'CAPABILITY_UNSUPPORTED', 'infer without the tensorInference capability');
    });

    test.it('health is ok and lists the model', async () => {
      const health = await get().engine.health();
      check(health.ok, `health ok (${health.detail ?? ''})`);
      check(health.models.includes(model()), 'health lists the model');
    });

    test.it('unload forgets the model and load brings it back with the same answer', async () => {
      const { engine, spec } = get();
      const before = await engine.generate({ model: model(), prompt: 'back again', maxTokens: 4 });
      await engine.unload(model());
      check(!engine.models().includes(model()), 'models() after unload');
      await engine.load(spec);
      check(engine.models().includes(model()), 'models() after load');
      equal((await engine.generate({ model: model(), prompt: 'back again', maxTokens: 4 })).text, before.text, 'text after reload');
    }, 60_000);
  });
}
