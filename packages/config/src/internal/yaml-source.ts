/** Parses one YAML configuration file and maps key paths back to line numbers. */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { ConfigProblem } from '@muai/core';
import type { Document, Node } from 'yaml';

export interface ParsedSource {
  /** The file's path as given. */
  file: string;
  /** The parsed content (`{}` for an empty file); undefined when it had syntax errors. */
  data: unknown;
  /** Syntax problems, each with file and line. */
  problems: ConfigProblem[];
  /** 1-based line of the deepest node of `path` present in the file. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

export function parseYamlSource(file: string, text: string): ParsedSource {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const lineAt = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line;
  const lineOf = (path: readonly (string | number)[]): number | undefined => nodeLine(document, path, lineAt);
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => {
      const problem: ConfigProblem = {
        source: file,
        path: '',
        expected: `valid YAML: ${error.message.split('\n')[0] ?? error.message}`,
      };
      const line = error.linePos?.[0]?.line ?? lineAt(error.pos[0]);
      if (line !== undefined) problem.line = line;
      return problem;
    });
    return { file, data: undefined, problems, lineOf };
  }
  const data: unknown = document.toJS({ maxAliasCount: 100 });
  return { file, data: data ?? {}, problems: [], lineOf };
}

function nodeLine(
  document: Document,
  path: readonly (string | number)[],
  lineAt: (offset: number | undefined) => number | undefined,
): number | undefined {
  let node: unknown = document.contents;
  let line = lineAt((node as Node | null)?.range?.[0]);
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      line = lineAt((pair.key as Node).range?.[0]) ?? line;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)];
      if (item === undefined) break;
      line = lineAt((item as Node).range?.[0]) ?? line;
      node = item;
    } else {
      break;
    }
  }
  return line;
}
