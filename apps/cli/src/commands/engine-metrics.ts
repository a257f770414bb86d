import { createOnnxMetricsCollector, type OnnxStatsSource } from '@muai/engines-onnx';
import type { PrometheusExporter } from '@muai/monitoring';
import type { OrchestratorRuntime } from '@muai/orchestrator';

/**
 * Feeds the exporter, before every scrape, from the embedded engine's own state (in process or in
 * its worker thread): `muai_queue_depth`, `muai_batch_size`, `muai_kv_cache_*` and, unless
 * `monitoring.prometheus.vllm_compatible` is false, `vllm:num_requests_waiting`,
 * `vllm:num_requests_running` and `vllm:kv_cache_usage_perc`.
 */
export function addEngineMetrics(exporter: PrometheusExporter, runtime: Pick<OrchestratorRuntime, 'optimizationManager'>): void {
  let collect: (() => Promise<void>) | undefined;
  exporter.addCollector(async () => {
    if (!collect) {
      const engine = (await runtime.optimizationManager.getEngine('onnx')) as unknown as Partial<OnnxStatsSource> | undefined;
      if (!engine || typeof engine.batchStats !== 'function' || typeof engine.cacheStats !== 'function') return;
      collect = createOnnxMetricsCollector(engine as OnnxStatsSource, exporter);
    }
    await collect();
  });
}
