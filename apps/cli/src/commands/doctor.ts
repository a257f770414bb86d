import { configOption } from './config-option.js';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { MuaiError } from '@muai/core';
import { describeSources, isEngineEnabled, loadConfig, resolveEngineName } from '@muai/config';
import type { LoadedConfig, MuaiConfig } from '@muai/config';
import { defaultModelPath } from '@muai/models';
import packageJson from '../../package.json' with { type: 'json' };
import { DEFAULT_SERVE_LOG_FILE } from './logging.js';

/** Outcome of one check: `fail` makes `muai doctor` exit 1; `skip` means the check does not apply. */
export type DoctorStatus = 'ok' | 'fail' | 'skip';

export interface DoctorCheck {
  /** Short name, e.g. `node`, `config`, `port server`. */
  name: string;
  status: DoctorStatus;
  /** What was found. */
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

export interface DoctorOptions {
  /** Configuration files, as `--config`. */
  files?: readonly string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Extra endpoints to reach, e.g. a Prometheus server (`--prometheus-url`). */
  prometheusUrl?: string;
  /** Skip every connection to another host or port (remote engines, OTLP, Alertmanager, Prometheus). */
  skipNetwork?: boolean;
  /** Connection timeout per endpoint, in milliseconds. Default 2000. */
  timeoutMs?: number;
  /** Loads onnxruntime-node; replaceable so that tests can simulate a broken install. */
  loadOnnxRuntime?: () => Promise<unknown>;
}

const ok = (name: string, detail: string): DoctorCheck => ({ name, status: 'ok', detail });
const skip = (name: string, detail: string): DoctorCheck => ({ name, status: 'skip', detail });
const fail = (name: string, detail: string, fix: string): DoctorCheck => ({ name, status: 'fail', detail, fix });

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `major.minor.patch` compared with the `>=x.y` of package.json's engines.node. */
export function checkNodeVersion(version: string = process.versions.node, range: string = packageJson.engines.node): DoctorCheck {
  const wanted = /(\d+)\.(\d+)/.exec(range);
  const have = /(\d+)\.(\d+)/.exec(version);
  if (!wanted || !have) return fail('node', `cannot compare Node ${version} with "${range}"`, 'Install Node.js 20.11 or newer.');
  const [wantMajor, wantMinor] = [Number(wanted[1]), Number(wanted[2])];
  const [major, minor] = [Number(have[1]), Number(have[2])];
  const enough = major > wantMajor || (major === wantMajor && minor >= wantMinor);
  return enough ? ok('node', `Node ${version} (needs ${range})`) : fail('node', `Node ${version} is older than ${range}`, `Install Node.js ${range.replace('>=', '')} or newer (e.g. from nodejs.org or your distribution's nodejs package).`);
}

/** Loads onnxruntime-node as @muai/engines-onnx does: resolved from that package's folder, so it is the copy the engine uses. */
function loadOnnxRuntime(): Promise<unknown> {
  const fromCli = createRequire(typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url));
  return Promise.resolve(createRequire(fromCli.resolve('@muai/engines-onnx/package.json'))('onnxruntime-node'));
}

async function checkOnnxRuntime(load: () => Promise<unknown>): Promise<DoctorCheck> {
  try {
    const runtime = (await load()) as { listSupportedBackends?: () => Array<{ name: string }> };
    const backends = runtime.listSupportedBackends?.().map((backend) => backend.name).join(', ');
    return ok('onnxruntime-node', `loads${backends ? ` (backends: ${backends})` : ''}`);
  } catch (error) {
    return fail('onnxruntime-node', `does not load: ${message(error)}`, 'Reinstall dependencies with `npm ci` (the package ships its CPU binaries); on Alpine use a glibc image, onnxruntime-node needs glibc.');
  }
}

