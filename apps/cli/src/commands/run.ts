import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidRequestError, MuaiError } from '@muai/core';
import type { Engine, GenerationRequest, GenerationResult, StreamChunk } from '@muai/core';
import { createDeepSpeedEngine } from '@muai/engines-deepspeed';
import type { DeepSpeedProtocol } from '@muai/engines-deepspeed';
import { createOnnxEngine } from '@muai/engines-onnx';
import { createVllmEngine } from '@muai/engines-vllm';
import { localModelPath } from './pull.js';
import { defaultModelAvailable, defaultModelInfo } from '@muai/models';

/** Engines `muai run --engine` accepts. */
export const RUN_ENGINES = ['onnx', 'vllm', 'deepspeed'] as const;
export type RunEngineName = (typeof RUN_ENGINES)[number];

interface RunOptions {
  engine?: string;
  endpoint?: string[];
  deployment?: string;
  protocol?: string;
  model?: string;
  maxTokens?: string;
  temperature?: string;
  topP?: string;
  seed?: string;
  stream?: boolean;
  json?: boolean;
  raw?: boolean;
}

/** Where `muai run`'s model came from. */
export type RunModelOrigin = '--model' | 'MUAI_MODEL' | 'default';

/**
 * The model `muai run` uses: --model, else MUAI_MODEL, else the default model bundled with
 * @muai/models (stories260K), found relative to the installed package, never the cwd.
 */
export function resolveRunModel(option: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; origin: RunModelOrigin; isDefault: boolean } {
  if (option !== undefined && option !== '') return { path: resolve(option), origin: '--model', isDefault: false };
  const fromEnv = env['MUAI_MODEL'];
  if (fromEnv !== undefined && fromEnv !== '') return { path: resolve(fromEnv), origin: 'MUAI_MODEL', isDefault: false };
  return { path: defaultModelInfo().path, origin: 'default', isDefault: true };
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

/** Said once on stderr when the bundled default model answers, so nobody mistakes it for an assistant. */
export const DEFAULT_MODEL_NOTE =
  'note: default model stories260K, a 260K-parameter TinyStories model: it continues text as a children\'s story, it does not answer questions. ' +
  'Pass --model DIR (or set MUAI_MODEL) for a real model (see models/README.md).';

/** `model_source` of `muai run --json`: where the model came from. */
interface ModelSource {
  from: RunModelOrigin | 'server';
  path?: string;
  /** The Hugging Face Hub id the folder was downloaded from (`path` is then its snapshot in the cache). */
  hub?: string;
  description?: string;
}

/** An engine ready for one `muai run`: `load()` resolves to the model name requests use. */
interface PreparedEngine {
  engine: Engine;
  isDefaultModel: boolean;
  source: ModelSource;
  load(): Promise<string>;
  /** Whether the prompt goes as chat messages (unless --raw). */
  chat(): boolean;
}

function parseEngineName(value: string | undefined): RunEngineName {
  const name = value ?? 'onnx';
  if (!(RUN_ENGINES as readonly string[]).includes(name)) {
    throw new InvalidRequestError(`--engine must be one of ${RUN_ENGINES.join(', ')} (got "${name}").`);
  }
  return name as RunEngineName;
}

/** --endpoint values, repeated or comma-separated. */
function endpointsOf(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value !== '');
}

/**
 * The served model id on an OpenAI-compatible server: --model when given, else the server's only
 * model at `/v1/models`. Connection failures surface as the engine's coded errors (ENGINE_UNAVAILABLE).
 */
async function servedModelId(engine: { http: { json<T>(request: { path: string }): Promise<{ body: T }> } }, option: string | undefined, engineName: string): Promise<string> {
  if (option !== undefined && option !== '') return option;
  const { body } = await engine.http.json<{ data?: unknown }>({ path: '/v1/models' });
  const ids = (Array.isArray(body.data) ? body.data : [])
    .map((card: unknown) => (typeof card === 'object' && card !== null ? (card as { id?: unknown }).id : undefined))
    .filter((id): id is string => typeof id === 'string');
  if (ids.length === 1) return ids[0]!;
  throw new InvalidRequestError(
    ids.length === 0
      ? `The ${engineName} server lists no models at /v1/models; pass --model with the served model id.`
      : `The ${engineName} server serves several models (${ids.map((id) => `"${id}"`).join(', ')}); pass --model with one of them.`,
  );
}

