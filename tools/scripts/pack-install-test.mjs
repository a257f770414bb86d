#!/usr/bin/env node
// Proof of "teams adopt them one at a time": packs every publishable package with `npm pack`,
// installs each one alone into an empty temporary project (workspace siblings it depends on come
// from their packed tarballs, third-party dependencies from the registry/npm cache), then imports
// it both as ESM and as CommonJS and calls it. The apps are packed too: @muai/cli is installed
// alone into an empty folder (no repository around) and `muai "What is AI?"`, `muai run` and
// `muai serve` (one completion, then SIGTERM) run there on the default model it brings along.
// Run after `npm run build`.
//
//   node tools/scripts/pack-install-test.mjs [package-dir-name ...]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const tinyModel = join(root, 'models/generated/tiny');

/** What each package's smoke test does once installed alone. `m` is the imported module. */
const smoke = {
  '@muai/models': `
    if (!m.defaultModelAvailable()) throw new Error('models: the bundled default model is missing at ' + m.defaultModelPath());
    if (!m.defaultModelPath().includes('node_modules')) throw new Error('models: the default model is not inside the installed package: ' + m.defaultModelPath());
    const fs = await load('node:fs');
    const config = JSON.parse(fs.readFileSync(m.defaultModelPath() + '/config.json', 'utf8'));
    if (config.vocab_size !== 512 || config.max_position_embeddings !== 512 || !fs.existsSync(m.defaultModelPath() + '/LICENSE')) throw new Error('models: unexpected default model ' + JSON.stringify(config));`,
  '@muai/server': `
    if (typeof m.createServer !== 'function' || typeof m.startServer !== 'function') throw new Error('server: createServer/startServer missing');`,
  '@muai/core': `
    const error = new m.QueueFullError(3);
    if (error.code !== 'QUEUE_FULL' || !m.MuaiError.isInstance(error)) throw new Error('core: bad error');
    const testing = await load('@muai/core/testing');
    const engine = new testing.FakeEngine({ respond: () => 'a b c' });
    const result = await engine.generate({ prompt: 'x', maxTokens: 2 });
    if (result.finishReason !== 'length') throw new Error('core: FakeEngine did not stop at maxTokens');`,
  '@muai/config': `
    const loaded = await m.loadConfig({ files: [], env: { MUAI_MON_PROMETHEUS_PORT: '9191' } });
    const config = loaded.config ?? loaded;
    if (config.monitoring.prometheus.port !== 9191) throw new Error('config: env override not applied');`,
  '@muai/engines-onnx': `
    const engine = m.createOnnxEngine();
    await engine.load({ name: 'tiny', path: ${JSON.stringify(tinyModel)} });
    const result = await engine.generate({ model: 'tiny', prompt: 'Hello', maxTokens: 3 });
    if (result.usage.completionTokens !== 3 || result.engineUsed !== 'onnx') throw new Error('engines-onnx: ' + JSON.stringify(result));
    await engine.close();`,
  '@muai/engines-http': `
    const samples = m.parsePrometheusText('vllm:num_requests_running{model_name="x"} 2\\n');
    if (samples.length !== 1 || samples[0].value !== 2) throw new Error('engines-http: ' + JSON.stringify(samples));`,
  '@muai/engines-vllm': `
    const port = await closedPort();
    const engine = m.createVllmEngine({ endpoints: ['http://127.0.0.1:' + port], model: 'x', retries: 0, timeoutMs: 2000 });
    const error = await engine.generate({ prompt: 'x', maxTokens: 1 }).then(() => undefined, (e) => e);
    if (error?.code !== 'ENGINE_UNAVAILABLE') throw new Error('engines-vllm: expected ENGINE_UNAVAILABLE, got ' + (error?.code ?? 'success'));
    await engine.close();`,
  '@muai/engines-deepspeed': `
    const port = await closedPort();
    const engine = m.createDeepSpeedEngine({ endpoints: ['http://127.0.0.1:' + port], deploymentName: 'x', retries: 0, timeoutMs: 2000 });
    const error = await engine.generate({ prompt: 'x', maxTokens: 1 }).then(() => undefined, (e) => e);
    if (error?.code !== 'ENGINE_UNAVAILABLE') throw new Error('engines-deepspeed: expected ENGINE_UNAVAILABLE, got ' + (error?.code ?? 'success'));
    await engine.close();`,
  '@muai/kv-cache': `
    const cache = m.createKvCache({ numLayers: 1, numKvHeads: 1, headDim: 4, blockSize: 2, maxMemoryBytes: 4096 });
    const sequence = cache.match([1, 2, 3]);
    cache.append(sequence, [1, 2, 3]);
    if (cache.stats().bytesUsed <= 0) throw new Error('kv-cache: nothing allocated');
    cache.release(sequence);`,
  '@muai/monitoring': `
    const exporter = m.createPrometheusExporter({ port: 0 });
    exporter.recordRequest({ model: 'tiny', engine: 'onnx', workflow: 'chat', status: 'ok', latencyMs: 12, promptTokens: 3, completionTokens: 4 });
    const text = await exporter.metrics();
    if (!/muai_requests_total\\{[^}]*model="tiny"/.test(text)) throw new Error('monitoring: no muai_requests_total series');
    const monitor = m.createPerformanceMonitor();
    monitor.recordRequest({ latencyMs: 5, status: 'error' });
    if (monitor.snapshot().errors !== 1) throw new Error('monitoring: PerformanceMonitor lost the error');
    // Installed without its optional peers (the OTLP exporters): tracing still runs the code and
    // reports the missing exporter as DEPENDENCY_MISSING naming the package to install.
    const exportErrors = [];
    const tracer = m.createTracer({ protocol: 'grpc', scheduledDelayMs: 5, onExportError: (error) => exportErrors.push(error) });
    if (tracer.withSpan('work', undefined, () => 42) !== 42) throw new Error('monitoring: traced code did not run');
    await tracer.forceFlush();
    await tracer.shutdown();
    if (!exportErrors.some((error) => error.code === 'DEPENDENCY_MISSING' && error.message.includes('npm install @opentelemetry/exporter-trace-otlp-grpc'))) {
      throw new Error('monitoring: a missing OTLP exporter was not reported as DEPENDENCY_MISSING: ' + exportErrors.map(String).join('; '));
    }`,
  '@muai/orchestrator': `
    const decision = new m.Router().route({ query: 'Please summarize this text' });
    if (decision.workflow !== 'summarize') throw new Error('orchestrator: routed to ' + decision.workflow);
    const manager = new m.ModelManager({ env: { MUAI_MODEL: ${JSON.stringify(tinyModel)} } });
    const result = await new m.SearchQAWorkflow(manager).execute({ query: 'What is AI?', maxTokens: 3 });
    if (!result.output || result.engineUsed !== 'onnx') throw new Error('orchestrator: ' + JSON.stringify(result));
    await manager.close();`,
  '@muai/bench': `
    const testing = await load('@muai/core/testing');
    const engine = new testing.FakeEngine({ respond: () => 'a b c' });
    const target = m.createEngineTarget({ engine, model: 'fake' });
    const run = await m.runBenchmark({ target, prompts: m.randomDataset({ numPrompts: 4, inputLen: 4, outputLen: 3 }), maxConcurrency: 2 });
    const result = m.computeResult(run, { includeRequests: true });
    if (result.completed !== 4 || result.total_output_tokens !== 12) throw new Error('bench: ' + JSON.stringify(result));
    if (!m.renderReport([result]).includes('uPlot')) throw new Error('bench: the report did not inline uPlot');`,
  '@muai/hub': `
    const testing = await load('@muai/hub/testing');
    const { mkdtempSync } = await load('node:fs');
    const { tmpdir } = await load('node:os');
    const { join } = await load('node:path');
    const hub = await testing.startFakeHub();
    const sha = testing.commitSha('smoke');
    hub.addRepo({ id: 'smoke-org/tiny', refs: { main: sha }, commits: [{ sha, files: testing.readFolder(${JSON.stringify(tinyModel)}) }] });
    try {
      const pulled = await m.pullModel('smoke-org/tiny', { endpoint: hub.url, cacheDir: mkdtempSync(join(tmpdir(), 'muai-hub-smoke-')), offline: false });
      if (pulled.graph !== 'onnx/model.onnx' || pulled.downloadedBytes === 0 || !m.isHubId('smoke-org/tiny')) throw new Error('hub: ' + JSON.stringify(pulled));
    } finally {
      await hub.close();
    }`,
  '@muai/tuner': `
    // The online controller on a breached p99 SLO: a multiplicative decrease, inside its bounds.
    const tuner = m.createOnlineTuner({ parameters: ['batch_timeout_ms'], initial: { batch_timeout_ms: 50 }, slo: { p99LatencyMs: 100 }, objective: 'goodput' });
    const signal = { requests: 50, requestsPerSecond: 10, tokensPerSecond: 100, latencyMs: { p99: 400 }, ttftMs: { p99: null }, tpotMs: { p99: null } };
    const decisions = tuner.step(signal);
    const wait = tuner.settings().batch_timeout_ms;
    if (!decisions.some((decision) => decision.direction === 'down') || !(wait < 50 && wait >= 0)) throw new Error('tuner: ' + JSON.stringify(decisions));
    if (m.DEFAULT_BOUNDS.batch_timeout_ms.min > wait) throw new Error('tuner: below its bounds');`,
  '@muai/cluster': `
    // No Redis given: every part runs on this process's local state.
    const cluster = m.createCluster({ requestsPerMinute: 1 });
    const first = await cluster.rateLimiter.hit('key');
    const second = await cluster.rateLimiter.hit('key');
    if (!first.allowed || second.allowed || second.scope !== 'local') throw new Error('cluster: ' + JSON.stringify([first, second]));
    if (m.responseCacheKey('/v1/completions', { prompt: 'p', temperature: 0 }) === undefined || typeof cluster.plugin() !== 'function') throw new Error('cluster: cache key or plugin missing');
    await cluster.close();`,
  '@muai/batcher': `
    const batcher = m.createBatcher({ batchFn: async (xs) => xs.map((x) => x * 2), maxBatchSize: 4, batchTimeoutMs: 1 });
    const out = await Promise.all([1, 2, 3].map((x) => batcher.submit(x)));
    if (out.join() !== '2,4,6') throw new Error('batcher: wrong results ' + out);
    await batcher.close?.();`,
  '@muai/anomaly': `
    const detector = m.createAnomalyDetector({ rules: [{ name: 'QueueHigh', series: 'queue_depth', detector: { kind: 'threshold', limit: 1 } }], targets: [], cooldownMs: 0 });
    const out = detector.observe({ queue_depth: 5 }, 0);
    detector.close();
    if (out[0]?.status !== 'firing' || !/^[0-9a-f]{16}$/.test(out[0].alert.fingerprint)) throw new Error('anomaly: ' + JSON.stringify(out));
    if (!m.prometheusRulesYaml().includes('alert: MuaiErrorBudgetBurnFast')) throw new Error('anomaly: no burn-rate rule');`,
};

