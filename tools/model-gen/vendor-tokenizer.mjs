#!/usr/bin/env node
// One-off maintenance script: rebuilds data/llama-bpe.json.gz (the vocabulary and merges the
// generator derives every tokenizer from) out of a Llama SentencePiece-BPE tokenizer.json.
//
//   node tools/model-gen/vendor-tokenizer.mjs [path/to/tokenizer.json]
//
// The generator itself never reads anything outside tools/model-gen, so it works on a fresh
// machine with no network. See data/SOURCE.md for where the default input comes from.
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = process.argv[2] ?? new URL('../../packages/engines-onnx/test/fixtures/models/tiny-random-llama-fp16/tokenizer.json', import.meta.url).pathname;
const tok = JSON.parse(readFileSync(source, 'utf8'));
if (tok.model?.type !== 'BPE' || tok.model.byte_fallback !== true) {
  throw new Error(`${source}: expected a BPE tokenizer with byte_fallback`);
}
const vocab = [];
for (const [token, id] of Object.entries(tok.model.vocab)) vocab[id] = token;
for (let i = 0; i < vocab.length; i++) {
  if (typeof vocab[i] !== 'string') throw new Error(`${source}: vocabulary id ${i} is missing`);
}
const merges = tok.model.merges.map((m) => {
  const pair = Array.isArray(m) ? m : m.split(' ');
  if (pair.length !== 2 || pair.some((p) => p.includes(' '))) throw new Error(`unexpected merge ${JSON.stringify(m)}`);
  return pair.join(' ');
});
const out = join(here, 'data', 'llama-bpe.json.gz');
const json = JSON.stringify({ source: 'Llama SentencePiece BPE (32000, byte_fallback)', vocab, merges });
writeFileSync(out, gzipSync(json, { level: 9 }));
process.stderr.write(`wrote ${out}: ${vocab.length} tokens, ${merges.length} merges\n`);
