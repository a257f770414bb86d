import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The repository root (fixtures live in config/fixtures there). */
export const repoRoot = resolve(import.meta.dirname, '../../..');
export const fixture = (name: string): string => join(repoRoot, 'config/fixtures', name);

/** A fresh temporary directory with the given files written into it. */
export function tempProject(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'muai-config-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
