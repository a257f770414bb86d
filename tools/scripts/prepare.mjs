// Runs after `npm ci` / `npm install` at the root: builds every package so that `npx muai` works
// (building @muai/models also converts the bundled default model, stories260K, from its llama2.c
// files), then generates the random tiny model that tests and benchmarks use (model-gen imports
// @muai/models' graph writer, so it runs after the build).
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('node_modules/.bin/nx')) process.exit(0);
const run = (command) => execSync(command, { stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' } });
run('npx nx run-many -t build --parallel=2 --output-style=stream-without-prefixes');
if (existsSync('tools/model-gen/generate.mjs')) run('node tools/model-gen/generate.mjs --size tiny --if-missing');
