// Server overhead: the same load through the ONNX engine directly and through @muai/server over
// HTTP, and through the server with metrics and tracing on, in one run.
//
//   npm run bench -- server [--json] [--rounds R] [--model M] [--clients C] [--max-tokens T]
//     [--round-ms MS] [--short-clients C] [--short-max-tokens T] [--short-round-ms MS]
//
// Two loads, each C closed-loop clients sending one greedy (temperature 0) non-streaming
// completion at a time, for MS ms per round:
// - realistic (primary, the top-level fields): the generated `small` model, a 32-token prompt and
//   64 new tokens (as in the concurrency benchmark), 16 clients (the engine's maxBatchSize), 4 s rounds.
// - short_requests (secondary, `short_requests` in the JSON): the generated `tiny` model, a short
//   prompt and 4 new tokens, 8 clients, 1.5 s rounds. A request is a few ~1 ms decode steps, so
//   per-request costs (HTTP, batch admission) dominate: this is the overhead-dominated end, and its
//   one-client added_p50_ms is the pure HTTP overhead of a small request.
// Within a load the setups share one engine (one loaded model; a fresh engine per load) and run interleaved, round after
// round, rotating which goes first, so that they share the machine's noise; medians are reported.
//
// - direct: `engine.generate(request)` in process.
// - server: `startServer({ engine })` without metrics or tracer; the C clients run in a worker
//   thread (like remote clients, off the server's event loop) over HTTP/1.1 keep-alive (node:http
//   Agent, one socket per client) to 127.0.0.1, JSON bodies as the openai client sends them.
// - monitored: the same server with a PrometheusExporter as `metrics` and an OTelTracer exporting
//   OTLP/HTTP to a sink (each request: SERVER span > inference span > engine-call span), sample
//   rate 1; /metrics is not scraped during the round. It runs in a child process with its own
//   engine on the same model, because the tracer's context manager turns on promise hooks for its
//   whole process, which would otherwise also slow the direct and plain setups.
// - server_child: the plain server in a child process like the monitored one (same process layout),
//   the control for monitoring_overhead_pct.
// - worker_engine (in the JSON): both loads again with every setup on createOnnxWorkerEngine (the
//   ONNX engine in a worker thread, so session.run and the decode loop leave the main thread);
//   direct is then the worker engine called in process without HTTP. --no-worker-engine skips it.
//
// Fields (per load): direct_rps, server_rps, throughput_ratio (server/direct at C clients, target
// >= 0.9), added_p50_ms (server p50 latency minus direct p50 for the load's own request with ONE
// client, so that it is the time the server adds to a request rather than queueing; the client
// alternates one direct and one HTTP request so both see the same moment's load; per round, then the
// median over rounds; `added_ms_median_per_pair` is the median of the per-pair differences; target
// <= 1; `added_p50_ms_at_clients` is server minus direct p50 at C clients, queueing included), monitoring_overhead_pct (server_child rps at C
// clients lost with monitoring on, target <= 3; `monitoring_overhead_pct_vs_in_process_server` compares
// with the in-process plain server instead). `mean_batch` is the engine's mean rows per decode
// step in each setup: the direct closed loop keeps its C clients in lockstep (every request joins
// the same batch), HTTP arrival jitter does not; with 4-token requests on the tiny model that, more
// than server CPU, sets the throughput ratio.
import { createServer as createHttpServer } from 'node:http';
import { Worker } from 'node:worker_threads';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createOnnxEngine, createOnnxWorkerEngine } from '@muai/engines-onnx';
import { createPrometheusExporter, createTracer } from '@muai/monitoring';
import { startServer } from '@muai/server';

const args = process.argv.slice(2);
const json = args.includes('--json');
const option = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1] : fallback;
};
const rounds = Number(option('rounds', 7));
const log = (...parts) => console.error('[bench:server]', ...parts);
const round3 = (value) => Math.round(value * 1000) / 1000;
const root = join(import.meta.dirname, '..');
const modelDirOf = (model) => join(root, 'models', 'generated', model);

