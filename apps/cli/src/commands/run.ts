import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { InvalidRequestError } from '@muai/core';
import type { GenerationRequest, GenerationResult, StreamChunk } from '@muai/core';
import { createOnnxEngine } from '@muai/engines-onnx';

interface RunOptions {
  model?: string;
  maxTokens?: string;
  temperature?: string;
  topP?: string;
  seed?: string;
  stream?: boolean;
  json?: boolean;
  raw?: boolean;
}

/** The CLI's own file, in ESM and in the CJS build. */
function ownFile(): string {
  if (typeof __filename === 'string') return __filename;
  return fileURLToPath(import.meta.url);
}

/** The repository root: the nearest folder holding nx.json above `start`. */
export function findRepoRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The model `muai run` uses: --model, else MUAI_MODEL, else <repo>/models/generated/tiny. */
export function resolveRunModel(option: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; isDefault: boolean } {
  if (option !== undefined && option !== '') return { path: resolve(option), isDefault: false };
  const fromEnv = env['MUAI_MODEL'];
  if (fromEnv !== undefined && fromEnv !== '') return { path: resolve(fromEnv), isDefault: false };
  const root = findRepoRoot(dirname(ownFile())) ?? findRepoRoot(process.cwd()) ?? process.cwd();
  return { path: join(root, 'models/generated/tiny'), isDefault: true };
}

function parseNumber(name: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || (integer && !Number.isInteger(parsed))) {
    throw new InvalidRequestError(`--${name} must be ${integer ? 'an integer' : 'a number'} (got "${value}").`);
  }
  return parsed;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

const DEFAULT_MODEL_NOTE =
  'note: this is the default demo model (models/generated/tiny): its weights are random, so its text is meaningless. ' +
  'Pass --model DIR (or set MUAI_MODEL) to use a real exported model, e.g. --model ./models/my-llama (a folder with config.json, tokenizer.json, onnx/model.onnx).';

/** `muai run "<prompt>"`: one generation with the embedded ONNX engine (issue 3). */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('answer a prompt with the embedded ONNX engine (chat template applied when the model has one)')
    .argument('<prompt>', 'the question or prompt')
    .option('-m, --model <dir>', 'model folder (default: MUAI_MODEL, else models/generated/tiny of the repository, a random-weights demo)')
    .option('--max-tokens <n>', 'maximum new tokens (default 128)')
    .option('--temperature <t>', 'sampling temperature; 0 is greedy (default: the model\'s generation_config, else 0)')
    .option('--top-p <p>', 'nucleus sampling probability mass (default 1: off)')
    .option('--seed <s>', 'seed that makes sampling reproducible')
    .option('--stream', 'print the answer as it is generated')
    .option('--json', 'print one JSON object: text, finish_reason, usage, engine, model, timings')
    .option('--raw', 'send the prompt as a plain completion, without the chat template')
    .action(async (prompt: string, options: RunOptions) => {
      const maxTokens = parseNumber('max-tokens', options.maxTokens, true);
      const temperature = parseNumber('temperature', options.temperature, false);
      const topP = parseNumber('top-p', options.topP, false);
      const seed = parseNumber('seed', options.seed, true);
      const model = resolveRunModel(options.model);
      const name = basename(model.path);
      if (model.isDefault && !existsSync(model.path)) {
        throw new InvalidRequestError(
          `The default model ${model.path} does not exist. Run \`node tools/model-gen/generate.mjs --size tiny\` at the repository root, or pass --model DIR (or set MUAI_MODEL) to use an exported model.`,
        );
      }
      const engine = createOnnxEngine();
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      try {
        await engine.load({ name, path: model.path });
        const useChat = options.raw !== true && engine.describeModel(name).hasChatTemplate === true;
        const request: GenerationRequest = {
          model: name,
          ...(useChat ? { messages: [{ role: 'user' as const, content: prompt }] } : { prompt }),
          signal: controller.signal,
        };
        if (maxTokens !== undefined) request.maxTokens = maxTokens;
        if (temperature !== undefined) request.temperature = temperature;
        if (topP !== undefined) request.topP = topP;
        if (seed !== undefined) request.seed = seed;

        let result: GenerationResult;
        if (options.stream === true && options.json !== true) {
          let text = '';
          let last: StreamChunk | undefined;
          for await (const chunk of engine.stream(request)) {
            if (chunk.text !== '') process.stdout.write(chunk.text);
            text += chunk.text;
            last = chunk;
          }
          process.stdout.write('\n');
          result = {
            text,
            finishReason: last?.finishReason ?? 'stop',
            usage: last?.usage ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
            timings: last?.timings ?? { ttftMs: 0, totalMs: 0, tokensPerSecond: 0 },
            engineUsed: engine.name,
            model: name,
          };
        } else {
          result = await engine.generate(request);
        }

        if (options.json === true) {
          if (model.isDefault) process.stderr.write(`${DEFAULT_MODEL_NOTE}\n`);
          const output = {
            text: result.text,
            finish_reason: result.finishReason,
            usage: { prompt_tokens: result.usage.promptTokens, completion_tokens: result.usage.completionTokens },
            engine: result.engineUsed,
            model: result.model,
            timings: { ttft_ms: round(result.timings.ttftMs, 2), total_ms: round(result.timings.totalMs, 2), tokens_per_s: round(result.timings.tokensPerSecond, 2) },
          };
          process.stdout.write(`${JSON.stringify(output)}\n`);
          return;
        }
        if (options.stream !== true) process.stdout.write(`${result.text}\n`);
        if (model.isDefault) process.stdout.write(`${DEFAULT_MODEL_NOTE}\n`);
        const { usage, timings } = result;
        process.stdout.write(
          `-- ${usage.completionTokens} tokens (prompt ${usage.promptTokens}) | ttft ${timings.ttftMs.toFixed(0)} ms | ${timings.tokensPerSecond.toFixed(1)} tokens/s | engine ${result.engineUsed} | model ${result.model} | finish ${result.finishReason}\n`,
        );
      } finally {
        process.removeListener('SIGINT', onSigint);
        await engine.close();
      }
    });
}
