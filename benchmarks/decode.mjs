// Decode speed: our embedded engine (@muai/engines-onnx) side by side with transformers.js
// (@huggingface/transformers, offline) on the generated `bench` model, in one process and one run.
//
//   npm run bench -- decode [--json] [--new-tokens N] [--reps R] [--warmup W] [--threads T] [--position-reps P]
//
// Both run the same fp32 graph through the same onnxruntime-node on the CPU, with the same prompt,
// greedy, the same number of new tokens and the same intra-op thread count (default: the
// machine's core count; inter-op 1). Each measured repetition runs both, alternating which goes
// first so that machine noise hits both; the medians are reported. Times are end to end as a user
// calls them: ours `engine.generate()` (tokenize, prefill, decode, detokenize); theirs
// tokenizer(prompt) + model.generate() + tokenizer.decode(new ids).
//
// ms_per_token_at_32 / ms_per_token_at_512: our decode step time around those positions, from
// streaming timestamps (prompt of position-8 tokens, 17 new tokens, the 16 gaps between tokens
// are steps at positions position-8 ... position+7; median over repetitions, interleaved).
// benchmarks/_decode-profile.mjs splits a step into session.run, the JS around it, and ONNX
// Runtime kernel time per operator at past 32 vs 512.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createOnnxEngine } from '@muai/engines-onnx';
import { cores, ensureGeneratedModel, gc, generatedModelsDir, json, logger, median, numberOption, round } from './_common.mjs';
import { env, AutoModelForCausalLM, AutoTokenizer } from '@huggingface/transformers';

const newTokens = numberOption('new-tokens', 64);
const reps = numberOption('reps', 7);
const warmup = numberOption('warmup', 2);
const threads = numberOption('threads', cores);
const positionReps = numberOption('position-reps', 6);
const log = logger('decode');

const modelsDir = generatedModelsDir;
const modelDir = ensureGeneratedModel('bench', log);
let params;
try {
  params = JSON.parse(readFileSync(join(modelDir, 'muai-model-gen.json'), 'utf8')).params;
} catch {
  params = undefined;
}
const sessionThreads = { intraOpNumThreads: threads, interOpNumThreads: 1 };

