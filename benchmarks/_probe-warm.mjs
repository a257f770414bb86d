// Probe: how a new ONNX Runtime session warms up. One engine (generated `small` model), then
// PROBE_RUNS (14) closed-loop runs of the same prompts in a row; prints requests/s of each run. Used to
// size the tuner's warm-up and stability rule (benchmarks/tuner.mjs, `muai tune`): the first run of a
// new session, or of new prompts on a warm one, reads 8-20 % low.
//
//   node benchmarks/_probe-warm.mjs THREADS CONCURRENCY MAX_BATCH_SIZE REQUESTS
import { createEngineTarget, randomDataset, runBenchmark, computeResult } from '@muai/bench';
import { createOnnxEngine } from '@muai/engines-onnx';
import { ensureGeneratedModel, logger } from './_common.mjs';
const log = logger('probe');
const modelDir = ensureGeneratedModel('small', log);
const [threads, conc, batch, n] = process.argv.slice(2).map(Number);
const engine = createOnnxEngine({ intraOpNumThreads: threads });
await engine.load({ name: 'default', path: modelDir });
engine.setLimits({ maxBatchSize: batch });
const prompts = randomDataset({ numPrompts: n, inputLen: 32, outputLen: 16, seed: 1, countTokens: (t) => engine.encodeRequest({ model: 'default', prompt: t }).length });
const target = createEngineTarget({ engine, model: 'default' });
const out = [];
for (let i = 0; i < Number(process.env.PROBE_RUNS ?? 14); i++) {
  const r = computeResult(await runBenchmark({ target, prompts, numPrompts: n, requestRate: Infinity, maxConcurrency: conc, seed: 0 }));
  out.push(r.request_throughput.toFixed(0));
}
console.log(threads, conc, batch, n, out.join(' '));
await engine.close();
