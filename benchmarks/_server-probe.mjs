// Probe: where the server's extra time goes for one 64-token request at one client: direct, direct
// with an AbortSignal (as the server passes), and over HTTP (fetch, same process), rotating order;
// prints p50 wall time and the engine's own ttft/decode timings (server: from the engine via a wrapper).
//   node benchmarks/_server-probe.mjs [model] [maxTokens] [pairs]
import { createOnnxEngine } from '@muai/engines-onnx';
import { startServer } from '@muai/server';
const [model = 'small', maxTokens = '64', reps = '25'] = process.argv.slice(2);
const e = createOnnxEngine();
await e.load({ name: model, path: new URL(`../models/generated/${model}`, import.meta.url).pathname });
const prompt = 'Write a short story about the sea. It should be calm and mention three different people who meet at a small station and talk about their day.';
const req = { model, prompt, maxTokens: Number(maxTokens), temperature: 0 };
let lastTimings;
const wrapped = Object.assign(Object.create(e), { generate: async (r) => { const out = await e.generate(r); lastTimings = out.timings; return out; } });
const s = await startServer({ engine: wrapped, port: 0 });
const body = JSON.stringify({ model, prompt, max_tokens: Number(maxTokens), temperature: 0 });
const ways = {
  direct: async () => (lastTimings = (await e.generate(req)).timings),
  signal: async () => (lastTimings = (await e.generate({ ...req, signal: new AbortController().signal })).timings),
  http: async () => (await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json(),
};
const t = Object.fromEntries(Object.keys(ways).map((k) => [k, { wall: [], ttft: [], decode: [] }]));
for (let i = 0; i < Number(reps); i++) for (const [k, f] of Object.entries(ways).map((_, j, a) => a[(j + i) % a.length])) {
  const t0 = performance.now(); await f(); t[k].wall.push(performance.now() - t0);
  t[k].ttft.push(lastTimings.ttftMs); t[k].decode.push(lastTimings.totalMs - lastTimings.ttftMs);
}
const p50 = (v) => [...v].sort((a, b) => a - b)[v.length >> 1].toFixed(2);
for (const [k, v] of Object.entries(t)) console.log(k, 'wall p50', p50(v.wall), 'engine ttft p50', p50(v.ttft), 'engine total-ttft p50', p50(v.decode));
await s.close(); await e.close();
