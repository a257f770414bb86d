import { describeEngineConformance, standInGenerate, startStandInOpenAiServer } from '@muai/engines-http/testing';
import { createVllmEngine } from '../src/index.js';

describeEngineConformance('vllm against the stand-in vLLM server', async () => {
  const server = await startStandInOpenAiServer({ models: ['Qwen/Qwen2.5-0.5B-Instruct'] });
  const engine = createVllmEngine({ endpoints: [server.url] });
  await engine.load({ name: 'qwen', path: 'Qwen/Qwen2.5-0.5B-Instruct' });
  return {
    engine,
    model: 'qwen',
    expectedText: (prompt, maxTokens) => standInGenerate(prompt, maxTokens).text,
    teardown: () => server.close(),
  };
});
