import type { Command } from 'commander';
import { InvalidRequestError } from '@muai/core';
import type { HubOptions } from '@muai/hub';

interface PullOptions {
  revision?: string;
  dtype?: string;
  json?: boolean;
}

/**
 * The folder `--model VALUE` names for the embedded engine: a Hugging Face Hub id (`org/name`, no
 * such local folder) is downloaded into the cache first (progress on stderr) and becomes its
 * snapshot folder; anything else is the local path `fallback` already resolved.
 */
export async function resolveModelOption(value: string | undefined, fallback: string, options: Pick<HubOptions, 'revision' | 'dtype'> = {}): Promise<string> {
  if (value === undefined) return fallback;
  // Loaded on demand, like the orchestrator does, so that local models never load the Hub client.
  const { createProgressPrinter, isHubId, pullModel } = await import('@muai/hub');
  if (!isHubId(value)) return fallback;
  return (await pullModel(value, { ...options, onEvent: createProgressPrinter(process.stderr) })).path;
}

/** `muai pull org/name`: downloads a model from the Hugging Face Hub into the shared cache (issue 12). */
export function registerPullCommand(program: Command): void {
  program
    .command('pull')
    .description('download a model from the Hugging Face Hub (config, tokenizer, one ONNX graph) into the cache shared with Python (MUAI_CACHE_DIR, else HF_HOME/hub)')
    .argument('<repo>', 'Hub model id, org/name (e.g. onnx-community/SmolLM2-135M-Instruct)')
    .option('--revision <rev>', 'branch, tag or commit (default main)')
    .option('--dtype <dtype>', 'graph variant: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4 (default fp32 when the repository has it)')
    .option('--json', 'print one JSON object: repo, revision, commit, path, dtype, graph, files, downloaded_bytes, from_cache')
    .addHelpText(
      'after',
      '\nEnvironment: HF_TOKEN (gated or private repositories), HF_ENDPOINT (a mirror), HF_HUB_OFFLINE=1 (cache only),\nMUAI_CACHE_DIR / HF_HUB_CACHE / HF_HOME (where files go). Interrupted downloads resume when run again.\nThe snapshot folder is printed on stdout: muai run --model org/name uses it.',
    )
    .action(async (repo: string, _local: PullOptions, command: Command) => {
      // The root command declares --json too; read this command's options merged with its parents'.
      const options = command.optsWithGlobals<PullOptions>();
      const { createProgressPrinter, isValidRepoId, pullModel } = await import('@muai/hub');
      if (!isValidRepoId(repo)) {
        throw new InvalidRequestError(`"${repo}" is not a Hugging Face Hub model id: use org/name, as in the model's URL (e.g. onnx-community/SmolLM2-135M-Instruct).`);
      }
      const result = await pullModel(repo, {
        ...(options.revision !== undefined ? { revision: options.revision } : {}),
        ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
        onEvent: createProgressPrinter(process.stderr),
      });
      if (options.json === true) {
        const output = {
          repo: result.repo,
          revision: result.revision,
          commit: result.commit,
          path: result.path,
          dtype: result.dtype,
          graph: result.graph,
          files: result.files,
          downloaded_bytes: result.downloadedBytes,
          from_cache: result.fromCache,
        };
        process.stdout.write(`${JSON.stringify(output)}\n`);
        return;
      }
      process.stdout.write(`${result.path}\n`);
    });
}

/**
 * For `muai run`: the folder of the model `resolveRunModel` picked. When it came from --model or
 * MUAI_MODEL and is a Hub id, the model is downloaded (or found in the cache) first.
 */
export async function localModelPath(model: { path: string; isDefault: boolean }, option: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (model.isDefault) return model.path;
  const given = option !== undefined && option !== '' ? option : env['MUAI_MODEL'];
  return resolveModelOption(given, model.path);
}
