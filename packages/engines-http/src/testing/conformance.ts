import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import type { Engine, StreamChunk } from '@muai/core';

/** What the conformance suite needs from one engine under test. */
export interface ConformanceSubject {
  engine: Engine;
  /** A model name the engine has loaded. */
  model: string;
  /** The greedy answer the engine must give for `prompt` with at most `maxTokens` tokens. */
  expectedText(prompt: string, maxTokens?: number): string;
  /** Frees servers and processes started by `setup`. The suite closes the engine itself. */
  teardown?(): Promise<void>;
}

/**
 * The shared engine conformance suite (one suite, every engine; like unstorage's driver tests).
 * Registers vitest tests that check the Engine contract of @muai/core: generate, stream, batch,
 * cancel, health, capabilities. Call it at the top level of a test file.
 */
export function describeEngineConformance(name: string, setup: () => Promise<ConformanceSubject>): void {
  describe(`engine conformance: ${name}`, () => {
    let subject: ConformanceSubject;
    beforeAll(async () => {
      subject = await setup();
    });
    afterAll(async () => {
      await subject?.engine.close();
      await subject?.engine.close(); // close() must be idempotent
      await subject?.teardown?.();
    });

    it('declares the v1 contract, a name and text generation', () => {
      expect(subject.engine.specificationVersion).toBe('v1');
      expect(subject.engine.name).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(subject.engine.capabilities.textGeneration).toBe(true);
      expect(subject.engine.models()).toContain(subject.model);
    });

    it('generate returns the greedy answer with stop, usage and the engine name', async () => {
      const prompt = 'alpha beta gamma delta';
      const result = await subject.engine.generate({ model: subject.model, prompt, maxTokens: 16, temperature: 0 });
      expect(result.text).toBe(subject.expectedText(prompt, 16));
      expect(result.finishReason).toBe('stop');
      expect(result.engineUsed).toBe(subject.engine.name);
      expect(result.usage.completionTokens).toBeGreaterThan(0);
      expect(result.usage.totalTokens).toBe(result.usage.promptTokens + result.usage.completionTokens);
    });

    it('maxTokens cuts the answer and reports length', async () => {
      const prompt = 'one two three four five six';
      const result = await subject.engine.generate({ model: subject.model, prompt, maxTokens: 2 });
      expect(result.finishReason).toBe('length');
      expect(result.text).toBe(subject.expectedText(prompt, 2));
    });

    it('stream yields the same text as generate and ends with exactly one final chunk', async () => {
      const prompt = 'red green blue';
      const request = { model: subject.model, prompt, maxTokens: 16 };
      if (!subject.engine.capabilities.streaming) {
        const attempt = async () => {
          for await (const _chunk of subject.engine.stream(request)) {
            // not reached
          }
        };
        await expect(attempt()).rejects.toMatchObject({ code: 'CAPABILITY_UNSUPPORTED' });
        return;
      }
      const chunks: StreamChunk[] = [];
      for await (const chunk of subject.engine.stream(request)) chunks.push(chunk);
      const finals = chunks.filter((chunk) => chunk.finishReason !== undefined);
      expect(finals).toHaveLength(1);
      expect(chunks.at(-1)).toBe(finals[0]);
      expect(finals[0]!.finishReason).toBe('stop');
      expect(finals[0]!.usage).toBeDefined();
      expect(chunks.map((chunk) => chunk.text).join('')).toBe((await subject.engine.generate(request)).text);
    });

    it('generateBatch keeps order and one bad request does not fail the others', async () => {
      const prompts = ['a b c', 'd e', 'f g h i'];
      const results = await subject.engine.generateBatch([
        ...prompts.map((prompt) => ({ model: subject.model, prompt, maxTokens: 8 })),
        { model: subject.model },
      ]);
      expect(results).toHaveLength(4);
      prompts.forEach((prompt, index) => {
        const result = results[index];
        expect(result).not.toBeInstanceOf(Error);
        expect((result as { text: string }).text).toBe(subject.expectedText(prompt, 8));
      });
      expect(results[3]).toBeInstanceOf(Error);
      expect(MuaiError.isInstance(results[3])).toBe(true);
    });

    it('an already-cancelled request is rejected with REQUEST_ABORTED', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(subject.engine.generate({ model: subject.model, prompt: 'x y', signal: controller.signal })).rejects.toMatchObject({
        code: 'REQUEST_ABORTED',
      });
    });

    it('health is ok and lists the model', async () => {
      const health = await subject.engine.health();
      expect(health.ok).toBe(true);
      expect(health.models).toContain(subject.model);
    });

    it('raw tensor inference is refused by capability', async () => {
      expect(subject.engine.capabilities.tensorInference).toBe(false);
      await expect(subject.engine.infer(subject.model, {})).rejects.toMatchObject({ code: 'CAPABILITY_UNSUPPORTED' });
    });
  });
}
