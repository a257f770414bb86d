import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { TracerStats } from '@muai/core';

/**
 * Wraps the real OTLP exporter: loads it lazily (so the gRPC or HTTP client is imported only when
 * the first batch is exported), bounds every export by a timeout even if the transport never
 * answers, and turns failures into counters and a rate-limited diagnostic instead of errors.
 */
export class ResilientExporter implements SpanExporter {
  readonly stats: TracerStats = {
    exportedBatches: 0,
    exportedSpans: 0,
    failedExports: 0,
    droppedSpans: 0,
    exportsInFlight: 0,
    lastError: null,
  };
  private inner: Promise<SpanExporter> | undefined;
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly load: () => Promise<SpanExporter>,
    private readonly timeoutMs: number,
    private readonly onError: (error: Error, stats: TracerStats) => void,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('The tracer was shut down.') });
      return;
    }
    this.stats.exportsInFlight += 1;
    const run = this.exportBounded(spans).then((result) => {
      this.stats.exportsInFlight -= 1;
      if (result.code === ExportResultCode.SUCCESS) {
        this.stats.exportedBatches += 1;
        this.stats.exportedSpans += spans.length;
      } else {
        this.stats.failedExports += 1;
        this.stats.droppedSpans += spans.length;
        const error = result.error ?? new Error('OTLP export failed.');
        this.stats.lastError = error.message;
        try {
          this.onError(error, this.stats);
        } catch {
          // A diagnostic hook must never break tracing.
        }
      }
      resultCallback(result);
    });
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.pending]);
    const inner = await this.loaded();
    await inner?.forceFlush?.().catch(() => undefined);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.pending]);
    const inner = await this.loaded();
    await inner?.shutdown().catch(() => undefined);
  }

  private async loaded(): Promise<SpanExporter | undefined> {
    if (!this.inner) return undefined;
    return this.inner.catch(() => undefined);
  }

  private exportBounded(spans: ReadableSpan[]): Promise<ExportResult> {
    this.inner ??= this.load();
    const attempt = this.inner.then(
      (exporter) =>
        new Promise<ExportResult>((resolve) => {
          try {
            exporter.export(spans, resolve);
          } catch (error) {
            resolve({ code: ExportResultCode.FAILED, error: asError(error) });
          }
        }),
      (error: unknown) => ({ code: ExportResultCode.FAILED, error: asError(error) }) as ExportResult,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ExportResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ code: ExportResultCode.FAILED, error: new Error(`OTLP export timed out after ${this.timeoutMs} ms.`) }),
        this.timeoutMs,
      );
      timer.unref();
    });
    return Promise.race([attempt, timeout]).finally(() => clearTimeout(timer));
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
