// Soak: a steady mixed load against the built `muai serve` for a configurable time (issue 19).
// `npm run bench -- soak [--json] [--duration-s 120] [--concurrency 8] [--sample-s 10] [--model tiny]`
// (1800 s for the record, 120 s for CI's short variant outside the test suite).
// The load: completions and chat, streamed and not, a share abandoned mid-stream by the client, a
// share of invalid requests (must be 4xx with a documented code), closed loop at --concurrency.
// Every --sample-s: requests completed in the window (throughput), the server's RSS (from
// /proc/<pid>/status) and V8 heap used (its own /metrics, nodejs_heap_size_used_bytes).
// Reports throughput drift (last third vs first third of the windows), RSS and heap growth per hour
// (least-squares slope over the windows after --warmup-s, default a third of the run up to 300 s;
// --cache-mib 64 KV budget so the cache is full by then), errors by kind,
// and whether the bounds hold: growth <= --max-growth-mib-per-hour (64), drift within ±--max-drift-pct
// (15), no unexpected error (a 5xx, an undocumented code, a stream without [DONE]).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureGeneratedModel, json, logger, numberOption, option, root, round, startMuaiServe } from './_common.mjs';

const log = logger('soak');
const durationS = numberOption('duration-s', 120);
const concurrency = numberOption('concurrency', 8);
const sampleS = numberOption('sample-s', 10);
const maxGrowth = numberOption('max-growth-mib-per-hour', 64);
const maxDriftPct = numberOption('max-drift-pct', 15);
// Warm-up left out of the growth slopes: the model's arenas, the JIT and the prefix cache fill first.
const warmupS = numberOption('warmup-s', Math.min(300, durationS / 3));
// A small KV budget fills during the warm-up, so that what is left is steady state, not the cache filling up.
const cacheMiB = numberOption('cache-mib', 64);
const modelDir = ensureGeneratedModel(option('model', 'tiny'), log);
const { ERROR_CODES } = await import(pathToFileURL(join(root, 'packages/core/dist/index.js')).href);
const documented = new Set(Object.keys(ERROR_CODES));

const { child, url, exited } = await startMuaiServe(modelDir, { MUAI_OPT_CACHE_ENABLED: 'true', MUAI_OPT_CACHE_MAX_MEMORY_MB: String(cacheMiB), MUAI_MON_LOGGING_FILE: '-' });
log(`muai serve ready at ${url} (pid ${child.pid}); ${durationS} s at concurrency ${concurrency}`);

const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
async function heapMiB() {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith('nodejs_heap_size_used_bytes'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) / (1024 * 1024) : Number.NaN;
}

const kinds = ['completion', 'chat', 'stream', 'stream-chat', 'abandoned', 'invalid'];
const weights = [3, 3, 3, 3, 1, 1];
const totals = Object.fromEntries(kinds.map((kind) => [kind, 0]));
const errors = {};
const unexpected = [];
let completedInWindow = 0;

function pick(index) {
  let slot = index % weights.reduce((sum, weight) => sum + weight, 0);
  for (const [position, weight] of weights.entries()) {
    if (slot < weight) return kinds[position];
    slot -= weight;
  }
  return kinds[0];
}

