// Our engine (@muai/engines-onnx on a model folder's ONNX graph) against node-llama-cpp (llama.cpp
// on a GGUF file of the same weights), what Node users run locally today.
//
//   npm run bench -- llamacpp [--json] [--models bench,stories260K] [--dtypes fp32,q8,q4]
//        [--rounds R] [--new-tokens N] [--prefill-tokens P] [--threads T] [--llamacpp-threads T,1]
//        [--muai-threads T[,1]]
//
// - node-llama-cpp is pinned (benchmarks/anchors/package.json + lockfile, 3.21.1) and is NOT a
//   dependency of the workspace (~730 MB with its GPU variants): the first run installs it there
//   with `npm ci`; it runs with getLlama({ gpu: false, build: "never" }) (its prebuilt CPU binary).
// - GGUF files are written by tools/model-gen/gguf-export.mjs from the fp32 weights of the folder's
//   onnx/model.onnx into models/generated/gguf/ (F32, Q8_0, Q4_0 as ggml quantizes them) and
//   rewritten when the ONNX file is newer. Our q8/q4 are the folder's own onnx/model_quantized.onnx
//   and onnx/model_q4.onnx: reported as not available when the folder has none.
// - Each contender runs in its own child process; all are loaded, then the parent asks them in
//   turn (interleaved rounds, order rotating), so a burst of other people's load hits both sides of
//   a round about equally. Same prompt ids (our tokenizer; llama.cpp is fed the ids, so the GGUF's
//   tokenizer never decides anything), greedy, intra-op threads = cores for both.
// - decode tokens/s: the streamed tokens after the first one over the time since the first one
//   (prefill excluded), `new-tokens` tokens after a ~32-token prompt; prefill tokens/s: prompt
//   tokens over the time to the first token of a `prefill-tokens` prompt, from an empty cache.
// - Figures are medians over rounds with bootstrap 95 % intervals; ratios (ours over llama.cpp)
//   are taken per round, then their median and interval.
// - llama.cpp runs at threads = cores (the issue's setting, `llamacpp`) and, by default, also at
//   one thread (`llamacpp_1t`): its CPU threads split every operator's rows statically and meet at
//   a spinning barrier after each operator, so on a machine whose cores other processes also use
//   a descheduled thread stalls every step (seen here: 0.7-1.7 tok/s at 2 threads against 20-44
//   at 1 thread on the same file under a load average of 15-20); ONNX Runtime's pool hands out
//   work in chunks that an awake thread takes over. Both are reported; ratios are against each.
// - agreement: how many of the first 64 greedy tokens are equal, position by position, and the
//   length of the common prefix (after a first divergence the two continue different texts).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bootstrapMedianCi, cores, forkContender, serveContender, promptOfLength, streamTokenIds, ensureGeneratedModel, generatedModelsDir, json, logger, median, numberOption, option, passageWords, root, round } from './_common.mjs';

const log = logger('llamacpp');
const ANCHORS = join(root, 'benchmarks', 'anchors');
const LLAMA_VERSION = '3.21.1';
const ONNX_FILES = { fp32: 'model.onnx', q8: 'model_quantized.onnx', q4: 'model_q4.onnx' };
const GGUF_TYPES = { fp32: 'f32', q8: 'q8_0', q4: 'q4_0' };
const STORIES_DIR = join(root, 'packages', 'models', 'default-model', 'stories260K');

const modelDirOf = (name) => (name === 'stories260K' ? STORIES_DIR : ensureGeneratedModel(name, log));

// ---------------------------------------------------------------- child processes ----
if (option('child', undefined) !== undefined) {
  await child(option('child'), option('model-dir'), option('file'), option('dtype'), numberOption('threads', cores), numberOption('context', 1024));
} else {
  await parent();
}

