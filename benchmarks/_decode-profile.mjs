// Where a decode step of our engine goes, near positions 32 and 512 (a helper of decode.mjs; not
// listed as a benchmark because its name starts with `_`):
//
//   node benchmarks/_decode-profile.mjs [--reps R] [--threads T]
//
// 1. Wraps onnxruntime-node's InferenceSession.prototype.run to time session.run inside each
//    engine.stream() step; the rest of the gap between two streamed tokens is the engine's JS
//    (feeds, argmax, detokenize, async plumbing). Beside it, interleaved, a bare decode loop on a
//    second session of the same graph (present fed back as past, nothing else): the graph's cost.
// 2. Runs the bench graph directly in a profiling ONNX Runtime session, one decode step at past 32
//    and at past 512, and sums the kernel time per operator type from the profile, so the part
//    that grows with the position shows by name.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { createOnnxEngine } from '@muai/engines-onnx';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modelDir = join(root, 'models', 'generated', 'bench');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 && args[index + 1] !== undefined ? Number(args[index + 1]) : fallback;
};
const reps = option('reps', 3);
const threads = option('threads', os.availableParallelism?.() ?? os.cpus().length);
const log = (...parts) => console.error('[decode-profile]', ...parts);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));

// ---- 1. session.run vs the JS around it, inside the engine ----
const runs = [];
const originalRun = ort.InferenceSession.prototype.run;
ort.InferenceSession.prototype.run = async function timedRun(...runArgs) {
  const start = performance.now();
  try {
    return await originalRun.apply(this, runArgs);
  } finally {
    runs.push({ start, end: performance.now() });
  }
};

const engine = createOnnxEngine({ intraOpNumThreads: threads, interOpNumThreads: 1 });
await engine.load({ name: 'bench', path: modelDir });
const words = 'The history of computing is a long story of people building machines that help them think. '.repeat(80).trim().split(/\s+/);
const promptOf = (tokens) => {
  let n = 1;
  while (engine.encodeRequest({ model: 'bench', prompt: words.slice(0, n).join(' ') }).length < tokens) n++;
  return words.slice(0, n).join(' ');
};

const kvHeads = config.num_key_value_heads;
const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
const layers = config.num_hidden_layers;

/** One engine.stream() of window+1 tokens: per decode step, the gap between tokens and session.run's share. */
async function engineSteps(prompt, window) {
  globalThis.gc?.();
  runs.length = 0;
  const times = [];
  for await (const chunk of engine.stream({ model: 'bench', prompt, maxTokens: window + 1, temperature: 0 })) {
    if (chunk.tokenId !== undefined) times.push(performance.now());
  }
  // runs[0] is the prefill; runs[i] produced token i.
  const steps = [];
  for (let i = 1; i < times.length; i++) steps.push({ gap: times[i] - times[i - 1], run: runs[i].end - runs[i].start });
  return steps;
}

// The same decode loop written directly on a second session of the same graph: prefill, then
// present fed back as past, one token per step, no sampling or text. What the graph alone costs.
// The engine's session options: no spinning intra-op threads (its default).
const raw = await ort.InferenceSession.create(join(modelDir, 'onnx', 'model.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } });
function rawFeeds(ids, previous, pastLength) {
  const n = ids.length;
  const total = pastLength + n;
  const feeds = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(pastLength + i)), [1, n]),
  };
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kind}`] = previous?.[`present.${l}.${kind}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
    }
  }
  return feeds;
}
async function rawSteps(promptIds, window) {
  globalThis.gc?.();
  let outputs = await raw.run(rawFeeds(promptIds, undefined, 0));
  let pastLength = promptIds.length;
  const steps = [];
  for (let s = 0; s < window; s++) {
    const start = performance.now();
    outputs = await raw.run(rawFeeds([100 + s], outputs, pastLength));
    steps.push({ gap: performance.now() - start, run: performance.now() - start });
    pastLength++;
  }
  return steps;
}

