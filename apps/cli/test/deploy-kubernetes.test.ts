/**
 * deploy/kubernetes rendered as `kubectl kustomize` would (deploy/kubernetes/render.mjs: resources,
 * components, strategic-merge patches, namespace), then checked against the real server: probe
 * paths answer on the routes `muai serve` has, ports agree from the config to the Service, the
 * drain fits in the grace period, and every metric the autoscalers and the InferencePool's picker
 * query exists on a loaded server's /metrics.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, resolveEnvironmentVariable, type MuaiConfig } from '@muai/config';
import { createPrometheusExporter } from '@muai/monitoring';
import { createOrchestratorFromConfig } from '@muai/orchestrator';
import { createServer } from '@muai/server';
import type { FastifyInstance } from 'fastify';
// deploy/kubernetes is not a package: its renderer is a script beside the manifests it renders.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { render, strategicMerge, type KubernetesResource } from '../../../deploy/kubernetes/render.mjs';
import { addEngineMetrics } from '../src/commands/engine-metrics.js';
import { ModelManagerEngine } from '../src/commands/serving-engine.js';
import { repoRoot, tinyModel } from './cli-harness.js';

const dir = join(repoRoot, 'deploy/kubernetes');

interface Container {
  name: string;
  args?: string[];
  ports?: Array<{ name: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string }>;
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  startupProbe?: { httpGet: { path: string; port: string | number } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}

function find(resources: KubernetesResource[], kind: string, name: string): KubernetesResource & Record<string, any> {
  const found = resources.find((resource) => resource.kind === kind && resource.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} is not rendered`);
  return found as KubernetesResource & Record<string, any>;
}

/** Metric names a PromQL expression reads (identifiers followed by `{`, `[` or the end, not functions). */
function metricNames(query: string): string[] {
  return [...query.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|$|\))/g)].map((match) => match[1]!).filter((name) => !['sum', 'rate', 'by', 'avg', 'max'].includes(name));
}

const rendered = render(dir);
const renderedHpa = render(join(dir, 'hpa'));
const deployment = find(rendered, 'Deployment', 'muai');
const container = (deployment.spec.template.spec.containers as Container[]).find((item) => item.name === 'muai')!;
const configText = find(rendered, 'ConfigMap', 'muai-config').data['config.yaml'] as string;

let config: MuaiConfig;
let app: FastifyInstance;
let close: () => Promise<void>;

beforeAll(async () => {
  // The ConfigMap's config as muai serve would load it; `default` is the test model here.
  const folder = mkdtempSync(join(tmpdir(), 'muai-k8s-'));
  const file = join(folder, 'config.yaml');
  writeFileSync(file, configText);
  // In process: the routes and metrics are the same, and the test does not depend on a built worker script.
  config = loadConfig({ files: [file], env: {}, overrides: { optimization: { onnx: { worker_thread: false } } } }).config;
  expect(loadConfig({ files: [file], env: {} }).config.optimization.onnx.worker_thread).toBe(true);
  const exporter = createPrometheusExporter({ collectDefaultMetrics: false, vllmCompatible: config.monitoring.prometheus.vllm_compatible });
  const runtime = createOrchestratorFromConfig(config, { env: { MUAI_MODEL: tinyModel }, prometheusExporter: exporter });
  addEngineMetrics(exporter, runtime);
  app = createServer({ engine: new ModelManagerEngine(runtime.modelManager), metrics: exporter });
  await app.ready();
  await runtime.modelManager.preload(config.monitoring.server.preload_models);
  const answer = await app.inject({ method: 'POST', url: '/v1/completions', payload: { prompt: 'Hello', max_tokens: 4 } });
  expect(answer.statusCode).toBe(200);
  close = async () => {
    await app.close();
    await runtime.close();
  };
});

afterAll(async () => close?.());

