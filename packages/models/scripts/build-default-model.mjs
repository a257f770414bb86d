// Runs after tsup (`npm run build`): converts the original llama2.c files in assets/stories260K
// into dist/default-model/stories260K with the just-built converter, and copies the SOURCE note
// and license beside it. Offline, deterministic, well under a second.
import { copyFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertLlama2c, defaultModelPath } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const assets = join(root, 'assets', 'stories260K');
const outDir = defaultModelPath();
rmSync(outDir, { recursive: true, force: true });
convertLlama2c({ checkpoint: join(assets, 'stories260K.bin'), tokenizer: join(assets, 'tok512.bin'), outDir, name: 'stories260K' });
for (const file of ['SOURCE.md', 'LICENSE']) copyFileSync(join(assets, file), join(outDir, file));
process.stderr.write(`@muai/models: default model written to ${outDir}\n`);
