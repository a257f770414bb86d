import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgressPrinter, defaultCacheDir } from '../src/index.js';
import type { PullEvent } from '../src/index.js';

const download: PullEvent[] = [
  { type: 'resolved', repo: 'org/name', revision: 'main', commit: 'a'.repeat(40), files: ['config.json', 'onnx/model.onnx'], offline: false },
  { type: 'file-done', file: 'config.json', size: 600, cached: true },
  { type: 'file-start', file: 'onnx/model.onnx', size: 4 * 1024 * 1024, resumeFrom: 1024 * 1024 },
  { type: 'file-progress', file: 'onnx/model.onnx', received: 2 * 1024 * 1024, size: 4 * 1024 * 1024 },
  { type: 'file-progress', file: 'onnx/model.onnx', received: 4 * 1024 * 1024, size: 4 * 1024 * 1024 },
  { type: 'file-done', file: 'onnx/model.onnx', size: 4 * 1024 * 1024, cached: false },
  { type: 'done', repo: 'org/name', commit: 'a'.repeat(40), path: '/cache/models--org--name/snapshots/aaa', downloadedBytes: 3 * 1024 * 1024 },
];

function render(tty: boolean): string {
  let text = '';
  const print = createProgressPrinter({ write: (chunk: string) => (text += chunk), isTTY: tty, columns: 100 }, { intervalMs: 0 });
  for (const event of download) print(event);
  return text;
}

describe('createProgressPrinter', () => {
  it('writes plain lines when not on a terminal: no carriage returns, cached files quiet', () => {
    const text = render(false);
    expect(text).not.toContain('\r');
    expect(text.split('\n').filter(Boolean)).toEqual([
      `muai: org/name@main is commit ${'a'.repeat(12)}: 2 files`,
      'muai: resuming onnx/model.onnx at 1.0 MB of 4.0 MB',
      expect.stringMatching(/^muai: onnx\/model\.onnx done \(4\.0 MB, \d+\.\d s\)$/),
      'muai: org/name downloaded (3.0 MB): /cache/models--org--name/snapshots/aaa',
    ]);
  });

  it('prints one line for a model that is fully cached', () => {
    let text = '';
    const print = createProgressPrinter({ write: (chunk: string) => (text += chunk) });
    print(download[0]!);
    print({ type: 'file-done', file: 'onnx/model.onnx', size: 10, cached: true });
    print({ type: 'done', repo: 'org/name', commit: 'a'.repeat(40), path: '/p', downloadedBytes: 0 });
    expect(text).toBe('muai: org/name is cached: /p\n');
  });

  it('redraws one bar line on a terminal', () => {
    const text = render(true);
    expect(text).toContain('\r\x1b[2Kmuai: onnx/model.onnx [############------------]  50% 2.0 MB/4.0 MB');
    expect(text).toContain('[########################] 100% 4.0 MB/4.0 MB');
    expect(text).not.toContain('resuming');
  });
});

describe('defaultCacheDir', () => {
  it('follows MUAI_CACHE_DIR, then HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ MUAI_CACHE_DIR: '/a', HF_HUB_CACHE: '/b', HF_HOME: '/c' })).toBe(resolve('/a'));
    expect(defaultCacheDir({ HF_HUB_CACHE: '/b', HF_HOME: '/c' })).toBe(resolve('/b'));
    expect(defaultCacheDir({ HF_HOME: '/c', XDG_CACHE_HOME: '/x' })).toBe(join(resolve('/c'), 'hub'));
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(join(resolve('/x'), 'huggingface', 'hub'));
    expect(defaultCacheDir({})).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
  });
});
