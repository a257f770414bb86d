import { readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig, type UserConfig } from 'vitest/config';

const root = import.meta.dirname;

/** Maps every workspace package to its source so tests run without a build. */
function workspaceAliases(): Array<{ find: RegExp; replacement: string }> {
  const aliases: Array<{ find: string; replacement: string }> = [
    { find: '@muai/core/testing', replacement: resolve(root, 'packages/core/src/testing/index.ts') },
  ];
  for (const group of ['packages', 'apps']) {
    for (const dir of readdirSync(join(root, group))) {
      const entry = join(root, group, dir, 'src/index.ts');
      if (existsSync(entry)) aliases.push({ find: `@muai/${dir}`, replacement: entry });
    }
  }
  // Exact matches only, so that `@muai/core` does not also capture `@muai/core/testing`.
  return aliases.map((alias) => ({ find: new RegExp(`^${alias.find}$`), replacement: alias.replacement }));
}

export function sharedVitestConfig(projectRoot: string, overrides: UserConfig['test'] = {}): UserConfig {
  return defineConfig({
    root: projectRoot,
    resolve: { alias: workspaceAliases() },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      ...overrides,
    },
  });
}
