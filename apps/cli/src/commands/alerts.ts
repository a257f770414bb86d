import { configOption } from './config-option.js';
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { createAnomalyDetectorFromConfig, prometheusRulesYaml } from '@muai/anomaly';
import { loadConfig } from '@muai/config';
import { MuaiError } from '@muai/core';

interface ConfigOption {
  config?: string[];
}

function load(options: ConfigOption) {
  const loaded = loadConfig({ env: process.env, cwd: process.cwd(), ...(options.config && options.config.length > 0 ? { files: options.config } : {}) });
  for (const warning of loaded.warnings) process.stderr.write(`muai: warning: ${warning.message}\n`);
  return loaded.config;
}

interface ListedAlert {
  rule: string;
  state: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  activeSince: string;
  value: number;
}

/**
 * `muai alerts test | list | rules` (monitoring.anomaly; see packages/anomaly). Options are read with
 * optsWithGlobals: the root command declares `--config` and `--json` too, and commander gives them to it.
 */
export function registerAlertsCommands(program: Command): void {
  const alerts = program.command('alerts').description('anomaly alerts: test the targets, list active alerts, print Prometheus rules');

  alerts
    .command('test')
    .description('send one test alert through every configured target (monitoring.anomaly.targets) and report each result; exit 1 if any failed')
    .addOption(configOption())
    .option('--json', 'print the results as JSON')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<ConfigOption & { json?: boolean }>();
      const config = load(options);
      const lines: string[] = [];
      // Delivery failures are reported below, per target; the logger only carries the log target's own line.
      const detector = createAnomalyDetectorFromConfig(config.monitoring.anomaly, {
        logger: { warn: (message) => lines.push(message), info: (message) => lines.push(message) },
        delivery: { maxAttempts: 3, backoffMs: 200, maxBackoffMs: 2000 },
      });
      try {
        const results = await detector.sendTest();
        if (options.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
        else {
          for (const result of results) {
            process.stdout.write(`${result.ok ? 'OK  ' : 'FAIL'} ${result.target} (${Math.round(result.elapsedMs)} ms)${result.error ? `: ${result.error}` : ''}\n`);
          }
          for (const line of lines.filter((line) => line.startsWith('alert '))) process.stdout.write(`     log: ${line}\n`);
        }
        if (results.some((result) => !result.ok)) process.exitCode = 1;
      } finally {
        detector.close();
      }
    });

  alerts
    .command('list')
    .description("list active (pending and firing) alerts of a running `muai serve`, from its GET /v1/alerts")
    .option('--url <url>', 'server base URL (default http://<monitoring.server.host>:<port>)')
    .addOption(configOption())
    .option('--api-key <key>', 'API key (default monitoring.server.api_key)')
    .option('--json', 'print the answer as JSON')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<ConfigOption & { url?: string; apiKey?: string; json?: boolean }>();
      const config = options.url && options.apiKey ? undefined : load(options);
      const server = config?.monitoring.server;
      const host = server?.host === '0.0.0.0' ? '127.0.0.1' : (server?.host ?? '127.0.0.1');
      const base = (options.url ?? `http://${host}:${server?.port ?? 8000}`).replace(/\/+$/, '');
      const apiKey = options.apiKey ?? server?.api_key;
      let response: Response;
      try {
        response = await fetch(`${base}/v1/alerts`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(10_000) });
      } catch (error) {
        throw new MuaiError('ENGINE_UNAVAILABLE', `No server answers at ${base} (${error instanceof Error ? error.message : String(error)}). Start it with \`muai serve\` or pass --url.`, { cause: error });
      }
      if (response.status === 404) {
        throw new MuaiError('CAPABILITY_UNSUPPORTED', `${base} has no /v1/alerts: anomaly detection is off there. Set monitoring.anomaly.enabled: true (MUAI_MON_ANOMALY_ENABLED=true) and restart it.`);
      }
      if (!response.ok) throw new MuaiError('ENGINE_ERROR', `${base}/v1/alerts answered HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
      const body = (await response.json()) as { data: ListedAlert[] };
      if (options.json) {
        process.stdout.write(`${JSON.stringify(body.data, null, 2)}\n`);
        return;
      }
      if (body.data.length === 0) {
        process.stdout.write('no active alerts\n');
        return;
      }
      for (const alert of body.data) {
        process.stdout.write(`${alert.state.padEnd(8)} ${alert.rule} [${alert.labels.severity ?? ''}] since ${alert.activeSince}: ${alert.annotations.summary ?? ''} (value ${alert.value})\n`);
      }
    });

  alerts
    .command('rules')
    .description('print Prometheus alerting rules equivalent to the built-in rules, over MuAI\'s metric names (for promtool and Prometheus)')
    .addOption(configOption())
    .option('-o, --output <file>', 'write to this file instead of standard output')
    .option('--error-budget <ratio>', 'error budget of the burn-rate rules, 1 - SLO (default 0.01)')
    .action((_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<ConfigOption & { output?: string; errorBudget?: string }>();
      const config = load(options);
      const budget = options.errorBudget === undefined ? undefined : Number(options.errorBudget);
      if (budget !== undefined && !(budget > 0 && budget < 1)) {
        throw new MuaiError('INVALID_REQUEST', `--error-budget must be between 0 and 1 (0.001 for a 99.9% SLO), got ${options.errorBudget}.`);
      }
      const yaml = prometheusRulesYaml({ checkIntervalMs: config.monitoring.anomaly.check_interval_ms, ...(budget === undefined ? {} : { errorBudget: budget }) });
      if (options.output) {
        writeFileSync(options.output, yaml);
        process.stderr.write(`muai: wrote ${options.output}\n`);
      } else process.stdout.write(yaml);
    });
}