/** A loopback port with nothing listening (the OS handed it out, then it was closed). */
const closedPortSource = `const closedPort = async () => {
  const net = await load('node:net');
  const server = net.createServer();
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
};
`;

function workspacePackages() {
  const found = new Map();
  for (const group of ['packages', 'apps']) {
    for (const dir of readdirSync(join(root, group))) {
      const manifestPath = join(root, group, dir, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      if (manifest.private) continue;
      found.set(manifest.name, { dir: join(root, group, dir), manifest });
    }
  }
  return found;
}

const run = (command, args, cwd) => execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const packages = workspacePackages();
const only = process.argv.slice(2);
const work = mkdtempSync(join(tmpdir(), 'muai-pack-'));
const tarballs = new Map();
for (const [name, { dir, manifest }] of packages) {
  if (!existsSync(join(dir, 'dist'))) throw new Error(`${name} is not built (no dist/). Run \`npm run build\` first.`);
  const file = run('npm', ['pack', '--silent', '--pack-destination', work], dir).trim().split('\n').pop();
  tarballs.set(name, join(work, file));
  void manifest;
}

/** The package and every workspace sibling it depends on, transitively. */
function closure(name, seen = new Set()) {
  if (seen.has(name)) return seen;
  seen.add(name);
  const { manifest } = packages.get(name);
  for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
    if (packages.has(dependency)) closure(dependency, seen);
  }
  return seen;
}

