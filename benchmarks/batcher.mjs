// Batcher overhead: the cost the batcher adds per request with a no-op batch function, side by side
// with calling the no-op function directly once per request (what you do without a batcher).
//
//   npm run bench -- batcher [--json] [--requests N] [--clients C] [--max-batch-size B]
//
// Both sides run the same closed loop: C concurrent clients, each awaiting one request at a time,
// N requests in total. `overhead_us_per_request` is the whole batched path per request (submit,
// queueing, batch formation, the no-op call amortised over the batch, resolving the caller's
// promise, the await), nothing subtracted. Median of several rounds after warm-up.
import { createBatcher } from '@muai/batcher';
import { json, logger, numberOption } from './_common.mjs';

const requests = numberOption('requests', 200_000);
const clients = numberOption('clients', 256);
const maxBatchSize = numberOption('max-batch-size', 32);
const rounds = numberOption('rounds', 7);
const log = logger('batcher');

// The no-op batch function: echoes its inputs (an engine that costs nothing).
const noop = async (inputs) => inputs;

async function closedLoop(call) {
  let next = 0;
  const client = async (c) => {
    while (next < requests) {
      const i = next++;
      await call(i, c);
    }
  };
  const workers = [];
  const start = process.hrtime.bigint();
  for (let c = 0; c < clients; c++) workers.push(client(c));
  await Promise.all(workers);
  return Number(process.hrtime.bigint() - start) / 1e3 / requests; // microseconds per request
}

function makeBatcher(extra = {}) {
  return createBatcher({ batchFn: noop, maxBatchSize, batchTimeoutMs: 1, maxQueueSize: clients * 2, ...extra });
}

const scenarios = {
  direct: () => closedLoop((i) => noop([i])),
  batched: async () => {
    const batcher = makeBatcher();
    const us = await closedLoop((i) => batcher.submit(i));
    await batcher.drain();
    return us;
  },
  // Same, with a per-request timeout and an AbortSignal on every request (the costlier path).
  batched_with_timeout_and_signal: async () => {
    const batcher = makeBatcher({ requestTimeoutMs: 60_000 });
    // One signal per client (as per HTTP connection); each carries one listener at a time.
    const signals = Array.from({ length: clients }, () => new AbortController().signal);
    const us = await closedLoop((i, c) => batcher.submit(i, { signal: signals[c] }));
    await batcher.drain();
    return us;
  },
  // Same as batched, with an event listener attached (what a metrics exporter costs the batcher).
  batched_with_listener: async () => {
    let sizes = 0;
    const batcher = makeBatcher({ onEvent: (event) => (event.type === 'batch' ? (sizes += event.size) : undefined) });
    const us = await closedLoop((i) => batcher.submit(i));
    await batcher.drain();
    if (sizes !== requests) throw new Error(`listener saw ${sizes} requests, expected ${requests}`);
    return us;
  },
};

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
};

log(`requests=${requests} clients=${clients} maxBatchSize=${maxBatchSize} rounds=${rounds} node=${process.version}`);
const results = {};
for (const name of Object.keys(scenarios)) results[name] = [];
for (let round = -2; round < rounds; round++) {
  // Interleave the scenarios so that machine noise hits each alike; rounds < 0 are warm-up.
  for (const [name, run] of Object.entries(scenarios)) {
    globalThis.gc?.();
    const us = await run();
    if (round >= 0) results[name].push(us);
  }
  if (round >= 0) log(`round ${round + 1}/${rounds}: ` + Object.entries(results).map(([n, v]) => `${n}=${v.at(-1).toFixed(3)}us`).join(' '));
}

const direct = median(results.direct);
const batched = median(results.batched);
const summary = {
  benchmark: 'batcher',
  requests,
  clients,
  max_batch_size: maxBatchSize,
  overhead_us_per_request: Number(batched.toFixed(3)),
  direct_us_per_request: Number(direct.toFixed(3)),
  ratio: Number((batched / direct).toFixed(3)),
  with_timeout_and_signal_us_per_request: Number(median(results.batched_with_timeout_and_signal).toFixed(3)),
  with_listener_us_per_request: Number(median(results.batched_with_listener).toFixed(3)),
  target_us_per_request: 5,
  meets_target: batched < 5,
  node: process.version,
};
if (json) console.log(JSON.stringify(summary));
else console.log(summary);
