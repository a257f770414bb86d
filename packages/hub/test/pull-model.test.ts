import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import { isHubId, pullModel, resolveModel } from '../src/index.js';
import type { HubOptions, PullEvent } from '../src/index.js';
import { addFixtureRepos, GATED_REPO, GATED_TOKEN, generateTinyModel, NO_ONNX_REPO, TINY_REPO } from './fixtures.js';
import { gitBlobSha1, sha256, startFakeHub } from '../src/testing/index.js';
import type { FakeHub } from '../src/testing/index.js';

let hub: FakeHub;
let modelDir: string;
let commits: { first: string; latest: string };
let cacheDir: string;

beforeAll(async () => {
  modelDir = generateTinyModel();
  hub = await startFakeHub();
  commits = addFixtureRepos(hub, modelDir);
});

afterAll(async () => {
  await hub.close();
  rmSync(modelDir, { recursive: true, force: true });
});

beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'muai-hub-cache-'));
  hub.requests.length = 0;
  hub.faults.drop.clear();
  hub.faults.corrupt.clear();
});

/** Options that point at the fake Hub through the environment, as a user would. */
function env(extra: Record<string, string> = {}): HubOptions {
  return { env: { HF_ENDPOINT: hub.url, MUAI_CACHE_DIR: cacheDir, HF_HOME: join(cacheDir, 'no-home'), ...extra } };
}

async function failure(promise: Promise<unknown>): Promise<MuaiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!MuaiError.isInstance(error)) throw new Error(`expected a MuaiError, got ${String(error)}`);
  return error;
}

const repoFolder = (): string => join(cacheDir, 'models--test-org--tiny-llama');

