import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_NAME, defaultModelInfo, defaultModelPath, modelsPackageRoot } from '../src/index.js';

describe('defaultModelPath', () => {
  it('lies inside the installed package and does not depend on the current directory', () => {
    const packageRoot = resolve(import.meta.dirname, '..');
    expect(modelsPackageRoot()).toBe(packageRoot);
    const here = defaultModelPath();
    expect(isAbsolute(here)).toBe(true);
    expect(here).toBe(join(packageRoot, 'default-model', DEFAULT_MODEL_NAME));
    const elsewhere = mkdtempSync(join(tmpdir(), 'muai-cwd-'));
    const previous = process.cwd();
    try {
      process.chdir(elsewhere);
      expect(defaultModelPath()).toBe(here);
    } finally {
      process.chdir(previous);
      rmSync(elsewhere, { recursive: true, force: true });
    }
    expect(defaultModelInfo()).toMatchObject({ name: 'stories260K', path: here, license: 'MIT' });
  });
});
