import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import type { GenerationRequest } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { Bm25Index, ChatWorkflow, HttpSearchRetriever, LocalRetriever, ModelManager, SearchQAWorkflow, SummarizeWorkflow, chunkDocument } from '../src/index.js';
import { memoryLogger } from './helpers.js';

function docsFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'muai-docs-'));
  writeFileSync(join(dir, 'ai.md'), '# Artificial intelligence\n\nAI is the field of making machines that learn and reason.\n\n# Cooking\n\nPasta needs salted water.\n');
  mkdirSync(join(dir, 'nested'));
  writeFileSync(join(dir, 'nested', 'gpu.txt'), 'GPUs run matrix multiplications in parallel.');
  writeFileSync(join(dir, 'image.png'), 'not text');
  return dir;
}

describe('BM25', () => {
  it('scores with k1 = 1.2 and b = 0.75 (hand-computed value)', () => {
    const index = new Bm25Index<string>();
    index.add('one', 'a b');
    index.add('two', 'a c');
    const [best, ...rest] = index.search('b', 5);
    expect(best?.doc).toBe('one');
    // idf = ln(1 + (2 - 1 + 0.5) / (1 + 0.5)) = ln 2; tf part = 2.2 / 2.2 = 1
    expect(best?.score).toBeCloseTo(Math.log(2), 10);
    expect(rest).toEqual([]);
  });

  it('chunks Markdown by heading and keeps fenced code together', () => {
    const chunks = chunkDocument('x.md', '# One\n\npara one\n\n```ts\nconst a = 1;\n\nconst b = 2;\n```\n\n## Two\n\npara two', 1000);
    expect(chunks.map((chunk) => chunk.title)).toEqual(['One', 'Two']);
    expect(chunks[0]?.text).toContain('const a = 1;\n\nconst b = 2;');
  });

  it('LocalRetriever finds the relevant section of a folder of .md and .txt files', async () => {
    const retriever = new LocalRetriever({ directory: docsFolder() });
    const passages = await retriever.retrieve('What is AI?');
    expect(passages[0]).toMatchObject({ source: 'ai.md', title: 'Artificial intelligence' });
    expect((await retriever.retrieve('GPUs parallel'))[0]?.source).toBe('nested/gpu.txt');
    expect(await new LocalRetriever({ directory: join(tmpdir(), 'does-not-exist-muai') }).retrieve('x')).toEqual([]);
  });
});

describe('workflows', () => {
  const engine = new FakeEngine({ name: 'onnx', respond: () => 'AI is machines that learn [1].' });
  const manager = new ModelManager({ engine });

  it('search_qa grounds the prompt on numbered sources and returns them', async () => {
    const workflow = new SearchQAWorkflow(manager, { retriever: new LocalRetriever({ directory: docsFolder() }) });
    const result = await workflow.execute({ query: 'What is AI?' });
    expect(result).toMatchObject({ workflow: 'search_qa', output: 'AI is machines that learn [1].', engineUsed: 'onnx', model: 'default' });
    expect(result.sources?.[0]).toMatchObject({ index: 1, source: 'ai.md' });
    const prompt = engine.calls.at(-1)?.messages?.at(-1)?.content ?? '';
    expect(prompt).toContain('[1] Artificial intelligence (ai.md)');
    expect(prompt).toContain('Question: What is AI?');
    expect(result.timings.retrievalMs).toBeGreaterThanOrEqual(0);
  });

  it('search_qa cuts the sources when the model reports CONTEXT_LENGTH_EXCEEDED', async () => {
    const small = new FakeEngine({ name: 'onnx', respond: () => 'ok' });
    const generate = small.generate.bind(small);
    small.generate = async (request: GenerationRequest) => {
      const length = (request.messages ?? []).reduce((sum, message) => sum + message.content.length, 0);
      if (length > 400) throw new MuaiError('CONTEXT_LENGTH_EXCEEDED', `prompt of ${length} chars is too long`);
      return generate(request);
    };
    const dir = docsFolder();
    writeFileSync(join(dir, 'long.md'), `# AI history\n\n${'AI research began in the fifties. '.repeat(60)}`);
    const workflow = new SearchQAWorkflow(new ModelManager({ engine: small }), { retriever: new LocalRetriever({ directory: dir }) });
    const result = await workflow.execute({ query: 'What is AI history?' });
    expect(result.output).toBe('ok');
  });

  it('search_qa works with an HTTP search service (loopback) and degrades when it is down', async () => {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ results: [{ title: 'AI', url: 'https://example.org/ai', snippet: `About ${url.searchParams.get('q')}` }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const workflow = new SearchQAWorkflow(manager, { retriever: new HttpSearchRetriever({ url: `http://127.0.0.1:${port}/search` }) });
      const result = await workflow.execute({ query: 'What is AI?' });
      expect(result.sources).toEqual([{ index: 1, source: 'https://example.org/ai', title: 'AI', text: 'About What is AI?', score: 1 }]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const logger = memoryLogger();
    const down = new SearchQAWorkflow(manager, { logger, retriever: new HttpSearchRetriever({ url: `http://127.0.0.1:${port}/search` }) });
    const result = await down.execute({ query: 'What is AI?' });
    expect(result.sources).toEqual([]);
    expect(result.warnings?.[0]).toContain('unavailable');
    const strict = new SearchQAWorkflow(manager, { onRetrieverError: 'fail', retriever: new HttpSearchRetriever({ url: `http://127.0.0.1:${port}/search` }) });
    await expect(strict.execute({ query: 'What is AI?' })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
  });

  it('chat sends the conversation as messages; summarize strips the instruction', async () => {
    const chat = await new ChatWorkflow(manager).execute({ query: 'hello', messages: [{ role: 'assistant', content: 'hi' }] });
    expect(chat.workflow).toBe('chat');
    expect(engine.calls.at(-1)?.messages?.map((message) => message.role)).toEqual(['system', 'assistant', 'user']);
    const summary = await new SummarizeWorkflow(manager).execute({ query: 'Summarize: GPUs are fast.' });
    expect(summary.workflow).toBe('summarize');
    expect(engine.calls.at(-1)?.messages?.at(-1)?.content).toBe('GPUs are fast.');
    await expect(new SummarizeWorkflow(manager).execute({ query: 'summarize' })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('an empty query is INVALID_REQUEST', async () => {
    for (const query of ['', '   ']) {
      await expect(new SearchQAWorkflow(manager).execute({ query })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    }
    await expect(new ChatWorkflow(manager).execute({} as never)).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('execute runs inside tracer.traceWorkflow(className) when a tracer is given (seed contract)', async () => {
    const names: string[] = [];
    const tracer = { traceWorkflow: <T>(name: string, fn: () => T): T => (names.push(name), fn()) };
    await new ChatWorkflow(manager, tracer).execute({ query: 'hi' });
    expect(names).toEqual(['ChatWorkflow']);
  });
});

describe('HttpSearchRetriever', () => {
  let url = '';
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify([{ name: 'posted', content: body }]));
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('POSTs a JSON body and maps a bare array of results', async () => {
    const passages = await new HttpSearchRetriever({ url, method: 'POST' }).retrieve('q1', { topK: 2 });
    expect(passages).toEqual([{ title: 'posted', text: JSON.stringify({ query: 'q1', top_k: 2 }), source: 'result 1', score: 1 }]);
  });
});
