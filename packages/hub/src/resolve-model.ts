import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidRequestError, ModelNotFoundError, MuaiError } from '@muai/core';
import { HubDownloadError, HubNoOnnxError } from './errors.js';
import type { PullEvent } from './events.js';
import { RepoCache, revisionSegments } from './internal/cache.js';
import { downloadBlob, fileMetadata, freeBytesOnDisk, resolveUrl } from './internal/download.js';
import type { DownloadContext } from './internal/download.js';
import { hubFetch, hubHeaders, raiseForStatus } from './internal/http.js';
import type { FetchLike } from './internal/http.js';
import { chooseGraph, DTYPE_SUFFIXES, SUPPORT_FILES } from './internal/select-files.js';
import { hubSettings } from './internal/settings.js';
import type { HubSettings } from './internal/settings.js';

/** Options of `pullModel` and `resolveModel`. Every one is optional; environment variables fill the rest. */
export interface HubOptions {
  /** Branch, tag or commit. Default `main`. */
  revision?: string;
  /** Which graph to fetch: fp32 (`onnx/model.onnx`), fp16, q8 (`model_quantized`), int8, uint8, q4, q4f16, bnb4. Default: the one the engine would pick (fp32 when present). */
  dtype?: string;
  /** Cache folder (the one holding `models--org--name/`). Default MUAI_CACHE_DIR, else HF_HUB_CACHE, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Hub URL. Default HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Access token for gated and private repositories. Default HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the token file of `huggingface-cli login`. */
  token?: string;
  /** Use only the cache, never the network. Default: HF_HUB_OFFLINE is 1/true/yes/on. */
  offline?: boolean;
  /** Progress and warnings; `createProgressPrinter()` renders them. */
  onEvent?: (event: PullEvent) => void;
  /** Extra attempts after a dropped connection, each resuming where the last stopped. Default 3. */
  retries?: number;
  /** Give up on a request that receives nothing for this long, in ms. Default 60000. */
  stallTimeoutMs?: number;
  /** Folder relative local paths are resolved against (resolveModel, isHubId). Default process.cwd(). */
  baseDirectory?: string;
  /** Environment to read the variables above from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** fetch implementation (tests, proxies). Default globalThis.fetch. */
  fetch?: FetchLike;
  /** Free bytes on the disk holding a folder; the default asks the OS (statfs). */
  freeBytes?: (dir: string) => Promise<number>;
}

/** What `pullModel` made present. */
export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  /** The snapshot folder to load: `<cache>/models--org--name/snapshots/<commit>`. */
  path: string;
  dtype: string;
  /** Repository path of the graph, e.g. `onnx/model.onnx`. */
  graph: string;
  /** Every file of the snapshot this pull made present (repository paths). */
  files: string[];
  /** Bytes downloaded by this call (0 when everything was cached). */
  downloadedBytes: number;
  /** True when the network was not used (offline, or the Hub was unreachable and the cache had it). */
  fromCache: boolean;
}

const NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?';
const REPO_ID = new RegExp(`^${NAME}/${NAME}$`);

/** True when `value` has the form of a Hub model id (`org/name`): letters, digits, `-`, `_`, `.`; no `--` or `..`. */
export function isValidRepoId(value: string): boolean {
  return REPO_ID.test(value) && !value.includes('--') && !value.includes('..');
}

/**
 * True when `value` names a Hub repository rather than something on this machine: it has the form
 * `org/name` and no file or folder of that name exists (relative to `baseDirectory`, default cwd).
 * `./org/name` or an absolute path is always local.
 */
export function isHubId(value: string, options: Pick<HubOptions, 'baseDirectory'> = {}): boolean {
  return isValidRepoId(value) && !existsSync(resolve(options.baseDirectory ?? process.cwd(), value));
}

/** Blob downloads in flight in this process, so that two loads of one model share one download. */
const inFlight = new Map<string, Promise<void>>();

/**
 * Makes the files the embedded engine needs from Hub repository `repo` present in the cache
 * (config, tokenizer and generation files, the chosen `onnx/model*.onnx` and its external data),
 * downloading only what is missing, and returns the snapshot folder. Offline (HF_HUB_OFFLINE=1),
 * or when the Hub is unreachable, it answers from the cache.
 */