function prepareEngine(options: RunOptions): PreparedEngine {
  const engineName = parseEngineName(options.engine);
  const endpoints = endpointsOf(options.endpoint);
  if (engineName !== 'deepspeed' && options.deployment !== undefined) {
    throw new InvalidRequestError('--deployment is for --engine deepspeed (the MII deployment name).');
  }
  if (engineName !== 'deepspeed' && options.protocol !== undefined) {
    throw new InvalidRequestError('--protocol is for --engine deepspeed (mii or openai).');
  }

  if (engineName === 'onnx') {
    if (endpoints.length > 0) {
      throw new InvalidRequestError('--endpoint is for remote engines: add --engine vllm or --engine deepspeed, or drop --endpoint to use the embedded ONNX engine.');
    }
    const model = resolveRunModel(options.model);
    const name = basename(model.path);
    if (model.isDefault && !defaultModelAvailable()) {
      throw new MuaiError(
        'MODEL_NOT_FOUND',
        `The default model is missing at ${model.path}: @muai/models was installed without its built files. Reinstall @muai/cli (or run \`npm run build\` in the repository), or pass --model DIR (or set MUAI_MODEL).`,
        { details: { model: name, path: model.path } },
      );
    }
    const engine = createOnnxEngine();
    const source: ModelSource = { from: model.origin, path: model.path, ...(model.isDefault ? { description: defaultModelInfo().description } : {}) };
    return {
      engine,
      isDefaultModel: model.isDefault,
      source,
      load: async () => {
        const folder = await localModelPath(model, options.model);
        if (folder !== model.path) Object.assign(source, { path: folder, hub: model.origin === '--model' ? options.model : process.env['MUAI_MODEL'] });
        await engine.load({ name, path: folder });
        return name;
      },
      chat: () => engine.describeModel(name).hasChatTemplate === true,
    };
  }

  if (endpoints.length === 0) {
    const example = engineName === 'vllm' ? 'http://127.0.0.1:8000 (a running `vllm serve`)' : 'http://127.0.0.1:51080 (a running MII server)';
    throw new InvalidRequestError(`--engine ${engineName} needs --endpoint URL, e.g. --endpoint ${example}.`);
  }

  if (engineName === 'vllm') {
    const engine = createVllmEngine({ endpoints });
    return {
      engine,
      isDefaultModel: false,
      source: { from: 'server' },
      load: async () => {
        const served = await servedModelId(engine, options.model, 'vLLM');
        await engine.load({ name: served, path: served });
        return served;
      },
      chat: () => true,
    };
  }

  const protocol = options.protocol ?? 'mii';
  if (protocol !== 'mii' && protocol !== 'openai') {
    throw new InvalidRequestError(`--protocol must be mii or openai (got "${protocol}").`);
  }
  const engine = createDeepSpeedEngine({
    endpoints,
    protocol: protocol satisfies DeepSpeedProtocol,
    ...(options.deployment !== undefined ? { deploymentName: options.deployment } : {}),
  });
  return {
    engine,
    isDefaultModel: false,
    source: { from: 'server' },
    load: async () => {
      // REST: the deployment is the target and --model only names it in the output.
      const served = protocol === 'openai' ? await servedModelId(engine, options.model, 'MII') : (options.model ?? engine.deploymentName);
      await engine.load({ name: served, path: served });
      return served;
    },
    // MII's REST gateway takes plain prompts only.
    chat: () => protocol === 'openai',
  };
}

