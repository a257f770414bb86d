import { formatBytes } from './internal/download.js';
import type { PullEvent } from './events.js';

/** Where the printer writes: stderr, or any stream with `write` (and `isTTY`, `columns` when a terminal). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressPrinterOptions {
  /** Line prefix. Default `muai: `. */
  prefix?: string;
  /** Redraw the bar at most this often, in ms (terminal only). Default 100. */
  intervalMs?: number;
  /** Force the terminal bar (true) or plain lines (false). Default: `stream.isTTY`. */
  tty?: boolean;
}

/**
 * Renders `PullEvent`s: on a terminal one redrawn line per download (bar, percent, bytes, speed);
 * elsewhere (logs, CI, pipes) plain lines when a download starts and ends. Cached files stay quiet:
 * a model already in the cache prints only its closing line.
 */
export function createProgressPrinter(stream: ProgressStream = process.stderr, options: ProgressPrinterOptions = {}): (event: PullEvent) => void {
  const prefix = options.prefix ?? 'muai: ';
  const tty = options.tty ?? stream.isTTY === true;
  const intervalMs = options.intervalMs ?? 100;
  const started = new Map<string, { at: number; from: number }>();
  let lastDraw = 0;
  let barShown = false;
  // Said once something must be downloaded: a model that is fully cached costs one line, not two.
  let pendingResolved: string | undefined;

  const clearBar = (): void => {
    if (barShown) stream.write('\r\x1b[2K');
    barShown = false;
  };

  return (event: PullEvent): void => {
    switch (event.type) {
      case 'resolved':
        pendingResolved = event.offline ? undefined : `${prefix}${event.repo}@${event.revision} is commit ${event.commit.slice(0, 12)}: ${event.files.length} files\n`;
        return;
      case 'file-start': {
        if (pendingResolved !== undefined) stream.write(pendingResolved);
        pendingResolved = undefined;
        started.set(event.file, { at: Date.now(), from: event.resumeFrom });
        if (tty) return;
        const size = event.size !== undefined ? formatBytes(event.size) : 'unknown size';
        stream.write(
          event.resumeFrom > 0
            ? `${prefix}resuming ${event.file} at ${formatBytes(event.resumeFrom)} of ${size}\n`
            : `${prefix}downloading ${event.file} (${size})\n`,
        );
        return;
      }
      case 'file-progress': {
        if (!tty) return;
        const now = Date.now();
        if (now - lastDraw < intervalMs && event.received !== event.size) return;
        lastDraw = now;
        const start = started.get(event.file) ?? { at: now, from: 0 };
        const seconds = Math.max((now - start.at) / 1000, 0.001);
        const speed = `${formatBytes((event.received - start.from) / seconds)}/s`;
        const width = 24;
        const fraction = event.size ? Math.min(event.received / event.size, 1) : 0;
        const bar = event.size ? `[${'#'.repeat(Math.round(fraction * width)).padEnd(width, '-')}] ${(fraction * 100).toFixed(0).padStart(3)}% ` : '';
        const total = event.size !== undefined ? `/${formatBytes(event.size)}` : '';
        const line = `${prefix}${event.file} ${bar}${formatBytes(event.received)}${total} ${speed}`;
        // A pseudo-terminal without a size reports 0 columns: draw the whole line then.
        const columns = stream.columns !== undefined && stream.columns > 0 ? stream.columns : 1000;
        stream.write(`\r\x1b[2K${line.slice(0, Math.max(columns - 1, 20))}`);
        barShown = true;
        return;
      }
      case 'file-done': {
        if (event.cached) return;
        clearBar();
        const start = started.get(event.file);
        const seconds = start ? ((Date.now() - start.at) / 1000).toFixed(1) : '?';
        stream.write(`${prefix}${event.file} done (${formatBytes(event.size)}, ${seconds} s)\n`);
        return;
      }
      case 'warning':
        clearBar();
        stream.write(`${prefix}warning: ${event.message}\n`);
        return;
      case 'done':
        clearBar();
        stream.write(`${prefix}${event.repo} ${event.downloadedBytes > 0 ? `downloaded (${formatBytes(event.downloadedBytes)})` : 'is cached'}: ${event.path}\n`);
        return;
    }
  };
}
