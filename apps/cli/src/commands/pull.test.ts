import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeHub } from '@muai/hub/testing';

const repoRoot = resolve(import.meta.dirname, '../../../..');
const cliBin = join(repoRoot, 'apps/cli/bin/muai.mjs');
const REPO = 'test-org/tiny-llama';
const GATED = 'test-org/gated-llama';

let hub: FakeHub;
let modelDir: string;
let home: string;
let cacheDir: string;
let first: string;
let latest: string;

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'apps/cli/dist/index.js'))) throw new Error('apps/cli is not built: run `npx nx build @muai/cli`');
  // The repository's tiny model, fp32 with external data plus an fp16 variant, served as a Hub repository.
  modelDir = mkdtempSync(join(tmpdir(), 'muai-pull-model-'));
  const generate = join(repoRoot, 'tools/model-gen/generate.mjs');
  execFileSync(process.execPath, [generate, '--size', 'tiny', '--out', modelDir, '--external-data'], { stdio: 'ignore' });
  execFileSync(process.execPath, [generate, '--size', 'tiny', '--out', modelDir, '--dtype', 'fp16'], { stdio: 'ignore' });
  // Loaded like pull.ts loads @muai/hub: on demand (lint forbids mixing static and lazy imports of a package).
  const { commitSha, readFolder, startFakeHub } = await import('@muai/hub/testing');
  first = commitSha('cli first');
  latest = commitSha('cli latest');
  const files = readFolder(modelDir);
  hub = await startFakeHub();
  hub.addRepo({ id: REPO, refs: { main: latest, 'v1.0': first }, commits: [{ sha: first, files }, { sha: latest, files }] });
  hub.addRepo({ id: GATED, refs: { main: latest }, commits: [{ sha: latest, files }], gatedToken: 'hf_cli_token' });
  home = mkdtempSync(join(tmpdir(), 'muai-pull-home-'));
  cacheDir = join(home, 'hub-cache');
});

afterAll(async () => {
  await hub?.close();
  for (const dir of [modelDir, home]) if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawns the built `muai` (asynchronously: the stand-in Hub answers from this process). */
function muai(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [cliBin, ...args],
      {
        cwd: home,
        env: { ...process.env, HF_ENDPOINT: hub.url, MUAI_CACHE_DIR: cacheDir, HF_HOME: join(home, 'hf-home'), HF_TOKEN: '', HF_HUB_OFFLINE: '', MUAI_MODEL: '', ...env },
        timeout: 60_000,
      },
      (error, stdout, stderr) => done({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('muai pull', () => {
  it('downloads a Hub model that `muai run --model org/name` then generates from, offline, as from the original folder', async () => {
    const pulled = await muai(['pull', REPO]);
    expect(pulled.stderr).toContain('downloading onnx/model.onnx_data');
    expect(pulled.code).toBe(0);
    const snapshot = join(cacheDir, 'models--test-org--tiny-llama', 'snapshots', latest);
    expect(pulled.stdout.trim()).toBe(snapshot);
    expect(pulled.stderr).not.toContain('\r'); // not a terminal: plain lines

    hub.requests.length = 0;
    const args = ['run', 'Once upon a time', '--max-tokens', '12', '--temperature', '0', '--raw', '--json'];
    const fromHub = await muai([...args, '--model', REPO], { HF_HUB_OFFLINE: '1' });
    expect(fromHub.stderr).toBe(`muai: ${REPO} is cached: ${snapshot}\n`);
    expect(fromHub.code).toBe(0);
    expect(hub.requests).toHaveLength(0);
    const fromFolder = await muai([...args, '--model', modelDir]);
    expect(fromFolder.code).toBe(0);
    const hubJson = JSON.parse(fromHub.stdout) as { text: string; usage: { completion_tokens: number }; model_source: unknown };
    expect(hubJson.model_source).toEqual({ from: '--model', path: snapshot, hub: REPO });
    const folderJson = JSON.parse(fromFolder.stdout) as { text: string; usage: { completion_tokens: number } };
    expect(hubJson.usage.completion_tokens).toBe(12);
    expect(hubJson.text).toBe(folderJson.text);

    // MUAI_MODEL may name a Hub id too; online, a cached model costs one listing request.
    const viaEnv = await muai(args, { MUAI_MODEL: REPO });
    expect(viaEnv.code).toBe(0);
    expect((JSON.parse(viaEnv.stdout) as { text: string }).text).toBe(folderJson.text);
    expect(hub.requests.map((request) => `${request.method} ${request.path}`)).toEqual([`GET /api/models/${REPO}/revision/main`]);

    // The orchestrator's default model (`muai "query"`) takes the Hub id from MUAI_MODEL as well.
    hub.requests.length = 0;
    const query = await muai(['Once upon a time', '--max-tokens', '4', '--json'], { MUAI_MODEL: REPO, HF_HUB_OFFLINE: '1' });
    expect(query.code).toBe(0);
    expect(JSON.parse(query.stdout)).toMatchObject({ engine: 'onnx', model: 'default' });
    expect(hub.requests).toHaveLength(0);
  });

  it('pins --revision and --dtype, and prints JSON', async () => {
    const result = await muai(['pull', REPO, '--revision', 'v1.0', '--dtype', 'fp16', '--json']);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ repo: REPO, revision: 'v1.0', commit: first, dtype: 'fp16', graph: 'onnx/model_fp16.onnx', from_cache: false });
    expect(json['files']).toContain('tokenizer.json');
    expect(json['files']).not.toContain('onnx/model.onnx');
    expect(realpathSync(join(String(json['path']), 'onnx/model_fp16.onnx'))).toContain(join('models--test-org--tiny-llama', 'blobs'));
  });

  it('draws a progress bar on a terminal (run under script(1), which gives it a pseudo-terminal)', async () => {
    const command = [process.execPath, cliBin, 'pull', REPO].map((part) => `'${part}'`).join(' ');
    const result = await new Promise<Result>((done) => {
      execFile(
        'script',
        ['-qec', command, '/dev/null'],
        { cwd: home, env: { ...process.env, HF_ENDPOINT: hub.url, MUAI_CACHE_DIR: join(home, 'tty-cache'), HF_HOME: join(home, 'hf-home'), HF_TOKEN: '', HF_HUB_OFFLINE: '' }, timeout: 60_000 },
        (error, stdout, stderr) => done({ code: error ? 1 : 0, stdout, stderr }),
      );
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\r\x1b\[2Kmuai: onnx\/model\.onnx_data \[#+\] 100% /);
    expect(result.stdout).not.toContain('downloading onnx/model.onnx_data'); // the plain-line form is for pipes
  });

  it('fails with coded errors: gated without HF_TOKEN, unknown repository, offline and not cached, not an id', async () => {
    const gated = await muai(['pull', GATED]);
    expect(gated.code).toBe(1);
    expect(gated.stderr).toContain('muai: error HUB_UNAUTHORIZED');
    expect(gated.stderr).toContain('HF_TOKEN');
    const withToken = await muai(['pull', GATED], { HF_TOKEN: 'hf_cli_token' });
    expect(withToken.code).toBe(0);

    const unknown = await muai(['pull', 'test-org/nothing-here']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('muai: error MODEL_NOT_FOUND');

    const offline = await muai(['run', 'hi', '--model', 'test-org/never-pulled'], { HF_HUB_OFFLINE: '1' });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toContain('muai: error MODEL_NOT_FOUND');
    expect(offline.stderr).toContain('HF_HUB_OFFLINE');

    const invalid = await muai(['pull', 'just-a-name']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('muai: error INVALID_REQUEST');
  });
});
