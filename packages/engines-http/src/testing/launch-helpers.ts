import { afterEach } from 'vitest';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Registers an afterEach hook that disposes of everything tracked during the test (in parallel),
 * and returns the tracking function (it returns its argument). Call it at the top level of a test file.
 */
export function disposeAfterEach<T>(dispose: (item: T) => Promise<unknown>): <U extends T>(item: U) => U {
  const items: T[] = [];
  afterEach(async () => {
    await Promise.all(items.splice(0).map(dispose));
  });
  return (item) => {
    items.push(item);
    return item;
  };
}

/** disposeAfterEach for engines, stand-in servers and anything else with `close()`. */
export function closeAfterEach(): <U extends { close(): Promise<unknown> }>(item: U) => U {
  return disposeAfterEach<{ close(): Promise<unknown> }>((item) => item.close());
}

// A loopback TCP port that was free a moment ago: @muai/core/testing's, re-exported for this package's users.
export { freePort } from '@muai/core/testing';

/**
 * A fresh temporary directory holding an executable `name`, to put on PATH in place of a real
 * server binary (`vllm`, `python3`): a symlink to `target` (a file path or file: URL of an
 * executable script), or, when `target` is `{ script }`, a new file with that content (mode 755).
 */
export function fakeExecutableDir(name: string, target: string | URL | { script: string }, prefix = 'muai-fake-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, name);
  if (typeof target === 'object' && 'script' in target) {
    writeFileSync(path, target.script, { mode: 0o755 });
  } else {
    symlinkSync(typeof target === 'string' ? target : fileURLToPath(target), path);
  }
  return dir;
}
