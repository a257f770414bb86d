/**
 * Renders the key reference of docs/configuration.md from the schema (keys, defaults, variables)
 * and from the comments of config/optimization.example.yaml (descriptions).
 * Regenerate: `npx tsx test/docs-table.ts` from packages/config, and paste between the markers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isPair, isScalar, parseDocument } from 'yaml';
import type { YAMLMap } from 'yaml';
import { listEnvironmentVariables } from '../src/environment.js';
import { parseConfig } from '../src/load.js';
import { repoRoot } from './helpers.js';

function comments(): Map<string, string> {
  const document = parseDocument(readFileSync(join(repoRoot, 'config/optimization.example.yaml'), 'utf8'));
  const result = new Map<string, string>();
  const visit = (map: YAMLMap, path: string[]): void => {
    for (const item of map.items) {
      if (!isPair(item) || !isScalar(item.key)) continue;
      const key = [...path, String(item.key.value)];
      const before = item.key.commentBefore ?? (map.items[0] === item ? (map.commentBefore ?? undefined) : undefined);
      if (before) {
        // A comment block may describe commented-out optional keys first (`# model: ...`):
        // text before such a line belongs to that key, text after the last one to this key.
        let text: string[] = [];
        for (const line of before.split('\n').map((part) => part.trim())) {
          const optional = /^([a-z_]+):/.exec(line);
          if (optional) {
            const optionalPath = [...path, optional[1]!].join('.');
            if (text.length > 0 && !result.has(optionalPath)) result.set(optionalPath, text.join(' '));
            text = [];
          } else if (line !== '' && !line.startsWith('- ')) {
            text.push(line);
          }
        }
        if (text.length > 0) result.set(key.join('.'), text.join(' '));
      }
      if (isMap(item.value)) visit(item.value, key);
    }
  };
  if (isMap(document.contents)) visit(document.contents, []);
  return result;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function renderKeyTables(): string {
  const defaults = parseConfig({});
  const described = comments();
  const lines: string[] = [];
  let section = '';
  for (const info of listEnvironmentVariables()) {
    const group = info.path.length > 2 ? info.path.slice(0, 2).join('.') : info.path[0]!;
    if (group !== section) {
      section = group;
      lines.push('', `#### \`${group}\``, '', '| Key | Default | Variable | Accepts | Meaning |', '| --- | --- | --- | --- | --- |');
    }
    const value = info.path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], defaults);
    const shown = value === undefined ? '(unset)' : `\`${JSON.stringify(value)}\``;
    lines.push(`| \`${info.path.join('.')}\` | ${shown} | \`${info.variable}\` | ${cell(info.expected)} | ${cell(described.get(info.path.join('.')) ?? '')} |`);
  }
  return lines.join('\n').trim();
}

if (process.argv[1]?.endsWith('docs-table.ts')) process.stdout.write(`${renderKeyTables()}\n`);