log(`loading bench with both engines (intra-op threads ${threads}, inter-op 1; ${cores} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
const engine = createOnnxEngine({ ...sessionThreads, graphOptimizationLevel: 'all' });
await engine.load({ name: 'bench', path: modelDir });

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = `${modelsDir}/`;
const tokenizer = await AutoTokenizer.from_pretrained('bench');
const model = await AutoModelForCausalLM.from_pretrained('bench', {
  dtype: 'fp32',
  device: 'cpu',
  session_options: { ...sessionThreads, graphOptimizationLevel: 'all' },
});

// ---- prompts ----
const passage =
  'The history of computing is a long story of people building machines that help them think. ' +
  'Early calculators used gears and levers, later machines used relays and vacuum tubes, and modern ' +
  'computers use billions of tiny transistors etched into silicon. Each step made machines faster, ' +
  'smaller and cheaper, and each step changed what people could do with them, from tabulating a ' +
  'census to landing on the moon, from sending letters across the world in an instant to teaching ' +
  'machines to read, listen and write. ';
const words = passage.repeat(40).trim().split(/\s+/);
const ourIds = (prompt) => engine.encodeRequest({ model: 'bench', prompt });
/** The shortest word prefix of the passage that tokenizes to at least `tokens` tokens. */
function promptOf(tokens) {
  let lo = 1;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ourIds(words.slice(0, mid).join(' ')).length >= tokens) hi = mid;
    else lo = mid + 1;
  }
  return words.slice(0, lo).join(' ');
}
const prompt = promptOf(32);
const promptIds = ourIds(prompt);
const theirPromptIds = tokenizer(prompt).input_ids.tolist()[0].map(Number);
if (JSON.stringify(promptIds) !== JSON.stringify(theirPromptIds)) {
  log(`WARNING: the two tokenizers disagree on the prompt (${promptIds.length} vs ${theirPromptIds.length} tokens)`);
}

// ---- one run of each ----
async function runOurs(text = prompt, maxTokens = newTokens) {
  gc();
  const start = performance.now();
  const result = await engine.generate({ model: 'bench', prompt: text, maxTokens, temperature: 0 });
  const ms = performance.now() - start;
  return { ms, ids: result.tokenIds ?? [], text: result.text };
}

async function runTheirs(text = prompt, maxTokens = newTokens, streamer = undefined) {
  gc();
  const start = performance.now();
  const inputs = tokenizer(text);
  const length = inputs.input_ids.dims[1];
  const output = await model.generate({ ...inputs, max_new_tokens: maxTokens, do_sample: false, ...(streamer ? { streamer } : {}) });
  const ids = output.tolist()[0].slice(length).map(Number);
  const decoded = tokenizer.decode(ids, { skip_special_tokens: true });
  const ms = performance.now() - start;
  return { ms, ids, text: decoded };
}

// ---- warm-up ----
log(`prompt: ${promptIds.length} tokens; ${newTokens} new tokens, greedy; warm-up ${warmup}, measured ${reps}`);
let ours;
let theirs;
for (let i = 0; i < warmup; i++) {
  ours = await runOurs();
  theirs = await runTheirs();
  log(`warm-up ${i + 1}: muai ${ours.ms.toFixed(0)} ms, transformers.js ${theirs.ms.toFixed(0)} ms`);
}
ours ??= await runOurs();
theirs ??= await runTheirs();
const sameTokens = JSON.stringify(ours.ids) === JSON.stringify(theirs.ids);
log(`same tokens: ${sameTokens} (muai ${ours.ids.length} tokens, transformers.js ${theirs.ids.length} tokens)`);
if (!sameTokens) {
  log(`  muai:            ${ours.ids.join(' ')}`);
  log(`  transformers.js: ${theirs.ids.join(' ')}`);
}
if (ours.ids.length !== newTokens || theirs.ids.length !== newTokens) {
  log(`WARNING: a run stopped before ${newTokens} tokens (end-of-sequence token); rates use the tokens actually generated`);
}

// ---- measured, alternating ----
const ourRates = [];
const theirRates = [];
for (let r = 0; r < reps; r++) {
  const order = r % 2 === 0 ? ['muai', 'transformers.js'] : ['transformers.js', 'muai'];
  const line = [];
  for (const who of order) {
    const run = who === 'muai' ? await runOurs() : await runTheirs();
    const rate = (run.ids.length * 1000) / run.ms;
    (who === 'muai' ? ourRates : theirRates).push(rate);
    line.push(`${who} ${rate.toFixed(1)} tok/s (${run.ms.toFixed(0)} ms)`);
  }
  log(`rep ${r + 1}/${reps}: ${line.join(', ')}`);
}
const ourRate = median(ourRates);
const theirRate = median(theirRates);

// ---- decode step time at positions (our engine; theirs for context) ----
// The four series (ours/theirs x 32/512) are interleaved, order rotating per repetition, so that a
// burst of machine load does not land on one position or one engine only.
async function ourGaps(text, window) {
  gc();
  const times = [];
  let promptTokens = 0;
  for await (const chunk of engine.stream({ model: 'bench', prompt: text, maxTokens: window + 1, temperature: 0 })) {
    if (chunk.tokenId !== undefined) times.push(performance.now());
    if (chunk.usage) promptTokens = chunk.usage.promptTokens;
  }
  return { gaps: times.slice(1).map((t, i) => t - times[i]), promptTokens };
}

async function theirGaps(text, window) {
  const times = [];
  let puts = 0;
  const streamer = {
    put() {
      if (puts++ > 0) times.push(performance.now()); // the first put is the prompt
    },
    end() {},
  };
  await runTheirs(text, window + 1, streamer);
  return { gaps: times.slice(1).map((t, i) => t - times[i]), promptTokens: 0 };
}

const window = 16;
const series = [];
for (const position of [32, 512]) {
  const text = promptOf(position - window / 2);
  series.push({ who: 'muai', position, text, run: ourGaps, gaps: [], promptTokens: 0 });
  series.push({ who: 'transformers.js', position, text, run: theirGaps, gaps: [], promptTokens: 0 });
}
log(`decode step time near positions 32 and 512 (${positionReps} repetitions of ${window} steps each, interleaved) ...`);
for (const entry of series) await entry.run(entry.text, window); // warm-up of each shape
for (let r = 0; r < positionReps; r++) {
  // Each engine's 32 and 512 runs back to back (their ratio sees the same load), order alternating.
  const pairs = [series.filter((e) => e.who === 'muai'), series.filter((e) => e.who === 'transformers.js')];
  if (r % 2 === 1) pairs.reverse();
  const order = pairs.flatMap((pair) => (r % 4 >= 2 ? [...pair].reverse() : pair));
  for (const entry of order) {
    const { gaps, promptTokens } = await entry.run(entry.text, window);
    entry.gaps.push(...gaps);
    entry.promptTokens = promptTokens;
  }
}
const stepMs = (who, position) => median(series.find((e) => e.who === who && e.position === position).gaps);
const at32 = { ms: stepMs('muai', 32), promptTokens: series[0].promptTokens };
const at512 = { ms: stepMs('muai', 512), promptTokens: series[2].promptTokens };
const their32 = { ms: stepMs('transformers.js', 32) };
const their512 = { ms: stepMs('transformers.js', 512) };
log(`muai: ${at32.ms.toFixed(2)} ms/token at 32 (prompt ${at32.promptTokens}), ${at512.ms.toFixed(2)} ms/token at 512 (prompt ${at512.promptTokens})`);
log(`transformers.js: ${their32.ms.toFixed(2)} ms/token at 32, ${their512.ms.toFixed(2)} ms/token at 512`);

await engine.close();
await model.dispose();

const result = {
  benchmark: 'decode',
  model: 'bench',
  params,
  prompt_tokens: promptIds.length,
  new_tokens: newTokens,
  reps,
  muai_tokens_per_s: round(ourRate),
  transformersjs_tokens_per_s: round(theirRate),
  ratio: round(ourRate / theirRate, 3),
  ms_per_token_at_32: round(at32.ms, 3),
  ms_per_token_at_512: round(at512.ms, 3),
  at_512_over_at_32: round(at512.ms / at32.ms, 3),
  transformersjs_ms_per_token_at_32: round(their32.ms, 3),
  transformersjs_ms_per_token_at_512: round(their512.ms, 3),
  same_tokens: sameTokens,
  threads: { muai: { intra_op: threads, inter_op: 1 }, transformersjs: { intra_op: threads, inter_op: 1 }, equal: true },
  targets: { ratio_at_least_1: ourRate / theirRate >= 1, at_512_over_at_32_at_most_1_5: at512.ms / at32.ms <= 1.5 },
  machine: { cores, arch: process.arch, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadavg: os.loadavg().map((l) => round(l)) },
  date: new Date().toISOString(),
};

if (!json) {
  const rows = [
    ['model', `bench (${params ?? '?'} params), prompt ${result.prompt_tokens} tokens, ${newTokens} new, greedy`],
    ['muai tokens/s (median)', String(result.muai_tokens_per_s)],
    ['transformers.js tokens/s (median)', String(result.transformersjs_tokens_per_s)],
    ['ratio (muai / transformers.js)', `${result.ratio}  (target >= 1.0: ${result.targets.ratio_at_least_1 ? 'met' : 'MISSED'})`],
    ['muai ms/token at 32', String(result.ms_per_token_at_32)],
    ['muai ms/token at 512', String(result.ms_per_token_at_512)],
    ['at 512 / at 32', `${result.at_512_over_at_32}  (target <= 1.5: ${result.targets.at_512_over_at_32_at_most_1_5 ? 'met' : 'MISSED'})`],
    ['transformers.js ms/token at 32 / 512', `${result.transformersjs_ms_per_token_at_32} / ${result.transformersjs_ms_per_token_at_512}`],
    ['same tokens', String(sameTokens)],
    ['threads', `intra-op ${threads}, inter-op 1 (both)`],
    ['machine', `${cores} cores ${process.arch}, node ${process.version}`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
}
console.log(JSON.stringify(result));