describe('deploy/kubernetes (rendered like kubectl kustomize)', () => {
  it('composes the expected resources, in the namespace, with the HPA overlay as the alternative to KEDA', () => {
    const kinds = rendered.map((resource) => `${resource.kind}/${resource.metadata.name}`).sort();
    expect(kinds).toEqual(
      ['ConfigMap/muai-config', 'Deployment/muai', 'Deployment/muai-redis', 'HTTPRoute/muai', 'InferencePool/muai', 'Namespace/muai', 'ScaledObject/muai', 'Service/muai', 'Service/muai-redis', 'ServiceMonitor/muai'].sort(),
    );
    for (const resource of rendered) if (resource.kind !== 'Namespace') expect(resource.metadata.namespace).toBe('muai');
    // The autoscaler owns the replica count (the component's patch removed it).
    expect(deployment.spec.replicas).toBeUndefined();
    expect(renderedHpa.map((resource) => resource.kind)).toContain('HorizontalPodAutoscaler');
    expect(renderedHpa.map((resource) => resource.kind)).not.toContain('ScaledObject');
    expect(find(renderedHpa, 'Deployment', 'muai').spec.replicas).toBeUndefined();
  });

  it('probes paths the server really serves, on the port the config and the arguments name', async () => {
    expect(container.readinessProbe!.httpGet.path).toBe('/ready');
    expect(container.livenessProbe!.httpGet.path).toBe('/health');
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
      expect(probe!.httpGet.port).toBe('http');
      expect((await app.inject({ method: 'GET', url: probe!.httpGet.path })).statusCode).toBe(200);
    }
    const http = container.ports!.find((port) => port.name === 'http')!;
    const args = container.args!;
    expect(args[0]).toBe('serve');
    expect(Number(args[args.indexOf('--port') + 1])).toBe(http.containerPort);
    expect(config.monitoring.server.port).toBe(http.containerPort);
    expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');
    expect(args[args.indexOf('--config') + 1]).toBe(`${deployment.spec.template.spec.containers[0].volumeMounts[0].mountPath}/config.yaml`);
    expect(find(rendered, 'Service', 'muai').spec.ports[0].targetPort).toBe('http');
    expect(find(rendered, 'ServiceMonitor', 'muai').spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(find(rendered, 'InferencePool', 'muai').spec.targetPorts).toEqual([{ number: http.containerPort }]);
    // Every selector selects the server pods.
    const labels = deployment.spec.template.metadata.labels as Record<string, string>;
    for (const selector of [find(rendered, 'Service', 'muai').spec.selector, find(rendered, 'ServiceMonitor', 'muai').spec.selector.matchLabels, find(rendered, 'InferencePool', 'muai').spec.selector.matchLabels]) {
      for (const [key, value] of Object.entries(selector as Record<string, string>)) expect(labels[key]).toBe(value);
    }
  });

  it('gives SIGTERM time to drain: preStop and drain_timeout_ms fit in terminationGracePeriodSeconds', () => {
    const sleep = Number(container.lifecycle!.preStop!.exec!.command[1]);
    expect(sleep).toBeGreaterThan(0);
    const drainSeconds = config.monitoring.server.drain_timeout_ms / 1000;
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(sleep + drainSeconds);
  });

  it('sets only variables MuAI knows (MUAI_CLUSTER_REDIS_URL points at the Redis Service)', () => {
    for (const variable of container.env ?? []) expect(resolveEnvironmentVariable(variable.name), variable.name).toBeDefined();
    const redis = container.env!.find((variable) => variable.name === 'MUAI_CLUSTER_REDIS_URL')!.value!;
    expect(new URL(redis).hostname).toBe(find(rendered, 'Service', 'muai-redis').metadata.name);
    expect(Number(new URL(redis).port)).toBe(find(rendered, 'Service', 'muai-redis').spec.ports[0].port);
  });

  it('autoscales and routes on metrics the loaded server exposes', async () => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const exposed = new Set(text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.split(/[{ ]/)[0]!));
    const keda = find(rendered, 'ScaledObject', 'muai').spec.triggers[0].metadata.query as string;
    const kedaMetrics = metricNames(keda);
    expect(kedaMetrics).toEqual(['vllm:num_requests_waiting']);
    // The Model Server Protocol's gauges, which the InferencePool's endpoint picker scrapes.
    for (const name of [...kedaMetrics, 'vllm:num_requests_running', 'vllm:kv_cache_usage_perc']) expect(exposed, name).toContain(name);
    expect(text).toMatch(/vllm:num_requests_waiting\{model_name="default"\} \d/);
    // The HPA reads the same gauge through prometheus-adapter's rename (':' is not allowed there).
    const hpa = find(renderedHpa, 'HorizontalPodAutoscaler', 'muai');
    expect(hpa.spec.metrics[0].pods.metric.name).toBe('vllm_num_requests_waiting');
  });

  it('patches the way kustomize does: maps merge, null deletes, named list items merge by name', () => {
    const base = { spec: { replicas: 3, template: { containers: [{ name: 'a', image: 'x', env: [{ name: 'K', value: '1' }] }, { name: 'b' }] } } };
    const merged = strategicMerge(base, { spec: { replicas: null, template: { containers: [{ name: 'a', image: 'y' }] } } }) as typeof base;
    expect(merged.spec.replicas).toBeUndefined();
    expect(merged.spec.template.containers).toEqual([{ name: 'a', image: 'y', env: [{ name: 'K', value: '1' }] }, { name: 'b' }]);
    expect(() => render(join(dir, 'keda'))).toThrow(/is a Component/);
  });
});
