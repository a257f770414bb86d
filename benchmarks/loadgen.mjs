// The load generator's own ceiling (issue 15): requests/s that @muai/bench sustains against a
// null OpenAI-compatible server in its own process (each answer: 16 SSE content chunks, a usage
// chunk and [DONE], written at once so the server costs little), and the generator's CPU per
// request. The `split_chunks` variant writes each SSE event on its own loop turn, so the client
// reads them apart as from a real token-by-token stream (more reads per request). A result never measures the client instead of the server when the server's rate is
// well below `generator_ceiling_rps` (one core's worth of generator CPU per request).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { args, cores, json, logger, numberOption, root, round } from './_common.mjs';

const log = logger('loadgen');
const { computeResult, createOpenAiTarget, randomDataset, runBenchmark } = await import(pathToFileURL(join(root, 'packages/bench/dist/index.js')).href);

const CHUNKS = numberOption('chunks', 16);
const SECONDS = numberOption('seconds', 4);
const ROUNDS = numberOption('rounds', 3);
const CONCURRENCIES = (args.includes('--concurrency') ? String(numberOption('concurrency', 64)) : '16,64,256').split(',').map(Number);

// The null server: node:http, one prebuilt answer per request, no JSON parsing of the body.
const SERVER = `
const http = require('node:http');
const chunks = Number(process.argv[1]);
let body = '';
for (let i = 0; i < chunks; i++) body += 'data: ' + JSON.stringify({ id: 'c', object: 'text_completion', choices: [{ index: 0, text: ' tok' + i, finish_reason: null }] }) + '\\n\\n';
body += 'data: ' + JSON.stringify({ id: 'c', object: 'text_completion', choices: [], usage: { prompt_tokens: 8, completion_tokens: chunks, total_tokens: 8 + chunks } }) + '\\n\\ndata: [DONE]\\n\\n';
const answer = Buffer.from(body);
const parts = body.split(/(?<=\\n\\n)/).map((part) => Buffer.from(part));
const split = process.argv[2] === 'split';
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (!split) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-length': answer.length });
      res.end(answer);
      return;
    }
    // One write per event, each on a later turn of the event loop: the client reads them apart.
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const next = () => {
      if (i === parts.length - 1) return res.end(parts[i]);
      res.write(parts[i++]);
      setImmediate(next);
    };
    next();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
setInterval(() => process.send && process.send(process.cpuUsage()), 1000).unref();
`;

function startNullServer(mode) {
  const child = spawn(process.execPath, ['-e', SERVER, String(CHUNKS), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (data) => resolve({ child, url: `http://127.0.0.1:${String(data).trim()}` }));
    child.once('exit', (code) => reject(new Error(`null server exited with ${code}`)));
  });
}

const prompts = randomDataset({ numPrompts: 64, inputLen: 8, outputLen: CHUNKS, seed: 1 });

/** Closed-loop rounds at each concurrency against a null server writing its answer `mode` (whole | split). */
async function measure(mode, concurrencies) {
  const { child, url } = await startNullServer(mode);
  const results = [];
  try {
    // Warm-up: JIT and sockets.
    const warm = createOpenAiTarget({ baseUrl: url, model: 'null' });
    await runBenchmark({ target: warm, prompts, durationSec: 1, maxConcurrency: 64, graceSec: 5 });
    await warm.close();
    for (const concurrency of concurrencies) {
      const rounds = [];
      for (let index = 0; index < ROUNDS; index++) {
        const target = createOpenAiTarget({ baseUrl: url, model: 'null' });
        const run = await runBenchmark({ target, prompts, durationSec: SECONDS, maxConcurrency: concurrency, graceSec: 5 });
        await target.close();
        const result = computeResult(run);
        const chunksSeen = run.requests.reduce((sum, record) => sum + (record.status === 'ok' ? record.itlsMs.length + 1 : 0), 0);
        rounds.push({ rps: result.request_throughput, cpu_ms: result.generator_cpu_ms_per_request, cpu_pct: result.generator_cpu_percent, failed: result.failed, chunks_per_request: chunksSeen / Math.max(1, result.completed) });
        log(`${mode} concurrency ${concurrency} round ${index + 1}: ${round(result.request_throughput, 0)} req/s, generator ${round(result.generator_cpu_ms_per_request * 1000, 1)} µs CPU/request (${round(result.generator_cpu_percent, 0)}% of a core), failed ${result.failed}`);
      }
      rounds.sort((a, b) => a.rps - b.rps);
      const median = rounds[rounds.length >> 1];
      results.push({
        concurrency,
        requests_per_s: round(median.rps, 0),
        requests_per_s_rounds: rounds.map((r) => round(r.rps, 0)),
        generator_cpu_us_per_request: round(median.cpu_ms * 1000, 1),
        generator_cpu_percent_of_core: round(median.cpu_pct, 0),
        generator_ceiling_rps: round(1000 / median.cpu_ms, 0),
        chunks_per_request_parsed: round(median.chunks_per_request, 2),
        failed: median.failed,
      });
    }
  } finally {
    child.kill();
  }
  return results;
}

const results = await measure('whole', CONCURRENCIES);
// Chunks that arrive in separate reads, as from a real server that streams token by token.
const split = await measure('split', [CONCURRENCIES.reduce((a, b) => (Math.abs(b - 64) < Math.abs(a - 64) ? b : a))]);
const best = results.reduce((a, b) => (b.requests_per_s > a.requests_per_s ? b : a));
const output = {
  benchmark: 'loadgen',
  load: `closed loop against a null OpenAI-compatible server in its own process; each answer ${CHUNKS} SSE content chunks + usage + [DONE]; ${SECONDS} s per round, median of ${ROUNDS} rounds`,
  chunks: CHUNKS,
  results,
  best_requests_per_s: best.requests_per_s,
  best_concurrency: best.concurrency,
  generator_cpu_us_per_request: best.generator_cpu_us_per_request,
  generator_ceiling_rps: best.generator_ceiling_rps,
  split_chunks: split[0],
  target_requests_per_s: 5000,
  meets_target: best.requests_per_s >= 5000,
  cpus: cores,
  node: process.version,
  date: new Date().toISOString(),
};
if (json) console.log(JSON.stringify(output));
else console.log(output);
