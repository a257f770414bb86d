import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

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
    return join(this.folder, 'blobs', etag);
  }

  /** Lock of a blob's download, beside the ones huggingface_hub keeps in `<cache>/.locks/` (its own files are `<etag>.lock`). */
  lockPath(etag: string): string {
    return join(this.cacheDir, '.locks', basename(this.folder), `${etag}.muai-lock`);
  }

  snapshotDir(commit: string): string {
    return join(this.folder, 'snapshots', commit);
  }

  pointerPath(commit: string, file: string): string {
    return join(this.snapshotDir(commit), ...file.split('/'));
  }

  /** The commit `revision` resolved to last time, or undefined. A 40-hex revision is a commit already. */
  readRef(revision: string): string | undefined {
    if (isCommitHash(revision)) return revision;
    const path = join(this.folder, 'refs', ...revision.split('/'));
    if (!existsSync(path)) return undefined;
    const commit = readFileSync(path, 'utf8').trim();
    return isCommitHash(commit) ? commit : undefined;
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const path = join(this.folder, 'refs', ...revision.split('/'));
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

export function isCommitHash(value: string): boolean {
  return /^[0-9a-f]{40}$/.test(value);
}
