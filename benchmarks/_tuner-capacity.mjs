// Probe for the tuner benchmark: the embedded engine's capacity on the generated `small` model as a
// function of max_batch_size (1 intra-op thread, as benchmarks/tuner.mjs uses). Closed loop with
// more clients than the largest batch (saturation: the engine always has a queue), interleaved
// rounds; requests/s, p50/p99 end-to-end latency and process CPU per request, medians over rounds.
//
//   node benchmarks/_tuner-capacity.mjs [--threads 1] [--sizes 4,8,16,32,64] [--clients 64] [--requests 192] [--rounds 3]
import { computeResult, createEngineTarget, randomDataset, runBenchmark } from '@muai/bench';
import { createOnnxEngine } from '@muai/engines-onnx';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ensureGeneratedModel, logger, median, numberOption, option, round } from './_common.mjs';

const log = logger('tuner-capacity');
const sizes = option('sizes', '4,8,16,32,64').split(',').map(Number);
const clients = numberOption('clients', 64);
const requests = numberOption('requests', 192);
const rounds = numberOption('rounds', 3);
const modelDir = ensureGeneratedModel('small', log);

const threads = numberOption('threads', 1);
const engine = createOnnxEngine({ intraOpNumThreads: threads });
await engine.load({ name: 'default', path: modelDir });
const prompts = randomDataset({ numPrompts: 64, inputLen: 32, outputLen: 16, seed: 2, countTokens: (text) => engine.encodeRequest({ model: 'default', prompt: text }).length });
const target = createEngineTarget({ engine, model: 'default' });
// Warm-up: first sessions runs allocate.
await runBenchmark({ target, prompts, numPrompts: 32, requestRate: Number.POSITIVE_INFINITY, maxConcurrency: 16, seed: 0 });

const rows = Object.fromEntries(sizes.map((size) => [size, { rps: [], p50: [], p99: [], cpuMsPerRequest: [], meanBatch: [] }]));
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? sizes : [...sizes].reverse();
  for (const size of order) {
    engine.setLimits({ maxBatchSize: size });
    const before = engine.batchStats('default');
    const cpu = process.cpuUsage();
    const began = performance.now();
    const record = await runBenchmark({ target, prompts, numPrompts: requests, requestRate: Number.POSITIVE_INFINITY, maxConcurrency: clients, seed: r });
    const wallMs = performance.now() - began;
    const used = process.cpuUsage(cpu);
    const after = engine.batchStats('default');
    const result = computeResult(record);
    const row = rows[size];
    row.rps.push(result.request_throughput);
    row.p50.push(result.median_e2el_ms);
    row.p99.push(result.p99_e2el_ms);
    row.cpuMsPerRequest.push((used.user + used.system) / 1000 / result.completed);
    row.meanBatch.push((after.sequenceSteps - before.sequenceSteps) / Math.max(1, after.steps - before.steps));
    log(`round ${r + 1} batch ${size}: ${result.request_throughput.toFixed(1)} req/s, p50 ${result.median_e2el_ms.toFixed(0)} ms, p99 ${result.p99_e2el_ms.toFixed(0)} ms, wall ${(wallMs / 1000).toFixed(1)} s, load ${os.loadavg()[0].toFixed(1)}`);
  }
}
await engine.close();
const out = { probe: 'tuner-capacity', model: 'small', threads, clients, requests, rounds, loadavg: os.loadavg().map((v) => round(v, 1)), by_max_batch_size: {} };
for (const size of sizes) {
  const row = rows[size];
  out.by_max_batch_size[size] = { requests_per_s: round(median(row.rps)), rps_rounds: row.rps.map((v) => round(v, 1)), p50_ms: round(median(row.p50), 0), p99_ms: round(median(row.p99), 0), cpu_ms_per_request: round(median(row.cpuMsPerRequest)), mean_batch: round(median(row.meanBatch), 1) };
}
console.log(JSON.stringify(out));