let failures = 0;
const tested = [...packages.keys()].filter((name) => smoke[name] && (only.length === 0 || only.some((o) => name.endsWith(o))));
for (const name of tested) {
  const project = join(work, name.replace('/', '__'));
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'adopter', private: true, type: 'module' }));
  writeFileSync(join(project, '.npmrc'), 'onnxruntime-node-install=skip\nfund=false\naudit=false\n');
  const needed = [...closure(name)].map((dependency) => tarballs.get(dependency));
  const started = Date.now();
  try {
    run('npm', ['install', '--prefer-offline', '--no-package-lock', '--ignore-scripts=false', ...needed], project);
    const body = smoke[name];
    writeFileSync(
      join(project, 'smoke.mjs'),
      `const load = (id) => import(id);\n${closedPortSource}const m = await load(${JSON.stringify(name)});\n${body}\nconsole.log('esm ok');\n`,
    );
    writeFileSync(
      join(project, 'smoke.cjs'),
      `const load = async (id) => require(id);\n(async () => {\n${closedPortSource}const m = require(${JSON.stringify(name)});\n${body}\nconsole.log('cjs ok');\n})().catch((e) => { console.error(e); process.exit(1); });\n`,
    );
    run(process.execPath, ['smoke.mjs'], project);
    run(process.execPath, ['smoke.cjs'], project);
    console.log(`ok   ${name} installed alone (${needed.length} tarball(s)) and works as ESM and CJS (${Date.now() - started} ms)`);
  } catch (error) {
    failures += 1;
    console.error(`FAIL ${name}: ${error.stderr || error.message}`);
  }
}
/** Runs `muai ...args` from the installed CLI with MUAI_MODEL and MUAI_CONFIG unset. */
function cliEnvironment() {
  const env = { ...process.env, MUAI_MON_PROMETHEUS_ENABLED: 'false' };
  delete env.MUAI_MODEL;
  delete env.MUAI_CONFIG;
  return env;
}

