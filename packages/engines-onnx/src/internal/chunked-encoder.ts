/**
 * Tokenizes long prompts of SentencePiece-style BPE tokenizers (Llama's tokenizer.json: normalizer
 * Prepend('▁') + Replace(' ' -> '▁'), no pre-tokenizer) in chunks cut at spaces, each chunk's ids
 * cached. Such a tokenizer sees the whole prompt as one word: @huggingface/tokenizers' per-word
 * cache never applies (words over 256 characters are not cached), and a 1 000-token prompt costs
 * tens of milliseconds and ~11 MB of garbage on every request, which the decode steps that follow
 * then pay for in garbage collection. With chunks, a prompt that shares its beginning with an
 * earlier one (a system prompt, a document, a chat history) tokenizes only its new part.
 *
 * Exact, not approximate: when no merge joins a symbol ending in a character other than '▁' to one
 * starting with '▁' (checked on the merges at load), no token spans "x▁" with x not '▁', so BPE
 * of the text is the concatenation of BPE of its pieces cut before such a '▁'. A piece after the
 * first is " word ..." whose normalized form "▁word ..." is what encoding "word ..." gives
 * (Prepend), without special tokens. Load also checks the result against the plain encoding on a
 * sample text; any mismatch or unusual setup (other normalizers, a pre-tokenizer, special tokens
 * appended at the end, added tokens in the prompt) keeps the plain encoding.
 */

type Encode = (text: string, addSpecialTokens: boolean) => number[];

/** Characters per chunk before the next cut point is looked for. */
const CHUNK_CHARS = 256;
/** Cached chunks (about CHUNK_CHARS characters each). */
const CACHE_ENTRIES = 4096;

const SAMPLE =
  'The history of computing is a long story of people  building machines that help them think.\nEarly calculators used gears, levers ' +
  'and relays;   later ones used "vacuum tubes" (1940s) and transistors: 10, 20, 3.14! Each step made machines faster ▁ smaller ▁▁ and cheaper. ';

function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '▁';
}

export class ChunkedEncoder {
  private readonly encodeWith: Encode;
  private readonly addedTokens: readonly string[];
  private readonly cache = new Map<string, number[]>();

  private constructor(encodeWith: Encode, addedTokens: readonly string[]) {
    this.encodeWith = encodeWith;
    this.addedTokens = addedTokens;
  }

  /** A chunked encoder when the tokenizer allows exact chunking, else undefined. */
  static create(tokenizerJson: Record<string, unknown>, encodeWith: Encode): ChunkedEncoder | undefined {
    const normalizer = tokenizerJson['normalizer'] as { type?: string; normalizers?: Array<Record<string, unknown>> } | null | undefined;
    const steps = normalizer?.type === 'Sequence' ? normalizer.normalizers ?? [] : [];
    const llamaNormalizer =
      steps.length === 2 &&
      steps[0]?.['type'] === 'Prepend' &&
      steps[0]?.['prepend'] === '▁' &&
      steps[1]?.['type'] === 'Replace' &&
      (steps[1]?.['pattern'] as { String?: unknown } | undefined)?.String === ' ' &&
      steps[1]?.['content'] === '▁';
    const model = tokenizerJson['model'] as { type?: string; merges?: unknown[] } | undefined;
    if (!llamaNormalizer || tokenizerJson['pre_tokenizer'] != null || model?.type !== 'BPE' || !Array.isArray(model.merges)) return undefined;
    for (const merge of model.merges) {
      const [left, right] = Array.isArray(merge) ? (merge as string[]) : String(merge).split(' ', 2);
      if (typeof left !== 'string' || typeof right !== 'string') return undefined;
      if (right.startsWith('▁') && !left.endsWith('▁')) return undefined; // a token could span a cut
    }
    const added = Array.isArray(tokenizerJson['added_tokens'])
      ? (tokenizerJson['added_tokens'] as Array<{ content?: unknown }>).map((token) => token.content).filter((content): content is string => typeof content === 'string' && content !== '')
      : [];
    const encoder = new ChunkedEncoder(encodeWith, added);
    // Special tokens only before the text (BOS), never after it: otherwise chunks cannot be joined.
    const withSpecial = encodeWith('a b', true);
    const without = encodeWith('a b', false);
    if (withSpecial.length < without.length || withSpecial.slice(withSpecial.length - without.length).some((id, i) => id !== without[i])) return undefined;
    const sample = SAMPLE.repeat(4);
    for (const special of [true, false]) {
      const chunked = encoder.encodeChunks(sample, special, 64);
      const plain = encodeWith(sample, special);
      if (chunked.length !== plain.length || chunked.some((id, i) => id !== plain[i])) return undefined;
    }
    encoder.cache.clear();
    return encoder;
  }

  /** The ids of `text`, exactly as the tokenizer's own encoding. */
  encode(text: string, addSpecialTokens: boolean): number[] {
    if (text.length < 2 * CHUNK_CHARS || this.addedTokens.some((token) => text.includes(token))) return this.encodeWith(text, addSpecialTokens);
    return this.encodeChunks(text, addSpecialTokens, CHUNK_CHARS);
  }

  private encodeChunks(text: string, addSpecialTokens: boolean, chunkChars: number): number[] {
    const ids: number[] = [];
    let start = 0;
    while (start < text.length) {
      // Cut before a single space between two non-space characters, at least chunkChars in. The
      // cut depends only on the text up to one character past it, so prompts sharing a beginning
      // cut it the same way.
      let cut = start + chunkChars;
      while (cut < text.length && !(text[cut] === ' ' && !isSpace(text[cut - 1]) && text[cut + 1] !== undefined && !isSpace(text[cut + 1]) && text[cut + 1] !== '\n')) cut++;
      const first = start === 0;
      // A piece after the first starts with the space: "word ..." encodes as "▁word ..." (Prepend).
      const piece = first ? text.slice(0, cut) : text.slice(start + 1, cut);
      const key = `${first ? (addSpecialTokens ? 'S' : 'F') : 'R'}${piece}`;
      let chunk = this.cache.get(key);
      if (chunk === undefined) {
        chunk = this.encodeWith(piece, first && addSpecialTokens);
        if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(key, chunk);
      } else {
        // Most recently used last.
        this.cache.delete(key);
        this.cache.set(key, chunk);
      }
      for (const id of chunk) ids.push(id);
      start = cut;
    }
    return ids;
  }
}
