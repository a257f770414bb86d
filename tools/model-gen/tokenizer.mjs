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

const here = dirname(fileURLToPath(import.meta.url));
const SPECIAL_AND_BYTES = 3 + 256;

export const UNK = '<unk>';
export const BOS = '<s>';
export const EOS = '</s>';

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

function addedToken(id, content) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** tokenizer.json (Hugging Face tokenizers format) for a vocabulary from shrinkVocab. */
export function tokenizerJson({ tokens, merges }) {
  if (tokens[0] !== UNK || tokens[1] !== BOS || tokens[2] !== EOS) throw new Error('special tokens must be ids 0..2');
  const vocab = {};
  tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(0, UNK), addedToken(1, BOS), addedToken(2, EOS)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: BOS, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [BOS]: { id: BOS, ids: [1], tokens: [BOS] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: UNK,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

function specialEntry(content) {
  return { content, lstrip: false, normalized: false, rstrip: false, single_word: false };
}

export function tokenizerConfigJson(maxLength) {
  const decoder = {};
  [UNK, BOS, EOS].forEach((t, i) => {
    decoder[String(i)] = { ...specialEntry(t), special: true };
  });
  return {
    add_bos_token: true,
    add_eos_token: false,
    add_prefix_space: null,
    added_tokens_decoder: decoder,
    bos_token: BOS,
    eos_token: EOS,
    unk_token: UNK,
    pad_token: UNK,
    chat_template: CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: maxLength,
    padding_side: 'left',
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizer',
  };
}

export function specialTokensMapJson() {
  return { bos_token: specialEntry(BOS), eos_token: specialEntry(EOS), pad_token: specialEntry(UNK), unk_token: specialEntry(UNK) };
}
