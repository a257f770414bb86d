// Probe: the server's added latency with a native client. One muai server (worker engine, `small`
// model); curl (Debian's, >= 7.84 for %header{}) sends 60 sequential keep-alive completions and
// prints each one's time_total and Server-Timing; reports p50 of latency minus the engine time.
//   node benchmarks/_curl-probe.mjs [maxTokens]
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOnnxWorkerEngine } from '@muai/engines-onnx';
import { startServer } from '@muai/server';
const bodyFile = join(tmpdir(), `muai-curl-probe-${process.pid}.json`);
const e = createOnnxWorkerEngine();
await e.load({ name: 'small', path: new URL('../models/generated/small', import.meta.url).pathname });
const s = await startServer({ engine: e, port: 0 });
writeFileSync(bodyFile, JSON.stringify({ model: 'small', prompt: 'Write a short story about the sea. It should be calm and mention three different people who meet at a small station and talk about their day.', max_tokens: Number(process.argv[2] ?? 64), temperature: 0 }));
const urls = Array.from({ length: 60 }, () => `${s.url}/v1/completions`);
const out = await new Promise((resolve) => execFile('curl', ['-s', '-o', '/dev/null', '-w', '%{time_total} %header{server-timing}\\n', '-H', 'content-type: application/json', '--data-binary', `@${bodyFile}`, ...urls], (_error, stdout) => resolve(stdout)));
const v = [...out.matchAll(/(\d+\.\d+) engine;dur=([\d.]+)/g)].slice(5).map((m) => Number(m[1]) * 1000 - Number(m[2])).sort((a, b) => a - b);
console.log('curl client: latency - engine p50', v[v.length >> 1].toFixed(3), 'ms, n', v.length);
await s.close();
await e.close();
rmSync(bodyFile, { force: true });
