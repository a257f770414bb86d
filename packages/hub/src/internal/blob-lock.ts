import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** How often a waiting process looks again, in ms. */
const POLL_MS = 200;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Holds `lockPath` (created exclusively, holding our pid) while `work` runs, so that two processes
 * never append to the same `.incomplete` file. A lock whose process is gone is taken over. When
 * `done()` turns true while waiting (the other process finished the blob), `work` is skipped.
 */
export async function withBlobLock(lockPath: string, done: () => boolean, work: () => Promise<void>): Promise<void> {
  mkdirSync(dirname(lockPath), { recursive: true });
  for (;;) {
    if (done()) return;
    let fd: number | undefined;
    try {
      fd = openSync(lockPath, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (fd !== undefined) {
      writeSync(fd, String(process.pid));
      closeSync(fd);
      try {
        await work();
      } finally {
        rmSync(lockPath, { force: true });
      }
      return;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(lockPath, 'utf8').trim());
    } catch {
      continue; // released meanwhile
    }
    // An empty or unreadable pid is a lock being written right now: wait for it like a live one.
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && !alive(holder)) {
      rmSync(lockPath, { force: true });
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (!existsSync(lockPath) && done()) return;
  }
}
