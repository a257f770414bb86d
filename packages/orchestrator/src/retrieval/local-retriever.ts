import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { throwIfAborted } from '@muai/core';
import { Bm25Index } from './bm25.js';
import type { Passage, RetrieveOptions, Retriever } from './retriever.js';

export interface LocalRetrieverOptions {
  /** Folder to index (Markdown and text files, recursively). Default: none, so no passages. */
  directory?: string;
  /** File extensions to index. Default `.md`, `.markdown`, `.txt`. */
  extensions?: readonly string[];
  /** Passages returned when the caller does not say. Default 3. */
  topK?: number;
  /** Longest chunk, in characters; longer sections are split at paragraphs. Default 1200. */
  maxChunkChars?: number;
  /** BM25 parameters. Defaults k1 = 1.2, b = 0.75. */
  k1?: number;
  b?: number;
}

interface Chunk {
  source: string;
  title: string;
  text: string;
}

/** Splits Markdown or text into chunks by heading, then by paragraph up to `maxChars`. */
export function chunkDocument(source: string, content: string, maxChars: number): Chunk[] {
  const chunks: Chunk[] = [];
  let title = source;
  let paragraphs: string[] = [];
  let paragraph: string[] = [];
  let inFence = false;
  const flushParagraph = () => {
    const text = paragraph.join('\n').trim();
    if (text) paragraphs.push(text);
    paragraph = [];
  };
  const flushSection = () => {
    flushParagraph();
    let current = '';
    for (const text of paragraphs) {
      if (current && current.length + text.length + 2 > maxChars) {
        chunks.push({ source, title, text: current });
        current = '';
      }
      current = current ? `${current}\n\n${text}` : text;
      while (current.length > maxChars) {
        chunks.push({ source, title, text: current.slice(0, maxChars) });
        current = current.slice(maxChars);
      }
    }
    if (current.trim()) chunks.push({ source, title, text: current });
    paragraphs = [];
  };
  for (const line of content.split(/\r?\n/)) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const heading = !inFence ? /^#{1,6}\s+(.*)$/.exec(line) : null;
    if (heading) {
      flushSection();
      title = (heading[1] ?? '').trim() || source;
      continue;
    }
    if (!inFence && line.trim() === '') flushParagraph();
    else paragraph.push(line);
  }
  flushSection();
  return chunks;
}

/**
 * The embedded retriever: a BM25 index over the Markdown and text files of a folder, built on first
 * use. A missing or empty folder, or none given, gives no passages, never an error.
 */
export class LocalRetriever implements Retriever {
  /** The indexed folder; undefined when none was given (every search then returns nothing). */
  readonly directory: string | undefined;
  private readonly options: LocalRetrieverOptions;
  private index?: Promise<Bm25Index<Chunk>>;

  constructor(options: LocalRetrieverOptions = {}) {
    this.options = options;
    // A library never guesses a folder (it might index the docs of whatever project it runs in):
    // callers pass one; the muai CLI passes the docs it ships with.
    this.directory = options.directory;
  }

  async retrieve(query: string, options: RetrieveOptions = {}): Promise<Passage[]> {
    throwIfAborted(options.signal);
    this.index ??= this.build();
    const index = await this.index;
    return index.search(query, options.topK ?? this.options.topK ?? 3).map(({ doc, score }) => ({
      text: doc.text,
      source: doc.source,
      title: doc.title,
      score,
    }));
  }

  /** Forgets the index; the next query re-reads the folder. */
  refresh(): void {
    delete this.index;
  }

  private async build(): Promise<Bm25Index<Chunk>> {
    const bm25Options: { k1?: number; b?: number } = {};
    if (this.options.k1 !== undefined) bm25Options.k1 = this.options.k1;
    if (this.options.b !== undefined) bm25Options.b = this.options.b;
    const index = new Bm25Index<Chunk>(bm25Options);
    const extensions = new Set((this.options.extensions ?? ['.md', '.markdown', '.txt']).map((ext) => ext.toLowerCase()));
    const maxChars = this.options.maxChunkChars ?? 1200;
    const directory = this.directory;
    if (directory === undefined) return index;
    const files = await listFiles(directory);
    files.sort();
    for (const file of files) {
      if (!extensions.has(extname(file).toLowerCase())) continue;
      const content = await readFile(file, 'utf8').catch(() => '');
      const source = relative(directory, file).split('\\').join('/');
      for (const chunk of chunkDocument(source, content, maxChars)) index.add(chunk, `${chunk.title}\n${chunk.text}`);
    }
    return index;
  }
}

async function listFiles(directory: string): Promise<string[]> {
  const info = await stat(directory).catch(() => undefined);
  if (!info?.isDirectory()) return [];
  const out: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const path = join(directory, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}
