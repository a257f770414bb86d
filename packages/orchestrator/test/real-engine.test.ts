import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelManager, SearchQAWorkflow, defaultModelPath } from '../src/index.js';

const tiny = defaultModelPath();
const hasModel = existsSync(tiny);

// The tiny model is written by `node tools/model-gen/generate.mjs --size tiny`; without it these tests cannot run.
describe.skipIf(!hasModel)(`with the real ONNX engine on ${tiny}`, () => {
  const manager = new ModelManager();

  it('new ModelManager() + new SearchQAWorkflow(manager).execute({ query: "What is AI?" }) answers with sources from docs/', async () => {
    const workflow = new SearchQAWorkflow(manager);
    const result = await workflow.execute({ query: 'What is AI?', maxTokens: 16 });
    expect(result.workflow).toBe('search_qa');
    expect(result.engineUsed).toBe('onnx');
    expect(result.model).toBe('default');
    expect(typeof result.output).toBe('string');
    expect(result.usage.completionTokens).toBeGreaterThan(0);
    expect(result.usage.completionTokens).toBeLessThanOrEqual(16);
    expect(result.sources?.length).toBeGreaterThan(0);
    for (const source of result.sources ?? []) expect(source.source).toMatch(/\.(md|markdown|txt)$/);
  });

  it('infer() returns the outputs with the engine used (seed API)', async () => {
    const outputs = await manager.infer('default', { prompt: 'Hello', maxTokens: 4 });
    expect(outputs.engineUsed).toBe('onnx');
    expect(outputs.usage.completionTokens).toBeGreaterThan(0);
  });
});

if (!hasModel) {
  describe('with the real ONNX engine', () => {
    it.skip(`skipped: ${tiny} is missing; run \`node tools/model-gen/generate.mjs --size tiny\``, () => undefined);
  });
}
