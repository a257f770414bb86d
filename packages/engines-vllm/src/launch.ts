import type { RemoteLaunchOptions } from '@muai/engines-http';

/**
 * How to start `vllm serve` (flag names in comments). Defaults are vLLM's own unless stated. `model`,
 * `startupTimeoutMs` (default 600000), `stopGraceMs` (default 15000) and `log` come from RemoteLaunchOptions.
 */
export interface VllmLaunchOptions extends RemoteLaunchOptions {
  /** Executable; default `vllm`. */
  executable?: string;
  /** `--host`; default `127.0.0.1` (ours; vLLM's own default binds every interface). */
  host?: string;
  /** `--port`; default 8000. */
  port?: number;
  /** `--tensor-parallel-size`. */
  tensorParallelSize?: number;
  /** `--dtype`: auto, half, float16, bfloat16, float, float32 (fp16/bf16/fp32 accepted). */
  dtype?: string;
  /** `--gpu-memory-utilization` (0..1). */
  gpuMemoryUtilization?: number;
  /** `--max-num-seqs`. */
  maxNumSeqs?: number;
  /** `--max-model-len`. */
  maxModelLen?: number;
  /** `--enable-prefix-caching` / `--no-enable-prefix-caching`; unset leaves vLLM's default (on in V1). */
  enablePrefixCaching?: boolean;
  /** `--served-model-name`. */
  servedModelName?: string;
  /** More arguments, appended as given. */
  extraArgs?: readonly string[];
  /** Environment of the process; default process.env (the API key is passed as VLLM_API_KEY). */
  env?: NodeJS.ProcessEnv;
}

/** Install hint from the original system's guide. */
export const VLLM_INSTALL_HINT = 'Install it with `pip install vllm`, or disable the vLLM engine with MUAI_OPT_VLLM_ENABLED=false.';

const DTYPES: Record<string, string> = { fp16: 'float16', bf16: 'bfloat16', fp32: 'float32' };

/** The arguments of `vllm serve` for these options. */
export function vllmServeArgs(model: string, options: VllmLaunchOptions = {}): string[] {
  const args = ['serve', model, '--host', options.host ?? '127.0.0.1', '--port', String(options.port ?? 8000)];
  if (options.tensorParallelSize !== undefined) args.push('--tensor-parallel-size', String(options.tensorParallelSize));
  if (options.dtype !== undefined) args.push('--dtype', DTYPES[options.dtype] ?? options.dtype);
  if (options.gpuMemoryUtilization !== undefined) args.push('--gpu-memory-utilization', String(options.gpuMemoryUtilization));
  if (options.maxNumSeqs !== undefined) args.push('--max-num-seqs', String(options.maxNumSeqs));
  if (options.maxModelLen !== undefined) args.push('--max-model-len', String(options.maxModelLen));
  if (options.enablePrefixCaching !== undefined) args.push(options.enablePrefixCaching ? '--enable-prefix-caching' : '--no-enable-prefix-caching');
  if (options.servedModelName !== undefined) args.push('--served-model-name', options.servedModelName);
  args.push(...(options.extraArgs ?? []));
  return args;
}
