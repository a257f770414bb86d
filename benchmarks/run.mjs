#!/usr/bin/env node
// Benchmark runner: `npm run bench -- <name> [--json] [...]` runs benchmarks/<name>.mjs.
// Benchmarks import the built packages (dist/), so this builds first when needed.
import { existsSync, readdirSync } from 'node:fs';
import { execSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith('.mjs') && file !== 'run.mjs' && !file.startsWith('_'))
  .map((file) => file.replace(/\.mjs$/, ''));
const [name, ...rest] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [--json]`);
  process.exit(name ? 2 : 0);
}
const root = join(here, '..');
if (!process.env.MUAI_BENCH_SKIP_BUILD) {
  execSync('npx nx run-many -t build --parallel=2 --output-style=stream-without-prefixes', {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NX_DAEMON: 'false' },
  });
}
const result = spawnSync(process.execPath, ['--expose-gc', join(here, `${name}.mjs`), ...rest], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
