// @muai/core's engine conformance suite on the vLLM engine, against a stand-in speaking vLLM's
// documented OpenAI-compatible protocol (vLLM itself needs a GPU and Python).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { describeEngineConformance } from '@muai/core/testing';
import { standInGenerate, startStandInOpenAiServer } from '@muai/engines-http/testing';
import { createVllmEngine } from '../src/index.js';

describeEngineConformance('vllm against the stand-in vLLM server', async () => {
  const server = await startStandInOpenAiServer({ models: ['Qwen/Qwen2.5-0.5B-Instruct'] });
  const engine = createVllmEngine({ endpoints: [server.url] });
  const spec = { name: 'qwen', path: 'Qwen/Qwen2.5-0.5B-Instruct' };
  await engine.load(spec);
  return { engine, spec, expectedText: (prompt, maxTokens) => standInGenerate(prompt, maxTokens).text, teardown: () => server.close() };
}, { describe, it, beforeAll, afterAll });