function loadCheckedConfig(options: DoctorOptions): { check: DoctorCheck; loaded?: LoadedConfig } {
  try {
    const loaded = loadConfig({ env: options.env ?? process.env, cwd: options.cwd ?? process.cwd(), ...(options.files && options.files.length > 0 ? { files: [...options.files] } : {}) });
    const fromEnv = describeSources(loaded).filter((entry) => entry.source.startsWith('env:')).map((entry) => entry.source.slice(4));
    const files = loaded.files.length > 0 ? loaded.files.join(', ') : 'no files, defaults';
    const warnings = loaded.warnings.map((warning) => warning.message);
    const detail = `valid (${files}${fromEnv.length > 0 ? `; from the environment: ${fromEnv.join(', ')}` : ''})${warnings.length > 0 ? `; warnings: ${warnings.join('; ')}` : ''}`;
    return { check: ok('config', detail), loaded };
  } catch (error) {
    if (MuaiError.isInstance(error)) {
      return { check: fail('config', `${error.code}: ${error.message}`, 'Fix the keys listed (see docs/configuration.md), then run `muai config validate`; `muai config print` shows where each value comes from.') };
    }
    throw error;
  }
}

function hasOnnxGraph(dir: string): boolean {
  const onnxDir = existsSync(join(dir, 'onnx')) ? join(dir, 'onnx') : dir;
  return readdirSync(onnxDir).some((file) => file.endsWith('.onnx'));
}

/** Models the embedded engine would load: each must be a folder (or .onnx file) that exists. */
export function checkModels(config: MuaiConfig, env: Record<string, string | undefined>, cwd: string): DoctorCheck[] {
  const entries: Array<[string, string, string | undefined]> = Object.entries(config.models).map(([name, model]) => [name, model.path, model.engine]);
  if (!config.models['default']) {
    const fromEnv = env['MUAI_MODEL'];
    entries.push(['default', fromEnv !== undefined && fromEnv !== '' && !config.models[fromEnv] ? fromEnv : defaultModelPath(), undefined]);
  }
  return entries.map(([name, path, engine]): DoctorCheck => {
    const check = `model ${name}`;
    const engineName = engine === undefined ? undefined : resolveEngineName(engine);
    if (engineName !== undefined && engineName !== 'onnx') return skip(check, `served by ${engineName} (${path}); see its endpoint check`);
    if (!isEngineEnabled(config, 'onnx') && engineName === undefined) return skip(check, 'the embedded ONNX engine is disabled');
    const full = isAbsolute(path) ? path : resolve(cwd, path);
    const variable = name === 'default' ? 'MUAI_MODEL' : `models.${name}.path`;
    if (!existsSync(full)) {
      const fix = name === 'default' && !env['MUAI_MODEL']
        ? 'Generate it with `node tools/model-gen/generate.mjs --size tiny` (npm ci does), or set MUAI_MODEL to an exported model folder.'
        : `Point ${variable} at an exported model folder (config.json, tokenizer.json, onnx/model.onnx).`;
      return fail(check, `${full} does not exist`, fix);
    }
    try {
      if (statSync(full).isDirectory() && !hasOnnxGraph(full)) {
        return fail(check, `${full} holds no .onnx graph`, `Export the model to ONNX (e.g. \`optimum-cli export onnx\`) into ${join(full, 'onnx')}.`);
      }
    } catch (error) {
      return fail(check, `${full} cannot be read: ${message(error)}`, `Give the user running muai read access to ${full}.`);
    }
    return ok(check, full);
  });
}

/** `muai serve`'s log file (monitoring.logging.file, default logs/muai.log) can be written: the file, or else its nearest existing folder. */
export function checkLogFile(config: MuaiConfig, cwd: string): DoctorCheck {
  const setting = config.monitoring.logging.file ?? DEFAULT_SERVE_LOG_FILE;
  if (['-', 'stdout', 'none'].includes(setting)) return skip('log file', 'standard output only (monitoring.logging.file is "-")');
  const file = resolve(cwd, setting);
  let target = file;
  while (!existsSync(target) && dirname(target) !== target) target = dirname(target);
  const fix = `Give the user running muai write access to ${dirname(file)}, or set MUAI_MON_LOGGING_FILE to a writable path (under the systemd unit: /var/lib/muai/logs/muai.log), or to "-" for standard output only.`;
  // The folders to create must hang under a folder, and the file itself must not be a folder.
  const isDirectory = statSync(target).isDirectory();
  if (target === file ? isDirectory : !isDirectory) return fail('log file', `${file} cannot be created: ${target} is ${isDirectory ? 'a folder' : 'a file, not a folder'}`, fix);
  try {
    accessSync(target, constants.W_OK);
    return ok('log file', `${file} is writable`);
  } catch {
    return fail('log file', `${file} cannot be written (${target} is not writable for this user)`, fix);
  }
}