async function child(kind, modelDir, file, dtype, threads, contextSize) {
  let generate; // (ids, text, maxTokens, onToken) => Promise<ids>
  let sessionInfo = {};
  let close;
  if (kind === 'muai') {
    const { createOnnxEngine } = await import('@muai/engines-onnx');
    const engine = createOnnxEngine({ intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    await engine.load({ name: 'm', path: modelDir, dtype });
    generate = async (_ids, text, maxTokens, onToken) => streamTokenIds(engine, 'm', text, maxTokens, onToken);
    close = () => engine.close();
  } else if (kind === 'llamacpp') {
    const { getLlama, LlamaLogLevel } = await import(pathToFileURL(join(ANCHORS, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href);
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    // batchSize covers the whole prefill prompt, as ONNX Runtime takes it in one run.
    const context = await model.createContext({ contextSize, batchSize: Math.min(contextSize, 512), threads, sequences: 1 });
    const sequence = context.getSequence();
    sessionInfo = { threads: context.currentThreads, batch_size: context.batchSize, context_size: context.contextSize };
    generate = async (ids, _text, maxTokens, onToken) => {
      await sequence.clearHistory();
      const out = [];
      for await (const token of sequence.evaluate(ids, { temperature: 0 })) {
        onToken();
        out.push(token);
        if (out.length >= maxTokens) break;
      }
      return out;
    };
    close = async () => {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    };
  } else {
    throw new Error(`unknown contender ${kind}`);
  }
  serveContender({
    close,
    info: sessionInfo,
    async handle(message) {
      const times = [];
      const cpu = [];
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const ids = await generate(message.ids, message.text, message.maxTokens, () => {
        times.push(performance.now());
        cpu.push(process.cpuUsage(cpuStart));
      });
      // CPU time of the whole process (every thread; spinning waits included): the work a token
      // costs, which other people's load inflates far less than it inflates wall time.
      const cpuMs = (usage) => (usage.user + usage.system) / 1000;
      return { ids, firstMs: times[0] - start, decodeMs: times.at(-1) - times[0], decoded: times.length - 1, firstCpuMs: cpuMs(cpu[0]), decodeCpuMs: cpuMs(cpu.at(-1)) - cpuMs(cpu[0]) };
    },
  });
}

/** A child process running one contender; `ask` sends one command and waits for its answer. */
function spawnContender(kind, args) {
  const flat = Object.entries(args).flatMap(([k, v]) => (v === undefined ? [] : [`--${k}`, String(v)]));
  return { kind, ...forkContender(join(root, 'benchmarks', 'llamacpp.mjs'), ['--child', kind, ...flat], kind) };
}

// ---------------------------------------------------------------- setup ----
/** Installs the pinned node-llama-cpp into benchmarks/anchors on first use (npm ci: the lockfile decides). */
function ensureAnchors() {
  const manifest = join(ANCHORS, 'node_modules', 'node-llama-cpp', 'package.json');
  if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === LLAMA_VERSION) return { installed_now: false };
  log(`installing node-llama-cpp ${LLAMA_VERSION} into benchmarks/anchors (npm ci, ~730 MB, once) ...`);
  const start = performance.now();
  // --ignore-scripts: its postinstall only checks for (or builds) a binary; the prebuilt
  // @node-llama-cpp/linux-x64 package is what getLlama({ build: "never" }) loads.
  execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: ANCHORS, stdio: ['ignore', 'ignore', 'inherit'] });
  return { installed_now: true, install_s: round((performance.now() - start) / 1000, 1) };
}

/** The GGUF of `modelDir`'s fp32 ONNX weights as `type`, written when missing or older than the ONNX file. */
function ensureGguf(name, modelDir, type) {
  const dir = join(generatedModelsDir, 'gguf');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${name}-${type}.gguf`);
  const source = join(modelDir, 'onnx', 'model.onnx');
  const sourceTime = Math.max(statSync(source).mtimeMs, existsSync(`${source}_data`) ? statSync(`${source}_data`).mtimeMs : 0);
  if (!existsSync(out) || statSync(out).mtimeMs < sourceTime || statSync(join(root, 'tools/model-gen/gguf-export.mjs')).mtimeMs > statSync(out).mtimeMs) {
    log(`writing ${out} ...`);
    execFileSync(process.execPath, [join(root, 'tools/model-gen/gguf-export.mjs'), modelDir, '--type', type, '--out', out, '--name', name], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return out;
}

function summary(values, digits = 2) {
  const clean = values.filter((v) => Number.isFinite(v));
  if (clean.length === 0) return { median: null, ci95: [null, null], n: 0 };
  return { median: round(median(clean), digits), ci95: bootstrapMedianCi(clean).map((v) => round(v, digits)), n: clean.length };
}

function agreement(a, b, n = 64) {
  const length = Math.min(n, a.length, b.length);
  let same = 0;
  let prefix = -1;
  for (let i = 0; i < length; i++) {
    if (a[i] === b[i]) same++;
    else if (prefix < 0) prefix = i;
  }
  return { compared: length, equal: same, common_prefix: prefix < 0 ? length : prefix };
}

// ---------------------------------------------------------------- parent ----
async function parent() {
  const models = option('models', 'bench,stories260K').split(',');
  const dtypes = option('dtypes', 'fp32,q8,q4').split(',');
  const rounds = numberOption('rounds', 5);
  const newTokens = numberOption('new-tokens', 64);
  const prefillTokens = numberOption('prefill-tokens', 512);
  const threads = numberOption('threads', cores);
  const muaiThreads = [...new Set(option('muai-threads', `${threads}`).split(',').map(Number))];
  const llamaThreads = [...new Set(option('llamacpp-threads', `${threads},1`).split(',').map(Number))];
  const loadStart = os.loadavg();
  const anchors = ensureAnchors();
  const { createOnnxEngine } = await import('@muai/engines-onnx');

  const results = {};
  for (const name of models) {
    const modelDir = modelDirOf(name);
    const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
    // Prompts: the shortest passage prefix of at least N tokens, tokenized by our tokenizer.
    const tokenizer = createOnnxEngine({ intraOpNumThreads: 1 });
    await tokenizer.load({ name: 'm', path: modelDir });
    const words = passageWords(80);
    const ids = (text) => tokenizer.encodeRequest({ model: 'm', prompt: text });
    const promptOf = (tokens) => promptOfLength(ids, words, tokens);
    const maxPositions = config.max_position_embeddings;
    const shortPrompt = promptOf(32);
    // stories260K was trained on 512 positions: its long prompt leaves room for the one token.
    const longPrompt = promptOf(Math.min(prefillTokens, maxPositions - 2));
    if (longPrompt.ids.length >= maxPositions) longPrompt.ids.length = maxPositions - 1; // never reached with this passage
    await tokenizer.close();
    const contextSize = Math.min(maxPositions, Math.max(1024, longPrompt.ids.length + 8));

    results[name] = { prompt_tokens: shortPrompt.ids.length, prefill_prompt_tokens: longPrompt.ids.length, dtypes: {} };
    for (const dtype of dtypes) {
      const onnxFile = join(modelDir, 'onnx', ONNX_FILES[dtype]);
      const ours = existsSync(onnxFile);
      const gguf = ensureGguf(name, modelDir, GGUF_TYPES[dtype]);
      const plan = [...(ours ? muaiThreads.map((t) => ({ label: t === threads ? 'muai' : `muai_${t}t`, kind: 'muai', threads: t })) : []), ...llamaThreads.map((t) => ({ label: t === threads ? 'llamacpp' : `llamacpp_${t}t`, kind: 'llamacpp', threads: t }))];
      const kinds = plan.map((p) => p.label);
      if (!ours) log(`${name}/${dtype}: ${ONNX_FILES[dtype]} does not exist in ${modelDir}/onnx: ours not available, llama.cpp alone`);
      log(`${name}/${dtype}: starting ${kinds.join(', ')} (one child process each) ...`);
      const contenders = plan.map((p) => ({ ...spawnContender(p.kind, { 'model-dir': modelDir, file: gguf, dtype, threads: p.threads, context: contextSize }), label: p.label }));
      const info = {};
      for (const c of contenders) {
        const ready = await c.ready;
        if (!ready.ready) throw new Error(`${c.label} (${name}/${dtype}) failed to start: ${ready.error}`);
        info[c.label] = ready.info;
      }
      const per = Object.fromEntries(kinds.map((k) => [k, { decode: [], prefill: [], decodeCpu: [], prefillCpu: [] }]));
      // The 64 compared tokens come from our engine and the fastest llama.cpp setting (1 thread when
      // it runs): llama.cpp's matrix-vector rows are split between threads, not the sums, so its
      // tokens do not depend on the thread count; the stalled threads = cores setting warms up short.
      const reference = kinds.find((k) => k.startsWith('llamacpp_1t')) ?? 'llamacpp';
      const firstIds = {};
      for (const c of contenders) {
        const warm = c.label === 'muai' || c.label === reference ? Math.max(64, newTokens) : 4;
        firstIds[c.label] = (await c.ask({ ids: shortPrompt.ids, text: shortPrompt.text, maxTokens: warm })).ids;
        await c.ask({ ids: longPrompt.ids, text: longPrompt.text, maxTokens: 1 });
      }
      for (let r = 0; r < rounds; r++) {
        const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
        for (const c of order) {
          const run = await c.ask({ ids: shortPrompt.ids, text: shortPrompt.text, maxTokens: newTokens });
          per[c.label].decode.push((run.decoded * 1000) / run.decodeMs);
          per[c.label].decodeCpu.push(run.decodeCpuMs / run.decoded);
          const pre = await c.ask({ ids: longPrompt.ids, text: longPrompt.text, maxTokens: 1 });
          per[c.label].prefill.push((longPrompt.ids.length * 1000) / pre.firstMs);
          per[c.label].prefillCpu.push((pre.firstCpuMs * 1000) / longPrompt.ids.length);
        }
        log(`${name}/${dtype} round ${r + 1}/${rounds}: ${kinds.map((k) => `${k} decode ${per[k].decode.at(-1).toFixed(1)} tok/s, prefill ${per[k].prefill.at(-1).toFixed(0)} tok/s`).join('; ')} (load ${os.loadavg()[0].toFixed(1)})`);
      }
      await Promise.all(contenders.map((c) => c.close()));
      const entry = {
        onnx_file: ours ? ONNX_FILES[dtype] : null,
        gguf_file: gguf.slice(root.length + 1),
        gguf_bytes: statSync(gguf).size,
        onnx_bytes: ours ? statSync(onnxFile).size + (existsSync(`${onnxFile}_data`) ? statSync(`${onnxFile}_data`).size : 0) : null,
        muai: null,
        not_available: ours ? undefined : `our ${dtype} variant (${ONNX_FILES[dtype]}) does not exist in this model folder`,
      };
      for (const k of kinds) {
        entry[k] = {
          ...info[k],
          decode_tokens_per_s: summary(per[k].decode),
          prefill_tokens_per_s: summary(per[k].prefill, 0),
          decode_cpu_ms_per_token: summary(per[k].decodeCpu, 3),
          prefill_cpu_us_per_token: summary(per[k].prefillCpu, 0),
        };
      }
      if (ours) {
        // ratio = muai over llamacpp (both threads = cores); ratio_vs_llamacpp_1t, ratio_muai_1t_vs_llamacpp_1t, ...
        for (const m of kinds.filter((l) => l.startsWith('muai'))) {
          for (const k of kinds.filter((l) => l.startsWith('llamacpp'))) {
            const ratio = (pick) => per[m][pick].map((v, i) => v / per[k][pick][i]);
            const suffix = `${m === 'muai' ? '' : `_${m}`}${k === 'llamacpp' ? '' : `_vs_${k}`}`;
            entry[`ratio${suffix}`] = summary(ratio('decode'), 3);
            entry[`prefill_ratio${suffix}`] = summary(ratio('prefill'), 3);
          }
        }
        entry.agreement_first_64 = { against: reference, ...agreement(firstIds.muai, firstIds[reference]) };
        entry.muai_first_ids = firstIds.muai.slice(0, 64);
        // Quantized variants: each side against its own fp32 tokens too (same scheme, same runtime).
        const fp32 = results[name].dtypes.fp32;
        if (dtype !== 'fp32' && fp32?.muai_first_ids) entry.muai_agreement_with_own_fp32 = agreement(firstIds.muai, fp32.muai_first_ids);
      }
      entry.llamacpp_first_ids = firstIds[reference].slice(0, 64);
      const fp32Llama = results[name].dtypes.fp32?.llamacpp_first_ids;
      if (dtype !== 'fp32' && fp32Llama) entry.llamacpp_agreement_with_own_fp32 = agreement(firstIds[reference], fp32Llama);
      results[name].dtypes[dtype] = entry;
      log(`${name}/${dtype}: ${JSON.stringify({ ...entry, muai_first_ids: undefined, llamacpp_first_ids: undefined })}`);
    }
  }

  const primary = results[models[0]]?.dtypes ?? {};
  const pick = (dtype, key) => primary[dtype]?.[key]?.median ?? null;
  const result = {
    benchmark: 'llamacpp',
    model: models[0],
    new_tokens: newTokens,
    rounds,
    threads,
    node_llama_cpp: LLAMA_VERSION,
    anchors,
    // Top-level: the first model (bench by default), ours over node-llama-cpp; null where ours is not available.
    ratio_fp32: pick('fp32', 'ratio'),
    ratio_fp32_ci95: primary.fp32?.ratio?.ci95 ?? null,
    ratio_q8: pick('q8', 'ratio'),
    ratio_q8_ci95: primary.q8?.ratio?.ci95 ?? null,
    ratio_q4: pick('q4', 'ratio'),
    ratio_q4_ci95: primary.q4?.ratio?.ci95 ?? null,
    prefill_ratio: pick('fp32', 'prefill_ratio'),
    prefill_ratio_ci95: primary.fp32?.prefill_ratio?.ci95 ?? null,
    // The same against llama.cpp on one thread (not stalled by other people's load; see the header).
    ratio_fp32_vs_1t: pick('fp32', 'ratio_vs_llamacpp_1t'),
    ratio_q8_vs_1t: pick('q8', 'ratio_vs_llamacpp_1t'),
    ratio_q4_vs_1t: pick('q4', 'ratio_vs_llamacpp_1t'),
    prefill_ratio_vs_1t: pick('fp32', 'prefill_ratio_vs_llamacpp_1t'),
    // Both on one thread (with --muai-threads T,1).
    ratio_fp32_1t_vs_1t: pick('fp32', 'ratio_muai_1t_vs_llamacpp_1t'),
    prefill_ratio_1t_vs_1t: pick('fp32', 'prefill_ratio_muai_1t_vs_llamacpp_1t'),
    llamacpp_threads: llamaThreads,
    agreement_fp32: primary.fp32?.agreement_first_64 ?? null,
    models: results,
    machine: { cores, arch: process.arch, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadavg_start: loadStart.map((l) => round(l)), loadavg_end: os.loadavg().map((l) => round(l)) },
    date: new Date().toISOString(),
  };
  // Against both llama.cpp settings: at threads = cores it is stalled by other people's load, so
  // the one-thread comparison is the one that says whether our kernels keep up.
  result.targets = {
    ratio_fp32_at_least_0_95: result.ratio_fp32 === null ? null : result.ratio_fp32 >= 0.95,
    ratio_fp32_vs_1t_at_least_0_95: result.ratio_fp32_vs_1t === null ? null : result.ratio_fp32_vs_1t >= 0.95,
  };
  if (!json) {
    for (const [name, model] of Object.entries(results)) {
      console.log(`${name} (prompt ${model.prompt_tokens} tokens, prefill prompt ${model.prefill_prompt_tokens})`);
      for (const [dtype, e] of Object.entries(model.dtypes)) {
        const fmt = (s) => (s ? `${s.median} [${s.ci95.join(', ')}]` : 'n/a');
        const labels = Object.keys(e).filter((k) => k === 'muai' || k.startsWith('llamacpp')).filter((k) => e[k] && e[k].decode_tokens_per_s);
        console.log(`  ${dtype.padEnd(5)} decode tok/s ${labels.map((k) => `${k} ${fmt(e[k].decode_tokens_per_s)}`).join(', ')}; ratio ${fmt(e.ratio)}, vs 1 thread ${fmt(e.ratio_vs_llamacpp_1t)}`);
        console.log(`        prefill tok/s ${labels.map((k) => `${k} ${fmt(e[k].prefill_tokens_per_s)}`).join(', ')}; ratio ${fmt(e.prefill_ratio)}, vs 1 thread ${fmt(e.prefill_ratio_vs_llamacpp_1t)}; agreement ${JSON.stringify(e.agreement_first_64 ?? null)}`);
      }
    }
  }
  console.log(JSON.stringify(result));
}
