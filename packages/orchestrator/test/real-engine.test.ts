import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@muai/config';
import { join } from 'node:path';
import { LocalRetriever, ModelManager, OptimizationManager, SearchQAWorkflow } from '../src/index.js';

// The library takes explicit paths: the repository's generated tiny model and docs/.
const root = join(import.meta.dirname, '..', '..', '..');
const tiny = join(root, 'models', 'generated', 'tiny');
const docs = join(root, 'docs');
const hasModel = existsSync(tiny);

// The tiny model is written by `node tools/model-gen/generate.mjs --size tiny`; without it these tests cannot run.
describe.skipIf(!hasModel)(`with the real ONNX engine on ${tiny}`, () => {
  const manager = new ModelManager({ defaultModelPath: tiny });

  it('new ModelManager({ defaultModelPath }) + new SearchQAWorkflow(manager, { retriever }).execute({ query: "What is AI?" }) answers with sources from docs/', async () => {
    const workflow = new SearchQAWorkflow(manager, { retriever: new LocalRetriever({ directory: docs }) });
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

  it('optimization.onnx.worker_thread runs the same engine in a worker thread, with the same greedy output', async () => {
    const { config } = await loadConfig({ files: [], env: { MUAI_OPT_ONNX_WORKER_THREAD: 'true' } });
    const optimizationManager = new OptimizationManager(config.optimization);
    const threaded = new ModelManager({ optimizationManager, defaultModelPath: tiny });
    try {
      const request = { prompt: 'Hello there', maxTokens: 8, temperature: 0 };
      const inWorker = await threaded.infer('default', request);
      const inProcess = await manager.infer('default', request);
      expect(inWorker.engineUsed).toBe('onnx');
      expect(inWorker.tokenIds).toEqual(inProcess.tokenIds);
      expect(inWorker.text).toBe(inProcess.text);
      const engine = await optimizationManager.getEngine('onnx');
      expect(engine?.constructor.name).toBe('OnnxWorkerEngine');
    } finally {
      await threaded.close();
    }
  });
});

if (!hasModel) {
  describe('with the real ONNX engine', () => {
    it.skip(`skipped: ${tiny} is missing; run \`node tools/model-gen/generate.mjs --size tiny\``, () => undefined);
  });
}
