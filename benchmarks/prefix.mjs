// Prefix reuse: time to first token of requests that share a 512-token prefix and differ in a
// short suffix, with the prefix not yet cached (cold) and cached (warm), on the generated `bench`
// model through our engine with the paged KV cache (@muai/kv-cache) on. One process, one run.
//
//   npm run bench -- prefix [--json] [--prefix-tokens 512] [--reps 5] [--threads T]
//
// Each repetition uses a new prefix (the passage rotated by a different word, so no block of it is
// cached yet): a cold request (prefix + suffix A) computes all ~520 tokens; then a warm request
// (the same prefix + suffix B) copies the 512 cached prefix tokens into its past and computes only
// its suffix. TTFT is the StreamChunk timings.ttftMs (request start to first token; tokenize,
// prefix copy, prefill, first pick). Cold and warm are medians over the repetitions. For context
// the engine without a cache is also timed on the warm prompts (`ttft_ms_no_cache`).
//
// The warm TTFT split into its parts (`warm_parts_ms`, medians): `prefix_copy` (cached blocks copied
// into the prefill's past, from the engine's batchStats), `suffix_prefill` (session.run over the
// suffix only), `other` (the rest: tokenizing, the first pick, bookkeeping). `tokenize_ms_plain` is
// what tokenizing the whole warm prompt costs with @huggingface/tokenizers directly (no chunk
// cache), the cost the engine no longer pays for a known prefix.
import os from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { createOnnxEngine } from '@muai/engines-onnx';
import { cores, ensureGeneratedModel, gc, json, logger, median, numberOption, passageWords, round } from './_common.mjs';

const prefixTokens = numberOption('prefix-tokens', 512);
const reps = numberOption('reps', 5);
const threads = numberOption('threads', cores);
const log = logger('prefix');

const modelDir = ensureGeneratedModel('bench', log);
const loadavg = os.loadavg().map((l) => l.toFixed(2)).join(' ');
log(`loading bench (intra-op threads ${threads}, inter-op 1; ${cores} cores, load ${loadavg})`);
const sessionThreads = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
const engine = createOnnxEngine({ ...sessionThreads, kvCache: { maxMemoryMb: 256 } });
await engine.load({ name: 'bench', path: modelDir });
const plain = createOnnxEngine(sessionThreads);
await plain.load({ name: 'bench', path: modelDir });

const plainTokenizer = new Tokenizer(JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')));
const passage = passageWords(12);
const ids = (prompt) => engine.encodeRequest({ prompt });
const suffixes = [' When did it start?', ' Why is silicon used?'];

/** A prefix of exactly `prefixTokens` tokens (BOS included) starting at word `rotate` of the passage, and its two prompts. */
function promptPair(rotate) {
  const words = [...passage.slice(rotate), ...passage.slice(0, rotate)];
  let count = 1;
  while (ids(words.slice(0, count).join(' ')).length < prefixTokens) count++;
  let prefix = words.slice(0, count).join(' ');
  // Trim characters until the prefix is exactly prefixTokens tokens.
  while (ids(prefix).length > prefixTokens) prefix = prefix.slice(0, -1);
  const prompts = suffixes.map((suffix) => prefix + suffix);
  const prefixIds = ids(prefix);
  for (const prompt of prompts) {
    if (JSON.stringify(ids(prompt).slice(0, prefixIds.length)) !== JSON.stringify(prefixIds)) throw new Error('a suffix changed the tokens of the prefix');
  }
  const a = ids(prompts[0]);
  const b = ids(prompts[1]);
  let common = 0;
  while (common < a.length && a[common] === b[common]) common++;
  return { prompts, common, lengths: [a.length, b.length] };
}

async function ttft(target, prompt) {
  gc();
  for await (const chunk of target.stream({ prompt, maxTokens: 1, temperature: 0 })) {
    if (chunk.timings) return chunk.timings.ttftMs;
  }
  throw new Error('no final chunk');
}

// Warm-up of both shapes (a long prefill, a short prefill over a long past) on a throwaway prefix.
{
  const { prompts } = promptPair(7);
  await ttft(engine, prompts[0]);
  await ttft(engine, prompts[1]);
  await ttft(plain, prompts[1]);
}
const cold = [];
const warm = [];
const noCache = [];
const parts = { prefix_copy: [], suffix_prefill: [], other: [] };
const tokenizePlain = [];
let shared = Infinity;
let same = true;
for (let r = 0; r < reps; r++) {
  const { prompts, common, lengths } = promptPair(20 + r * 13);
  shared = Math.min(shared, common);
  const before = engine.cacheStats('bench');
  const c = await ttft(engine, prompts[0]);
  const batchBefore = engine.batchStats('bench');
  const w = await ttft(engine, prompts[1]);
  const batchAfter = engine.batchStats('bench');
  const after = engine.cacheStats('bench');
  const copy = batchAfter.prefixCopyMs - batchBefore.prefixCopyMs;
  const run = batchAfter.prefillRunMs - batchBefore.prefillRunMs;
  parts.prefix_copy.push(copy);
  parts.suffix_prefill.push(run);
  parts.other.push(w - copy - run);
  gc();
  const tokenizeStart = performance.now();
  plainTokenizer.encode(prompts[1]);
  tokenizePlain.push(performance.now() - tokenizeStart);
  const n = await ttft(plain, prompts[1]);
  const hit = after.hitTokens - before.hitTokens;
  cold.push(c);
  warm.push(w);
  noCache.push(n);
  const [x, y] = await Promise.all([engine.generate({ prompt: prompts[1], maxTokens: 8 }), plain.generate({ prompt: prompts[1], maxTokens: 8 })]);
  same &&= JSON.stringify(x.tokenIds) === JSON.stringify(y.tokenIds);
  log(`rep ${r + 1}/${reps}: prompts ${lengths.join('/')} tokens, shared ${common}, reused ${hit}: cold ${c.toFixed(1)} ms, warm ${w.toFixed(1)} ms (copy ${copy.toFixed(1)}, suffix prefill ${run.toFixed(1)}, other ${(w - copy - run).toFixed(1)}; plain tokenizing would be ${tokenizePlain.at(-1).toFixed(1)}), no cache ${n.toFixed(1)} ms`);
}
const stats = engine.cacheStats('bench');
const coldMs = median(cold);
const warmMs = median(warm);
const result = {
  benchmark: 'prefix',
  model: 'bench',
  prefix_tokens: prefixTokens,
  shared_tokens: shared,
  suffix_tokens: suffixes.map((suffix) => ids(suffix).length - 1),
  reps,
  ttft_ms_cold: round(coldMs, 1),
  ttft_ms_warm: round(warmMs, 1),
  speedup: round(coldMs / warmMs),
  ttft_ms_no_cache: round(median(noCache), 1),
  warm_parts_ms: Object.fromEntries(Object.entries(parts).map(([name, values]) => [name, round(median(values), 2)])),
  tokenize_ms_plain: round(median(tokenizePlain), 2),
  target_speedup: 10,
  meets_target: coldMs / warmMs >= 10,
  same_tokens_with_and_without_cache: same,
  cache: { hitTokens: stats.hitTokens, missTokens: stats.missTokens, bytesUsed: stats.bytesUsed, bytesBudget: stats.bytesBudget, evictions: stats.evictions },
  threads,
  cores,
  loadavg_at_start: loadavg,
  loadavg_at_end: os.loadavg().map((l) => round(l)),
  node: process.version,
};
await engine.close();
await plain.close();
if (json) console.log(JSON.stringify(result));
else console.log(result);