describe('pullModel', () => {
  it('downloads the files the engine needs into the Hugging Face cache layout', async () => {
    const events: PullEvent[] = [];
    const result = await pullModel(TINY_REPO, { ...env(), onEvent: (event) => events.push(event) });

    expect(result.commit).toBe(commits.latest);
    expect(result.path).toBe(join(repoFolder(), 'snapshots', commits.latest));
    expect(result.dtype).toBe('fp32');
    expect(result.files).toEqual([
      'config.json',
      'generation_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'special_tokens_map.json',
      'onnx/model.onnx',
      'onnx/model.onnx_data',
    ]);
    // refs/main holds the commit, without a newline, as huggingface_hub writes it.
    expect(readFileSync(join(repoFolder(), 'refs', 'main'), 'utf8')).toBe(commits.latest);
    // Snapshot entries are relative symlinks into blobs/, each blob named by its ETag.
    for (const file of result.files) {
      const pointer = join(result.path, file);
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
      expect(readlinkSync(pointer).startsWith('..')).toBe(true);
      const content = readFileSync(join(modelDir, file));
      expect(readFileSync(pointer).equals(content)).toBe(true);
      const etag = file.startsWith('onnx/') ? sha256(content) : gitBlobSha1(content);
      expect(existsSync(join(repoFolder(), 'blobs', etag))).toBe(true);
    }
    // Not needed by the engine: not downloaded.
    expect(existsSync(join(result.path, 'README.md'))).toBe(false);
    expect(existsSync(join(result.path, 'muai-model-gen.json'))).toBe(false);
    expect(existsSync(join(result.path, 'onnx/model_fp16.onnx'))).toBe(false);
    expect(readdirSync(join(repoFolder(), 'blobs')).some((name) => name.endsWith('.incomplete'))).toBe(false);
    expect(result.downloadedBytes).toBeGreaterThan(2_000_000);
    // LFS files were fetched from the CDN location the 302 named.
    expect(hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/'))).toHaveLength(2);
    expect(events.map((event) => event.type)).toContain('file-progress');
    expect(events.at(-1)).toMatchObject({ type: 'done', path: result.path });

    // A second pull only asks for the listing.
    hub.requests.length = 0;
    const again = await pullModel(TINY_REPO, env());
    expect(again.downloadedBytes).toBe(0);
    expect(hub.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /api/models/${TINY_REPO}/revision/main`]);
  });

  it('fetches the asked dtype variant and shares blobs between variants', async () => {
    await pullModel(TINY_REPO, env());
    hub.requests.length = 0;
    const fp16 = await pullModel(TINY_REPO, { ...env(), dtype: 'fp16' });
    expect(fp16.graph).toBe('onnx/model_fp16.onnx');
    expect(fp16.files).not.toContain('onnx/model.onnx_data');
    expect(readFileSync(join(fp16.path, 'onnx/model_fp16.onnx')).equals(readFileSync(join(modelDir, 'onnx/model_fp16.onnx')))).toBe(true);
    // Only the new graph was downloaded; config and tokenizer were in the snapshot already.
    expect(hub.requests.filter((r) => r.method === 'GET' && r.path !== `/api/models/${TINY_REPO}/revision/main`).map((r) => r.path)).toEqual([
      `/cdn/${sha256(readFileSync(join(modelDir, 'onnx/model_fp16.onnx')))}`,
    ]);

    const missing = await failure(pullModel(TINY_REPO, { ...env(), dtype: 'q4' }));
    expect(missing.code).toBe('MODEL_NOT_FOUND');
    expect(missing.message).toContain('its dtypes are fp32, fp16');
    expect((await failure(pullModel(TINY_REPO, { ...env(), dtype: 'fp8' }))).code).toBe('MODEL_INVALID');
  });

  it('pins a revision: a tag, a commit, and refs/<tag> in the cache', async () => {
    const tagged = await pullModel(TINY_REPO, { ...env(), revision: 'v1.0' });
    expect(tagged.commit).toBe(commits.first);
    expect(readFileSync(join(tagged.path, 'generation_config.json'), 'utf8')).toContain('"revision": "v1.0"');
    expect(readFileSync(join(repoFolder(), 'refs', 'v1.0'), 'utf8')).toBe(commits.first);
    // The same blobs serve both commits: only generation_config.json differs.
    const latest = await pullModel(TINY_REPO, env());
    expect(latest.downloadedBytes).toBeLessThan(1000);
    expect(readFileSync(join(latest.path, 'generation_config.json'), 'utf8')).not.toContain('v1.0');

    // A commit already in the cache is answered without any request.
    hub.requests.length = 0;
    const byCommit = await pullModel(TINY_REPO, { ...env(), revision: commits.first });
    expect(byCommit.path).toBe(tagged.path);
    expect(hub.requests).toHaveLength(0);

    const unknown = await failure(pullModel(TINY_REPO, { ...env(), revision: 'no-such-branch' }));
    expect(unknown.code).toBe('MODEL_NOT_FOUND');
    expect(unknown.message).toContain('Revision "no-such-branch" does not exist');
  });

  it('works offline from the cache (HF_HUB_OFFLINE=1) and says what to do when the model is not cached', async () => {
    const online = await pullModel(TINY_REPO, env());
    hub.requests.length = 0;
    const offline = await pullModel(TINY_REPO, env({ HF_HUB_OFFLINE: '1' }));
    expect(offline).toMatchObject({ path: online.path, fromCache: true, graph: 'onnx/model.onnx' });
    expect(hub.requests).toHaveLength(0);

    const notCached = await failure(pullModel(GATED_REPO, env({ HF_HUB_OFFLINE: '1' })));
    expect(notCached.code).toBe('MODEL_NOT_FOUND');
    expect(notCached.message).toContain('HF_HUB_OFFLINE');
    expect(notCached.message).toContain(`muai pull ${GATED_REPO}`);
    const otherDtype = await failure(pullModel(TINY_REPO, { ...env({ HF_HUB_OFFLINE: 'true' }), dtype: 'fp16' }));
    expect(otherDtype.code).toBe('MODEL_NOT_FOUND');
    expect(hub.requests).toHaveLength(0);
  });

  it('falls back to the cache when the Hub is unreachable, and fails clearly when nothing is cached', async () => {
    await pullModel(TINY_REPO, env());
    const closed = 'http://127.0.0.1:9';
    const warnings: string[] = [];
    const result = await pullModel(TINY_REPO, { ...env({ HF_ENDPOINT: closed }), onEvent: (event) => event.type === 'warning' && warnings.push(event.message) });
    expect(result.fromCache).toBe(true);
    expect(warnings[0]).toContain('Could not reach');
    const error = await failure(pullModel(GATED_REPO, env({ HF_ENDPOINT: closed })));
    expect(error.code).toBe('HUB_DOWNLOAD_FAILED');
    expect(error.details).toMatchObject({ reason: 'unreachable' });
  });

  it('resumes a download the server cut mid-file with a Range request', async () => {
    hub.faults.drop.set('onnx/model.onnx_data', { afterBytes: 1_000_000, times: 1 });
    const warnings: string[] = [];
    const result = await pullModel(TINY_REPO, { ...env(), onEvent: (event) => event.type === 'warning' && warnings.push(event.message) });
    expect(readFileSync(join(result.path, 'onnx/model.onnx_data')).equals(readFileSync(join(modelDir, 'onnx/model.onnx_data')))).toBe(true);
    const ranges = hub.requests.filter((r) => r.range !== undefined).map((r) => r.range);
    expect(ranges).toHaveLength(1);
    expect(Number(/^bytes=(\d+)-$/.exec(ranges[0]!)?.[1])).toBeGreaterThan(0);
    expect(warnings[0]).toContain('interrupted');
  });

  it('keeps an interrupted download as .incomplete, never under its final name, and resumes it on the next run', async () => {
    const dataFile = readFileSync(join(modelDir, 'onnx/model.onnx_data'));
    const blob = join(repoFolder(), 'blobs', sha256(dataFile));
    hub.faults.drop.set('onnx/model.onnx_data', { afterBytes: 800_000, times: 3 });
    const error = await failure(pullModel(TINY_REPO, { ...env(), retries: 1 }));
    expect(error.code).toBe('HUB_DOWNLOAD_FAILED');
    expect(error.details).toMatchObject({ reason: 'interrupted', file: 'onnx/model.onnx_data' });
    expect(error.message).toContain('Run the same command again');
    expect(existsSync(blob)).toBe(false);
    const partial = readFileSync(`${blob}.incomplete`);
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(dataFile.length);
    expect(partial.equals(dataFile.subarray(0, partial.length))).toBe(true);
    expect(existsSync(join(repoFolder(), 'snapshots', commits.latest, 'onnx/model.onnx_data'))).toBe(false);
    expect(existsSync(join(repoFolder(), 'refs', 'main'))).toBe(false);

    hub.faults.drop.clear();
    hub.requests.length = 0;
    const result = await pullModel(TINY_REPO, env());
    expect(hub.requests.find((r) => r.range !== undefined)?.range).toBe(`bytes=${partial.length}-`);
    expect(readFileSync(join(result.path, 'onnx/model.onnx_data')).equals(dataFile)).toBe(true);
    expect(existsSync(`${blob}.incomplete`)).toBe(false);
  });

  it('detects corrupt bytes by sha256 (LFS) and git blob sha1 (regular files), and keeps nothing of them', async () => {
    hub.faults.corrupt.add('tokenizer.json');
    const regular = await failure(pullModel(TINY_REPO, env()));
    expect(regular.details).toMatchObject({ reason: 'checksum_mismatch', algorithm: 'sha1', file: 'tokenizer.json' });

    hub.faults.corrupt.clear();
    hub.faults.corrupt.add('onnx/model.onnx');
    const lfs = await failure(pullModel(TINY_REPO, env()));
    expect(lfs.code).toBe('HUB_DOWNLOAD_FAILED');
    expect(lfs.details).toMatchObject({ reason: 'checksum_mismatch', algorithm: 'sha256', file: 'onnx/model.onnx' });
    const blobs = readdirSync(join(repoFolder(), 'blobs'));
    expect(blobs).not.toContain(sha256(readFileSync(join(modelDir, 'onnx/model.onnx'))));
    expect(blobs.some((name) => name.endsWith('.incomplete'))).toBe(false);
  });

  it('refuses a gated repository without a token (401 -> HUB_UNAUTHORIZED naming HF_TOKEN) and downloads it with one', async () => {
    const anonymous = await failure(pullModel(GATED_REPO, env()));
    expect(anonymous.code).toBe('HUB_UNAUTHORIZED');
    expect(anonymous.message).toContain('Set HF_TOKEN');
    const wrong = await failure(pullModel(GATED_REPO, env({ HF_TOKEN: 'hf_wrong' })));
    expect(wrong.code).toBe('HUB_UNAUTHORIZED');
    expect(wrong.message).toContain('was refused');
    const result = await pullModel(GATED_REPO, env({ HF_TOKEN: GATED_TOKEN }));
    expect(existsSync(join(result.path, 'onnx/model.onnx'))).toBe(true);
    expect(hub.requests.filter((r) => r.path.includes('/resolve/')).every((r) => r.authorization === `Bearer ${GATED_TOKEN}`)).toBe(true);
  });

  it('reads the token file of `huggingface-cli login` when HF_TOKEN is unset', async () => {
    const home = join(cacheDir, 'hf-home');
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'token'), `${GATED_TOKEN}\n`);
    const result = await pullModel(GATED_REPO, env({ HF_HOME: home }));
    expect(result.files).toContain('onnx/model.onnx');
  });

  it('reports an unknown repository as MODEL_NOT_FOUND and a repository without ONNX as HUB_NO_ONNX', async () => {
    const unknown = await failure(pullModel('test-org/does-not-exist', env()));
    expect(unknown.code).toBe('MODEL_NOT_FOUND');
    expect(unknown.message).toContain('has no model repository "test-org/does-not-exist"');
    const withToken = await failure(pullModel('test-org/does-not-exist', env({ HF_TOKEN: 'hf_any' })));
    expect(withToken.code).toBe('MODEL_NOT_FOUND');

    const noOnnx = await failure(pullModel(NO_ONNX_REPO, env()));
    expect(noOnnx.code).toBe('HUB_NO_ONNX');
    expect(noOnnx.message).toContain('onnx/encoder_model.onnx');
    expect(existsSync(join(cacheDir, 'models--test-org--pytorch-only', 'blobs'))).toBe(false);

    expect((await failure(pullModel('not a repo', env()))).code).toBe('INVALID_REQUEST');
  });

  it.runIf(existsSync('/dev/full'))('reports a disk that fills up while writing (ENOSPC) as disk_full, keeping nothing under the final name', async () => {
    // /dev/full accepts the open and fails every write with ENOSPC, as a full disk does.
    const dataFile = readFileSync(join(modelDir, 'onnx/model.onnx_data'));
    const blob = join(repoFolder(), 'blobs', sha256(dataFile));
    mkdirSync(dirname(blob), { recursive: true });
    symlinkSync('/dev/full', `${blob}.incomplete`);
    const error = await failure(pullModel(TINY_REPO, env()));
    expect(error.code).toBe('HUB_DOWNLOAD_FAILED');
    expect(error.details).toMatchObject({ reason: 'disk_full', file: 'onnx/model.onnx_data' });
    expect(error.message).toContain('The disk is full while writing');
    expect(existsSync(blob)).toBe(false);
  });

  it('waits for another process that holds the download lock, and takes over a lock whose process is gone', async () => {
    const graph = readFileSync(join(modelDir, 'onnx/model.onnx'));
    const lock = join(cacheDir, '.locks', 'models--test-org--tiny-llama', `${sha256(graph)}.muai-lock`);
    mkdirSync(dirname(lock), { recursive: true });
    // A live holder (this process's parent stands in for another muai): the pull waits until it lets go.
    writeFileSync(lock, String(process.ppid));
    const started = Date.now();
    const released = new Promise<void>((done) => setTimeout(() => {
      rmSync(lock);
      done();
    }, 600));
    const result = await pullModel(TINY_REPO, env());
    await released;
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(readFileSync(join(result.path, 'onnx/model.onnx')).equals(graph)).toBe(true);
    expect(existsSync(lock)).toBe(false);

    // A holder that exited: its lock is stale and taken over at once.
    rmSync(cacheDir, { recursive: true, force: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    mkdirSync(dirname(lock), { recursive: true });
    writeFileSync(lock, String(dead));
    const again = await pullModel(TINY_REPO, env());
    expect(again.downloadedBytes).toBeGreaterThan(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('checks free disk space before downloading', async () => {
    const error = await failure(pullModel(TINY_REPO, { ...env(), freeBytes: async () => 1000 }));
    expect(error.code).toBe('HUB_DOWNLOAD_FAILED');
    expect(error.details).toMatchObject({ reason: 'disk_full' });
    expect(error.message).toContain('MUAI_CACHE_DIR');
    expect(existsSync(join(repoFolder(), 'refs', 'main'))).toBe(false);
  });
});

describe('resolveModel and isHubId', () => {
  it('returns local paths as they are and hub ids as their snapshot folder', async () => {
    expect(await resolveModel(modelDir, env())).toBe(modelDir);
    expect(await resolveModel(TINY_REPO, env())).toBe(join(repoFolder(), 'snapshots', commits.latest));
  });

  it('tells hub ids from paths', () => {
    expect(isHubId('onnx-community/SmolLM2-135M-Instruct')).toBe(true);
    expect(isHubId('TinyLlama/TinyLlama-1.1B-Chat-v1.0')).toBe(true);
    expect(isHubId('./onnx-community/SmolLM2-135M-Instruct')).toBe(false);
    expect(isHubId('/abs/path')).toBe(false);
    expect(isHubId('models/generated', { baseDirectory: join(import.meta.dirname, '../../..') })).toBe(false);
    expect(isHubId('a--b/c')).toBe(false);
    expect(isHubId('org/name/extra')).toBe(false);
    expect(isHubId('gpt2')).toBe(false);
  });
});

describe('revisions never name files outside the cache', () => {
  it.each(['../../outside', 'refs/../../x', '..', 'a//b', 'main\\..\\x'])('revision %j is INVALID_REQUEST before any request or file access', async (revision) => {
    const before = hub.requests.length;
    await expect(pullModel(TINY_REPO, { ...env(), revision })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    expect(hub.requests.length).toBe(before);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('branch names with slashes (refs/pr/1 style) stay allowed', async () => {
    await expect(pullModel(TINY_REPO, { ...env(), revision: 'refs/pr/1' })).rejects.not.toMatchObject({ code: 'INVALID_REQUEST' });
  });
});
