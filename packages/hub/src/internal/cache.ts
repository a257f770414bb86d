import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { InvalidRequestError } from '@muai/core';

/**
 * The Hugging Face cache layout (huggingface_hub's file_download.py), so that Python and MuAI share files:
 *   <cache>/models--org--name/blobs/<etag>                    file contents, named by ETag (sha256 for LFS files)
 *   <cache>/models--org--name/snapshots/<commit>/<path>       relative symlinks into blobs/
 *   <cache>/models--org--name/refs/<revision>                 the commit a branch or tag pointed at
 */
export class RepoCache {
  readonly folder: string;
  private readonly cacheDir: string;

  constructor(cacheDir: string, repo: string) {
    this.cacheDir = cacheDir;
    this.folder = join(cacheDir, `models--${repo.split('/').join('--')}`);
  }

  blobPath(etag: string): string {
    return join(this.folder, 'blobs', safeSegment(etag, 'ETag'));
  }

  /** Lock of a blob's download, beside the ones huggingface_hub keeps in `<cache>/.locks/` (its own files are `<etag>.lock`). */
  lockPath(etag: string): string {
    return join(this.cacheDir, '.locks', basename(this.folder), `${etag}.muai-lock`);
  }

  snapshotDir(commit: string): string {
    return join(this.folder, 'snapshots', safeSegment(commit, 'commit'));
  }

  pointerPath(commit: string, file: string): string {
    return join(this.snapshotDir(commit), ...file.split('/').map((segment) => safeSegment(segment, 'file path')));
  }

  /** The commit `revision` resolved to last time, or undefined. A 40-hex revision is a commit already. */
  readRef(revision: string): string | undefined {
    if (isCommitHash(revision)) return revision;
    const path = join(this.folder, 'refs', ...revisionSegments(revision));
    if (!existsSync(path)) return undefined;
    const commit = readFileSync(path, 'utf8').trim();
    return isCommitHash(commit) ? commit : undefined;
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const path = join(this.folder, 'refs', ...revisionSegments(revision));
    mkdirSync(dirname(path), { recursive: true });
    // No trailing newline, as huggingface_hub writes it.
    writeFileSync(path, commit);
  }

  /** True when the snapshot holds `file` and its blob (a dangling symlink does not count). */
  hasFile(commit: string, file: string): boolean {
    try {
      return statSync(this.pointerPath(commit, file)).isFile();
    } catch {
      return false;
    }
  }

  /**
   * Points the snapshot's `file` at the blob: a relative symlink, as huggingface_hub makes them;
   * a copy where symlinks are not allowed (Windows without developer mode).
   */
  link(commit: string, file: string, blob: string): void {
    const pointer = this.pointerPath(commit, file);
    mkdirSync(dirname(pointer), { recursive: true });
    try {
      lstatSync(pointer);
      rmSync(pointer, { force: true });
    } catch {
      // absent: nothing to replace
    }
    try {
      symlinkSync(relative(dirname(pointer), blob), pointer);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw error;
      copyFileSync(blob, pointer);
    }
  }
}

/**
 * The path segments of a revision (`main`, `v1.0`, `refs/pr/1`): each a plain name, so that a
 * revision such as `../../x` can never name a file outside the cache folder.
 */
export function revisionSegments(revision: string): string[] {
  const segments = revision.split('/');
  for (const segment of segments) safeSegment(segment, 'revision', revision);
  return segments;
}

/** `segment` when it is a plain file name (no separators, not `.` or `..`, no control characters); else INVALID_REQUEST. */
function safeSegment(segment: string, what: string, whole = segment): string {
  if (segment === '' || segment === '.' || segment === '..' || /[\\/\u0000-\u001f]/.test(segment)) {
    throw new InvalidRequestError(`The ${what} "${whole}" is not a valid name (it must not contain "..", "/" segments that are empty, backslashes or control characters).`, { details: { [what]: whole } });
  }
  return segment;
}

export function isCommitHash(value: string): boolean {
  return /^[0-9a-f]{40}$/.test(value);
}
