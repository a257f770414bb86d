import { isMap, parseDocument } from 'yaml';
import { ConfigInvalidError } from '@muai/core';

/** Config key of each knob a search may choose (`muai tune --write`). */
export const SETTING_KEYS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  max_batch_size: ['optimization', 'batcher', 'max_batch_size'],
  batch_timeout_ms: ['optimization', 'batcher', 'batch_timeout_ms'],
  cache_max_memory_mb: ['optimization', 'cache', 'max_memory_mb'],
  threads: ['optimization', 'onnx', 'threads'],
});

/**
 * Writes `settings` into the text of an optimization.yaml and returns the new text. Uses the
 * `yaml` Document API so that comments, key order and unrelated keys stay as they were; a knob
 * with no config key (e.g. the load's concurrency) is skipped and listed in `skipped`.
 */
export function writeSettingsToYaml(text: string, settings: Record<string, number>, source = 'optimization.yaml'): { text: string; skipped: string[] } {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    throw new ConfigInvalidError(document.errors.map((error) => ({ source, path: '(file)', expected: `valid YAML: ${error.message}` })));
  }
  if (document.contents !== null && !isMap(document.contents)) throw new ConfigInvalidError([{ source, path: '(file)', expected: 'a mapping at the top level' }]);
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(settings)) {
    const path = SETTING_KEYS[name];
    if (path === undefined) {
      skipped.push(name);
      continue;
    }
    document.setIn(path, value);
  }
  return { text: document.toString(), skipped };
}

/** A unified-style line diff (`-` removed, `+` added, two lines of context), from the longest common subsequence. */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const lines: Array<{ mark: ' ' | '-' | '+'; text: string }> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ mark: ' ', text: a[i]! });
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) lines.push({ mark: '-', text: a[i++]! });
    else lines.push({ mark: '+', text: b[j++]! });
  }
  const keep = lines.map((line, index) => line.mark !== ' ' || lines.slice(Math.max(0, index - 2), index + 3).some((near) => near.mark !== ' '));
  const out: string[] = [];
  let skipped = false;
  lines.forEach((line, index) => {
    if (keep[index]) {
      out.push(`${line.mark} ${line.text}`);
      skipped = false;
    } else if (!skipped) {
      out.push('  ...');
      skipped = true;
    }
  });
  return lines.some((line) => line.mark !== ' ') ? out.join('\n') : '';
}
