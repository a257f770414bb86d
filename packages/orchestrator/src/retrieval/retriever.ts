/** A passage a retriever found, with where it came from. */
export interface Passage {
  /** The passage text given to the model. */
  text: string;
  /** Where it came from: a file path relative to the indexed folder, or a URL. */
  source: string;
  /** A heading or page title, when known. */
  title?: string;
  /** Relevance score (higher is better); scale depends on the retriever. */
  score: number;
}

export interface RetrieveOptions {
  /** How many passages at most. Default: the retriever's own (3 for the built-in ones). */
  topK?: number;
  signal?: AbortSignal;
}

/** Finds passages for a query. The SearchQA workflow grounds its answer on them. */
export interface Retriever {
  retrieve(query: string, options?: RetrieveOptions): Promise<Passage[]>;
}
