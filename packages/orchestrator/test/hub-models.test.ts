import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import { commitSha, readFolder, startFakeHub } from '@muai/hub/testing';
import type { FakeHub } from '@muai/hub/testing';
import { ModelManager, OptimizationManager } from '../src/index.js';

// models.<name>.path may be a Hugging Face Hub id: the embedded engine's load downloads it through
// @muai/hub (loaded on demand) into the cache, here from a loopback stand-in of the Hub.
const root = join(import.meta.dirname, '..', '..', '..');
const REPO = 'test-org/tiny-llama';
const saved: Record<string, string | undefined> = {};
let hub: FakeHub;
let modelDir: string;
let cacheDir: string;

beforeAll(async () => {
  modelDir = mkdtempSync(join(tmpdir(), 'muai-orch-hub-model-'));
  execFileSync(process.execPath, [join(root, 'tools/model-gen/generate.mjs'), '--size', 'tiny', '--out', modelDir], { stdio: 'ignore' });
  hub = await startFakeHub();
  const sha = commitSha('orchestrator');
  hub.addRepo({ id: REPO, refs: { main: sha }, commits: [{ sha, files: readFolder(modelDir) }] });
  cacheDir = mkdtempSync(join(tmpdir(), 'muai-orch-hub-cache-'));
  for (const [key, value] of Object.entries({ HF_ENDPOINT: hub.url, MUAI_CACHE_DIR: cacheDir, HF_HUB_OFFLINE: '', HF_TOKEN: '' })) {
    saved[key] = process.env[key];
    process.env[key] = value;
  }
});

afterAll(async () => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await hub?.close();
  for (const dir of [modelDir, cacheDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a Hub id as models.<name>.path', () => {
  it('is downloaded on first load and generates as the same model from a local folder does', async () => {
    const fromHub = new ModelManager({ config: { models: { hub_tiny: { path: REPO } } } });
    const fromFolder = new ModelManager({ config: { models: { local_tiny: { path: modelDir } } } });
    const request = { prompt: 'Once upon a time', maxTokens: 8, temperature: 0 };
    const a = await fromHub.infer('hub_tiny', request);
    const b = await fromFolder.infer('local_tiny', request);
    expect(a.engineUsed).toBe('onnx');
    expect(a.text).toBe(b.text);
    expect(a.usage.completionTokens).toBe(8);
    expect(hub.requests.some((r) => r.path.startsWith('/cdn/'))).toBe(true);
    await Promise.all([fromHub.close(), fromFolder.close()]);
  });

  it('without @muai/hub installed, fails with MODEL_NOT_FOUND naming the package to install', async () => {
    const importModule = async (specifier: string): Promise<unknown> => {
      if (specifier === '@muai/hub') throw Object.assign(new Error(`Cannot find package '${specifier}'`), { code: 'ERR_MODULE_NOT_FOUND' });
      return import(specifier);
    };
    const manager = new OptimizationManager(undefined, { importModule, models: { hub_tiny: { name: 'hub_tiny', path: REPO } } });
    const error = await manager.generate({ model: 'hub_tiny', prompt: 'hi', maxTokens: 2 }).catch((caught: unknown) => caught);
    expect(MuaiError.hasCode(error, 'MODEL_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('npm install @muai/hub');
    expect((error as Error).message).toContain('models.hub_tiny.path');
  });
});

describe('a path that is neither a folder nor a Hub id', () => {
  it('is MODEL_NOT_FOUND saying what the path may be, without any Hub request', async () => {
    hub.requests.length = 0;
    const manager = new OptimizationManager(undefined, { models: { nested: { name: 'nested', path: 'models/no/such/folder' } } });
    const error = await manager.generate({ model: 'nested', prompt: 'hi', maxTokens: 2 }).catch((caught: unknown) => caught);
    expect(MuaiError.hasCode(error, 'MODEL_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('neither a local folder nor a Hugging Face Hub id');
    expect(hub.requests).toHaveLength(0);
    await manager.close();
  });
});
