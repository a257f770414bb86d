// The @muai/core engine conformance suite on the embedded engine, in process and in a worker thread.
// The worker's answers must equal the in-process engine's (same weights, greedy), which is the reference.
import { mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { describeEngineConformance } from '@muai/core/testing';
import { createOnnxEngine, createOnnxWorkerEngine } from '../src/index.js';
import { HAS_TINY, REPO_ROOT, TINY } from './helpers.js';

const api = { describe, it, beforeAll, afterAll };
const spec = { name: 'tiny', path: TINY };

if (!HAS_TINY) throw new Error(`missing ${TINY}: run \`node tools/model-gen/generate.mjs --size tiny\``);

describeEngineConformance('OnnxEngine (in process, generated tiny model)', async () => {
  const engine = createOnnxEngine({ intraOpNumThreads: 1 });
  await engine.load(spec);
  return { engine, spec };
}, api);

const WORKER_DIR = resolve(REPO_ROOT, 'node_modules/.cache/muai-engines-onnx-test');
const WORKER_SCRIPT = resolve(WORKER_DIR, `conformance-worker-${process.pid}.mjs`);

describeEngineConformance('OnnxWorkerEngine (worker thread), against the in-process engine', async () => {
  mkdirSync(WORKER_DIR, { recursive: true });
  await build({ entryPoints: [resolve(import.meta.dirname, '../src/worker-entry.ts')], outfile: WORKER_SCRIPT, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error' });
  const reference = createOnnxEngine({ intraOpNumThreads: 1 });
  await reference.load(spec);
  const engine = createOnnxWorkerEngine({ intraOpNumThreads: 1, workerScript: WORKER_SCRIPT });
  await engine.load(spec);
  return {
    engine,
    spec,
    expectedText: async (prompt, maxTokens) => (await reference.generate({ model: 'tiny', prompt, maxTokens })).text,
    teardown: async () => {
      await reference.close();
      rmSync(WORKER_SCRIPT, { force: true });
    },
  };
}, api);