// The primary load: realistic serving requests (a ~32-token prompt, 64 new tokens) from enough
// clients to fill the engine's continuous batches. The secondary load: the tiny model and 4-token
// completions, where a request is a few 1 ms decode steps and per-request costs (HTTP, batch
// admission) dominate; kept to show the overhead-dominated end honestly.
const LOADS = {
  realistic: {
    model: option('model', 'small'),
    prompt: 'Write a short story about the sea. It should be calm and mention three different people who meet at a small station and talk about their day.',
    maxTokens: Number(option('max-tokens', 64)),
    clients: Number(option('clients', 16)),
    roundMs: Number(option('round-ms', 4000)),
  },
  short_requests: {
    model: 'tiny',
    prompt: 'The quick brown fox',
    maxTokens: Number(option('short-max-tokens', 4)),
    clients: Number(option('short-clients', 8)),
    roundMs: Number(option('short-round-ms', 1500)),
  },
};
for (const load of Object.values(LOADS)) {
  if (!existsSync(join(modelDirOf(load.model), 'onnx', 'model.onnx'))) {
    log(`generating the ${load.model} model (tools/model-gen/generate.mjs --size ${load.model} --if-missing) ...`);
    execFileSync(process.execPath, [join(root, 'tools/model-gen/generate.mjs'), '--size', load.model, '--if-missing'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
}
const bodyOf = (load) => JSON.stringify({ model: load.model, prompt: load.prompt, max_tokens: load.maxTokens, temperature: 0 });
const generationOf = (load) => ({ model: load.model, prompt: load.prompt, maxTokens: load.maxTokens, temperature: 0 });

/** An OTLP/HTTP sink: accepts every export with an empty ExportTraceServiceResponse. */
async function startOtlpSink() {
  let exports = 0;
  const server = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => {
      exports += 1;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' });
      response.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/v1/traces`, exports: () => exports, close: () => new Promise((resolve) => server.close(resolve)) };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const median = (values) => percentile([...values].sort((a, b) => a - b), 50);

/** C clients, each awaiting one call at a time, for `roundMs`. Returns rps and latency percentiles (ms). */
async function closedLoop(call, concurrency, roundMs) {
  const latencies = [];
  const start = performance.now();
  const deadline = start + roundMs;
  const client = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await call();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: latencies.length };
}

// The HTTP clients run in a worker thread (their own event loop, as remote clients would be), so
// that client-side JSON and socket work does not run on the server's event loop.
const clientSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { url, body, clients: maxClients } = workerData;
const { hostname, port } = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: maxClients });
const call = () => new Promise((resolve, reject) => {
  const req = request({ host: hostname, port, path: '/v1/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
    const chunks = [];
    response.on('data', (chunk) => chunks.push(chunk));
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      if (response.statusCode !== 200) reject(new Error('HTTP ' + response.statusCode + ': ' + text));
      else resolve(JSON.parse(text));
    });
    response.on('error', reject);
  });
  req.on('error', reject);
  req.end(body);
});
parentPort.on('message', async (message) => {
  try {
    if (message.type === 'once') {
      const t0 = performance.now();
      const answer = await call();
      parentPort.postMessage({ answer, ms: performance.now() - t0 });
      return;
    }
    const latencies = [];
    const start = performance.now();
    const deadline = start + message.roundMs;
    const client = async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await call();
        latencies.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: message.clients }, client));
    parentPort.postMessage({ latencies, elapsed: (performance.now() - start) / 1000 });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.stack || error) });
  }
});
`;

function httpClient(url, load) {
  const { clients, roundMs } = load;
  const worker = new Worker(clientSource, { eval: true, workerData: { url, body: bodyOf(load), clients } });
  const ask = (message) =>
    new Promise((resolve, reject) => {
      worker.once('message', (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply)));
      worker.postMessage(message);
    });
  return {
    once: async () => (await ask({ type: 'once' })).answer,
    /** One request, its latency (ms) as the client in the worker saw it. */
    timedOnce: async () => (await ask({ type: 'once' })).ms,
    round: async (concurrency) => {
      const { latencies, elapsed } = await ask({ type: 'round', roundMs, clients: concurrency });
      latencies.sort((a, b) => a - b);
      return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: latencies.length };
    },
    close: () => worker.terminate(),
  };
}

if (args.includes('--serve-monitored')) {
  // Child process: the monitored server, so that its tracer's AsyncLocalStorage context manager
  // (which turns on Node's promise hooks for the whole process) does not slow the direct and plain
  // server setups of the parent. Prints its URL, serves until stdin closes, then prints tracer stats.
  // With --plain: the same child without metrics or tracer, the control for monitoring_overhead_pct
  // (same process layout as the monitored child).
  const model = option('serve-monitored', 'tiny');
  const plainChild = args.includes('--plain');
  // --worker: the engine runs in a worker thread (createOnnxWorkerEngine), the worker_engine variant.
  const engine = args.includes('--worker') ? createOnnxWorkerEngine() : createOnnxEngine();
  await engine.load({ name: model, path: modelDirOf(model) });
  if (plainChild) {
    // No tracer is created at all: creating one installs its context manager (promise hooks).
    const server = await startServer({ engine, port: 0 });
    process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
    process.stdin.resume();
    process.stdin.on('end', async () => {
      await server.close();
      await engine.close();
      process.stdout.write(`${JSON.stringify({ plain: true })}\n`);
      process.exit(0);
    });
  } else {
    const sink = await startOtlpSink();
    const tracer = createTracer({ protocol: 'http', endpoint: sink.url, sampleRate: 1, serviceName: 'muai-bench' });
    const exporter = createPrometheusExporter({});
    // Also traces the engine call, as `muai serve` does through its engine adapter: SERVER > inference > engine call.
    const tracedEngine = Object.assign(Object.create(engine), {
      generate: (request) => tracer.traceEngineCall({ engine: 'onnx', operation: 'generate', model: request.model, kind: 0 }, () => engine.generate(request)),
    });
    const monitored = await startServer({ engine: tracedEngine, port: 0, metrics: exporter, tracer });
    process.stdout.write(`${JSON.stringify({ url: monitored.url })}\n`);
    process.stdin.resume();
    process.stdin.on('end', async () => {
      const batch = await engine.batchStats(model);
      await monitored.close();
      await tracer.shutdown();
      await sink.close();
      await engine.close();
      process.stdout.write(`${JSON.stringify({ tracer: tracer.stats(), exports: sink.exports(), batch })}\n`);
      process.exit(0);
    });
  }
} else {
  await main();
}


/** One load (model, request, clients): direct, server and monitored at C clients, direct and server at 1 client. */
async function runLoad(label, load, { worker = false } = {}) {
  const { model, clients, maxTokens, roundMs } = load;
  // worker: every setup (direct, plain and monitored servers, children) uses createOnnxWorkerEngine,
  // the engine in a worker thread; direct is then that engine called in process without HTTP.
  const createEngine = worker ? createOnnxWorkerEngine : createOnnxEngine;
  // One engine with only this load's model, as in the monitored child: a second loaded session
  // (its own ONNX Runtime thread pool and heap) in this process measurably slowed the plain server
  // against the monitored one.
  const engine = createEngine();
  await engine.load({ name: model, path: modelDirOf(model) });
  const generation = generationOf(load);
  const spawnChild = (extra) => {
    const child = spawn(process.execPath, [import.meta.filename, '--serve-monitored', model, ...extra, ...(worker ? ['--worker'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
    const childLines = createInterface({ input: child.stdout });
    const nextLine = () => new Promise((resolve, reject) => {
      childLines.once('line', (line) => resolve(JSON.parse(line)));
      child.once('exit', (code) => reject(new Error(`child server exited with ${code}`)));
    });
    return { child, nextLine };
  };
  const monitoredChild = spawnChild([]);
  const { url: monitoredUrl } = await monitoredChild.nextLine();
  const plainChild = spawnChild(['--plain']);
  const { url: plainChildUrl } = await plainChild.nextLine();

  const plain = await startServer({ engine, port: 0 });
  const plainClient = httpClient(plain.url, load);
  const monitoredClient = httpClient(monitoredUrl, load);
  const plainChildClient = httpClient(plainChildUrl, load);

  // Sanity: the same greedy answer everywhere.
  const expectedResult = await engine.generate(generation);
  const expected = expectedResult.text;
  for (const [name, client] of [['server', plainClient], ['monitored', monitoredClient], ['server_child', plainChildClient]]) {
    const answer = await client.once();
    if (answer.choices[0].text !== expected) throw new Error(`${name} answered ${JSON.stringify(answer.choices[0].text)}, direct ${JSON.stringify(expected)}`);
  }
  const promptTokens = expectedResult.usage?.promptTokens;
  const completionTokens = expectedResult.usage?.completionTokens ?? maxTokens;

  // Throughput at C clients; latency added per request also with one client (no queueing, no batching).
  const setups = {
    direct: () => closedLoop(() => engine.generate(generation), clients, roundMs),
    server: () => plainClient.round(clients),
    monitored: () => monitoredClient.round(clients),
    server_child: () => plainChildClient.round(clients),
    // One client, alternating one direct request and one HTTP request (order flipping each pair),
    // so that both see the same moment's machine load: the added latency per request.
    pairs_1: async () => {
      const direct = [];
      const server = [];
      const diffs = [];
      const deadline = performance.now() + roundMs;
      const timedDirect = async () => {
        const t0 = performance.now();
        await engine.generate(generation);
        return performance.now() - t0;
      };
      for (let i = 0; performance.now() < deadline; i++) {
        const [d, h] = i % 2 === 0 ? [await timedDirect(), await plainClient.timedOnce()] : [0, await plainClient.timedOnce()];
        const dd = i % 2 === 0 ? d : await timedDirect();
        direct.push(dd);
        server.push(h);
        diffs.push(h - dd);
      }
      const sorted = (values) => [...values].sort((a, b) => a - b);
      return { requests: diffs.length * 2, rps: NaN, directP50: percentile(sorted(direct), 50), serverP50: percentile(sorted(server), 50), p50: percentile(sorted(diffs), 50), p99: NaN, diffs };
    },
  };
  const names = Object.keys(setups);
  const trio = ['direct', 'server', 'monitored', 'server_child'];

  log(`${label}: ${model}, ${clients} clients, ${promptTokens}-token prompt, ${maxTokens} new tokens; warm-up (load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  for (const name of names) await setups[name]();
  log(`${label}: measuring`);

  const results = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    // Rotate who goes first within each group, so no setup always follows the same one.
    const rotate = (group) => group.map((_, i) => group[(i + round) % group.length]);
    const order = [...rotate(trio), 'pairs_1'];
    for (const name of order) {
      globalThis.gc?.();
      const before = await engine.batchStats(model);
      const result = await setups[name]();
      const after = await engine.batchStats(model); // the monitored server's engine is in the child: its rounds show 0 here
      // Mean rows per decode step, and batch rebuilds (arrivals merged into the running batch) per request.
      result.meanBatch = (after.sequenceSteps - before.sequenceSteps) / Math.max(1, after.steps - before.steps);
      result.rebuildsPerRequest = (after.rebuilds - before.rebuilds) / Math.max(1, result.requests);
      results[name].push(result);
      if (name === 'pairs_1') {
        log(`${label} round ${round + 1}/${rounds} ${name}: ${result.requests / 2} pairs, 1-client p50 direct ${result.directP50.toFixed(2)} ms, server ${result.serverP50.toFixed(2)} ms, median per-pair difference ${result.p50.toFixed(2)} ms`);
        continue;
      }
      log(`${label} round ${round + 1}/${rounds} ${name}: ${result.rps.toFixed(1)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms (${result.requests} requests${name === 'monitored' ? '' : `, mean batch ${result.meanBatch.toFixed(2)}, batch rebuilds per request ${result.rebuildsPerRequest.toFixed(2)}`})`);
    }
  }

  const rpsOf = (name) => median(results[name].map((r) => r.rps));
  const p50Of = (name) => median(results[name].map((r) => r.p50));
  // Per-round ratios (same round, same noise), then their median.
  const perRound = (fn) => median(results.direct.map((_, i) => fn(i)));
  const throughputRatio = perRound((i) => results.server[i].rps / results.direct[i].rps);
  const addedP50 = perRound((i) => results.pairs_1[i].serverP50 - results.pairs_1[i].directP50);
  const addedPerPair = median(results.pairs_1.flatMap((r) => r.diffs));
  const addedP50Loaded = perRound((i) => results.server[i].p50 - results.direct[i].p50);
  // Monitored child vs the plain child (same process layout); vs the in-process plain server as well.
  const monitoringOverhead = perRound((i) => ((results.server_child[i].rps - results.monitored[i].rps) / results.server_child[i].rps) * 100);
  const monitoringVsInProcess = perRound((i) => ((results.server[i].rps - results.monitored[i].rps) / results.server[i].rps) * 100);

  await plain.close();
  await plainClient.close();
  await monitoredClient.close();
  await plainChildClient.close();
  const childDone = monitoredChild.nextLine();
  const plainDone = plainChild.nextLine();
  monitoredChild.child.stdin.end();
  plainChild.child.stdin.end();
  const { tracer: tracerStats } = await childDone;
  await plainDone;
  await engine.close();

  return {
    model,
    clients,
    prompt_tokens: promptTokens,
    max_tokens: maxTokens,
    completion_tokens: completionTokens,
    round_ms: roundMs,
    direct_rps: round3(rpsOf('direct')),
    server_rps: round3(rpsOf('server')),
    monitored_rps: round3(rpsOf('monitored')),
    server_child_rps: round3(rpsOf('server_child')),
    direct_tokens_per_s: round3(rpsOf('direct') * completionTokens),
    server_tokens_per_s: round3(rpsOf('server') * completionTokens),
    throughput_ratio: round3(throughputRatio),
    direct_p50_ms: round3(p50Of('direct')),
    server_p50_ms: round3(p50Of('server')),
    monitored_p50_ms: round3(p50Of('monitored')),
    direct_p50_ms_1_client: round3(median(results.pairs_1.map((r) => r.directP50))),
    server_p50_ms_1_client: round3(median(results.pairs_1.map((r) => r.serverP50))),
    added_p50_ms: round3(addedP50),
    added_ms_median_per_pair: round3(addedPerPair),
    pairs_1_client: results.pairs_1.reduce((n, r) => n + r.diffs.length, 0),
    added_p50_ms_at_clients: round3(addedP50Loaded),
    monitoring_overhead_pct: round3(monitoringOverhead),
    monitoring_overhead_pct_vs_in_process_server: round3(monitoringVsInProcess),
    mean_batch: Object.fromEntries(['direct', 'server'].map((name) => [name, round3(median(results[name].map((r) => r.meanBatch)))])),
    spans_exported: tracerStats.exportedSpans,
    span_exports_failed: tracerStats.failedExports,
    meets_targets: {
      throughput_ratio: throughputRatio >= 0.9,
      added_p50_ms: addedP50 <= 1,
      monitoring_overhead_pct: monitoringOverhead <= 3,
    },
  };
}

async function main() {
  const started = new Date().toISOString();
  const loadAtStart = loadavg().map((l) => round3(l));
  const realistic = await runLoad('realistic', LOADS.realistic);
  const short = await runLoad('short_requests', LOADS.short_requests);
  // The same two loads with the engine in a worker thread (opt-in createOnnxWorkerEngine); --no-worker-engine skips them.
  const workerRuns = args.includes('--no-worker-engine')
    ? undefined
    : { realistic: await runLoad('worker_engine realistic', LOADS.realistic, { worker: true }), short: await runLoad('worker_engine short_requests', LOADS.short_requests, { worker: true }) };

  const { meets_targets: meets, ...primary } = realistic;
  const out = {
    benchmark: 'server',
    load: `realistic: ${primary.clients} closed-loop clients, greedy, ${primary.prompt_tokens}-token prompt, ${primary.max_tokens} new tokens, model ${primary.model}`,
    ...primary,
    added_p50_ms_reported: `realistic request (${primary.max_tokens} new tokens), 1 client; the pure HTTP overhead (small request, 1 client) is short_requests.added_p50_ms`,
    rounds,
    targets: { throughput_ratio: 0.9, added_p50_ms: 1, monitoring_overhead_pct: 3 },
    meets_targets: meets,
    short_requests: {
      load: `overhead-dominated: ${short.clients} closed-loop clients, greedy, ${short.prompt_tokens}-token prompt, ${short.max_tokens} new tokens, model ${short.model} (~1 ms decode steps, so per-request costs dominate)`,
      ...short,
    },
    ...(workerRuns === undefined
      ? {}
      : {
          worker_engine: {
            load: 'the same loads with createOnnxWorkerEngine (the ONNX engine in a worker thread) in every setup; direct = that engine called in process without HTTP',
            ...workerRuns.realistic,
            short_requests: workerRuns.short,
          },
        }),
    cpus: cpus().length,
    loadavg_at_start: loadAtStart,
    loadavg_at_end: loadavg().map((l) => round3(l)),
    node: process.version,
    started,
    date: new Date().toISOString(),
  };
  if (json) console.log(JSON.stringify(out));
  const mark = (ok) => (ok ? 'met' : 'NOT met');
  const summary = (o) => [
    `  direct ${o.direct_rps} req/s, server ${o.server_rps} req/s: throughput_ratio ${o.throughput_ratio} (target >= 0.9: ${mark(o.meets_targets.throughput_ratio)})`,
    `  1 client p50 direct ${o.direct_p50_ms_1_client} ms, server ${o.server_p50_ms_1_client} ms: added_p50_ms ${o.added_p50_ms} (target <= 1: ${mark(o.meets_targets.added_p50_ms)})`,
    `  monitored ${o.monitored_rps} req/s: monitoring_overhead_pct ${o.monitoring_overhead_pct} (target <= 3: ${mark(o.meets_targets.monitoring_overhead_pct)})`,
    `  mean batch direct ${o.mean_batch.direct}, server ${o.mean_batch.server}`,
  ].join('\n');
  const print = json ? (text) => console.error(text) : (text) => console.log(text);
  print(`load (primary): ${out.load}; model ${out.model}, max_tokens ${out.max_tokens}, clients ${out.clients}\n${summary(out)}`);
  print(`short_requests (secondary): ${out.short_requests.load}\n${summary(out.short_requests)}`);
  if (out.worker_engine !== undefined) {
    print(`worker_engine realistic (engine in a worker thread):\n${summary(out.worker_engine)}`);
    print(`worker_engine short_requests:\n${summary(out.worker_engine.short_requests)}`);
  }
}
