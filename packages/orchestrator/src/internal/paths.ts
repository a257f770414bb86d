import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The repository (or project) root: the nearest folder at or above `start` that holds `nx.json`.
 * Falls back to `start` itself when there is none.
 */
export function findProjectRoot(start: string = process.cwd()): string {
  let current = resolve(start);
  for (;;) {
    if (existsSync(join(current, 'nx.json'))) return current;
    const parent = dirname(current);
    if (parent === current) return resolve(start);
    current = parent;
  }
}

/** `<root>/models/generated/tiny`: the tiny model the repository's generator writes. */
export function defaultModelPath(start?: string): string {
  return join(findProjectRoot(start), 'models', 'generated', 'tiny');
}

/** `<root>/docs`: the folder the default retriever indexes. */
export function defaultDocsDirectory(start?: string): string {
  return join(findProjectRoot(start), 'docs');
}

/** True when `path` names something on this machine rather than a hub id such as `Qwen/Qwen-7B-Chat`. */
export function looksLocal(path: string): boolean {
  return path.startsWith('/') || path.startsWith('./') || path.startsWith('../') || path.startsWith('~') || /^[A-Za-z]:[\\/]/.test(path) || existsSync(path);
}
