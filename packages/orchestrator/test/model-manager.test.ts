import { mkdtempSync, rmSync, cpSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { ModelManager, OptimizationManager, defaultModelPath } from '../src/index.js';
import { RecordingEngine, memoryLogger } from './helpers.js';

const models = {
  a: { path: 'a' },
  b: { path: 'b' },
  c: { path: 'c' },
  d: { path: 'd' },
};

describe('ModelManager', () => {
  it('keeps at most maxLoadedModels models and unloads the least recently used from the engine', async () => {
    const engine = new RecordingEngine({ name: 'onnx' });
    const manager = new ModelManager({ config: { models }, engine, maxLoadedModels: 2 });
    await manager.infer('a', { prompt: 'x' });
    await manager.infer('b', { prompt: 'x' });
    await manager.infer('a', { prompt: 'x' }); // a is now the most recent
    await manager.infer('c', { prompt: 'x' }); // evicts b
    expect(manager.loaded()).toEqual(['a', 'c']);
    expect(engine.unloadedNames).toEqual(['b']);
    expect([...engine.models()].sort()).toEqual(['a', 'c']);
    await manager.infer('b', { prompt: 'x' }); // loads b again, evicts a
    expect(engine.loadedNames).toEqual(['a', 'b', 'c', 'b']);
    expect(engine.unloadedNames).toEqual(['b', 'a']);
  });

  it('defaults to an LRU of 3 models, as in the seed', async () => {
    const engine = new RecordingEngine({ name: 'onnx' });
    const manager = new ModelManager({ config: { models }, engine });
    for (const name of ['a', 'b', 'c', 'd']) await manager.loadModel(name);
    expect(manager.loaded()).toEqual(['b', 'c', 'd']);
    expect(engine.unloadedNames).toEqual(['a']);
  });

  it('loads a model once even when many requests arrive together', async () => {
    const engine = new RecordingEngine({ name: 'onnx' });
    const manager = new ModelManager({ config: { models }, engine });
    await Promise.all([1, 2, 3, 4].map(() => manager.generate({ model: 'a', prompt: 'x' })));
    expect(engine.loadedNames).toEqual(['a']);
  });

  it('rejects an unknown model with MODEL_NOT_FOUND listing the configured names', async () => {
    const manager = new ModelManager({ config: { models }, engine: new FakeEngine({ name: 'onnx' }) });
    const error = await manager.infer('nope', { prompt: 'x' }).catch((caught: unknown) => caught);
    expect(MuaiError.hasCode(error, 'MODEL_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('a, b, c, d, default');
  });

  it('preloads monitoring.server.preload_models on start()', async () => {
    const engine = new RecordingEngine({ name: 'onnx' });
    const manager = new ModelManager({ config: { models, monitoring: { server: { preload_models: ['c', 'a'] } } }, engine });
    expect(engine.loadedNames).toEqual([]);
    await manager.start();
    expect(engine.loadedNames).toEqual(['c', 'a']);
    expect(manager.loaded()).toEqual(['c', 'a']);
  });

  it('returns the outputs from infer (seed semantics) and delegates to an optimizationManager', async () => {
    const optimization = new OptimizationManager(
      { engine_preference: ['vllm'], vllm: { enabled: true } },
      { engines: { vllm: () => new FakeEngine({ name: 'vllm', respond: () => 'from vllm' }), onnx: () => new FakeEngine({ name: 'onnx' }) } },
    );
    const manager = new ModelManager({ config: { models }, optimizationManager: optimization });
    const outputs = await manager.infer('a', { prompt: 'test' });
    expect(outputs.text).toBe('from vllm');
    expect(outputs.engineUsed).toBe('vllm');
  });

  it('honours models.<name>.engine by trying that engine first', async () => {
    const optimization = new OptimizationManager(
      { engine_preference: ['onnx'] },
      { engines: { vllm: () => new FakeEngine({ name: 'vllm' }), onnx: () => new FakeEngine({ name: 'onnx' }) } },
    );
    const manager = new ModelManager({ config: { models: { big: { path: 'Qwen/Qwen-7B-Chat', engine: 'vllm' }, small: { path: 's' } } }, optimizationManager: optimization });
    expect((await manager.generate({ model: 'big', prompt: 'x' })).engineUsed).toBe('vllm');
    expect((await manager.generate({ model: 'small', prompt: 'x' })).engineUsed).toBe('onnx');
  });

  it('uses MUAI_MODEL as the default model folder, else the defaultModelPath option, else the model bundled with @muai/models', async () => {
    expect(new ModelManager({ env: {}, engine: new FakeEngine() }).defaultModel).toBe('default');
    const loads: string[] = [];
    const recording = new FakeEngine({ name: 'onnx' });
    const load = recording.load.bind(recording);
    recording.load = async (spec) => (loads.push(spec.path), load(spec));
    const withDefault = new ModelManager({ env: {}, defaultModelPath: '/models/stories', engine: recording });
    await withDefault.loadModel('default');
    const bundled = new ModelManager({ env: {}, engine: recording });
    await bundled.loadModel('default');
    // Never a folder found from the cwd: the option, else the model bundled with @muai/models.
    expect(loads).toEqual(['/models/stories', defaultModelPath()]);
    expect(defaultModelPath()).toMatch(/[\\/]models[\\/]default-model[\\/]stories260K$/);
    await withDefault.close();
    await bundled.close();
    const manager = new ModelManager({ env: { MUAI_MODEL: 'a' }, config: { models }, engine: new FakeEngine() });
    expect(manager.defaultModel).toBe('a');
  });

  it('gives a clear MODEL_NOT_FOUND when a model folder vanished', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'muai-vanish-'));
    const folder = join(dir, 'model');
    cpSync(import.meta.dirname, folder, { recursive: true }); // any folder will do: the engine below is a fake
    const optimization = new OptimizationManager(undefined, {
      logger: memoryLogger(),
      importModule: async () => ({ createOnnxEngine: () => new FakeEngine({ name: 'onnx' }) }),
    });
    const manager = new ModelManager({ config: { models: { mine: { path: folder } } }, optimizationManager: optimization });
    await expect(manager.loadModel('mine')).resolves.toMatchObject({ name: 'mine', engineUsed: 'onnx' });
    await manager.unloadModel('mine');
    rmSync(dir, { recursive: true, force: true });
    expect(existsSync(folder)).toBe(false);
    const error = await manager.infer('mine', { prompt: 'x' }).catch((caught: unknown) => caught);
    expect(MuaiError.hasCode(error, 'MODEL_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain(folder);
    expect((error as Error).message).toContain('models.mine.path');
  });
});