export async function pullModel(repo: string, options: HubOptions = {}): Promise<PullResult> {
  if (!isValidRepoId(repo)) {
    throw new InvalidRequestError(`"${repo}" is not a Hugging Face Hub model id. Use org/name as in the model's URL (e.g. onnx-community/SmolLM2-135M-Instruct), or pass a local folder as ./path.`);
  }
  if (options.dtype !== undefined && !(options.dtype in DTYPE_SUFFIXES)) {
    // The engine's code for the same mistake (a model setting, not a malformed request).
    throw new MuaiError('MODEL_INVALID', `Unknown dtype "${options.dtype}". Use one of ${Object.keys(DTYPE_SUFFIXES).join(', ')}.`, { details: { dtype: options.dtype } });
  }
  const revision = options.revision ?? 'main';
  revisionSegments(revision); // a revision like ../../x never reaches the file system
  const settings = hubSettings(options, options.env ?? process.env);
  const cache = new RepoCache(settings.cacheDir, repo);
  const emit = options.onEvent ?? ((): void => undefined);

  if (settings.offline) {
    const cached = fromCache(cache, repo, revision, options.dtype);
    if (cached) return announceCached(cached, emit);
    throw new ModelNotFoundError(
      repo,
      `It is not in the cache ${settings.cacheDir} (revision ${revision}${options.dtype !== undefined ? `, dtype ${options.dtype}` : ''}), and HF_HUB_OFFLINE forbids downloading it. Download it first with network (\`muai pull ${repo}${revision !== 'main' ? ` --revision ${revision}` : ''}\`), or unset HF_HUB_OFFLINE.`,
      { details: { repo, revision, cacheDir: settings.cacheDir, offline: true } },
    );
  }
  // A commit already complete in the cache needs no network at all.
  if (cache.readRef(revision) === revision) {
    const cached = fromCache(cache, repo, revision, options.dtype);
    if (cached) return announceCached(cached, emit);
  }

  const fetchImpl = options.fetch ?? ((input: string, init?: RequestInit) => fetch(input, init));
  const context: DownloadContext = {
    settings,
    fetch: fetchImpl,
    emit,
    retries: options.retries ?? 3,
    stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
    freeBytes: options.freeBytes ?? freeBytesOnDisk,
  };
  let listing: { commit: string; files: string[] };
  try {
    listing = await listRepo(context, repo, revision);
  } catch (error) {
    const cached = error instanceof HubDownloadError && error.reason === 'unreachable' ? fromCache(cache, repo, revision, options.dtype) : undefined;
    if (!cached) throw error;
    emit({ type: 'warning', message: `${(error as Error).message} Using the cached snapshot ${cached.commit.slice(0, 12)}.` });
    return announceCached(cached, emit);
  }

  const { choice, available } = chooseGraph(listing.files, options.dtype);
  if (!choice) {
    if (available.length > 0) {
      throw new ModelNotFoundError(repo, `It has no ${options.dtype ?? ''} graph (onnx/model${DTYPE_SUFFIXES[options.dtype ?? ''] ?? ''}.onnx) at revision ${revision}; its dtypes are ${available.join(', ')}. Pass one of them with --dtype.`, {
        details: { repo, revision, dtype: options.dtype, available },
      });
    }
    throw new HubNoOnnxError(repo, revision, listing.files.filter((file) => file.endsWith('.onnx')));
  }
  const files = [...SUPPORT_FILES.filter((file) => listing.files.includes(file)), choice.graph, ...choice.externalData];
  emit({ type: 'resolved', repo, revision, commit: listing.commit, files, offline: false });

  let downloadedBytes = 0;
  for (const file of files) {
    if (cache.hasFile(listing.commit, file)) {
      emit({ type: 'file-done', file, size: statSync(cache.pointerPath(listing.commit, file)).size, cached: true });
      continue;
    }
    const subject = { repo, revision, file };
    const metadata = await fileMetadata(context, subject, resolveUrl(settings.endpoint, repo, listing.commit, file));
    const blobPath = cache.blobPath(metadata.etag);
    let cached = existsSync(blobPath);
    if (!cached) {
      let pending = inFlight.get(blobPath);
      if (pending) {
        cached = true;
      } else {
        pending = downloadBlob(context, { subject, blobPath, metadata }, cache.lockPath(metadata.etag)).finally(() => inFlight.delete(blobPath));
        inFlight.set(blobPath, pending);
      }
      await pending;
    }
    cache.link(listing.commit, file, blobPath);
    const size = statSync(blobPath).size;
    if (!cached) downloadedBytes += size;
    emit({ type: 'file-done', file, size, cached });
  }
  cache.writeRef(revision, listing.commit);
  const path = cache.snapshotDir(listing.commit);
  emit({ type: 'done', repo, commit: listing.commit, path, downloadedBytes });
  return { repo, revision, commit: listing.commit, path, dtype: choice.dtype, graph: choice.graph, files, downloadedBytes, fromCache: false };
}

