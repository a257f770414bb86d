import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MuaiError } from '@muai/core';
import { HubDownloadError } from '../errors.js';
import { withBlobLock } from './blob-lock.js';
import type { PullEvent } from '../events.js';
import { hubFetch, hubHeaders, networkCode, raiseForStatus } from './http.js';
import type { FetchLike, RequestSubject } from './http.js';
import type { HubSettings } from './settings.js';

export interface DownloadContext {
  settings: HubSettings;
  fetch: FetchLike;
  emit: (event: PullEvent) => void;
  /** Extra attempts after a dropped connection, each resuming with a Range request. */
  retries: number;
  /** Abort a download that receives nothing for this long, in ms. */
  stallTimeoutMs: number;
  /** Free bytes on the disk that holds `dir`. */
  freeBytes: (dir: string) => Promise<number>;
}

/** What a HEAD on `resolve/<commit>/<file>` tells. */
export interface FileMetadata {
  /** X-Repo-Commit: the commit the revision resolved to. */
  commit: string | undefined;
  /** X-Linked-Etag (sha256 of an LFS file) or ETag (git blob sha1 of a regular file), unquoted. */
  etag: string;
  /** X-Linked-Size or Content-Length, in bytes. */
  size: number | undefined;
  /** Where the bytes are: the CDN URL of an LFS file's redirect, or the resolve URL itself. */
  location: string;
}

export async function freeBytesOnDisk(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}