async function one(index) {
  const kind = pick(index);
  const chat = kind === 'chat' || kind === 'stream-chat';
  const stream = kind.startsWith('stream') || kind === 'abandoned';
  const prompt = `Request ${index % 97}: tell me about the river and the mill in town ${index % 13}`;
  const body = kind === 'invalid'
    ? [{ model: 'default', prompt: 'x', max_tokens: -1 }, { model: '../../etc/passwd', prompt: 'x' }, { messages: 'nope' }][index % 3]
    : chat
      ? { model: 'default', messages: [{ role: 'user', content: prompt }], max_tokens: 16, stream }
      : { model: 'default', prompt, max_tokens: 16, stream };
  const controller = new AbortController();
  const response = await fetch(`${url}${chat || (kind === 'invalid' && index % 3 === 2) ? '/v1/chat/completions' : '/v1/completions'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  if (kind === 'abandoned') {
    const reader = response.body.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel().catch(() => {});
    totals[kind] += 1;
    completedInWindow += 1;
    return;
  }
  const text = await response.text();
  if (kind === 'invalid') {
    const code = /"code":"([A-Z_]+)"/.exec(text)?.[1];
    errors[`${response.status} ${code}`] = (errors[`${response.status} ${code}`] ?? 0) + 1;
    if (response.status >= 500 || !documented.has(code ?? '')) unexpected.push(`${kind}: ${response.status} ${text.slice(0, 120)}`);
  } else if (response.status !== 200 || (stream && !text.trimEnd().endsWith('data: [DONE]')) || text.includes('"error"')) {
    unexpected.push(`${kind}: ${response.status} ${text.slice(0, 160)}`);
  }
  totals[kind] += 1;
  completedInWindow += 1;
}

const started = Date.now();
const endAt = started + durationS * 1000;
let next = 0;
const workers = Array.from({ length: concurrency }, async () => {
  while (Date.now() < endAt) {
    const index = next++;
    await one(index).catch((error) => unexpected.push(`request ${index}: ${error.message}`));
  }
});
const windows = [];
const sampler = (async () => {
  while (Date.now() < endAt) {
    await new Promise((resolve) => setTimeout(resolve, sampleS * 1000));
    const window = { t_s: round((Date.now() - started) / 1000, 1), rps: round(completedInWindow / sampleS, 2), rss_mib: round(rssMiB(), 1), heap_mib: round(await heapMiB(), 1) };
    completedInWindow = 0;
    windows.push(window);
    log(`t=${window.t_s}s ${window.rps} req/s rss ${window.rss_mib} MiB heap ${window.heap_mib} MiB`);
  }
})();
await Promise.all([...workers, sampler]);

/** Least-squares slope of y over t (seconds), per hour. */
function slopePerHour(points, key) {
  const n = points.length;
  if (n < 2) return 0;
  const meanT = points.reduce((sum, point) => sum + point.t_s, 0) / n;
  const meanY = points.reduce((sum, point) => sum + point[key], 0) / n;
  let num = 0;
  let den = 0;
  for (const point of points) {
    num += (point.t_s - meanT) * (point[key] - meanY);
    den += (point.t_s - meanT) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 3600;
}
const steady = windows.filter((window) => window.t_s > warmupS);
const third = Math.max(1, Math.floor(windows.length / 3));
const mean = (items) => items.reduce((sum, item) => sum + item.rps, 0) / items.length;
const firstRps = mean(windows.slice(0, third));
const lastRps = mean(windows.slice(-third));
const driftPct = firstRps > 0 ? ((lastRps - firstRps) / firstRps) * 100 : 0;
const rssGrowth = slopePerHour(steady, 'rss_mib');
const heapGrowth = slopePerHour(steady, 'heap_mib');
// The next good request after the soak, then a clean SIGTERM.
const after = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'default', prompt: 'after', max_tokens: 2 }) });
child.kill('SIGTERM');
const exitCode = await exited;
const requests = Object.values(totals).reduce((sum, count) => sum + count, 0);
const result = {
  benchmark: 'soak',
  date: new Date().toISOString(),
  model: option('model', 'tiny'),
  duration_s: durationS,
  concurrency,
  warmup_s: warmupS,
  cache_mib: cacheMiB,
  load_average: os.loadavg().map((value) => round(value, 1)),
  requests,
  by_kind: totals,
  throughput_rps: round(requests / durationS, 2),
  throughput_drift_pct: round(driftPct, 1),
  rss_mib_start: windows[0]?.rss_mib,
  rss_mib_end: windows.at(-1)?.rss_mib,
  rss_growth_mib_per_hour: round(rssGrowth, 1),
  heap_growth_mib_per_hour: round(heapGrowth, 1),
  invalid_answers: errors,
  unexpected_errors: unexpected.length,
  unexpected_examples: unexpected.slice(0, 5),
  next_request_status: after.status,
  exit_code: exitCode,
  bounds: { max_growth_mib_per_hour: maxGrowth, max_drift_pct: maxDriftPct },
  target_met: unexpected.length === 0 && after.status === 200 && exitCode === 0 && Math.abs(driftPct) <= maxDriftPct && rssGrowth <= maxGrowth && heapGrowth <= maxGrowth,
  windows,
};
if (json) console.log(JSON.stringify(result));
else console.log(result);
