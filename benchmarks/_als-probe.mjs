// Probe: does an enabled AsyncLocalStorage (what the tracer's context manager turns on; promise
// hooks on Node 20) slow the in-process engine's own decode loop? Alternating rounds with it off
// and on, C concurrent greedy requests, median throughput loss.
//   node benchmarks/_als-probe.mjs [model] [maxTokens] [clients] [rounds] [stream: 0 generate() | 1 stream()]
import { AsyncLocalStorage } from 'node:async_hooks';
import { createOnnxEngine } from '@muai/engines-onnx';
const [model = 'small', maxTokens = '64', clients = '16', rounds = '6', stream = '0'] = process.argv.slice(2);
const e = createOnnxEngine();
await e.load({ name: model, path: new URL(`../models/generated/${model}`, import.meta.url).pathname });
const req = { model, prompt: 'Write a short story about the sea. It should be calm and mention three different people who meet at a small station and talk about their day.', maxTokens: Number(maxTokens), temperature: 0 };
const call = stream === '1' ? async () => { for await (const _ of e.stream(req)); } : () => e.generate(req);
const round = async (ms) => { let n = 0; const end = performance.now() + ms; const t0 = performance.now(); await Promise.all(Array.from({ length: Number(clients) }, async () => { while (performance.now() < end) { await call(); n++; } })); return n / ((performance.now() - t0) / 1000); };
await round(2000);
const als = new AsyncLocalStorage();
const off = [], on = [];
for (let i = 0; i < Number(rounds); i++) {
  off.push(await round(3000));
  on.push(await als.run({ x: 1 }, () => round(3000)));
  als.disable();
}
const med = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
console.log(JSON.stringify({ model, clients, stream, rps_off: off.map((x) => +x.toFixed(1)), rps_on: on.map((x) => +x.toFixed(1)), median_loss_pct: +(100 * (1 - med(on.map((x, i) => x / off[i])))).toFixed(2) }));
await e.close();
