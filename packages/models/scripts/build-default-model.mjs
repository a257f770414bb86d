// Runs after tsup (`npm run build`): converts the original llama2.c files in assets/stories260K
// into default-model/stories260K with the just-built converter, and copies the SOURCE note and
// license beside it. Offline, deterministic, well under a second. The folder lives outside dist/
// (tsup empties dist/ on every build) and is replaced in one rename, so a reader never sees it
// missing or half-written; when it already holds this converter's output of these inputs, it stays.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONVERTER_VERSION, convertLlama2c, defaultModelAvailable, defaultModelPath, MODEL_MANIFEST, replaceFolder } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const assets = join(root, 'assets', 'stories260K');
const checkpoint = join(assets, 'stories260K.bin');
const tokenizer = join(assets, 'tok512.bin');
const outDir = defaultModelPath();
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

function upToDate() {
  if (!defaultModelAvailable()) return false;
  try {
    const manifest = JSON.parse(readFileSync(join(outDir, MODEL_MANIFEST), 'utf8'));
    return manifest.converter?.version === CONVERTER_VERSION && manifest.source?.checkpoint?.sha256 === sha256(checkpoint) && manifest.source?.tokenizer?.sha256 === sha256(tokenizer);
  } catch {
    return false;
  }
}

if (upToDate()) {
  process.stderr.write(`@muai/models: default model up to date in ${outDir}\n`);
} else {
  // Convert beside the target, add the notes, then swap it in (convertLlama2c's force replaces by rename).
  mkdirSync(dirname(outDir), { recursive: true });
  const staging = mkdtempSync(join(dirname(outDir), '.build-'));
  try {
    const built = join(staging, 'stories260K');
    convertLlama2c({ checkpoint, tokenizer, outDir: built, name: 'stories260K' });
    for (const file of ['SOURCE.md', 'LICENSE']) copyFileSync(join(assets, file), join(built, file));
    replaceFolder(built, outDir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  process.stderr.write(`@muai/models: default model written to ${outDir}\n`);
}
