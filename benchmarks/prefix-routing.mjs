// Prefix routing across replicas: three `muai serve` replicas (the built CLI, prefix cache on, one
// ONNX Runtime thread each) behind @muai/engines-http's endpoint pool, a workload of K shared
// ~256-token prefixes (a system prompt or document each) with short suffixes, sent once per routing
// policy to fresh replicas (empty caches):
//
//   npm run bench -- prefix-routing [--json] [--prefixes K] [--per-prefix M] [--prefix-tokens 256]
//     [--concurrency C] [--max-tokens T] [--model bench] [--policies prefix-affinity,least-outstanding,round-robin]
//
// Requests go out in rounds (round m sends suffix m of every prefix, prefixes in a seeded shuffled
// order) by C closed-loop clients, streamed (TTFT = send to first content chunk, client side).
// - hit_rate: prefix-cache lookups that reused cached blocks, over all lookups, from the replicas'
//   own muai_kv_cache_hits_total / muai_kv_cache_misses_total (deltas over the workload; warm-up
//   excluded). A prefix costs one miss per replica it lands on: round-robin spreads each prefix over
//   all replicas, prefix-affinity keeps it on one.
// - ttft_p50_ms / ttft_p90_ms, e2e_p50_ms, requests per replica (the pool's served counts).
// - bound_violations: placements where the chosen replica's in-flight count exceeded
//   ceil(1.25 x (total + 1) / replicas) (checked around every acquire of the pool); must be 0 for
//   prefix-affinity. max_outstanding: most in flight on one replica at a placement.
// Targets (issue 17): prefix-affinity's hit rate >= 2x round-robin's, its TTFT p50 lower.
import os from 'node:os';
import { HttpClient, OpenAiProtocolClient } from '@muai/engines-http';
import { ensureGeneratedModel, json, logger, median, numberOption, option, passageWords, round, startMuaiServe } from './_common.mjs';

const log = logger('prefix-routing');
const prefixes = numberOption('prefixes', 8);
const perPrefix = numberOption('per-prefix', 4);
const prefixTokens = numberOption('prefix-tokens', 256);
const concurrency = numberOption('concurrency', 3);
const maxTokens = numberOption('max-tokens', 4);
const policies = option('policies', 'prefix-affinity,least-outstanding,round-robin').split(',');
const modelDir = ensureGeneratedModel(option('model', 'bench'), log);
const LOAD_FACTOR = 1.25;

const passage = passageWords(10);

/** Starts one replica on a free port; resolves with its URL once /ready answers 200. */
async function startReplica() {
  const { child, url, exited } = await startMuaiServe(modelDir, { MUAI_OPT_CACHE_ENABLED: 'true', MUAI_OPT_ONNX_THREADS: '1' });
  return { url, stop: async () => (child.kill('SIGTERM'), await exited) };
}

/** Sum of one metric family's samples on a replica. */
async function scrape(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** Mulberry32: a seeded shuffle, so every policy sees the same order. */
function shuffled(items, seed) {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let index = out.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [out[index], out[other]] = [out[other], out[index]];
  }
  return out;
}

/** Words per token of this model's tokenizer on the passage, measured once through a replica. */
async function wordsPerToken(url) {
  const text = passage.slice(0, 200).join(' ');
  const response = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: text, max_tokens: 1 }) });
  const body = await response.json();
  return 200 / body.usage.prompt_tokens;
}

