// Creates the skeleton of a workspace package or app: node tools/scripts/new-package.mjs <dir> <npm-name> <tag> "<description>"
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [dir, name, tag, description] = process.argv.slice(2);
if (!dir || !name || !tag) {
  console.error('usage: new-package.mjs <dir> <npm-name> <tag> "<description>"');
  process.exit(2);
}
const depth = dir.split('/').length;
const up = '../'.repeat(depth);
mkdirSync(join(dir, 'src'), { recursive: true });
const write = (file, text) => {
  const path = join(dir, file);
  if (!existsSync(path)) writeFileSync(path, text);
};
write(
  'package.json',
  JSON.stringify(
    {
      name,
      version: '0.1.0',
      description,
      license: 'Apache-2.0',
      type: 'module',
      sideEffects: false,
      main: './dist/index.cjs',
      module: './dist/index.js',
      types: './dist/index.d.ts',
      exports: {
        '.': {
          import: { types: './dist/index.d.ts', default: './dist/index.js' },
          require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
        },
        './package.json': './package.json',
      },
      files: ['dist', 'README.md'],
      engines: { node: '>=20.11' },
      scripts: {
        build: 'tsup',
        typecheck: 'tsc -p tsconfig.json --noEmit',
        lint: 'eslint .',
        test: 'vitest run',
      },
      nx: { tags: [tag] },
      dependencies: {},
    },
    null,
    2,
  ) + '\n',
);
write(
  'tsconfig.json',
  JSON.stringify({ extends: `${up}tsconfig.base.json`, include: ['src/**/*.ts', 'test/**/*.ts', '*.ts'] }, null, 2) + '\n',
);
write(
  'tsup.config.ts',
  `import { defineConfig } from 'tsup';\n\nexport default defineConfig({\n  entry: ['src/index.ts'],\n  format: ['esm', 'cjs'],\n  dts: true,\n  clean: true,\n  sourcemap: true,\n  target: 'node20',\n});\n`,
);
write(
  'vitest.config.ts',
  `import { sharedVitestConfig } from '${up}vitest.shared';\n\nexport default sharedVitestConfig(import.meta.dirname);\n`,
);
write('README.md', `# ${name}\n\n${description}\n`);
write('src/index.ts', `export {};\n`);
console.log(`created ${dir} (${name})`);