/**
 * The folder to load for `idOrPath`: a local path as it is (resolved against `baseDirectory`), a Hub
 * id (`org/name`) as its snapshot folder in the cache, downloaded first when needed (see `pullModel`).
 */
export async function resolveModel(idOrPath: string, options: HubOptions = {}): Promise<string> {
  if (!isHubId(idOrPath, options)) return resolve(options.baseDirectory ?? process.cwd(), idOrPath);
  return (await pullModel(idOrPath, options)).path;
}

/** `GET {endpoint}/api/models/{repo}/revision/{revision}`: the commit and the file list (siblings). */
async function listRepo(context: DownloadContext, repo: string, revision: string): Promise<{ commit: string; files: string[] }> {
  const url = `${context.settings.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const response = await hubFetch(context.fetch, context.settings, url, {
    headers: hubHeaders(context.settings, url, { accept: 'application/json' }),
    signal: AbortSignal.timeout(context.stallTimeoutMs),
  });
  await raiseForStatus(response, context.settings, { repo, revision });
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    throw protocolError(context.settings, url, 'is not JSON', error);
  }
  const info = body as { sha?: unknown; siblings?: unknown };
  if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha) || !Array.isArray(info.siblings)) {
    throw protocolError(context.settings, url, 'lacks "sha" (a commit) or "siblings"');
  }
  const files = info.siblings
    .map((sibling: unknown) => (typeof sibling === 'object' && sibling !== null ? (sibling as { rfilename?: unknown }).rfilename : undefined))
    .filter((name): name is string => typeof name === 'string');
  return { commit: info.sha, files };
}

function protocolError(settings: HubSettings, url: string, what: string, cause?: unknown): HubDownloadError {
  return new HubDownloadError('protocol', `The answer of ${url} ${what}. Check that HF_ENDPOINT (${settings.endpoint}) is a Hugging Face Hub or a mirror of it.`, {
    cause,
    details: { url },
  });
}

/** Every file under `dir`, as repository paths. */
function listFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listFiles(join(dir, entry.name), path));
    else out.push(path);
  }
  return out;
}

/** The cached snapshot of `revision` when it holds a usable graph (of `dtype` when given). */
function fromCache(cache: RepoCache, repo: string, revision: string, dtype: string | undefined): PullResult | undefined {
  const commit = cache.readRef(revision);
  if (commit === undefined) return undefined;
  const present = listFiles(cache.snapshotDir(commit)).filter((file) => cache.hasFile(commit, file));
  const { choice } = chooseGraph(present, dtype);
  if (!choice) return undefined;
  const files = [...SUPPORT_FILES.filter((file) => present.includes(file)), choice.graph, ...choice.externalData];
  return { repo, revision, commit, path: cache.snapshotDir(commit), dtype: choice.dtype, graph: choice.graph, files, downloadedBytes: 0, fromCache: true };
}

function announceCached(result: PullResult, emit: (event: PullEvent) => void): PullResult {
  emit({ type: 'resolved', repo: result.repo, revision: result.revision, commit: result.commit, files: result.files, offline: true });
  emit({ type: 'done', repo: result.repo, commit: result.commit, path: result.path, downloadedBytes: 0 });
  return result;
}