const window = 16;
const cases = [];
for (const position of [32, 512]) {
  const prompt = promptOf(position - window / 2);
  const ids = engine.encodeRequest({ model: 'bench', prompt });
  cases.push({ label: `engine ${position}`, position, kind: 'engine', go: () => engineSteps(prompt, window), steps: [] });
  cases.push({ label: `raw ${position}`, position, kind: 'raw', go: () => rawSteps(ids, window), steps: [] });
}
for (const entry of cases) await entry.go(); // warm-up
for (let r = 0; r < reps; r++) {
  for (let k = 0; k < cases.length; k++) {
    const entry = cases[(k + r) % cases.length];
    entry.steps.push(...(await entry.go()));
  }
}
const rows = cases.map((entry) => ({
  label: entry.label,
  position: entry.position,
  kind: entry.kind,
  gap: median(entry.steps.map((s) => s.gap)),
  run: median(entry.steps.map((s) => s.run)),
  js: median(entry.steps.map((s) => s.gap - s.run)),
  // The first decode step after the prefill, separately (cold caches after a large prefill).
  first: median(entry.steps.filter((_, i) => i % window === 0).map((s) => s.gap)),
}));
await engine.close();
await raw.release();
ort.InferenceSession.prototype.run = originalRun;
for (const row of rows) {
  if (row.kind === 'engine') {
    log(`engine step near ${row.position}: ${row.gap.toFixed(2)} ms per token = session.run ${row.run.toFixed(2)} ms + JS around it ${row.js.toFixed(2)} ms (first step after prefill ${row.first.toFixed(2)} ms)`);
  } else {
    log(`raw loop step near ${row.position}: session.run ${row.run.toFixed(2)} ms (first step after prefill ${row.first.toFixed(2)} ms)`);
  }
}
const ratioOf = (kind) => rows.find((r) => r.kind === kind && r.position === 512).gap / rows.find((r) => r.kind === kind && r.position === 32).gap;
log(`512 over 32: engine x${ratioOf('engine').toFixed(2)}, raw loop x${ratioOf('raw').toFixed(2)}`);

// ---- 2. ONNX Runtime kernel time per operator type at past 32 vs 512 ----

async function opProfile(past, steps = 20) {
  const prefix = join(os.tmpdir(), `muai-decode-profile-${process.pid}-${past}`);
  const session = await ort.InferenceSession.create(join(modelDir, 'onnx', 'model.onnx'), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  const feeds = {
    input_ids: new ort.Tensor('int64', BigInt64Array.of(100n), [1, 1]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(past + 1).fill(1n), [1, past + 1]),
    position_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(past)), [1, 1]),
  };
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value']) {
      const data = new Float32Array(kvHeads * past * headDim);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37 + l) * 0.5;
      feeds[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', data, [1, kvHeads, past, headDim]);
    }
  }
  const wall = [];
  for (let s = 0; s < steps; s++) {
    const start = performance.now();
    await session.run(feeds);
    wall.push(performance.now() - start);
  }
  session.endProfiling();
  await session.release();
  // onnxruntime-node writes <prefix>_<timestamp>.json and does not return the name.
  const written = readdirSync(os.tmpdir()).find((name) => name.startsWith(`${basename(prefix)}_`) && name.endsWith('.json'));
  let events = [];
  const path = written === undefined ? undefined : join(os.tmpdir(), written);
  if (path !== undefined) {
    events = JSON.parse(readFileSync(path, 'utf8'));
    rmSync(path, { force: true });
  }
  const byType = new Map();
  const byNode = new Map();
  for (const event of events) {
    if (event.cat !== 'Node' || !event.name.endsWith('_kernel_time')) continue;
    const type = event.args?.op_name ?? 'unknown';
    byType.set(type, (byType.get(type) ?? 0) + event.dur / steps / 1000);
    const node = event.name.replace(/_kernel_time$/, '');
    byNode.set(node, (byNode.get(node) ?? 0) + event.dur / steps / 1000);
  }
  return { past, wall: median(wall.slice(steps / 4)), byType, byNode, profiled: path !== undefined };
}

const at32 = await opProfile(32);
const at512 = await opProfile(512);
log(`profiling session, same past fed every step, median: past 32 ${at32.wall.toFixed(2)} ms, past 512 ${at512.wall.toFixed(2)} ms (x${(at512.wall / at32.wall).toFixed(2)})`);
if (!at32.profiled) {
  log('this onnxruntime-node build returned no profile file; no per-operator figures');
} else {
  const types = [...new Set([...at32.byType.keys(), ...at512.byType.keys()])].sort((a, b) => (at512.byType.get(b) ?? 0) - (at512.byType.get(a) ?? 0));
  const sum = (map) => [...map.values()].reduce((a, b) => a + b, 0);
  log(`kernel time per step by operator type (ms, sum over the ${layers} layers): past 32 -> past 512`);
  for (const type of types) {
    const a = at32.byType.get(type) ?? 0;
    const b = at512.byType.get(type) ?? 0;
    if (a < 0.05 && b < 0.05) continue;
    log(`  ${type.padEnd(22)} ${a.toFixed(2).padStart(7)} -> ${b.toFixed(2).padStart(7)}  (+${(b - a).toFixed(2)})`);
  }
  log(`  ${'total kernels'.padEnd(22)} ${sum(at32.byType).toFixed(2).padStart(7)} -> ${sum(at512.byType).toFixed(2).padStart(7)}`);
  const grown = [...at512.byNode.entries()].map(([node, ms]) => [node, ms - (at32.byNode.get(node) ?? 0)]).sort((a, b) => b[1] - a[1]).slice(0, 8);
  log('nodes that grow the most from past 32 to past 512 (ms per step):');
  for (const [node, ms] of grown) log(`  ${node.padEnd(50)} +${ms.toFixed(3)}`);
}
console.log(JSON.stringify({ steps: rows, profiled_run_ms: { past_32: at32.wall, past_512: at512.wall } }));
