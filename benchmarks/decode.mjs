// Decode speed on the generated `bench` model: our engine in process, our worker engine,
// transformers.js (@huggingface/transformers, offline, same folder) and a bare loop (one session,
// present fed back as past, nothing else: the floor the graph allows), for each weight dtype.
//
//   npm run bench -- decode [--json] [--dtypes fp32,q8,q4] [--rounds R] [--new-tokens N]
//        [--threads T] [--positions 32,512,1024,2048] [--contenders muai,worker,transformersjs,floor]
//        [--quantized-contenders muai,transformersjs,floor] [--spinning 0|1] [--node-flags=--no-incremental-marking]
//
// Method (this machine is shared, so it must survive other people's load):
// - every contender runs in its own child process (its own ONNX Runtime thread pools, heap and
//   GC); all of one dtype are loaded, then the parent asks them in turn, one at a time, to run a
//   measured piece (interleaved rounds, the order rotating each round), so a burst of load hits
//   every contender of a round about equally;
// - the same prompt (tokenized once by our tokenizer, checked against transformers.js's), greedy;
// - `tokens_per_s`: `newTokens` new tokens after a ~32-token prompt, end to end as a user calls it
//   (ours engine.generate; transformers.js tokenizer + generate + decode; the floor session.run
//   only); `step_ms_at_P`: median gap between streamed tokens at positions P .. P+15 (P .. P+63 at
//   512, whose tokens/s over those 64 steps is `tokens_per_s_at_512`);
// - every figure is the median over rounds with a bootstrap 95 % interval; every ratio is taken
//   per round (both sides measured minutes apart at most, seconds usually) and then its median and
//   interval are reported;
// - physical limit: the bytes of weights one decode step must read (every weight matrix once, one
//   embedding row) over the memory bandwidth measured in this run (copying a 512 MiB buffer, read
//   plus write bytes per second) = `bandwidth_limit_tokens_per_s`; `fraction_of_limit` = our
//   tokens/s over it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { cores, forkContender, nodeFlagsOption, serveContender, promptOfLength, streamTokenIds, ensureGeneratedModel, generatedModelsDir, json, logger, median, numberOption, option, passageWords, root, round } from './_common.mjs';

const log = logger('decode');
const FILES = { fp32: 'model.onnx', fp16: 'model_fp16.onnx', q8: 'model_quantized.onnx', q4: 'model_q4.onnx' };

// ---------------------------------------------------------------- child processes ----
if (option('child', undefined) !== undefined) {
  await child(option('child'), option('dtype', 'fp32'), numberOption('threads', cores));
} else {
  await parent();
}

