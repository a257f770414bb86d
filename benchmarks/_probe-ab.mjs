// Probe: paired A/B of two batch sizes on one warm engine (generated `small` model). After 6 warm-up
// runs at A, PAIRS rounds of one closed-loop run at A then one at B; prints the medians and each
// round's B/A ratio. Used to size quick search's reference runs (@muai/tuner, `muai tune`): paired
// rounds showed batch 32 over 16 (2 threads, 32 in flight, 64 requests) at +8.5 % in 40 of 40
// rounds, while unpaired trials taken seconds apart read anywhere from +1 % to +15 %.
// PROBE_SECOND_ENGINE=1 also loads a 1-thread engine and runs it 6 times first (as a search's pool does).
//
//   node benchmarks/_probe-ab.mjs THREADS CONCURRENCY BATCH_A BATCH_B REQUESTS PAIRS
import { createEngineTarget, randomDataset, runBenchmark, computeResult } from '@muai/bench';
import { createOnnxEngine } from '@muai/engines-onnx';
import { ensureGeneratedModel, logger } from './_common.mjs';

const log = logger('probe');
const modelDir = ensureGeneratedModel('small', log);
const [threads, concurrency, batchA, batchB, requests, pairs] = process.argv.slice(2).map(Number);
const engine = createOnnxEngine({ intraOpNumThreads: threads });
await engine.load({ name: 'default', path: modelDir });
const prompts = randomDataset({ numPrompts: requests, inputLen: 32, outputLen: 16, seed: 1, countTokens: (text) => engine.encodeRequest({ model: 'default', prompt: text }).length });
const runOn = (target) => runBenchmark({ target, prompts, numPrompts: requests, requestRate: Infinity, maxConcurrency: concurrency, seed: 0 });
const target = createEngineTarget({ engine, model: 'default' });
const run = async (batch) => {
  engine.setLimits({ maxBatchSize: batch });
  return computeResult(await runOn(target)).request_throughput;
};
for (let i = 0; i < 6; i++) await run(batchA);
let other;
if (process.env.PROBE_SECOND_ENGINE) {
  other = createOnnxEngine({ intraOpNumThreads: 1 });
  await other.load({ name: 'default', path: modelDir });
  for (let i = 0; i < 6; i++) await runOn(createEngineTarget({ engine: other, model: 'default' }));
}
const a = [];
const b = [];
const ratios = [];
for (let i = 0; i < pairs; i++) {
  a.push(await run(batchA));
  b.push(await run(batchB));
  ratios.push(b.at(-1) / a.at(-1));
}
const median = (values) => [...values].sort((x, y) => x - y)[values.length >> 1];
console.log(JSON.stringify({ threads, concurrency, batchA, batchB, requests, medianA: +median(a).toFixed(1), medianB: +median(b).toFixed(1), medianRatio: +median(ratios).toFixed(3), ratios: ratios.map((r) => +r.toFixed(3)) }));
await engine.close();
await other?.close();
