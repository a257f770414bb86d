import { ConfigInvalidError, MuaiError, RequestAbortedError } from '@muai/core';
import type { Passage, RetrieveOptions, Retriever } from './retriever.js';

export interface HttpSearchRetrieverOptions {
  /** Search endpoint, e.g. `http://localhost:8080/search`. */
  url: string;
  /** `GET` puts the query in `queryParam`; `POST` sends a JSON body. Default `GET`. */
  method?: 'GET' | 'POST';
  /** Query-string name of the query for GET. Default `q`. */
  queryParam?: string;
  /** Query-string name of the result count for GET (omitted when undefined). Default `limit`. */
  limitParam?: string;
  /** Builds the POST body. Default `{ query, top_k }`. */
  body?: (query: string, topK: number) => unknown;
  headers?: Record<string, string>;
  /** Passages returned when the caller does not say. Default 3. */
  topK?: number;
  /** Gives up after this many milliseconds. Default 10000. */
  timeoutMs?: number;
  /** Maps one JSON result to a passage. Default: reads title/name, url/link/source/id, text/snippet/content/body, score. */
  mapResult?: (item: unknown, position: number) => Passage | undefined;
  /** The fetch to use. Default: global fetch. */
  fetch?: typeof fetch;
}

function pick(record: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = record[key];
    if (typeof value === 'string' && value.trim() !== '') return value;
  }
  return undefined;
}

/** The default mapping from a JSON search result to a passage. */
export function defaultMapResult(item: unknown, position: number): Passage | undefined {
  if (typeof item === 'string') return { text: item, source: `result ${position + 1}`, score: 1 / (position + 1) };
  if (typeof item !== 'object' || item === null) return undefined;
  const record = item as Record<string, unknown>;
  const text = pick(record, ['text', 'snippet', 'content', 'body', 'description', 'passage']);
  if (text === undefined) return undefined;
  const passage: Passage = {
    text,
    source: pick(record, ['url', 'link', 'source', 'href', 'id']) ?? `result ${position + 1}`,
    score: typeof record.score === 'number' ? record.score : 1 / (position + 1),
  };
  const title = pick(record, ['title', 'name', 'heading']);
  if (title !== undefined) passage.title = title;
  return passage;
}

/** Finds the result list in a JSON answer: the array itself, or `results`, `items`, `data`, `hits`, `documents`. */
function resultList(json: unknown): unknown[] | undefined {
  if (Array.isArray(json)) return json;
  if (typeof json !== 'object' || json === null) return undefined;
  for (const key of ['results', 'items', 'data', 'hits', 'documents', 'passages']) {
    const value = (json as Record<string, unknown>)[key];
    if (Array.isArray(value)) return value;
    if (typeof value === 'object' && value !== null) {
      const nested = resultList(value);
      if (nested) return nested;
    }
  }
  return undefined;
}

/** A retriever that asks an HTTP search service (GET or POST, JSON results). */
export class HttpSearchRetriever implements Retriever {
  private readonly options: HttpSearchRetrieverOptions;

  constructor(options: HttpSearchRetrieverOptions) {
    if (!options.url) throw new ConfigInvalidError([{ path: 'url', expected: 'HttpSearchRetriever needs a `url` (the search endpoint)' }]);
    this.options = options;
  }

  async retrieve(query: string, options: RetrieveOptions = {}): Promise<Passage[]> {
    const topK = options.topK ?? this.options.topK ?? 3;
    const method = this.options.method ?? 'GET';
    const url = new URL(this.options.url);
    const init: RequestInit = { method, headers: { accept: 'application/json', ...this.options.headers } };
    if (method === 'GET') {
      url.searchParams.set(this.options.queryParam ?? 'q', query);
      const limitParam = this.options.limitParam ?? 'limit';
      if (limitParam) url.searchParams.set(limitParam, String(topK));
    } else {
      init.body = JSON.stringify(this.options.body ? this.options.body(query, topK) : { query, top_k: topK });
      init.headers = { ...(init.headers as Record<string, string>), 'content-type': 'application/json' };
    }
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 10_000);
    init.signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const doFetch = this.options.fetch ?? fetch;
    let json: unknown;
    try {
      const response = await doFetch(url, init);
      if (!response.ok) {
        throw new MuaiError('ENGINE_ERROR', `Search service ${url.origin} answered HTTP ${response.status}. Check the service, or configure another retriever.`, { details: { status: response.status } });
      }
      json = await response.json();
    } catch (error) {
      if (options.signal?.aborted) throw new RequestAbortedError({ cause: error });
      if (MuaiError.isInstance(error)) throw error;
      const reason = timeout.aborted ? `did not answer within ${this.options.timeoutMs ?? 10_000} ms` : error instanceof Error ? error.message : String(error);
      throw new MuaiError('ENGINE_UNAVAILABLE', `Search service ${url.origin} is unavailable: ${reason}. Start it, fix the url, or use the local retriever.`, { cause: error });
    }
    const list = resultList(json);
    if (!list) {
      throw new MuaiError('ENGINE_ERROR', `Search service ${url.origin} returned JSON without a result list (expected an array or results/items/data/hits). Pass mapResult or fix the service.`);
    }
    const map = this.options.mapResult ?? defaultMapResult;
    const passages: Passage[] = [];
    list.forEach((item, position) => {
      const passage = map(item, position);
      if (passage) passages.push(passage);
    });
    return passages.slice(0, topK);
  }
}
