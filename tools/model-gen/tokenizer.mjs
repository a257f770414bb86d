// Builds the tokenizer files of a generated model from the vendored Llama BPE vocabulary.
//
// A vocabulary smaller than the source keeps: the 3 special tokens, the 256 byte-fallback tokens
// <0x00>..<0xFF> (so any text still tokenizes), the most frequent single characters, and then the
// results of the highest-priority merges whose two parts are already kept. Only merges whose parts
// and result are all kept survive. Ids are renumbered in the source's id order, so 0..258 keep
// their meaning (<unk>, <s>, </s>, bytes).
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BOS, EOS, llamaSpecialTokensMapJson, llamaTokenizerConfigJson, llamaTokenizerJson, UNK } from '@muai/models';

const here = dirname(fileURLToPath(import.meta.url));
const SPECIAL_AND_BYTES = 3 + 256;

export { BOS, EOS, UNK };

/**
 * Zephyr-style chat template: role markers are plain text, turns end with the EOS token, and
 * add_generation_prompt opens the assistant turn. Rendered by @huggingface/jinja.
 */
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}" +
  "{% if message['role'] == 'system' or message['role'] == 'user' or message['role'] == 'assistant' %}" +
  "{{ '<|' + message['role'] + '|>\\n' + (message['content'] | trim) + eos_token + '\\n' }}" +
  "{% else %}{{ raise_exception('Unknown role: ' + message['role']) }}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

let cachedSource;
/** The vendored source vocabulary: { vocab: string[], merges: string[] ("a b") }. */
export function loadSourceVocab() {
  if (!cachedSource) {
    const raw = gunzipSync(readFileSync(join(here, 'data', 'llama-bpe.json.gz')));
    cachedSource = JSON.parse(raw.toString('utf8'));
  }
  return cachedSource;
}

/**
 * Chooses a vocabulary of exactly `size` tokens (or the whole source when size >= its size).
 * @returns {{ tokens: string[], merges: [string, string][] }} tokens indexed by new id.
 */
export function shrinkVocab(size) {
  const { vocab, merges } = loadSourceVocab();
  if (!Number.isInteger(size) || size < SPECIAL_AND_BYTES + 64) {
    throw new Error(`vocabulary size must be an integer >= ${SPECIAL_AND_BYTES + 64}, got ${size}`);
  }
  if (size >= vocab.length) {
    return { tokens: vocab.slice(), merges: merges.map((m) => m.split(' ')) };
  }
  const keep = new Set(vocab.slice(0, SPECIAL_AND_BYTES));
  // Single characters, most frequent first (the source orders them by score).
  const singles = [];
  for (let id = SPECIAL_AND_BYTES; id < vocab.length; id++) {
    const t = vocab[id];
    if ([...t].length === 1) singles.push(t);
  }
  const budgetSingles = Math.min(singles.length, Math.max(96, Math.floor((size - SPECIAL_AND_BYTES) * 0.1)));
  for (const t of singles.slice(0, budgetSingles)) keep.add(t);
  const sourceIds = new Map(vocab.map((t, i) => [t, i]));
  for (const m of merges) {
    if (keep.size >= size) break;
    const [a, b] = m.split(' ');
    const merged = a + b;
    if (keep.has(a) && keep.has(b) && !keep.has(merged) && sourceIds.has(merged)) keep.add(merged);
  }
  const tokens = [...keep].sort((x, y) => sourceIds.get(x) - sourceIds.get(y));
  const kept = [];
  for (const m of merges) {
    const [a, b] = m.split(' ');
    if (keep.has(a) && keep.has(b) && keep.has(a + b)) kept.push([a, b]);
  }
  return { tokens, merges: kept };
}

/** tokenizer.json (Hugging Face tokenizers format) for a vocabulary from shrinkVocab. */
export function tokenizerJson(vocabulary) {
  return llamaTokenizerJson(vocabulary);
}

/** tokenizer_config.json with the Zephyr-style chat template. */
export function tokenizerConfigJson(maxLength) {
  return llamaTokenizerConfigJson({ maxLength, chatTemplate: CHAT_TEMPLATE });
}

export const specialTokensMapJson = llamaSpecialTokensMapJson;
