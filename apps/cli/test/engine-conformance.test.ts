// @muai/core's engine conformance suite on the remote engines pointed at a real `muai serve` (the
// generated tiny model behind it): what they answer over HTTP must equal the embedded engine's
// greedy answer in this process, on the same weights.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { describeEngineConformance } from '@muai/core/testing';
import { createDeepSpeedEngine } from '@muai/engines-deepspeed';
import { createOnnxEngine } from '@muai/engines-onnx';
import { createVllmEngine } from '@muai/engines-vllm';
import { spawnServe, tinyModel } from './cli-harness.js';

const api = { describe, it, beforeAll, afterAll };

async function servedTiny() {
  const served = await spawnServe({ env: { MUAI_MODEL: tinyModel }, waitReady: true });
  const reference = createOnnxEngine({ intraOpNumThreads: 1 });
  await reference.load({ name: 'tiny', path: tinyModel });
  return {
    url: served.url,
    expectedText: async (prompt: string, maxTokens: number) => (await reference.generate({ model: 'tiny', prompt, maxTokens })).text,
    teardown: async () => {
      await reference.close();
      served.child.kill('SIGTERM');
      await served.exited;
    },
  };
}

describeEngineConformance('vllm engine against a real muai serve', async () => {
  const server = await servedTiny();
  const engine = createVllmEngine({ endpoints: [server.url] });
  const spec = { name: 'remote-tiny', path: 'default' };
  await engine.load(spec);
  return { engine, spec, expectedText: server.expectedText, teardown: server.teardown };
}, api);

describeEngineConformance('deepspeed engine (OpenAI protocol) against a real muai serve', async () => {
  const server = await servedTiny();
  const engine = createDeepSpeedEngine({ endpoints: [server.url], protocol: 'openai' });
  const spec = { name: 'remote-tiny', path: 'default' };
  await engine.load(spec);
  return { engine, spec, expectedText: server.expectedText, teardown: server.teardown };
}, api);
