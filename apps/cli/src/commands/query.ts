import { configOption } from './config-option.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadConfig } from '@muai/config';
import { InvalidRequestError } from '@muai/core';
import { defaultModelPath } from '@muai/models';
import { DEFAULT_MODEL_NOTE } from './run.js';
import { createOrchestratorFromConfig, type WorkflowResult } from '@muai/orchestrator';
import { createTracer } from '@muai/monitoring';

interface QueryOptions {
  workflow?: string;
  config?: string[];
  json?: boolean;
  maxTokens?: string;
  model?: string;
}

/** This module's file, in the ESM build, the CJS build and the TypeScript source (tests). */
function ownFile(): string {
  if (typeof __filename === 'string') return __filename;
  return fileURLToPath(import.meta.url);
}

/**
 * The docs/ folder of the MuAI repository when this CLI runs from a checkout of it (the CLI's own
 * package is `<repo>/apps/cli`); undefined for a CLI installed from npm, whose search_qa then
 * answers without sources. Found from the CLI's location, never from the current directory, and
 * never by looking for any nx.json (a user's own workspace is not ours to index).
 */
export function repositoryDocsDirectory(): string | undefined {
  const readName = (folder: string): unknown => {
    try {
      return (JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name?: unknown }).name;
    } catch {
      return undefined;
    }
  };
  // The CLI package root: the nearest folder above this file (dist/ or src/commands/) named @muai/cli.
  let cliRoot: string | undefined;
  for (let folder = dirname(ownFile()), depth = 0; depth < 3 && cliRoot === undefined; folder = dirname(folder), depth++) {
    if (readName(folder) === '@muai/cli') cliRoot = folder;
  }
  if (cliRoot === undefined) return undefined;
  const repoRoot = resolve(cliRoot, '..', '..');
  if (cliRoot !== join(repoRoot, 'apps', 'cli') || readName(repoRoot) !== 'muai-monorepo') return undefined;
  const docs = join(repoRoot, 'docs');
  return existsSync(docs) ? docs : undefined;
}

/** What the CLI gives the orchestrator that a library never guesses: the default model and the docs to search. */
export function cliOrchestratorDefaults(): { defaultModelPath: string; docsDirectory?: string } {
  const docsDirectory = repositoryDocsDirectory();
  return { defaultModelPath: defaultModelPath(), ...(docsDirectory !== undefined ? { docsDirectory } : {}) };
}

function round(value: number | undefined, digits = 1): number | undefined {
  return value === undefined ? undefined : Math.round(value * 10 ** digits) / 10 ** digits;
}

/** The JSON shape of `muai "query" --json`. */
export function toJson(result: WorkflowResult) {
  return {
    workflow: result.workflow,
    output: result.output,
    sources: (result.sources ?? []).map((source) => ({ ...source })),
    model: result.model,
    engine: result.engineUsed,
    finish_reason: result.finishReason,
    usage: { prompt_tokens: result.usage.promptTokens, completion_tokens: result.usage.completionTokens, total_tokens: result.usage.totalTokens },
    timings: {
      total_ms: round(result.timings.totalMs),
      generation_ms: round(result.timings.generationMs),
      ...(result.timings.retrievalMs !== undefined ? { retrieval_ms: round(result.timings.retrievalMs) } : {}),
      ...(result.timings.ttftMs !== undefined ? { ttft_ms: round(result.timings.ttftMs) } : {}),
      ...(result.timings.tokensPerSecond !== undefined ? { tokens_per_s: round(result.timings.tokensPerSecond) } : {}),
    },
    ...(result.routing ? { routing: result.routing } : {}),
  };
}

/**
 * `muai "What is AI?"`: the twin of `python -m mm_orch.main "What is AI?"`. The query goes through
 * the orchestrator: routed, retrieved (search_qa), generated, printed with its sources.
 */
export function registerQueryCommand(program: Command): void {
  program
    .argument('[query...]', 'a question or request, e.g. "What is AI?"')
    .option('-w, --workflow <name>', 'run this workflow (chat, search_qa, summarize) instead of routing')
    .addOption(configOption())
    .option('--max-tokens <n>', 'most new tokens of the answer')
    .option('-m, --model <name>', 'configured model name to use')
    .option('--json', 'print one JSON object: workflow, output, sources, model, engine, usage, timings')
    .action(async (words: string[], options: QueryOptions) => {
      if (words.length === 0) {
        // Options without a query did nothing: say so and fail, never exit 0 without doing the work.
        const given = Object.keys(options).length > 0;
        if (given) throw new InvalidRequestError('No query given. Usage: muai [options] "What is AI?" (options go before the query; see muai --help).');
        program.outputHelp();
        return;
      }
      const query = words.join(' ');
      const maxTokens = options.maxTokens === undefined ? undefined : Number(options.maxTokens);
      if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
        throw new InvalidRequestError(`--max-tokens must be a positive integer (got "${options.maxTokens}").`);
      }
      const loaded = await loadConfig(options.config ? { files: options.config } : {});
      for (const warning of loaded.warnings) process.stderr.write(`muai: warning: ${warning.message}\n`);
      const tracing = loaded.config.monitoring.enabled && loaded.config.monitoring.tracing.enabled ? loaded.config.monitoring.tracing : undefined;
      const tracer = tracing
        ? createTracer({ endpoint: tracing.endpoint, protocol: tracing.protocol, sampleRate: tracing.sample_rate, recordPrompts: tracing.record_prompts, serviceName: tracing.service_name })
        : undefined;
      const runtime = createOrchestratorFromConfig(loaded.config, { baseDirectory: process.cwd(), ...cliOrchestratorDefaults(), ...(tracer ? { tracer } : {}) });
      try {
        // The bundled model answers when nothing else was named: MUAI_MODEL and models.default take precedence.
        const usesBundledModel = !process.env['MUAI_MODEL'] && !(loaded.config.models as Record<string, unknown> | undefined)?.['default'];
        const result = await runtime.orchestrator.execute({
          query,
          ...(options.workflow ? { workflow: options.workflow } : {}),
          ...(options.model ? { model: options.model } : {}),
          ...(maxTokens !== undefined ? { maxTokens } : {}),
        });
        if (options.json) {
          process.stdout.write(`${JSON.stringify(toJson(result))}\n`);
        } else {
          process.stdout.write(`${result.output.trim()}\n`);
          if (result.sources && result.sources.length > 0) {
            process.stdout.write('\nSources:\n');
            for (const source of result.sources) {
              process.stdout.write(`  [${source.index}] ${source.title ? `${source.title} ` : ''}(${source.source})\n`);
            }
          }
          for (const warning of result.warnings ?? []) process.stderr.write(`muai: note: ${warning}\n`);
          if (usesBundledModel && result.model === 'default') process.stderr.write(`${DEFAULT_MODEL_NOTE}\n`);
          const json = toJson(result);
          process.stderr.write(
            `\n[${json.workflow} via ${result.routing ? `router (${result.routing.reason})` : 'request'}] ${json.usage.completion_tokens} tokens, ` +
              `${json.timings.total_ms} ms total, ttft ${json.timings.ttft_ms ?? '-'} ms, ${json.timings.tokens_per_s ?? '-'} tokens/s, engine ${json.engine}, model ${json.model}\n`,
          );
        }
      } finally {
        await runtime.close();
        await tracer?.shutdown();
      }
    });
}
