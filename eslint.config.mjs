// Lint for every project. Module boundaries follow ../DESIGN.md's dependency direction:
// everything may import core; engines, libs and cache import only core (engines may also use the
// cache); the orchestrator composes packages; apps compose everything; no package imports an app.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default [
  // test/.guide holds files the migration-guide test writes while it runs (lint may run at the same time).
  { ignores: ['**/dist/**', '**/node_modules/**', '**/*.config.ts', '**/*.mjs', '**/*.cjs', '**/.guide/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:core', onlyDependOnLibsWithTags: ['type:core'] },
            { sourceTag: 'type:config', onlyDependOnLibsWithTags: ['type:core'] },
            { sourceTag: 'type:cache', onlyDependOnLibsWithTags: ['type:core'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:core'] },
            // The tuner drives @muai/bench (a type:lib) for its offline search.
            { sourceTag: 'type:tuner', onlyDependOnLibsWithTags: ['type:core', 'type:lib'] },
            { sourceTag: 'type:engine-utils', onlyDependOnLibsWithTags: ['type:core'] },
            { sourceTag: 'type:engine', onlyDependOnLibsWithTags: ['type:core', 'type:cache', 'type:engine-utils'] },
            {
              sourceTag: 'type:orchestrator',
              onlyDependOnLibsWithTags: ['type:core', 'type:config', 'type:cache', 'type:lib', 'type:tuner', 'type:engine', 'type:engine-utils'],
            },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:core', 'type:config', 'type:cache', 'type:lib', 'type:tuner', 'type:engine', 'type:engine-utils', 'type:orchestrator', 'type:app'],
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
];
