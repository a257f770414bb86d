#!/usr/bin/env node
// Checks a generated (or any Llama-layout) model folder end to end:
//   node tools/model-gen/verify.mjs [DIR ...]        default: models/generated/{tiny,small,bench} that exist
// For each folder: onnxruntime-node prefill + decode, KV-cache logits == no-cache logits (1e-4),
// left-padded batch == each prompt alone (1e-4), and transformers.js (offline) greedy tokens ==
// a plain onnxruntime greedy loop. Exits 1 on the first failure.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { env, AutoModelForCausalLM, AutoTokenizer } from '@huggingface/transformers';
import { REPO_ROOT, SIZES } from './generate.mjs';
import { forward, greedy, loadModel, logitsAt, positionsFromMask, presentsAsPast } from './ort-reference.mjs';

const TOL = 1e-4;
const say = (line) => process.stderr.write(`[verify] ${line}\n`);

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function check(ok, what) {
  if (!ok) throw new Error(`FAILED: ${what}`);
  say(`ok: ${what}`);
}

async function verify(dir) {
  const t0 = performance.now();
  const model = await loadModel(dir);
  const { config } = model;
  const V = config.vocab_size;
  const ids = [1, ...Array.from({ length: 12 }, (_, i) => 3 + ((i * 7919 + 11) % (V - 3)))];
  const all = (n) => Array(n).fill(1);
  const range = (a, n) => Array.from({ length: n }, (_, i) => a + i);

  const full = await forward(model, [ids], [all(ids.length)], [range(0, ids.length)]);
  let worst = 0;
  let past;
  let pos = 0;
  for (const n of [5, 3, 1, 1, 1, 1, 1]) {
    const chunk = ids.slice(pos, pos + n);
    const out = await forward(model, [chunk], [all(pos + n)], [range(pos, n)], past);
    for (let i = 0; i < n; i++) worst = Math.max(worst, maxAbsDiff(logitsAt(out, 0, i), logitsAt(full, 0, pos + i)));
    past = presentsAsPast(model, out);
    pos += n;
  }
  check(worst < TOL, `KV-cache logits equal no-cache logits at ${ids.length} positions (max diff ${worst.toExponential(2)})`);

  const a = ids.slice(0, 9);
  const b = ids.slice(0, 1).concat(ids.slice(9));
  const pad = a.length - b.length;
  const maskB = [...Array(pad).fill(0), ...all(b.length)];
  const batch = await forward(model, [a, [...Array(pad).fill(0), ...b]], [all(a.length), maskB], [range(0, a.length), positionsFromMask(maskB)]);
  const aloneA = await forward(model, [a], [all(a.length)], [range(0, a.length)]);
  const aloneB = await forward(model, [b], [all(b.length)], [range(0, b.length)]);
  const dA = maxAbsDiff(logitsAt(batch, 0, a.length - 1), logitsAt(aloneA, 0, a.length - 1));
  const dB = maxAbsDiff(logitsAt(batch, 1, a.length - 1), logitsAt(aloneB, 0, b.length - 1));
  const finite = [0, 1].every((r) => range(0, a.length).every((s) => logitsAt(batch, r, s).every(Number.isFinite)));
  check(dA < TOL && dB < TOL && finite, `left-padded batch equals each prompt alone (max diff ${Math.max(dA, dB).toExponential(2)}), no NaN`);

  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${dirname(dir)}/`;
  const tokenizer = await AutoTokenizer.from_pretrained(basename(dir));
  const lm = await AutoModelForCausalLM.from_pretrained(basename(dir), { dtype: 'fp32', device: 'cpu' });
  const text = tokenizer.apply_chat_template([{ role: 'user', content: 'What is AI?' }], { tokenize: false, add_generation_prompt: true });
  const inputs = tokenizer(text, { add_special_tokens: false });
  const prompt = inputs.input_ids.tolist()[0].map(Number);
  const theirs = (await lm.generate({ ...inputs, max_new_tokens: 16, do_sample: false })).tolist()[0].map(Number).slice(prompt.length);
  await lm.dispose();
  const ours = await greedy(model, prompt, 16, { eos: config.eos_token_id });
  check(JSON.stringify(theirs) === JSON.stringify(ours), `transformers.js greedy == onnxruntime greedy (${ours.length} tokens: ${ours.join(' ')})`);
  say(`${dir}: all checks passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const dirs = process.argv.slice(2).map((d) => resolve(d));
if (dirs.length === 0) {
  for (const size of Object.keys(SIZES)) {
    const d = join(REPO_ROOT, 'models', 'generated', size);
    if (existsSync(join(d, 'config.json'))) dirs.push(d);
  }
}
if (dirs.length === 0) {
  say('no model folders: generate one with node tools/model-gen/generate.mjs --size tiny');
  process.exitCode = 1;
}
try {
  for (const d of dirs) {
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    say(`${d}: ${cfg.model_type}, hidden ${cfg.hidden_size}, ${cfg.num_hidden_layers} layers, vocab ${cfg.vocab_size}`);
    await verify(d);
  }
} catch (err) {
  say(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