/** `muai serve --port 0` from `bin`: one greedy completion on the default model, then SIGTERM must drain and exit 0. */
async function serveOnce(bin, cwd) {
  const child = spawn(bin, ['serve', '--port', '0'], { cwd, env: cliEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout.on('data', (data) => (logs += data));
  const exited = new Promise((done) => child.once('exit', (code) => done(code)));
  try {
    const url = await new Promise((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`muai serve printed no URL in 60 s: ${logs}`)), 60_000);
      child.stderr.on('data', (data) => {
        logs += data;
        const match = /serving on (http:\/\/\S+?) /.exec(logs);
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[1]);
        }
      });
      void exited.then((code) => reject(new Error(`muai serve exited with ${code}: ${logs}`)));
    });
    const response = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 }),
    });
    const body = await response.json();
    if (response.status !== 200 || !String(body.choices?.[0]?.text).startsWith(', there was a little girl')) {
      throw new Error(`serve: /v1/completions answered ${response.status} ${JSON.stringify(body)}`);
    }
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) throw new Error(`serve: exit code ${code} after SIGTERM: ${logs}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** @muai/cli installed alone into an empty folder: the three ways a user starts, on the bundled default model. */
async function cliSmoke() {
  const project = join(work, 'muai-cli-user');
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'cli-user', private: true }));
  writeFileSync(join(project, '.npmrc'), 'onnxruntime-node-install=skip\nfund=false\naudit=false\n');
  const needed = [...closure('@muai/cli')].map((dependency) => tarballs.get(dependency));
  const started = Date.now();
  run('npm', ['install', '--prefer-offline', '--no-package-lock', '--ignore-scripts=false', ...needed], project);
  const bin = join(project, 'node_modules', '.bin', 'muai');
  const muai = (args) => execFileSync(bin, args, { cwd: project, env: cliEnvironment(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const answer = muai(['What is AI?', '--max-tokens', '24']);
  if (!/[a-z]+ [a-z]+/i.test(answer)) throw new Error(`cli: muai "What is AI?" printed ${JSON.stringify(answer)}`);
  const story = muai(['run', 'Once upon a time', '--max-tokens', '12', '--temperature', '0']);
  if (!story.startsWith(', there was a little girl named Lily')) throw new Error(`cli: muai run printed ${JSON.stringify(story)}`);
  await serveOnce(bin, project);
  console.log(`ok   @muai/cli installed alone (${needed.length} tarball(s)) into an empty folder: muai "What is AI?", muai run and muai serve work on the bundled default model (${Date.now() - started} ms)`);
}

if (packages.has('@muai/cli') && (only.length === 0 || only.some((o) => '@muai/cli'.endsWith(o)))) {
  try {
    await cliSmoke();
  } catch (error) {
    failures += 1;
    console.error(`FAIL @muai/cli: ${error.stderr || error.message}`);
  }
}

const untested = [...packages.keys()].filter((name) => !smoke[name] && name !== '@muai/cli');
if (untested.length > 0 && only.length === 0) {
  console.error(`FAIL no pack-and-install smoke test for: ${untested.join(', ')} (add one to tools/scripts/pack-install-test.mjs)`);
  failures += untested.length;
}
if (failures === 0) rmSync(work, { recursive: true, force: true });
process.exit(failures === 0 ? 0 : 1);
