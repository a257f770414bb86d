/** Lowercase word split: letters and digits in any script, everything else separates. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((token) => token.length > 0);
}

export interface Bm25Options {
  /** Term-frequency saturation. Default 1.2. */
  k1?: number;
  /** Length normalisation. Default 0.75. */
  b?: number;
}

/** Okapi BM25 over an in-memory list of documents (Lucene's non-negative IDF). */
export class Bm25Index<D> {
  private readonly k1: number;
  private readonly b: number;
  private readonly docs: Array<{ doc: D; length: number; termFrequencies: Map<string, number> }> = [];
  private readonly documentFrequency = new Map<string, number>();
  private totalLength = 0;

  constructor(options: Bm25Options = {}) {
    this.k1 = options.k1 ?? 1.2;
    this.b = options.b ?? 0.75;
  }

  get size(): number {
    return this.docs.length;
  }

  add(doc: D, text: string): void {
    const tokens = tokenize(text);
    const termFrequencies = new Map<string, number>();
    for (const token of tokens) termFrequencies.set(token, (termFrequencies.get(token) ?? 0) + 1);
    for (const term of termFrequencies.keys()) this.documentFrequency.set(term, (this.documentFrequency.get(term) ?? 0) + 1);
    this.docs.push({ doc, length: tokens.length, termFrequencies });
    this.totalLength += tokens.length;
  }

  /** Documents with a positive score, best first (ties keep insertion order). */
  search(query: string, topK: number): Array<{ doc: D; score: number }> {
    const terms = [...new Set(tokenize(query))];
    if (terms.length === 0 || this.docs.length === 0) return [];
    const count = this.docs.length;
    const averageLength = this.totalLength / count || 1;
    const idf = new Map<string, number>();
    for (const term of terms) {
      const frequency = this.documentFrequency.get(term) ?? 0;
      idf.set(term, Math.log(1 + (count - frequency + 0.5) / (frequency + 0.5)));
    }
    const scored: Array<{ doc: D; score: number; order: number }> = [];
    this.docs.forEach((entry, order) => {
      let score = 0;
      for (const term of terms) {
        const tf = entry.termFrequencies.get(term);
        if (!tf) continue;
        score += (idf.get(term) ?? 0) * ((tf * (this.k1 + 1)) / (tf + this.k1 * (1 - this.b + (this.b * entry.length) / averageLength)));
      }
      if (score > 0) scored.push({ doc: entry.doc, score, order });
    });
    scored.sort((left, right) => right.score - left.score || left.order - right.order);
    return scored.slice(0, Math.max(0, topK)).map(({ doc, score }) => ({ doc, score }));
  }
}