async function child(kind, dtype, threads) {
  const modelDir = join(generatedModelsDir, 'bench');
  // The same session options for every contender (our engine's defaults: no spinning threads), so
  // that the ratios measure what each adds around session.run. `--spinning 1` turns it on for all.
  const spinning = option('spinning', '0');
  const sessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spinning }, inter_op: { allow_spinning: spinning } } },
  };
  let generate; // (ids, text, maxTokens, onToken?) => Promise<ids>
  let close = async () => {};
  if (kind === 'muai' || kind === 'worker') {
    const { createOnnxEngine, createOnnxWorkerEngine } = await import('@muai/engines-onnx');
    const engineOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', allowSpinning: spinning === '1' };
    const engine = kind === 'muai' ? createOnnxEngine(engineOptions) : createOnnxWorkerEngine(engineOptions);
    await engine.load({ name: 'bench', path: modelDir, dtype });
    generate = async (_ids, text, maxTokens, onToken) => {
      if (onToken === undefined) return (await engine.generate({ model: 'bench', prompt: text, maxTokens, temperature: 0 })).tokenIds ?? [];
      return streamTokenIds(engine, 'bench', text, maxTokens, onToken);
    };
    close = () => engine.close();
  } else if (kind === 'transformersjs') {
    const { env, AutoModelForCausalLM, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${generatedModelsDir}/`;
    const tokenizer = await AutoTokenizer.from_pretrained('bench');
    const model = await AutoModelForCausalLM.from_pretrained('bench', { dtype, device: 'cpu', session_options: sessionOptions });
    generate = async (_ids, text, maxTokens, onToken) => {
      const inputs = tokenizer(text);
      const length = inputs.input_ids.dims[1];
      let puts = 0;
      const streamer = onToken && { put: () => puts++ > 0 && onToken(), end() {} }; // the first put is the prompt
      const output = await model.generate({ ...inputs, max_new_tokens: maxTokens, do_sample: false, ...(streamer ? { streamer } : {}) });
      const ids = output.tolist()[0].slice(length).map(Number);
      tokenizer.decode(ids, { skip_special_tokens: true });
      return ids;
    };
    close = () => model.dispose();
  } else if (kind === 'floor') {
    // The bare loop: one session, prefill, then present fed back as past untouched, argmax.
    const ort = await import('onnxruntime-node');
    const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
    const session = await ort.InferenceSession.create(join(modelDir, 'onnx', FILES[dtype]), sessionOptions);
    const layers = config.num_hidden_layers;
    const kvHeads = config.num_key_value_heads;
    const headDim = config.head_dim;
    const vocab = config.vocab_size;
    const names = [];
    for (let l = 0; l < layers; l++) for (const kind of ['key', 'value']) names.push([`past_key_values.${l}.${kind}`, `present.${l}.${kind}`]);
    generate = async (ids, _text, maxTokens, onToken) => {
      let outputs;
      let tokens = ids;
      let past = 0;
      const out = [];
      while (out.length < maxTokens) {
        const n = tokens.length;
        const feeds = {
          input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, n]),
          attention_mask: new ort.Tensor('int64', new BigInt64Array(past + n).fill(1n), [1, past + n]),
          position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(past + i)), [1, n]),
        };
        for (const [pastName, presentName] of names) feeds[pastName] = outputs?.[presentName] ?? new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
        outputs = await session.run(feeds);
        const logits = outputs.logits.data;
        const offset = (n - 1) * vocab;
        let best = 0;
        for (let v = 1; v < vocab; v++) if (logits[offset + v] > logits[offset + best]) best = v;
        out.push(best);
        onToken?.();
        past += n;
        tokens = [best];
      }
      return out;
    };
    close = () => session.release();
  } else {
    throw new Error(`unknown contender ${kind}`);
  }
  serveContender({
    close,
    async handle(message) {
      if (message.cmd === 'tokens') {
        const start = performance.now();
        const ids = await generate(message.ids, message.text, message.maxTokens);
        return { ms: performance.now() - start, ids };
      }
      if (message.cmd === 'steps') {
        // CPU time of the whole process (every thread) over the decode steps only: what a step costs
        // in work, which other people's load does not inflate the way it inflates wall time.
        const times = [];
        const cpu = [];
        const ids = await generate(message.ids, message.text, message.window + 1, () => {
          times.push(performance.now());
          cpu.push(process.cpuUsage());
        });
        const cpuMsPerStep = (cpu.at(-1).user - cpu[0].user + cpu.at(-1).system - cpu[0].system) / 1000 / (times.length - 1);
        return { gaps: times.slice(1).map((t, i) => t - times[i]), cpuMsPerStep, ids };
      }
      throw new Error(`unknown command ${message.cmd}`);
    },
  });
}

/**
 * A child process running one contender; `ask` sends one command and waits for its answer. Every
 * contender gets the same `--node-flags` (`--no-incremental-marking`: what `muai serve` runs with,
 * RESULTS.md decode finding 5).
 */
function spawnContender(kind, dtype, threads) {
  const args = ['--child', kind, '--dtype', dtype, '--threads', String(threads), '--spinning', option('spinning', '0')];
  return { kind, dtype, ...forkContender(join(root, 'benchmarks', 'decode.mjs'), args, `${kind}/${dtype}`, nodeFlagsOption()) };
}

// ---------------------------------------------------------------- statistics ----
/** Median and bootstrap 95 % interval (percentile method, 2000 resamples, fixed seed). */
function summary(values, digits = 3) {
  const clean = values.filter((v) => Number.isFinite(v));
  if (clean.length === 0) return { median: null, ci95: [null, null], n: 0 };
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const medians = [];
  for (let i = 0; i < 2000; i++) medians.push(median(Array.from({ length: clean.length }, () => clean[Math.floor(random() * clean.length)])));
  medians.sort((a, b) => a - b);
  return { median: round(median(clean), digits), ci95: [round(medians[50], digits), round(medians[1949], digits)], n: clean.length };
}

/** Bytes copied per second (read + write) through a buffer far larger than the caches. */
function memoryBandwidth() {
  const bytes = 512 * 1024 * 1024;
  const a = new Float64Array(bytes / 8).fill(1);
  const b = new Float64Array(bytes / 8);
  const rates = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    b.set(a);
    rates.push((2 * bytes) / ((performance.now() - start) / 1000));
  }
  return Math.max(...rates); // the least disturbed copy: the machine's own figure, not the load's
}

/** Bytes of weights one decode step reads: every initializer except the embedding table, plus one embedding row. */
function weightBytesPerStep(dtype, config) {
  const dir = join(generatedModelsDir, 'bench', 'onnx');
  const file = join(dir, FILES[dtype]);
  let bytes = statSync(file).size;
  if (existsSync(`${file}_data`)) bytes += statSync(`${file}_data`).size;
  const embedding = config.vocab_size * config.hidden_size * 4; // kept float32 in every variant written by model-gen
  return bytes - embedding + config.hidden_size * 4;
}

// ---------------------------------------------------------------- parent ----
async function parent() {
  const dtypes = option('dtypes', 'fp32,q8,q4').split(',');
  const allKinds = option('contenders', 'muai,worker,transformersjs,floor').split(',');
  // The worker engine runs the same engine: measured on fp32 only unless asked for (keeps runs short).
  const quantizedKinds = option('quantized-contenders', allKinds.filter((k) => k !== 'worker').join(',')).split(',');
  const rounds = numberOption('rounds', 6);
  const newTokens = numberOption('new-tokens', 64);
  const threads = numberOption('threads', cores);
  const modelDir = ensureGeneratedModel('bench', log);
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
  const positions = option('positions', undefined)?.split(',').map(Number) ?? [32, 512, 1024, ...(config.max_position_embeddings >= 2048 + 80 ? [2048] : [])];
  const loadStart = os.loadavg();
  for (const dtype of dtypes) {
    if (!existsSync(join(modelDir, 'onnx', FILES[dtype]))) {
      log(`generating the ${dtype} variant ...`);
      const { execFileSync } = await import('node:child_process');
      execFileSync(process.execPath, [join(root, 'tools/model-gen/generate.mjs'), '--size', 'bench', '--dtype', dtype, '--if-missing'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    }
  }
  const bandwidth = memoryBandwidth();
  log(`memory bandwidth (copy of 512 MiB, read + write): ${(bandwidth / 1e9).toFixed(1)} GB/s; load ${loadStart.map((l) => l.toFixed(1)).join(' ')} on ${cores} cores`);

  // Prompts: the shortest passage prefix of at least N tokens, tokenized by our tokenizer in-process.
  const { createOnnxEngine } = await import('@muai/engines-onnx');
  const tokenizerEngine = createOnnxEngine({ intraOpNumThreads: 1 });
  await tokenizerEngine.load({ name: 'bench', path: modelDir });
  const words = passageWords(60);
  const ids = (text) => tokenizerEngine.encodeRequest({ prompt: text });
  const promptOf = (tokens) => promptOfLength(ids, words, tokens);
  const shortPrompt = promptOf(32);
  const windows = Object.fromEntries(positions.map((p) => [p, p === 512 ? 64 : 16]));
  // The first streamed token is picked by the prefill at position len-1; gap i is the step at len+i.
  const positionPrompts = Object.fromEntries(positions.map((p) => [p, promptOf(p)]));
  await tokenizerEngine.close();

  const results = {};
  for (const dtype of dtypes) {
    const kinds = dtype === 'fp32' || dtype === 'fp16' ? allKinds : quantizedKinds;
    log(`${dtype}: starting ${kinds.join(', ')} (one child process each) ...`);
    const contenders = kinds.map((kind) => spawnContender(kind, dtype, threads));
    for (const c of contenders) {
      const ready = await c.ready;
      if (!ready.ready) throw new Error(`${c.kind}/${dtype} failed to start: ${ready.error}`);
    }
    const perRound = Object.fromEntries(kinds.map((k) => [k, { tokensPerS: [], steps: Object.fromEntries(positions.map((p) => [p, []])), cpu: Object.fromEntries(positions.map((p) => [p, []])), tokensPerSAt512: [] }]));
    const firstIds = {};
    // Warm-up: each contender runs every shape once.
    for (const c of contenders) {
      firstIds[c.kind] = (await c.ask({ cmd: 'tokens', ids: shortPrompt.ids, text: shortPrompt.text, maxTokens: newTokens })).ids;
      for (const p of positions) await c.ask({ cmd: 'steps', ids: positionPrompts[p].ids, text: positionPrompts[p].text, window: windows[p] });
    }
    for (let r = 0; r < rounds; r++) {
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      if (r % 2 === 1) order.reverse();
      for (const c of order) {
        const run = await c.ask({ cmd: 'tokens', ids: shortPrompt.ids, text: shortPrompt.text, maxTokens: newTokens });
        perRound[c.kind].tokensPerS.push((run.ids.length * 1000) / run.ms);
      }
      for (const p of positions) {
        for (const c of order) {
          const run = await c.ask({ cmd: 'steps', ids: positionPrompts[p].ids, text: positionPrompts[p].text, window: windows[p] });
          perRound[c.kind].steps[p].push(median(run.gaps));
          perRound[c.kind].cpu[p].push(run.cpuMsPerStep);
          if (p === 512) perRound[c.kind].tokensPerSAt512.push((run.gaps.length * 1000) / run.gaps.reduce((a, b) => a + b, 0));
        }
      }
      log(`${dtype} round ${r + 1}/${rounds}: ${kinds.map((k) => `${k} ${perRound[k].tokensPerS.at(-1).toFixed(1)} tok/s, ${positions.map((p) => perRound[k].steps[p].at(-1).toFixed(2)).join('/')} ms (cpu ${positions.map((p) => perRound[k].cpu[p].at(-1).toFixed(2)).join('/')})`).join('; ')} (load ${os.loadavg()[0].toFixed(1)})`);
    }
    await Promise.all(contenders.map((c) => c.close()));

    const perRoundRatio = (a, b, pick) => perRound[a][pick].map((v, i) => v / perRound[b][pick][i]);
    const stepRatio = (k, p, q) => perRound[k].steps[p].map((v, i) => v / perRound[k].steps[q][i]);
    const entry = { contenders: {} };
    for (const k of kinds) {
      const e = { tokens_per_s: summary(perRound[k].tokensPerS, 2) };
      for (const p of positions) e[`step_ms_at_${p}`] = summary(perRound[k].steps[p]);
      for (const p of positions) e[`cpu_ms_per_step_at_${p}`] = summary(perRound[k].cpu[p]);
      if (positions.includes(512)) e.tokens_per_s_at_512 = summary(perRound[k].tokensPerSAt512, 2);
      if (positions.includes(512) && positions.includes(32)) e.at_512_over_at_32 = summary(stepRatio(k, 512, 32));
      if (positions.includes(1024) && positions.includes(32)) e.at_1024_over_at_32 = summary(stepRatio(k, 1024, 32));
      e.same_tokens_as_muai = firstIds.muai === undefined ? null : JSON.stringify(firstIds[k]) === JSON.stringify(firstIds.muai);
      entry.contenders[k] = e;
    }
    const has = (k) => kinds.includes(k);
    if (has('muai') && has('floor')) {
      entry.engine_over_floor = summary(perRoundRatio('muai', 'floor', 'tokensPerS'));
      if (positions.includes(512)) entry.engine_over_floor_at_512 = summary(perRoundRatio('muai', 'floor', 'tokensPerSAt512'));
      // The same comparison in CPU time per step (floor over engine: > 1 means the engine works less).
      for (const p of positions) entry[`floor_cpu_over_engine_cpu_at_${p}`] = summary(perRound.floor.cpu[p].map((v, i) => v / perRound.muai.cpu[p][i]));
      if (has('worker')) {
        entry.worker_over_floor = summary(perRoundRatio('worker', 'floor', 'tokensPerS'));
        if (positions.includes(512)) entry.worker_over_floor_at_512 = summary(perRoundRatio('worker', 'floor', 'tokensPerSAt512'));
      }
    }
    if (has('muai') && has('transformersjs')) {
      entry.ratio = summary(perRoundRatio('muai', 'transformersjs', 'tokensPerS'));
      if (positions.includes(512)) entry.ratio_at_512 = summary(perRoundRatio('muai', 'transformersjs', 'tokensPerSAt512'));
    }
    const bytes = weightBytesPerStep(dtype, config);
    entry.weight_bytes_per_step = bytes;
    entry.bandwidth_limit_tokens_per_s = round(bandwidth / bytes, 1);
    if (has('muai')) entry.fraction_of_limit = round(entry.contenders.muai.tokens_per_s.median / entry.bandwidth_limit_tokens_per_s, 3);
    results[dtype] = entry;
    log(`${dtype}: ${JSON.stringify(entry)}`);
  }

  const fp32 = results.fp32;
  const muai = fp32?.contenders.muai;
  const floor = fp32?.contenders.floor;
  const result = {
    benchmark: 'decode',
    model: 'bench',
    prompt_tokens: shortPrompt.ids.length,
    new_tokens: newTokens,
    rounds,
    positions,
    threads: { intra_op: threads, inter_op: 1, allow_spinning: option('spinning', '0') === '1' },
    node_flags: nodeFlagsOption(),
    // Top-level fields: fp32, as before (medians; intervals in `dtypes`).
    muai_tokens_per_s: muai?.tokens_per_s.median ?? null,
    transformersjs_tokens_per_s: fp32?.contenders.transformersjs?.tokens_per_s.median ?? null,
    floor_tokens_per_s: floor?.tokens_per_s.median ?? null,
    ratio: fp32?.ratio?.median ?? null,
    ratio_ci95: fp32?.ratio?.ci95 ?? null,
    ratio_at_512: fp32?.ratio_at_512?.median ?? null,
    engine_over_floor: fp32?.engine_over_floor?.median ?? null,
    engine_over_floor_ci95: fp32?.engine_over_floor?.ci95 ?? null,
    engine_over_floor_at_512: fp32?.engine_over_floor_at_512?.median ?? null,
    engine_over_floor_at_512_ci95: fp32?.engine_over_floor_at_512?.ci95 ?? null,
    worker_over_floor: fp32?.worker_over_floor?.median ?? null,
    worker_over_floor_at_512: fp32?.worker_over_floor_at_512?.median ?? null,
    ms_per_token_at_32: muai?.step_ms_at_32?.median ?? null,
    ms_per_token_at_512: muai?.step_ms_at_512?.median ?? null,
    at_512_over_at_32: muai?.at_512_over_at_32?.median ?? null,
    floor_at_512_over_at_32: floor?.at_512_over_at_32?.median ?? null,
    bandwidth_gb_per_s: round(bandwidth / 1e9, 2),
    bandwidth_limit_tokens_per_s: fp32?.bandwidth_limit_tokens_per_s ?? null,
    fraction_of_limit: fp32?.fraction_of_limit ?? null,
    q8_over_fp32: results.q8 && muai ? round(results.q8.contenders.muai.tokens_per_s.median / muai.tokens_per_s.median, 3) : null,
    q4_over_fp32: results.q4 && muai ? round(results.q4.contenders.muai.tokens_per_s.median / muai.tokens_per_s.median, 3) : null,
    dtypes: results,
    machine: { cores, arch: process.arch, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadavg_start: loadStart.map((l) => round(l)), loadavg_end: os.loadavg().map((l) => round(l)) },
    date: new Date().toISOString(),
  };
  result.targets = {
    engine_over_floor_at_least_0_95: result.engine_over_floor === null ? null : result.engine_over_floor >= 0.95,
    engine_over_floor_at_512_at_least_0_95: result.engine_over_floor_at_512 === null ? null : result.engine_over_floor_at_512 >= 0.95,
    ratio_at_least_1_low_end_0_97: result.ratio === null ? null : result.ratio >= 1 && result.ratio_ci95[0] >= 0.97,
    ratio_at_512_at_least_1: result.ratio_at_512 === null ? null : result.ratio_at_512 >= 1,
    at_512_over_at_32_within_floor_plus_0_05: result.at_512_over_at_32 === null || result.floor_at_512_over_at_32 === null ? null : result.at_512_over_at_32 <= result.floor_at_512_over_at_32 + 0.05,
    q8_at_least_1_6x_fp32: result.q8_over_fp32 === null ? null : result.q8_over_fp32 >= 1.6,
  };
  if (!json) {
    for (const [dtype, entry] of Object.entries(results)) {
      console.log(`${dtype}: limit ${entry.bandwidth_limit_tokens_per_s} tok/s (${entry.weight_bytes_per_step} weight bytes per step)`);
      for (const [k, e] of Object.entries(entry.contenders)) {
        console.log(`  ${k.padEnd(15)} ${String(e.tokens_per_s.median).padStart(8)} tok/s [${e.tokens_per_s.ci95.join(', ')}]  steps ${positions.map((p) => `${p}: ${e[`step_ms_at_${p}`].median} ms`).join(', ')}`);
      }
      for (const key of ['engine_over_floor', 'engine_over_floor_at_512', 'worker_over_floor', 'worker_over_floor_at_512', 'ratio', 'ratio_at_512']) {
        if (entry[key]) console.log(`  ${key.padEnd(26)} ${entry[key].median} [${entry[key].ci95.join(', ')}]`);
      }
    }
  }
  console.log(JSON.stringify(result));
}

