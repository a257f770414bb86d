// @muai/core's engine conformance suite on the DeepSpeed-MII engine, against stand-ins that speak
// MII's REST and OpenAI protocols (MII itself needs a GPU and Python).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { describeEngineConformance } from '@muai/core/testing';
import { standInGenerate, startStandInOpenAiServer } from '@muai/engines-http/testing';
import { createDeepSpeedEngine } from '../src/index.js';
import { startStandInMiiRestServer } from './stand-in-mii-rest-server.js';

const api = { describe, it, beforeAll, afterAll };
const expectedText = (prompt: string, maxTokens: number) => standInGenerate(prompt, maxTokens).text;

describeEngineConformance('deepspeed (REST) against the stand-in MII REST gateway', async () => {
  const server = await startStandInMiiRestServer({ deploymentName: 'mistral-deployment' });
  const engine = createDeepSpeedEngine({ endpoints: [server.url], deploymentName: 'mistral-deployment' });
  const spec = { name: 'mistral', path: 'mistralai/Mistral-7B-v0.1' };
  await engine.load(spec);
  return { engine, spec, expectedText, teardown: () => server.close() };
}, api);

describeEngineConformance('deepspeed (OpenAI protocol) against the stand-in MII OpenAI server', async () => {
  const server = await startStandInOpenAiServer({ flavor: 'mii', models: ['mistralai/Mistral-7B-Instruct-v0.1'] });
  const engine = createDeepSpeedEngine({ endpoints: [server.url], protocol: 'openai' });
  const spec = { name: 'mistral', path: 'mistralai/Mistral-7B-Instruct-v0.1' };
  await engine.load(spec);
  return { engine, spec, expectedText, teardown: () => server.close() };
}, api);
