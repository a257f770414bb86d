/**
 * The deterministic "model" behind the stand-in servers: a token is a whitespace-separated word,
 * and the answer to a prompt is its words in reverse order. Greedy and sampled runs agree.
 */
export interface StandInGeneration {
  /** Tokens produced, each with the separator that precedes it (" word" after the first). */
  pieces: string[];
  text: string;
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
}

export function standInTokens(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/** The stand-in model's answer, honouring max tokens and stop strings like a real server. */
export function standInGenerate(prompt: string, maxTokens: number | undefined, stop: readonly string[] = []): StandInGeneration {
  const promptWords = standInTokens(prompt);
  const answer = [...promptWords].reverse();
  const pieces: string[] = [];
  let text = '';
  let finishReason: 'stop' | 'length' = 'stop';
  for (const [index, word] of answer.entries()) {
    if (maxTokens !== undefined && pieces.length >= maxTokens) {
      finishReason = 'length';
      break;
    }
    const piece = index === 0 ? word : ` ${word}`;
    const next = text + piece;
    const cut = stop.map((s) => next.indexOf(s)).filter((at) => at >= 0);
    if (cut.length > 0) {
      const at = Math.min(...cut);
      if (at > text.length) pieces.push(next.slice(text.length, at));
      text = next.slice(0, at);
      finishReason = 'stop';
      return { pieces, text, finishReason, promptTokens: promptWords.length, completionTokens: pieces.length };
    }
    pieces.push(piece);
    text = next;
  }
  return { pieces, text, finishReason, promptTokens: promptWords.length, completionTokens: pieces.length };
}

/** Stable fake token ids for words. */
export function standInTokenId(word: string): number {
  let hash = 7;
  for (const char of word.trim()) hash = (hash * 31 + char.charCodeAt(0)) % 50_000;
  return hash;
}
