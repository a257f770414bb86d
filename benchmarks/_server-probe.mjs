// Probe: where the server's extra time goes for one 64-token request at one client (direct vs direct+signal vs HTTP).
import { createOnnxEngine } from '@muai/engines-onnx';
import { startServer } from '@muai/server';
const e = createOnnxEngine();
await e.load({ name: 'small', path: new URL('../models/generated/small', import.meta.url).pathname });
const prompt = 'Write a short story about the sea. It should be calm and mention three different people who meet at a small station and talk about their day.';
const req = { model: 'small', prompt, maxTokens: 64, temperature: 0 };
const s = await startServer({ engine: e, port: 0 });
const body = JSON.stringify({ model: 'small', prompt, max_tokens: 64, temperature: 0 });
const ways = {
  direct: () => e.generate(req),
  signal: () => e.generate({ ...req, signal: new AbortController().signal }),
  http: async () => (await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json(),
};
const t = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let i = 0; i < 25; i++) for (const [k, f] of Object.entries(ways).map((_, j, a) => a[(j + i) % a.length])) { const t0 = performance.now(); await f(); t[k].push(performance.now() - t0); }
for (const [k, v] of Object.entries(t)) { v.sort((a, b) => a - b); console.log(k, 'p50', v[12].toFixed(1), 'min', v[0].toFixed(1)); }
await s.close(); await e.close();
