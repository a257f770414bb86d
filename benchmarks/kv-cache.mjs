// KV cache data movement: gathering a cached 512-token prefix into a left-padded batch row for every
// layer (readPrefixInto, one TypedArray.set per block and head) side by side with a naive
// per-element loop doing the same copy; plus scatter (writeFrom) and match (hash chain + verify).
//
//   npm run bench -- kv-cache [--json] [--prefix N] [--rounds R]
//
// Geometry like Qwen2.5-0.5B: 24 layers, 2 KV heads, head_dim 64, float16 (raw Uint16Array).
// Median of R rounds after warm-up, in microseconds per whole-prefix copy (all layers, key+value).
import { createKvCache } from '@muai/kv-cache';
import { json, logger, numberOption } from './_common.mjs';

const prefixTokens = numberOption('prefix', 512);
const rounds = numberOption('rounds', 15);
const log = logger('kv-cache');

const numLayers = 24;
const numKvHeads = 2;
const headDim = 64;
const padding = 7;
const totalLength = prefixTokens + 1 + padding;
const cache = createKvCache({ numLayers, numKvHeads, headDim, elementType: 'float16', maxMemoryBytes: 256 * 1024 * 1024 });
const prompt = Array.from({ length: prefixTokens + 1 }, (_, i) => (i * 7919) % 32000);

// Fill the cache once: a present tensor per layer/kind with the prompt's keys/values.
const presents = Array.from({ length: numLayers * 2 }, (_, i) => {
  const data = new Uint16Array(numKvHeads * (prefixTokens + 1) * headDim);
  for (let j = 0; j < data.length; j++) data[j] = (j * 31 + i) & 0xffff;
  return data;
});
const first = cache.match(prompt);
cache.append(first, prompt);
for (let layer = 0; layer < numLayers; layer++) {
  cache.writeFrom(first, layer, 'key', { data: presents[layer * 2], totalLength: prefixTokens + 1 });
  cache.writeFrom(first, layer, 'value', { data: presents[layer * 2 + 1], totalLength: prefixTokens + 1 });
}
cache.commit(first);
cache.release(first);
const sequence = cache.match(prompt);
if (sequence.cachedLength !== prefixTokens) throw new Error(`expected a ${prefixTokens}-token hit, got ${sequence.cachedLength}`);

// Targets: a batch of 4, our row at index 2, left padding 7.
const targets = Array.from({ length: numLayers * 2 }, () => new Uint16Array(4 * numKvHeads * totalLength * headDim));
const tableBlocks = sequence.blockIds;

function gather() {
  for (let layer = 0; layer < numLayers; layer++) {
    cache.readPrefixInto(sequence, layer, 'key', { data: targets[layer * 2], totalLength, batchIndex: 2, tokenOffset: padding });
    cache.readPrefixInto(sequence, layer, 'value', { data: targets[layer * 2 + 1], totalLength, batchIndex: 2, tokenOffset: padding });
  }
}

// The naive side copies the same bytes element by element from tensors of the same layout.
const flatSources = presents;
function naiveGather() {
  for (let k = 0; k < numLayers * 2; k++) {
    const source = flatSources[k];
    const target = targets[k];
    for (let head = 0; head < numKvHeads; head++) {
      for (let p = 0; p < prefixTokens; p++) {
        const from = (head * (prefixTokens + 1) + p) * headDim;
        const to = ((2 * numKvHeads + head) * totalLength + padding + p) * headDim;
        for (let d = 0; d < headDim; d++) target[to + d] = source[from + d];
      }
    }
  }
}

const scratch = cache.match([1]);
cache.append(scratch, prompt);
function scatter() {
  for (let layer = 0; layer < numLayers; layer++) {
    cache.writeFrom(scratch, layer, 'key', { data: presents[layer * 2], totalLength: prefixTokens + 1 });
    cache.writeFrom(scratch, layer, 'value', { data: presents[layer * 2 + 1], totalLength: prefixTokens + 1 });
  }
}

function matchAndRelease() {
  cache.release(cache.match(prompt));
}

function median(run, repeat) {
  for (let i = 0; i < 3; i++) run();
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < repeat; i++) run();
    samples.push(Number(process.hrtime.bigint() - start) / 1e3 / repeat);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

log(`prefix ${prefixTokens} tokens, ${tableBlocks.length} blocks of ${cache.blockSize}, block ${cache.blockBytes} bytes`);
const gatherUs = median(gather, 20);
log(`readPrefixInto (all layers, key+value): ${gatherUs.toFixed(1)} us`);
const naiveUs = median(naiveGather, 5);
log(`naive per-element gather: ${naiveUs.toFixed(1)} us`);
const scatterUs = median(scatter, 20);
log(`writeFrom (all layers, key+value): ${scatterUs.toFixed(1)} us`);
const matchUs = median(matchAndRelease, 200);
log(`match + release (${tableBlocks.length} block hashes + verify): ${matchUs.toFixed(1)} us`);

const result = {
  prefix_tokens: prefixTokens,
  bytes_copied: prefixTokens * numLayers * 2 * numKvHeads * headDim * 2,
  gather_us: Number(gatherUs.toFixed(1)),
  naive_gather_us: Number(naiveUs.toFixed(1)),
  gather_speedup_vs_naive: Number((naiveUs / gatherUs).toFixed(2)),
  scatter_us: Number(scatterUs.toFixed(1)),
  match_us: Number(matchUs.toFixed(1)),
};
if (!json) log(result);
console.log(JSON.stringify(result));
