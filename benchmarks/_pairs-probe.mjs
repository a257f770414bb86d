// Probe: one client, alternating direct and HTTP requests (the HTTP client in a worker thread), N
// pairs. Prints both estimators of the added latency: between requests (p50 over HTTP minus p50
// direct, and the median per-pair difference, with a bootstrap interval) and within the request
// (HTTP latency minus the engine time of that same request).
//   node benchmarks/_pairs-probe.mjs [model] [maxTokens] [pairs]
//   ENGINE_OPTS='{"intraOpNumThreads":1}' for engine options, WORKER=1 for createOnnxWorkerEngine.
import { Worker } from 'node:worker_threads';
import { createOnnxEngine, createOnnxWorkerEngine } from '@muai/engines-onnx';
import { startServer } from '@muai/server';
const [model = 'small', maxTokens = '64', reps = '100'] = process.argv.slice(2);
const opts = JSON.parse(process.env.ENGINE_OPTS ?? '{}');
const e = process.env.WORKER === '1' ? createOnnxWorkerEngine(opts) : createOnnxEngine(opts);
await e.load({ name: model, path: new URL(`../models/generated/${model}`, import.meta.url).pathname });
const prompt = 'Write a short story about the sea. It should be calm and mention three different people who meet at a small station and talk about their day.';
const req = { model, prompt, maxTokens: Number(maxTokens), temperature: 0 };
let lastEngineMs = 0;
const wrapped = Object.assign(Object.create(e), { generate: async (r) => { const t0 = performance.now(); const out = await e.generate(r); lastEngineMs = performance.now() - t0; return out; } });
const s = await startServer({ engine: wrapped, port: 0 });
const body = JSON.stringify({ model, prompt, max_tokens: Number(maxTokens), temperature: 0 });
const w = new Worker(`
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { url, body } = workerData; const { hostname, port } = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
parentPort.on('message', () => { const t0 = performance.now();
  const req = request({ host: hostname, port, path: '/v1/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => { res.resume(); res.on('end', () => parentPort.postMessage(performance.now() - t0)); });
  req.end(body); });`, { eval: true, workerData: { url: s.url, body } });
const http = () => new Promise((r) => { w.once('message', r); w.postMessage(0); });
const direct = async () => { const t0 = performance.now(); await e.generate(req); return performance.now() - t0; };
for (let i = 0; i < 5; i++) { await direct(); await http(); }
const d = [], h = [], diff = [], over = [];
for (let i = 0; i < Number(reps); i++) {
  let a, b;
  let lastEngineMsAfterHttp;
  if (i % 2) { a = await direct(); b = await http(); lastEngineMsAfterHttp = lastEngineMs; } else { b = await http(); lastEngineMsAfterHttp = lastEngineMs; a = await direct(); }
  d.push(a); h.push(b); diff.push(b - a); over.push(b - lastEngineMsAfterHttp);
}
const med = (v) => { const s = [...v].sort((x, y) => x - y); return s[s.length >> 1]; };
const boot = (v) => { const m = []; for (let k = 0; k < 1000; k++) { const r = v.map(() => v[Math.floor(Math.random() * v.length)]); m.push(med(r)); } m.sort((x, y) => x - y); return [m[25], m[975]]; };
const sd = (v) => { const mu = v.reduce((a, b) => a + b) / v.length; return Math.sqrt(v.reduce((a, b) => a + (b - mu) ** 2, 0) / v.length); };
console.log(JSON.stringify({ opts, worker: process.env.WORKER === '1', pairs: reps, direct_p50: +med(d).toFixed(2), http_p50: +med(h).toFixed(2), diff_of_p50: +(med(h) - med(d)).toFixed(2), median_pair_diff: +med(diff).toFixed(2), ci95: boot(diff).map((x) => +x.toFixed(2)), overhead_p50: +med(over).toFixed(3), overhead_ci95: boot(over).map((x) => +x.toFixed(3)), overhead_p99: +[...over].sort((x, y) => x - y)[Math.floor(over.length * 0.99)].toFixed(3), sd_direct: +sd(d).toFixed(2), sd_http: +sd(h).toFixed(2) }));
await s.close(); await w.terminate(); await e.close();