/**
 * `muai run "<prompt>"`: one generation with the embedded ONNX engine (issue 3), or with a remote
 * vLLM / DeepSpeed-MII server (`--engine vllm|deepspeed --endpoint URL`, issue 7).
 */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('answer a prompt with the embedded ONNX engine (chat template applied when the model has one), or with a vLLM or DeepSpeed-MII server')
    .argument('<prompt>', 'the question or prompt')
    .option('-e, --engine <name>', `engine: ${RUN_ENGINES.join(', ')} (default onnx, embedded)`)
    .option(
      '--endpoint <url>',
      'server URL for --engine vllm/deepspeed (e.g. http://127.0.0.1:8000); repeat it or separate with commas for several servers of the same model',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--deployment <name>', 'DeepSpeed-MII deployment name (REST path /mii/<name>; default deepspeed-mii)')
    .option('--protocol <protocol>', 'DeepSpeed-MII protocol: mii (REST gateway, plain prompts, no streaming) or openai (MII\'s OpenAI-compatible server) (default mii)')
    .option(
      '-m, --model <dir|id>',
      'onnx: model folder, or a Hugging Face Hub id org/name (downloaded into the cache; see muai pull) (default: MUAI_MODEL, else the bundled stories260K, a 260K-parameter story model that continues text); vllm/deepspeed openai: the served model id (default: the server\'s only model); deepspeed mii: the name shown (default the deployment)',
    )
    .option('--max-tokens <n>', 'maximum new tokens (default 128)')
    .option('--temperature <t>', 'sampling temperature; 0 is greedy (default onnx: the model\'s generation_config, else 0; remote engines: 0)')
    .option('--top-p <p>', 'nucleus sampling probability mass (default 1: off)')
    .option('--seed <s>', 'seed that makes sampling reproducible')
    .option('--stream', 'print the answer as it is generated')
    .option('--json', 'print one JSON object: text, finish_reason, usage, engine, model, model_source (where the model came from), token_ids (when the engine gives them), timings')
    .option('--raw', 'send the prompt as a plain completion, without the chat template')
    .action(async (prompt: string, _local: RunOptions, command: Command) => {
      // The root command (`muai "<query>"`) declares --model, --max-tokens and --json too; commander
      // then hands them to the root, so read this command's options merged with its parents'.
      const options = command.optsWithGlobals<RunOptions>();
      const maxTokens = parseNumber('max-tokens', options.maxTokens, true);
      const temperature = parseNumber('temperature', options.temperature, false);
      const topP = parseNumber('top-p', options.topP, false);
      const seed = parseNumber('seed', options.seed, true);
      const prepared = prepareEngine(options);
      const { engine, isDefaultModel, source } = prepared;
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      try {
        const name = await prepared.load();
        const useChat = options.raw !== true && prepared.chat();
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
        if (options.stream === true && options.json !== true && engine.capabilities.streaming && engine.stream) {
          let text = '';
          let last: StreamChunk | undefined;
          for await (const chunk of engine.stream(request)) {
            if (chunk.text !== '') process.stdout.write(chunk.text);
            text += chunk.text;
            last = chunk;
          }
          process.stdout.write('\n');
          if (last?.finishReason === 'error') {
            throw new MuaiError(
              'ENGINE_ERROR',
              `The ${engine.name} stream ended early (finish_reason error) after ${last.usage?.completionTokens ?? 0} tokens: the server stopped or the connection broke. The partial answer is above; check the server and retry.`,
              { details: { engine: engine.name, model: name } },
            );
          }
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
          const output = {
            text: result.text,
            finish_reason: result.finishReason,
            usage: { prompt_tokens: result.usage.promptTokens, completion_tokens: result.usage.completionTokens },
            engine: result.engineUsed,
            model: result.model,
            model_source: source,
            ...(result.tokenIds ? { token_ids: result.tokenIds } : {}),
            timings: { ttft_ms: round(result.timings.ttftMs, 2), total_ms: round(result.timings.totalMs, 2), tokens_per_s: round(result.timings.tokensPerSecond, 2) },
          };
          process.stdout.write(`${JSON.stringify(output)}\n`);
          return;
        }
        if (options.stream !== true || !engine.capabilities.streaming) process.stdout.write(`${result.text}\n`);
        if (isDefaultModel) process.stderr.write(`${DEFAULT_MODEL_NOTE}\n`);
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
