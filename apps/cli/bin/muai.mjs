#!/usr/bin/env node
// The `muai` command. Runs the built CLI (npm install at the repo root builds it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
if (!existsSync(entry)) {
  console.error('muai: the CLI is not built yet. Run `npm install` (or `npx nx build @muai/cli`) at the repository root.');
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv);