function normalizeEtag(value: string | null): string | undefined {
  if (value === null) return undefined;
  return value.replace(/^W\//, '').replace(/"/g, '').trim() || undefined;
}

function sizeHeader(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/** Human size: KB, MB or GB with one or two decimals. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}


/** `{endpoint}/{repo}/resolve/{revision}/{file}`, each segment encoded. */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * HEAD on the resolve URL without following the CDN redirect: the Hub puts the file's size and
 * checksum on the 302 itself. Relative redirects (a renamed repository) are followed, as
 * huggingface_hub does.
 */
export async function fileMetadata(context: DownloadContext, subject: RequestSubject & { file: string }, url: string): Promise<FileMetadata> {
  let current = url;
  for (let hops = 0; hops < 5; hops += 1) {
    const response = await hubFetch(context.fetch, context.settings, current, {
      method: 'HEAD',
      redirect: 'manual',
      headers: hubHeaders(context.settings, current, { 'accept-encoding': 'identity' }),
      signal: AbortSignal.timeout(context.stallTimeoutMs),
    });
    await raiseForStatus(response, context.settings, subject);
    const location = response.headers.get('location');
    const isRedirect = response.status >= 300 && response.status < 400 && location !== null;
    if (isRedirect && !/^[a-z][a-z0-9+.-]*:/i.test(location)) {
      current = new URL(location, current).toString();
      continue;
    }
    const etag = normalizeEtag(response.headers.get('x-linked-etag')) ?? normalizeEtag(response.headers.get('etag'));
    if (etag === undefined || !/^[A-Za-z0-9._-]+$/.test(etag) || etag.startsWith('.')) {
      throw new HubDownloadError(
        'protocol',
        `${current} answered without a usable ETag (${etag ?? 'none'}), so "${subject.file}" cannot be cached or verified. Check that HF_ENDPOINT (${context.settings.endpoint}) is a Hugging Face Hub or a mirror of it.`,
        { details: { url: current } },
      );
    }
    return {
      commit: response.headers.get('x-repo-commit') ?? undefined,
      etag,
      size: sizeHeader(response.headers.get('x-linked-size')) ?? sizeHeader(response.headers.get('content-length')),
      location: isRedirect ? location : current,
    };
  }
  throw new HubDownloadError('protocol', `Too many redirects resolving "${subject.file}" of "${subject.repo}".`, { details: { url } });
}

export interface BlobJob {
  subject: RequestSubject & { file: string };
  blobPath: string;
  metadata: FileMetadata;
}

/**
 * Downloads one blob: `<blob>.incomplete` (resumed with Range when present), verified, then renamed;
 * under `lockPath`, so that a second process waits for the first instead of writing the same file.
 */
export async function downloadBlob(context: DownloadContext, job: BlobJob, lockPath: string): Promise<void> {
  await withBlobLock(lockPath, () => existsSync(job.blobPath), () => downloadLocked(context, job));
}

async function downloadLocked(context: DownloadContext, job: BlobJob): Promise<void> {
  const incomplete = `${job.blobPath}.incomplete`;
  mkdirSync(dirname(job.blobPath), { recursive: true });
  for (let attempt = 0; ; attempt += 1) {
    try {
      await fetchInto(context, job, incomplete);
      break;
    } catch (error) {
      if (error instanceof HubDownloadError && error.reason === 'interrupted' && attempt < context.retries) {
        context.emit({ type: 'warning', message: `${error.message} (attempt ${attempt + 2} of ${context.retries + 1}, resuming)` });
        continue;
      }
      throw error;
    }
  }
  await verify(job, incomplete);
  renameSync(incomplete, job.blobPath);
}

async function fetchInto(context: DownloadContext, job: BlobJob, incomplete: string): Promise<void> {
  const { subject, metadata } = job;
  const expected = metadata.size;
  let start = existsSync(incomplete) ? statSync(incomplete).size : 0;
  if (expected !== undefined && start > expected) {
    rmSync(incomplete, { force: true });
    start = 0;
  }
  if (expected !== undefined && start === expected && start > 0) return; // complete already; verify decides
  if (expected !== undefined) {
    const free = await context.freeBytes(dirname(incomplete));
    if (free < expected - start) {
      throw new HubDownloadError(
        'disk_full',
        `Not enough disk space for "${subject.file}" of "${subject.repo}": it needs ${formatBytes(expected - start)} more and ${dirname(dirname(dirname(incomplete)))} has ${formatBytes(free)} free. Free space, or point MUAI_CACHE_DIR at a larger disk.`,
        { details: { file: subject.file, needed: expected - start, free } },
      );
    }
  }

  const controller = new AbortController();
  let stall: NodeJS.Timeout | undefined;
  const armStall = (): void => {
    clearTimeout(stall);
    stall = setTimeout(() => controller.abort(new Error(`no data for ${context.stallTimeoutMs} ms`)), context.stallTimeoutMs);
  };
  armStall();
  let received = 0;
  try {
    const url = metadata.location;
    const response = await hubFetch(context.fetch, context.settings, url, {
      method: 'GET',
      redirect: 'follow',
      headers: hubHeaders(context.settings, url, { 'accept-encoding': 'identity', ...(start > 0 ? { range: `bytes=${start}-` } : {}) }),
      signal: controller.signal,
    });
    if (response.status === 416) {
      // The partial file does not fit the server's copy: start over.
      await response.body?.cancel().catch(() => undefined);
      rmSync(incomplete, { force: true });
      throw new HubDownloadError('interrupted', `The server refused to resume "${subject.file}"; downloading it again from the start.`, { details: { file: subject.file } });
    }
    await raiseForStatus(response, context.settings, subject);
    if (start > 0 && response.status === 200) start = 0; // the server ignored Range: take the whole file
    if (response.status === 206 && !new RegExp(`^bytes ${start}-`).test(response.headers.get('content-range') ?? '')) {
      throw new HubDownloadError('protocol', `The server answered a resume of "${subject.file}" at byte ${start} with Content-Range "${response.headers.get('content-range') ?? ''}".`, {
        details: { file: subject.file, start },
      });
    }
    context.emit({ type: 'file-start', file: subject.file, size: expected, resumeFrom: start });
    const out = createWriteStream(incomplete, { flags: start > 0 ? 'a' : 'w' });
    let writeError: Error | undefined;
    out.on('error', (error) => (writeError = error));
    try {
      if (response.body === null) throw new Error('empty response body');
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        armStall();
        if (writeError) break;
        if (!out.write(chunk)) {
          await new Promise<void>((done) => {
            const finish = (): void => {
              out.off('drain', finish);
              out.off('error', finish);
              done();
            };
            out.on('drain', finish);
            out.on('error', finish);
          });
        }
        received += chunk.byteLength;
        context.emit({ type: 'file-progress', file: subject.file, received: start + received, size: expected });
      }
    } catch (error) {
      if (writeError === undefined) {
        await closeStream(out);
        throw interrupted(subject, start + received, expected, error);
      }
    }
    await closeStream(out);
    if (writeError !== undefined) throw writeFailure(subject, writeError);
    if (expected !== undefined && start + received < expected) throw interrupted(subject, start + received, expected, new Error('the connection closed early'));
  } catch (error) {
    // A connection refused or reset before the headers, mid-download, is worth a resumed retry too.
    if (error instanceof HubDownloadError && error.reason === 'unreachable') throw interrupted(subject, start + received, expected, error.cause);
    if (MuaiError.isInstance(error)) throw error;
    const code = networkCode(error);
    if (code === 'ENOSPC' || code === 'EDQUOT') throw writeFailure(subject, error as Error);
    throw interrupted(subject, start + received, expected, error);
  } finally {
    clearTimeout(stall);
  }
}

async function closeStream(out: NodeJS.WritableStream & { destroyed?: boolean; closed?: boolean }): Promise<void> {
  if ((out as { closed?: boolean }).closed === true) return;
  await new Promise<void>((done) => {
    out.once('close', () => done());
    out.end();
  });
}

function interrupted(subject: RequestSubject & { file: string }, have: number, expected: number | undefined, cause: unknown): HubDownloadError {
  const reason = networkCode(cause) ?? (cause instanceof Error ? cause.message : String(cause));
  return new HubDownloadError(
    'interrupted',
    `The download of "${subject.file}" of "${subject.repo}" was interrupted after ${formatBytes(have)}${expected !== undefined ? ` of ${formatBytes(expected)}` : ''} (${reason}). Run the same command again: it resumes where it stopped.`,
    { cause, details: { file: subject.file, received: have, size: expected } },
  );
}

function writeFailure(subject: RequestSubject & { file: string }, error: Error): HubDownloadError {
  const code = networkCode(error);
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new HubDownloadError(
    full ? 'disk_full' : 'interrupted',
    full
      ? `The disk is full while writing "${subject.file}" of "${subject.repo}". Free space (or point MUAI_CACHE_DIR at a larger disk) and run the same command again: it resumes where it stopped.`
      : `Could not write "${subject.file}" of "${subject.repo}" to the cache (${code ?? error.message}). Check the cache folder's permissions (MUAI_CACHE_DIR / HF_HOME).`,
    { cause: error, details: { file: subject.file } },
  );
}

/**
 * Checks the finished file against what the Hub promised: the size, and the content hash the ETag
 * is: sha256 for LFS files (64 hex digits), the git blob sha1 for regular files (40 hex digits).
 * A file that fails is deleted (its bytes cannot be trusted to resume from).
 */
async function verify(job: BlobJob, incomplete: string): Promise<void> {
  const { subject, metadata } = job;
  const size = statSync(incomplete).size;
  if (metadata.size !== undefined && size !== metadata.size) {
    rmSync(incomplete, { force: true });
    throw new HubDownloadError('size_mismatch', `"${subject.file}" of "${subject.repo}" has ${size} bytes but the Hub announced ${metadata.size}. Run the command again to download it afresh.`, {
      details: { file: subject.file, size, expected: metadata.size },
    });
  }
  const kind = /^[0-9a-f]{64}$/.test(metadata.etag) ? 'sha256' : /^[0-9a-f]{40}$/.test(metadata.etag) ? 'sha1' : undefined;
  if (kind === undefined) return;
  const hash = createHash(kind);
  if (kind === 'sha1') hash.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(incomplete)) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== metadata.etag) {
    rmSync(incomplete, { force: true });
    throw new HubDownloadError(
      'checksum_mismatch',
      `"${subject.file}" of "${subject.repo}" is corrupt: its ${kind === 'sha256' ? 'sha256' : 'git blob sha1'} is ${actual}, the Hub announced ${metadata.etag}. The file was deleted; run the command again to download it afresh (if it keeps failing, a proxy or mirror is altering it).`,
      { details: { file: subject.file, algorithm: kind, expected: metadata.etag, actual } },
    );
  }
}
