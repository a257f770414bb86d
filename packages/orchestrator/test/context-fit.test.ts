// Workflows fit their prompts into a small context window (stories260K has 512 tokens) and leave
// the answer its room, trimming what matters least, instead of failing with CONTEXT_LENGTH_EXCEEDED.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import type { GenerationRequest, GenerationResult, LoadedModelInfo, ModelSpec } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { ChatWorkflow, LocalRetriever, ModelManager, SearchQAWorkflow, SummarizeWorkflow } from '../src/index.js';

const CONTEXT = 512;
/** A tokenizer of about 2.5 characters per token, like a small vocabulary. */
const countTokens = (text: string): number => 1 + Math.ceil(text.length / 2.5);

/** An engine that counts tokens and enforces its window like the ONNX engine does. */
class SmallWindowEngine extends FakeEngine {
  readonly requests: GenerationRequest[] = [];
  readonly results: GenerationResult[] = [];
  constructor(private readonly chatTemplate: boolean) {
    super({ name: 'onnx' });
  }
  override async load(model: ModelSpec): Promise<LoadedModelInfo> {
    await super.load(model);
    return { name: model.name, kind: 'causal-lm', contextLength: CONTEXT, chatTemplate: this.chatTemplate };
  }
  override async generate(request: GenerationRequest): Promise<GenerationResult> {
    this.requests.push(request);
    if (request.messages && !this.chatTemplate) throw new MuaiError('INVALID_REQUEST', 'This model has no chat template.');
    const text = request.prompt ?? (request.messages ?? []).map((message) => `<|${message.role}|>\n${message.content}`).join('\n');
    const promptTokens = countTokens(text);
    if (promptTokens >= CONTEXT) {
      throw new MuaiError('CONTEXT_LENGTH_EXCEEDED', `The prompt is ${promptTokens} tokens.`, { details: { promptTokens, contextLength: CONTEXT } });
    }
    const completionTokens = Math.min(request.maxTokens ?? 128, CONTEXT - promptTokens);
    const result: GenerationResult = {
      text: 'once upon a time',
      finishReason: 'length',
      usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
      timings: { ttftMs: 1, totalMs: 1, tokensPerSecond: 1 },
      engineUsed: 'onnx',
      model: request.model ?? 'default',
    };
    this.results.push(result);
    return result;
  }
}

const docs = mkdtempSync(join(tmpdir(), 'muai-fit-docs-'));
writeFileSync(join(docs, 'ai.md'), `# Artificial intelligence\n\n${'AI is the field of machines that learn and reason from data. '.repeat(30)}\n`);
writeFileSync(join(docs, 'ml.md'), `# Machine learning\n\n${'Machine learning fits models to data so that AI can predict. '.repeat(30)}\n`);
writeFileSync(join(docs, 'history.md'), `# AI history\n\n${'AI research began in the fifties and AI grew since. '.repeat(30)}\n`);
afterAll(() => rmSync(docs, { recursive: true, force: true }));

for (const chatTemplate of [true, false]) {
  describe(`a ${CONTEXT}-token model ${chatTemplate ? 'with' : 'without'} a chat template`, () => {
    const setup = () => {
      const engine = new SmallWindowEngine(chatTemplate);
      return { engine, manager: new ModelManager({ engine, defaultModelPath: docs }) };
    };
    /** Every request fit, and the last left the answer all its tokens. */
    const expectRoomForAnswer = (engine: SmallWindowEngine, maxTokens: number) => {
      const last = engine.results.at(-1)!;
      expect(last.usage.promptTokens + maxTokens).toBeLessThanOrEqual(CONTEXT);
      expect(last.usage.completionTokens).toBe(maxTokens);
      const request = engine.requests.at(-1)!;
      if (chatTemplate) expect(request.messages).toBeDefined();
      else expect(typeof request.prompt).toBe('string');
    };

    it('search_qa keeps the best passages that fit, dropping the lowest-ranked first', async () => {
      const { engine, manager } = setup();
      const workflow = new SearchQAWorkflow(manager, { retriever: new LocalRetriever({ directory: docs }), topK: 3 });
      const result = await workflow.execute({ query: 'What is AI?', maxTokens: 128 });
      expectRoomForAnswer(engine, 128);
      expect(result.sources!.length).toBeGreaterThanOrEqual(1);
      expect(result.sources!.length).toBeLessThan(3);
      expect(result.warnings?.join(' ')).toMatch(/passages fit the model's context window/);
      const prompt = engine.requests.at(-1)!.prompt ?? engine.requests.at(-1)!.messages!.map((message) => message.content).join('\n');
      expect(prompt).toContain('Question: What is AI?');
      expect(prompt).toContain('[1] ');
      if (!chatTemplate) expect(prompt.endsWith('Assistant:')).toBe(true);
    });

    it('chat leaves out the oldest turns, keeps the newest and the query', async () => {
      const { engine, manager } = setup();
      const history = Array.from({ length: 20 }, (_, i) => ({ role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: `turn ${i} ${'words of an earlier turn '.repeat(5)}` }));
      const result = await new ChatWorkflow(manager).execute({ query: 'And what happened next?', messages: history, maxTokens: 100 });
      expectRoomForAnswer(engine, 100);
      const sent = engine.requests.at(-1)!.prompt ?? engine.requests.at(-1)!.messages!.map((message) => message.content).join('\n');
      expect(sent).toContain('turn 19 ');
      expect(sent).not.toContain('turn 0 ');
      expect(sent).toContain('And what happened next?');
      expect(result.warnings?.[0]).toMatch(/oldest of 20 earlier messages were left out/);
    });

    it('summarize cuts the end of a long text, never the instruction', async () => {
      const { engine, manager } = setup();
      const text = Array.from({ length: 200 }, (_, i) => `Sentence number ${i} of a long report.`).join(' ');
      const result = await new SummarizeWorkflow(manager).execute({ query: `Summarize: ${text}`, maxTokens: 64 });
      expectRoomForAnswer(engine, 64);
      const sent = engine.requests.at(-1)!.prompt ?? engine.requests.at(-1)!.messages!.map((message) => message.content).join('\n');
      expect(sent).toContain('Sentence number 0 of');
      expect(sent).not.toContain('Sentence number 199 of');
      expect(sent).toContain('Summarize the user text');
      expect(result.warnings?.[0]).toMatch(/cut to its first \d+ of \d+ characters/);
    });

    it('a short request goes through whole, in one attempt', async () => {
      const { engine, manager } = setup();
      await new ChatWorkflow(manager).execute({ query: 'Hello', maxTokens: 32 });
      expect(engine.requests).toHaveLength(1);
      expectRoomForAnswer(engine, 32);
    });
  });
}
