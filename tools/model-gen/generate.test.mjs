import { createHash } from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { env, AutoModelForCausalLM, AutoTokenizer } from '@huggingface/transformers';
import { generateModel, parseArgs, MANIFEST, SIZES, modelConfig } from './generate.mjs';
import { countParams, decodeModel } from '@muai/models';
import { argmax, forward, greedy, loadModel, logitsAt, positionsFromMask, presentsAsPast } from './ort-reference.mjs';
import { readWeights, referenceLogits } from './js-reference.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'model-gen-test-'));
const quiet = () => {};
const tinyDir = join(work, 'tiny');
const EOS = 2;

function hashDir(dir) {
  const out = {};
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p.slice(dir.length + 1)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A prompt of n ids from the tiny vocabulary (avoids the special ids 0..2). */
const promptOf = (n, salt = 0) => Array.from({ length: n }, (_, i) => 3 + ((i * 977 + salt * 131 + 17) % 4000));

beforeAll(() => {
  generateModel({ size: 'tiny', outDir: tinyDir, log: quiet });
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('folder layout and configs', () => {
  it('writes the transformers.js layout with a llama config matching the graph', () => {
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'onnx/model.onnx', MANIFEST]) {
      expect(existsSync(join(tinyDir, f)), f).toBe(true);
    }
    const config = JSON.parse(readFileSync(join(tinyDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', architectures: ['LlamaForCausalLM'], bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: false });
    expect(config.num_key_value_heads).toBeLessThan(config.num_attention_heads);
    expect(config.head_dim * config.num_attention_heads).toBe(config.hidden_size);
    const model = decodeModel(readFileSync(join(tinyDir, 'onnx', 'model.onnx')));
    expect(model.opsetImport.map((o) => [o.domain ?? '', o.version])).toEqual([['', 17]]);
    expect(model.graph.node.every((n) => !n.domain)).toBe(true); // standard ops only
    const embed = model.graph.initializer.find((t) => t.name === 'model.embed_tokens.weight');
    expect(embed.dims).toEqual([config.vocab_size, config.hidden_size]);
    const past = model.graph.input.find((i) => i.name === 'past_key_values.0.key');
    expect(past.type.tensorType.shape.dim.map((d) => d.dimParam ?? d.dimValue)).toEqual(['batch_size', config.num_key_value_heads, 'past_sequence_length', config.head_dim]);
    const present = model.graph.output.find((o) => o.name === 'present.1.value');
    expect(present.type.tensorType.shape.dim.map((d) => d.dimParam ?? d.dimValue)).toEqual(['batch_size', config.num_key_value_heads, 'total_sequence_length', config.head_dim]);
  });

  it('keeps tiny at a few MB and bench within the issue bounds', () => {
    const total = Object.values(JSON.parse(readFileSync(join(tinyDir, MANIFEST), 'utf8')).variants.fp32.files)[0];
    expect(total).toBeLessThan(4e6);
    const bench = modelConfig('bench');
    expect(countParams(bench)).toBeGreaterThanOrEqual(20e6);
    expect(bench.vocab_size).toBeGreaterThanOrEqual(8000);
    expect(bench.num_hidden_layers).toBeGreaterThanOrEqual(4);
    expect(bench.num_hidden_layers).toBeLessThanOrEqual(8);
    expect(bench.hidden_size).toBeGreaterThanOrEqual(384);
    expect(bench.hidden_size).toBeLessThanOrEqual(512);
    expect(bench.num_key_value_heads).toBeLessThan(bench.num_attention_heads);
    expect(Object.keys(SIZES)).toEqual(['tiny', 'small', 'bench']);
  });
});

describe('tokenizer', () => {
  const texts = ['Hello world', ' leading and  double spaces ', 'Ünïcødé ñ — 日本語のテキスト 🙂🚀', 'tabs\tand\nnew\r\nlines', '<|user|> [INST] markup <b>'];

  it('round-trips arbitrary text, including characters outside the vocabulary, through byte fallback', () => {
    const tok = new Tokenizer(
      JSON.parse(readFileSync(join(tinyDir, 'tokenizer.json'), 'utf8')),
      JSON.parse(readFileSync(join(tinyDir, 'tokenizer_config.json'), 'utf8')),
    );
    for (const text of texts) {
      const { ids } = tok.encode(text, { add_special_tokens: false });
      expect(ids.every((id) => id >= 0 && id < 4096)).toBe(true);
      expect(tok.decode(ids)).toBe(text);
    }
    const emoji = tok.encode('🙂', { add_special_tokens: false }).tokens;
    expect(emoji).toContain('<0xF0>'); // not in the vocabulary: bytes
    expect(tok.encode('Hello world').ids[0]).toBe(1); // BOS added
    expect(tok.encode('the cat sat on the mat', { add_special_tokens: false }).ids.length).toBeLessThan(10); // merges work
  });

  it('has a chat template that renders with @huggingface/jinja, with and without a generation prompt', () => {
    const cfg = JSON.parse(readFileSync(join(tinyDir, 'tokenizer_config.json'), 'utf8'));
    const t = new Template(cfg.chat_template);
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: ' What is AI? ' },
    ];
    const base = { messages, bos_token: cfg.bos_token, eos_token: cfg.eos_token };
    expect(t.render({ ...base, add_generation_prompt: true })).toBe('<s><|system|>\nBe brief.</s>\n<|user|>\nWhat is AI?</s>\n<|assistant|>\n');
    expect(t.render({ ...base, add_generation_prompt: false })).toBe('<s><|system|>\nBe brief.</s>\n<|user|>\nWhat is AI?</s>\n');
  });
});

describe('onnxruntime-node', () => {
  let model;
  beforeAll(async () => {
    model = await loadModel(tinyDir);
  });

  it('runs prefill and decode steps; present of a step is the past of the next', async () => {
    const { config } = model;
    const ids = promptOf(5);
    const prefill = await forward(model, [ids], [[1, 1, 1, 1, 1]], [[0, 1, 2, 3, 4]]);
    expect(prefill.logits.dims).toEqual([1, 5, config.vocab_size]);
    expect(prefill['present.0.key'].dims).toEqual([1, config.num_key_value_heads, 5, config.head_dim]);
    let out = prefill;
    let mask = [1, 1, 1, 1, 1];
    for (let step = 0; step < 4; step++) {
      const next = argmax(logitsAt(out, 0, out.logits.dims[1] - 1));
      const before = out['present.1.value'];
      mask = [...mask, 1];
      out = await forward(model, [[next]], [mask], [[mask.length - 1]], presentsAsPast(model, out));
      expect(out.logits.dims).toEqual([1, 1, config.vocab_size]);
      const after = out['present.1.value'];
      expect(after.dims[2]).toBe(mask.length);
      // the old cache is a prefix of the new one (Concat along the sequence axis), per KV head
      const [, kvh, oldT, d] = before.dims;
      for (let h = 0; h < kvh; h++) {
        const oldRows = before.data.subarray(h * oldT * d, (h + 1) * oldT * d);
        const newRows = after.data.subarray(h * (oldT + 1) * d, h * (oldT + 1) * d + oldT * d);
        expect(Array.from(newRows)).toEqual(Array.from(oldRows));
      }
    }
  });

  it('computes the same logits as an independent float64 Llama implementation', async () => {
    const ids = [1, ...promptOf(9, 3)];
    const out = await forward(model, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)]);
    const ref = referenceLogits(model.config, readWeights(tinyDir), ids);
    for (let s = 0; s < ids.length; s++) {
      expect(maxAbsDiff(logitsAt(out, 0, s), ref[s])).toBeLessThan(1e-4);
    }
    // and attention matters: changing an early token changes later logits
    const changed = [...ids];
    changed[1] = (changed[1] + 1) % 4096;
    const out2 = await forward(model, [changed], [ids.map(() => 1)], [ids.map((_, i) => i)]);
    expect(maxAbsDiff(logitsAt(out, 0, 9), logitsAt(out2, 0, 9))).toBeGreaterThan(1e-2);
  });

  it('gives the same logits with the KV cache as recomputed without it (decode and chunked prefill)', async () => {
    const ids = [1, ...promptOf(11, 5)];
    const full = await forward(model, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)]);
    // prefill 4, then a chunk of 3, then one token at a time
    const steps = [4, 3, 1, 1, 1, 1, 1];
    let past;
    let pos = 0;
    for (const n of steps) {
      const chunk = ids.slice(pos, pos + n);
      const out = await forward(model, [chunk], [ids.slice(0, pos + n).map(() => 1)], [chunk.map((_, i) => pos + i)], past);
      for (let i = 0; i < n; i++) {
        expect(maxAbsDiff(logitsAt(out, 0, i), logitsAt(full, 0, pos + i))).toBeLessThan(1e-4);
      }
      past = presentsAsPast(model, out);
      pos += n;
    }
    expect(pos).toBe(ids.length);
  });

  it('gives a left-padded batch the same logits as each prompt alone, without NaN in padded rows', async () => {
    const a = [1, ...promptOf(7, 1)];
    const b = [1, ...promptOf(3, 2)];
    const pad = a.length - b.length;
    const maskA = a.map(() => 1);
    const maskB = [...Array(pad).fill(0), ...b.map(() => 1)];
    const batchIds = [a, [...Array(pad).fill(0), ...b]];
    const batch = await forward(model, batchIds, [maskA, maskB], [positionsFromMask(maskA), positionsFromMask(maskB)]);
    for (let s = 0; s < a.length; s++) {
      for (const row of [0, 1]) expect(logitsAt(batch, row, s).every(Number.isFinite)).toBe(true);
    }
    const aloneA = await forward(model, [a], [maskA], [positionsFromMask(maskA)]);
    const aloneB = await forward(model, [b], [b.map(() => 1)], [b.map((_, i) => i)]);
    expect(maxAbsDiff(logitsAt(batch, 0, a.length - 1), logitsAt(aloneA, 0, a.length - 1))).toBeLessThan(1e-4);
    expect(maxAbsDiff(logitsAt(batch, 1, a.length - 1), logitsAt(aloneB, 0, b.length - 1))).toBeLessThan(1e-4);

    // decode 3 steps greedily in the batch and alone: same tokens, same logits
    const alone = [await greedy(model, a, 4), await greedy(model, b, 4)];
    let out = batch;
    let masks = [maskA, maskB];
    const got = [[], []];
    for (let step = 0; step < 4; step++) {
      const last = out.logits.dims[1] - 1;
      const next = [0, 1].map((r) => argmax(logitsAt(out, r, last)));
      next.forEach((t, r) => got[r].push(t));
      if (step === 3) break;
      masks = masks.map((m) => [...m, 1]);
      const positions = masks.map((m) => [positionsFromMask(m).at(-1)]);
      out = await forward(model, next.map((t) => [t]), masks, positions, presentsAsPast(model, out));
    }
    expect(got).toEqual(alone);
  });
});

