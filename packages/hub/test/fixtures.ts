import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { commitSha, readFolder } from '../src/testing/index.js';
import type { FakeHub } from '../src/testing/index.js';

export const repoRoot = resolve(import.meta.dirname, '../../..');

/**
 * Writes the repository's tiny generated model (fp32 graph with its weights in external data,
 * plus an fp16 variant) into a temporary folder, with the repository's own generator.
 */
export function generateTinyModel(): string {
  const dir = mkdtempSync(join(tmpdir(), 'muai-hub-model-'));
  const script = join(repoRoot, 'tools/model-gen/generate.mjs');
  execFileSync(process.execPath, [script, '--size', 'tiny', '--out', dir, '--external-data'], { stdio: 'ignore' });
  execFileSync(process.execPath, [script, '--size', 'tiny', '--out', dir, '--dtype', 'fp16'], { stdio: 'ignore' });
  return dir;
}

export const TINY_REPO = 'test-org/tiny-llama';
export const GATED_REPO = 'test-org/gated-llama';
export const NO_ONNX_REPO = 'test-org/pytorch-only';
export const GATED_TOKEN = 'hf_test_token_123';

/** The repositories tests use: tiny (two commits, tag v1.0 on the first), a gated copy, and one without ONNX. */
export function addFixtureRepos(hub: FakeHub, modelDir: string): { first: string; latest: string } {
  const files = readFolder(modelDir);
  files.set('README.md', Buffer.from('# tiny llama\n'));
  const firstFiles = new Map(files);
  firstFiles.set('generation_config.json', Buffer.from('{"bos_token_id": 1, "eos_token_id": 2, "max_length": 64, "revision": "v1.0"}\n'));
  const first = commitSha('tiny first');
  const latest = commitSha('tiny latest');
  hub.addRepo({ id: TINY_REPO, refs: { main: latest, 'v1.0': first }, commits: [{ sha: first, files: firstFiles }, { sha: latest, files }] });
  const gated = commitSha('gated');
  hub.addRepo({ id: GATED_REPO, refs: { main: gated }, commits: [{ sha: gated, files }], gatedToken: GATED_TOKEN });
  const plain = commitSha('pytorch only');
  hub.addRepo({
    id: NO_ONNX_REPO,
    refs: { main: plain },
    commits: [{ sha: plain, files: new Map([['config.json', Buffer.from('{}')], ['model.safetensors', Buffer.alloc(64, 1)], ['onnx/encoder_model.onnx', Buffer.alloc(16, 2)]]) }],
  });
  return { first, latest };
}
