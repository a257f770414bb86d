/** What `pullModel` / `resolveModel` report while they work (see `createProgressPrinter`). */
export type PullEvent =
  /** The revision resolved to `commit`; `files` will be made present. */
  | { type: 'resolved'; repo: string; revision: string; commit: string; files: readonly string[]; offline: boolean }
  /** A download starts (or resumes at `resumeFrom` bytes). `size` in bytes when the Hub announced it. */
  | { type: 'file-start'; file: string; size: number | undefined; resumeFrom: number }
  /** Bytes of `file` on disk so far, in bytes. */
  | { type: 'file-progress'; file: string; received: number; size: number | undefined }
  /** `file` is in the snapshot: `cached` when no byte had to be downloaded. */
  | { type: 'file-done'; file: string; size: number; cached: boolean }
  /** Something the user may want to know (a retry, a fallback to the cache). */
  | { type: 'warning'; message: string }
  /** Every file is present; `path` is the snapshot folder. */
  | { type: 'done'; repo: string; commit: string; path: string; downloadedBytes: number };