describe('transformers.js', () => {
  beforeAll(() => {
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${work}/`;
  });

  async function compareGreedy(folder, dtype, file) {
    const tokenizer = await AutoTokenizer.from_pretrained(folder);
    const lm = await AutoModelForCausalLM.from_pretrained(folder, { dtype, device: 'cpu' });
    const text = tokenizer.apply_chat_template([{ role: 'user', content: 'What is AI?' }], { tokenize: false, add_generation_prompt: true });
    expect(text).toBe('<s><|user|>\nWhat is AI?</s>\n<|assistant|>\n');
    const inputs = tokenizer(text, { add_special_tokens: false });
    const prompt = inputs.input_ids.tolist()[0].map(Number);
    expect(prompt[0]).toBe(1);
    const output = await lm.generate({ ...inputs, max_new_tokens: 24, do_sample: false });
    const theirs = output.tolist()[0].map(Number).slice(prompt.length);
    const ours = await greedy(await loadModel(join(work, folder), file), prompt, 24, { eos: EOS });
    await lm.dispose();
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs).toEqual(ours);
    return ours;
  }

  it('loads the tiny model offline and generates greedily the same tokens as a plain onnxruntime loop', async () => {
    await compareGreedy(basename(tinyDir), 'fp32', 'model.onnx');
  });

  it('loads a model whose weights are in an external data file, with identical logits', async () => {
    const dir = join(work, 'tiny-ext');
    generateModel({ size: 'tiny', outDir: dir, externalData: true, log: quiet });
    expect(statSync(join(dir, 'onnx', 'model.onnx')).size).toBeLessThan(100_000);
    expect(statSync(join(dir, 'onnx', 'model.onnx_data')).size).toBeGreaterThan(2_000_000);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config['transformers.js_config']).toEqual({ use_external_data_format: { 'model.onnx': 1 } });
    const ids = [1, ...promptOf(6)];
    const feeds = [[ids], [ids.map(() => 1)], [ids.map((_, i) => i)]];
    const inline = await forward(await loadModel(tinyDir), ...feeds);
    const ext = await forward(await loadModel(dir), ...feeds);
    expect(Array.from(ext.logits.data)).toEqual(Array.from(inline.logits.data));
    await compareGreedy('tiny-ext', 'fp32', 'model.onnx');
  });

  it('fp16 variant: float16 weights, KV and logits; transformers.js agrees with onnxruntime', async () => {
    const dir = join(work, 'tiny-fp16');
    generateModel({ size: 'tiny', outDir: dir, log: quiet });
    generateModel({ size: 'tiny', outDir: dir, dtype: 'fp16', log: quiet });
    expect(existsSync(join(dir, 'onnx', 'model.onnx'))).toBe(true); // both variants side by side
    const m16 = await loadModel(dir, 'model_fp16.onnx');
    const ids = [1, ...promptOf(6)];
    const out = await forward(m16, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)]);
    expect(out.logits.type).toBe('float16');
    expect(out['present.0.key'].type).toBe('float16');
    const m32 = await loadModel(dir);
    const out32 = await forward(m32, [ids], [ids.map(() => 1)], [ids.map((_, i) => i)]);
    expect(maxAbsDiff(logitsAt(out, 0, 6), logitsAt(out32, 0, 6))).toBeLessThan(0.1);
    await compareGreedy('tiny-fp16', 'fp16', 'model_fp16.onnx');
  });
});

describe('determinism, --if-missing and the CLI', () => {
  it('writes byte-identical files for the same seed and different weights for another seed', () => {
    const again = join(work, 'again');
    generateModel({ size: 'tiny', outDir: again, log: quiet });
    expect(hashDir(again)).toEqual(hashDir(tinyDir));
    const other = join(work, 'other-seed');
    generateModel({ size: 'tiny', outDir: other, seed: 7, log: quiet });
    const h = hashDir(other);
    expect(h['onnx/model.onnx']).not.toBe(hashDir(tinyDir)['onnx/model.onnx']);
    expect(h['tokenizer.json']).toBe(hashDir(tinyDir)['tokenizer.json']);
  });

  it('skips a complete, up-to-date folder and regenerates an incomplete or different one', () => {
    const dir = join(work, 'ifmissing');
    expect(generateModel({ size: 'tiny', outDir: dir, ifMissing: true, log: quiet }).skipped).toBe(false);
    expect(generateModel({ size: 'tiny', outDir: dir, ifMissing: true, log: quiet }).skipped).toBe(true);
    rmSync(join(dir, 'tokenizer.json'));
    expect(generateModel({ size: 'tiny', outDir: dir, ifMissing: true, log: quiet }).skipped).toBe(false);
    expect(existsSync(join(dir, 'tokenizer.json'))).toBe(true);
    expect(generateModel({ size: 'tiny', outDir: dir, seed: 9, ifMissing: true, log: quiet }).skipped).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')).identity.seed).toBe(9);
  });

  it('two generators writing the same folder at once both succeed and leave complete files', async () => {
    const dir = join(work, 'concurrent');
    const script = join(here, 'generate.mjs');
    const run = () =>
      new Promise((done) => {
        const child = spawn(process.execPath, [script, '--size', 'tiny', '--out', dir], { stdio: 'ignore' });
        child.on('exit', (code) => done(code));
      });
    expect(await Promise.all([run(), run(), run()])).toEqual([0, 0, 0]);
    const want = hashDir(tinyDir);
    expect(hashDir(dir)).toEqual(want); // no leftover temporary files either
  });

  it('switching between inline and external weights leaves only the files the graph needs', () => {
    const dir = join(work, 'switch');
    generateModel({ size: 'tiny', outDir: dir, externalData: true, log: quiet });
    expect(existsSync(join(dir, 'onnx', 'model.onnx_data'))).toBe(true);
    generateModel({ size: 'tiny', outDir: dir, externalData: false, log: quiet });
    expect(readdirSync(join(dir, 'onnx'))).toEqual(['model.onnx']);
    expect(hashDir(dir)).toEqual(hashDir(tinyDir));
  });

  it('parses flags and rejects bad ones with the usage', () => {
    expect(parseArgs(['--size', 'small', '--seed=3', '--out', 'x', '--dtype', 'fp16', '--if-missing', '--no-external-data'])).toEqual({
      size: 'small', seed: 3, outDir: 'x', dtype: 'fp16', ifMissing: true, externalData: false,
    });
    expect(() => parseArgs(['--sise', 'tiny'])).toThrow(/unknown argument "--sise"[\s\S]*usage/);
    expect(() => parseArgs(['--seed', '-1'])).toThrow(/non-negative integer/);
    expect(() => generateModel({ size: 'huge', outDir: join(work, 'huge'), log: quiet })).toThrow(/unknown size "huge"/);
  });

  it('runs as a command: progress on stderr, exit code 1 on a bad size', () => {
    const script = join(here, 'generate.mjs');
    const dir = join(work, 'cli');
    const stderr = execFileSync(process.execPath, [script, '--size', 'tiny', '--out', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stderr).toBe('');
    expect(existsSync(join(dir, 'onnx', 'model.onnx'))).toBe(true);
    const bad = spawnSync(process.execPath, [script, '--size', 'huge', '--out', dir], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown size "huge": use one of tiny, small, bench/);
    const ok = spawnSync(process.execPath, [script, '--size', 'tiny', '--out', dir, '--if-missing'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stderr).toMatch(/up to date/);
  });
});