async function runPolicy(policy, ratio) {
  log(`${policy}: starting 3 replicas (${modelDir})`);
  const replicas = await Promise.all([0, 1, 2].map(() => startReplica()));
  try {
    const urls = replicas.map((replica) => replica.url);
    ratio ??= await wordsPerToken(urls[0]);
    const words = Math.round(prefixTokens * ratio);
    const documents = Array.from({ length: prefixes }, (_, k) => {
      const rotate = (k * 37) % passage.length;
      return `Document ${k}. ${[...passage.slice(rotate), ...passage.slice(0, rotate)].slice(0, words).join(' ')}`;
    });
    const work = [];
    for (let m = 0; m < perPrefix; m += 1) for (const k of shuffled([...documents.keys()], 1000 + m)) work.push({ k, prompt: `${documents[k]}\nQuestion ${m}: what does part ${m + 1} say?` });
    // Warm each replica's ONNX Runtime with an unrelated short prompt (not a workload prefix).
    await Promise.all(urls.map((url) => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Warm up.', max_tokens: 2 }) }).then((response) => response.text())));
    const before = await Promise.all(urls.map(async (url) => ({ hits: await scrape(url, 'muai_kv_cache_hits_total'), misses: await scrape(url, 'muai_kv_cache_misses_total') })));

    const http = new HttpClient({ engine: 'muai', endpoints: urls, routing: { policy, prefixLength: 256, loadFactor: LOAD_FACTOR }, timeoutMs: 120_000 });
    const client = new OpenAiProtocolClient({ http, engine: 'muai' });
    const pool = http.pool;
    let violations = 0;
    let maxOutstanding = 0;
    const acquire = pool.acquire.bind(pool);
    pool.acquire = (exclude, key) => {
      // The pool picks and counts the request synchronously inside acquire (no await on the path
      // where a healthy endpoint exists), so snapshots taken right before and right after see
      // exactly this placement.
      const before = pool.snapshot();
      const bound = pool.loadBound(before);
      const pending = acquire(exclude, key);
      const after = pool.snapshot();
      after.forEach((state, index) => {
        if (state.outstanding <= before[index].outstanding) return;
        maxOutstanding = Math.max(maxOutstanding, state.outstanding);
        if (state.outstanding > bound) violations += 1;
      });
      return pending;
    };
    const ttfts = [];
    const e2es = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < work.length) {
          const item = work[next++];
          const sent = performance.now();
          let first;
          for await (const chunk of client.stream({ prompt: item.prompt, maxTokens, temperature: 0 }, 'default')) {
            if (first === undefined && chunk.text) first = performance.now();
          }
          ttfts.push((first ?? performance.now()) - sent);
          e2es.push(performance.now() - sent);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await Promise.all(urls.map(async (url) => ({ hits: await scrape(url, 'muai_kv_cache_hits_total'), misses: await scrape(url, 'muai_kv_cache_misses_total') })));
    const hits = after.reduce((sum, item, index) => sum + item.hits - before[index].hits, 0);
    const misses = after.reduce((sum, item, index) => sum + item.misses - before[index].misses, 0);
    const sorted = [...ttfts].sort((a, b) => a - b);
    const result = {
      policy,
      requests: work.length,
      hit_rate: round(hits / Math.max(1, hits + misses), 3),
      lookups: hits + misses,
      ttft_p50_ms: round(median(ttfts)),
      ttft_p90_ms: round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]),
      e2e_p50_ms: round(median(e2es)),
      requests_per_s: round(work.length / seconds),
      per_replica_requests: pool.snapshot().map((state) => state.served),
      max_outstanding: maxOutstanding,
      bound_violations: violations,
    };
    log(`${policy}: hit rate ${result.hit_rate}, TTFT p50 ${result.ttft_p50_ms} ms, per replica ${result.per_replica_requests.join('/')}, bound violations ${violations}`);
    return { result, ratio };
  } finally {
    await Promise.all(replicas.map((replica) => replica.stop()));
  }
}

log(`${prefixes} prefixes of ~${prefixTokens} tokens x ${perPrefix} suffixes, ${concurrency} clients, ${os.availableParallelism?.() ?? os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const results = {};
let ratio;
for (const policy of policies) {
  const run = await runPolicy(policy, ratio);
  ratio = run.ratio;
  results[policy] = run.result;
}
const affinity = results['prefix-affinity'];
const roundRobin = results['round-robin'];
const summary = {
  benchmark: 'prefix-routing',
  model: option('model', 'bench'),
  prefixes,
  per_prefix: perPrefix,
  prefix_tokens: prefixTokens,
  concurrency,
  max_tokens: maxTokens,
  load_factor: LOAD_FACTOR,
  policies: results,
  ...(affinity && roundRobin
    ? {
        hit_rate_ratio_vs_round_robin: round(affinity.hit_rate / Math.max(1e-9, roundRobin.hit_rate), 2),
        target_hit_rate_met: affinity.hit_rate >= 2 * roundRobin.hit_rate,
        target_ttft_met: affinity.ttft_p50_ms < roundRobin.ttft_p50_ms,
        target_bound_met: affinity.bound_violations === 0,
      }
    : {}),
};
if (json) console.log(JSON.stringify(summary));
else console.log(JSON.stringify(summary, null, 2));
