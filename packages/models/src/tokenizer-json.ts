// The Hugging Face tokenizer files of a Llama SentencePiece-BPE vocabulary with byte fallback, in
// the layout of Meta's Llama 2 tokenizer.json: `▁` marks spaces, ids 0..2 are <unk>, <s>, </s>,
// 3..258 are the byte tokens <0x00>..<0xFF>. Read by @huggingface/tokenizers (the engine) and by
// transformers.js alike. Used by the llama2.c converter and by tools/model-gen.

export const UNK = '<unk>';
export const BOS = '<s>';
export const EOS = '</s>';

/** A vocabulary: tokens indexed by id, and merges in priority order (first = applied first). */
export interface BpeVocabulary {
  tokens: readonly string[];
  merges: ReadonlyArray<readonly [string, string]>;
}

function addedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** tokenizer.json (Hugging Face tokenizers format). Ids 0..2 must be <unk>, <s>, </s>. */
export function llamaTokenizerJson({ tokens, merges }: BpeVocabulary): Record<string, unknown> {
  if (tokens[0] !== UNK || tokens[1] !== BOS || tokens[2] !== EOS) throw new Error('special tokens must be ids 0..2');
  const vocab: Record<string, number> = {};
  tokens.forEach((token, id) => {
    vocab[token] = id;
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
      merges: merges.map(([left, right]) => [left, right]),
    },
  };
}

function specialEntry(content: string) {
  return { content, lstrip: false, normalized: false, rstrip: false, single_word: false };
}

/** tokenizer_config.json: LlamaTokenizer, BOS added, left padding; a chat template only when given. */
export function llamaTokenizerConfigJson(options: { maxLength: number; chatTemplate?: string }): Record<string, unknown> {
  const decoder: Record<string, unknown> = {};
  [UNK, BOS, EOS].forEach((token, id) => {
    decoder[String(id)] = { ...specialEntry(token), special: true };
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
    ...(options.chatTemplate !== undefined ? { chat_template: options.chatTemplate } : {}),
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: options.maxLength,
    padding_side: 'left',
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizer',
  };
}

/** special_tokens_map.json. */
export function llamaSpecialTokensMapJson(): Record<string, unknown> {
  return { bos_token: specialEntry(BOS), eos_token: specialEntry(EOS), pad_token: specialEntry(UNK), unk_token: specialEntry(UNK) };
}
