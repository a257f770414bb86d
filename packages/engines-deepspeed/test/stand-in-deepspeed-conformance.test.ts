import { describeEngineConformance, standInGenerate, startStandInOpenAiServer } from '@muai/engines-http/testing';
import { createDeepSpeedEngine } from '../src/index.js';
import { startStandInMiiRestServer } from './stand-in-mii-rest-server.js';

describeEngineConformance("deepspeed (REST) against the stand-in MII REST gateway", async () => {
  const server = await startStandInMiiRestServer({ deploymentName: 'mistral-deployment' });
  const engine = createDeepSpeedEngine({ endpoints: [server.url], deploymentName: 'mistral-deployment' });
  await engine.load({ name: 'mistral', path: 'mistralai/Mistral-7B-v0.1' });
  return { engine, model: 'mistral', expectedText: (prompt, maxTokens) => standInGenerate(prompt, maxTokens).text, teardown: () => server.close() };
});

describeEngineConformance("deepspeed (OpenAI protocol) against the stand-in MII OpenAI server", async () => {
  const server = await startStandInOpenAiServer({ flavor: 'mii', models: ['mistralai/Mistral-7B-Instruct-v0.1'] });
  const engine = createDeepSpeedEngine({ endpoints: [server.url], protocol: 'openai' });
  await engine.load({ name: 'mistral', path: 'mistralai/Mistral-7B-Instruct-v0.1' });
  return { engine, model: 'mistral', expectedText: (prompt, maxTokens) => standInGenerate(prompt, maxTokens).text, teardown: () => server.close() };
});
