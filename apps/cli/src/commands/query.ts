import type { Command } from 'commander';
import { loadConfig } from '@muai/config';
import { InvalidRequestError } from '@muai/core';
import { createOrchestratorFromConfig, defaultModelPath, type WorkflowResult } from '@muai/orchestrator';
import { createTracer } from '@muai/monitoring';

interface QueryOptions {
  workflow?: string;
  config?: string[];
  json?: boolean;
  maxTokens?: string;
  model?: string;
}

const RANDOM_WEIGHTS_NOTE =
  'note: the default model (models/generated/tiny) has random weights, so its text is not meaningful. ' +
  'Point MUAI_MODEL or models.<name>.path in config/system.yaml at a real exported model for real answers.';

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
    .option('-c, --config <file...>', 'configuration files (default: config/system.yaml and config/optimization.yaml when present)')
    .option('--max-tokens <n>', 'most new tokens of the answer')
    .option('-m, --model <name>', 'configured model name to use')
    .option('--json', 'print one JSON object: workflow, output, sources, model, engine, usage, timings')
    .action(async (words: string[], options: QueryOptions) => {
      if (words.length === 0) {
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
      const runtime = createOrchestratorFromConfig(loaded.config, { baseDirectory: process.cwd(), ...(tracer ? { tracer } : {}) });
      try {
        const result = await runtime.orchestrator.execute({
          query,
          ...(options.workflow ? { workflow: options.workflow } : {}),
          ...(options.model ? { model: options.model } : {}),
          ...(maxTokens !== undefined ? { maxTokens } : {}),
        });
        const usesDefaultModel = result.model === 'default' && !process.env['MUAI_MODEL'];
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
          const json = toJson(result);
          process.stderr.write(
            `\n[${json.workflow} via ${result.routing ? `router (${result.routing.reason})` : 'request'}] ${json.usage.completion_tokens} tokens, ` +
              `${json.timings.total_ms} ms total, ttft ${json.timings.ttft_ms ?? '-'} ms, ${json.timings.tokens_per_s ?? '-'} tokens/s, engine ${json.engine}, model ${json.model}\n`,
          );
        }
        if (usesDefaultModel) {
          process.stderr.write(`${RANDOM_WEIGHTS_NOTE} (default model: ${defaultModelPath()})\n`);
        }
      } finally {
        await runtime.close();
        await tracer?.shutdown();
      }
    });
}