/** Whether `port` on `host` can be bound now (0 always can). */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(true)));
  });
}

async function checkPorts(config: MuaiConfig): Promise<DoctorCheck[]> {
  const server = config.monitoring.server;
  const wanted: Array<[string, string, number, string]> = [['port server', server.host, server.port, 'MUAI_MON_SERVER_PORT or --port']];
  const prometheus = config.monitoring.prometheus;
  if (config.monitoring.enabled && prometheus.enabled && prometheus.port !== server.port) {
    wanted.push(['port prometheus', prometheus.host, prometheus.port, 'MUAI_MON_PROMETHEUS_PORT']);
  }
  const checks: DoctorCheck[] = [];
  for (const [name, host, port, variable] of wanted) {
    if (port === 0) {
      checks.push(skip(name, `port 0: a free port is picked at start`));
    } else if (await portIsFree(host, port)) {
      checks.push(ok(name, `${host}:${port} is free`));
    } else {
      checks.push(fail(name, `${host}:${port} is in use`, `Stop the other process (\`ss -ltnp 'sport = :${port}'\` names it; a running muai serve is one) or choose another port with ${variable}.`));
    }
  }
  return checks;
}

/** Resolves once a TCP connection to the URL's host and port is accepted; rejects otherwise. */
export function reach(url: string, timeoutMs: number): Promise<void> {
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  return new Promise((done, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      done();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

interface Endpoint {
  name: string;
  url: string;
  fix: string;
}

/** Every other service the configuration sends requests to. */
export function configuredEndpoints(config: MuaiConfig, prometheusUrl?: string): Endpoint[] {
  const endpoints: Endpoint[] = [];
  const optimization = config.optimization;
  if (optimization.enabled && optimization.vllm.enabled && !optimization.vllm.launch) {
    const urls = optimization.vllm.endpoints.length > 0 ? optimization.vllm.endpoints : [`http://${optimization.vllm.host}:${optimization.vllm.port}`];
    for (const url of urls) endpoints.push({ name: 'vllm', url, fix: 'Start vLLM (`vllm serve MODEL --port …`) or fix optimization.vllm.endpoints; or set MUAI_OPT_VLLM_ENABLED=false.' });
  }
  if (optimization.enabled && optimization.deepspeed.enabled && !optimization.deepspeed.launch) {
    const urls = optimization.deepspeed.endpoints.length > 0 ? optimization.deepspeed.endpoints : [`http://${optimization.deepspeed.host}:${optimization.deepspeed.port}`];
    for (const url of urls) endpoints.push({ name: 'deepspeed', url, fix: 'Start the DeepSpeed-MII REST server or fix optimization.deepspeed.endpoints; or set MUAI_OPT_DEEPSPEED_ENABLED=false.' });
  }
  const monitoring = config.monitoring;
  if (monitoring.enabled && monitoring.tracing.enabled) {
    endpoints.push({ name: 'otlp', url: monitoring.tracing.endpoint, fix: 'Start the OpenTelemetry collector (deploy/compose.yaml has one) or fix MUAI_MON_TRACING_ENDPOINT; or set MUAI_MON_TRACING_ENABLED=false.' });
  }
  if (monitoring.enabled && monitoring.anomaly.enabled) {
    for (const target of monitoring.anomaly.targets) {
      if (target.type === 'log') continue;
      const name = target.type === 'webhook' && target.format === 'alertmanager' ? 'alertmanager' : target.type;
      endpoints.push({ name, url: target.url, fix: `Start ${name === 'alertmanager' ? 'Alertmanager' : 'the receiver'} at ${target.url} or fix monitoring.anomaly.targets.` });
    }
  }
  if (prometheusUrl) endpoints.push({ name: 'prometheus', url: prometheusUrl, fix: 'Start Prometheus (deploy/compose.yaml has one) or fix --prometheus-url.' });
  return endpoints;
}

async function checkEndpoints(endpoints: readonly Endpoint[], timeoutMs: number, skipNetwork: boolean): Promise<DoctorCheck[]> {
  return Promise.all(
    endpoints.map(async ({ name, url, fix }): Promise<DoctorCheck> => {
      const check = `endpoint ${name}`;
      if (skipNetwork) return skip(check, `${url} (not tried: --skip-network)`);
      try {
        await reach(url, timeoutMs);
        return ok(check, `${url} accepts connections`);
      } catch (error) {
        return fail(check, `${url} unreachable: ${message(error)}`, fix);
      }
    }),
  );
}

/** Runs every check; never throws for a failed check, only for a bug. */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const checks: DoctorCheck[] = [checkNodeVersion()];
  checks.push(await checkOnnxRuntime(options.loadOnnxRuntime ?? loadOnnxRuntime));
  const { check, loaded } = loadCheckedConfig(options);
  checks.push(check);
  if (!loaded) {
    checks.push(skip('models, ports, endpoints', 'not checked: the configuration is invalid'));
    return checks;
  }
  checks.push(...checkModels(loaded.config, env, cwd));
  checks.push(checkLogFile(loaded.config, cwd));
  checks.push(...(await checkPorts(loaded.config)));
  const endpoints = configuredEndpoints(loaded.config, options.prometheusUrl);
  if (endpoints.length === 0) checks.push(skip('endpoints', 'the configuration names no remote engine, OTLP collector or alert receiver'));
  checks.push(...(await checkEndpoints(endpoints, options.timeoutMs ?? 2000, options.skipNetwork === true)));
  return checks;
}

/** The table `muai doctor` prints: one line per check, then one fix per failure. */
export function formatDoctorTable(checks: readonly DoctorCheck[]): string {
  const nameWidth = Math.max(5, ...checks.map((check) => check.name.length));
  const lines = [`${'CHECK'.padEnd(nameWidth)}  STATUS  DETAIL`];
  // A multi-line detail (a config error lists each problem) stays in the DETAIL column.
  const indent = ' '.repeat(nameWidth + 10);
  for (const check of checks) lines.push(`${check.name.padEnd(nameWidth)}  ${check.status.toUpperCase().padEnd(6)}  ${check.detail.split('\n').join(`\n${indent}`)}`);
  const failures = checks.filter((check) => check.status === 'fail');
  if (failures.length > 0) {
    lines.push('', 'How to fix:');
    for (const failure of failures) lines.push(`  ${failure.name}: ${failure.fix ?? ''}`);
  }
  lines.push('', failures.length === 0 ? 'All checks passed.' : `${failures.length} check${failures.length === 1 ? '' : 's'} failed.`);
  return `${lines.join('\n')}\n`;
}

interface DoctorCommandOptions {
  config?: string[];
  json?: boolean;
  prometheusUrl?: string;
  skipNetwork?: boolean;
  timeout?: string;
}

/** `muai doctor`: checks this machine and the configuration `muai serve` would run with. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check Node, onnxruntime-node, the config and its sources, models, ports and remote endpoints; exit 1 on any failure')
    .addOption(configOption())
    .option('--json', 'print {ok, checks: [{name, status, detail, fix}]} as JSON')
    .option('--prometheus-url <url>', 'also check that this Prometheus server is reachable')
    .option('--skip-network', 'do not connect to remote engines, the OTLP collector or alert receivers')
    .option('--timeout <ms>', 'connection timeout per endpoint in milliseconds', '2000')
    .action(async (_options: DoctorCommandOptions, command: Command) => {
      const options = command.optsWithGlobals<DoctorCommandOptions>();
      const checks = await runDoctor({
        ...(options.config ? { files: options.config } : {}),
        ...(options.prometheusUrl ? { prometheusUrl: options.prometheusUrl } : {}),
        skipNetwork: options.skipNetwork === true,
        timeoutMs: Number(options.timeout ?? 2000),
      });
      const failed = checks.some((check) => check.status === 'fail');
      process.stdout.write(options.json ? `${JSON.stringify({ ok: !failed, checks }, null, 2)}\n` : formatDoctorTable(checks));
      process.exitCode = failed ? 1 : 0;
    });
}
