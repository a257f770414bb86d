import type { RemoteLaunchOptions } from '@muai/engines-http';

/**
 * How to start a DeepSpeed-MII server. `model`, `startupTimeoutMs` (default 600000), `stopGraceMs`
 * (default 15000) and `log` come from RemoteLaunchOptions.
 */
export interface DeepSpeedLaunchOptions extends RemoteLaunchOptions {
  /** Python interpreter with deepspeed-mii installed; default `python3`. */
  python?: string;
  /**
   * Bind address. REST: passed as `restful_api_host` only when set (older MII has no such field and
   * binds 127.0.0.1 or localhost). OpenAI server: `--host`, default 127.0.0.1.
   */
  host?: string;
  /** REST: `restful_api_port` (default 51080, as in mii/config.py). OpenAI server: `--port` (default 8000). */
  port?: number;
  /** `tensor_parallel` / `--tensor-parallel`; default MII's (1). */
  tensorParallel?: number;
  /** `replica_num` / `--replica-num`; default MII's (1). */
  replicaNum?: number;
  /** `max_length` / `--max-length` (prompt + output tokens). */
  maxLength?: number;
  /** More keyword arguments for `mii.serve(...)` (REST mode only), as JSON values. */
  serveKwargs?: Record<string, unknown>;
  /** Environment; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Skip the `import mii` check before launching. Default false. */
  skipImportCheck?: boolean;
}

export const DEEPSPEED_INSTALL_HINT = 'Install it with `pip install deepspeed-mii`, or disable the DeepSpeed engine with MUAI_OPT_DEEPSPEED_ENABLED=false.';

/**
 * Python run by `python -c` for the REST launcher: starts `mii.serve(...)` with the RESTful gateway,
 * then waits; SIGTERM calls `client.terminate_server()`. The config comes as JSON in argv[1].
 */
export const MII_SERVE_SCRIPT = [
  'import json, signal, sys',
  'import mii',
  'cfg = json.loads(sys.argv[1])',
  'model = cfg.pop("model")',
  'client = mii.serve(model, **cfg)',
  'print("muai: MII deployment is up", flush=True)',
  'def stop(*_):',
  '    try:',
  '        client.terminate_server()',
  '    finally:',
  '        sys.exit(0)',
  'signal.signal(signal.SIGTERM, stop)',
  'signal.signal(signal.SIGINT, stop)',
  'while True:',
  '    signal.pause()',
].join('\n');

/** Arguments for the REST launcher: `python -c MII_SERVE_SCRIPT '<json kwargs>'`. */
export function miiServeArgs(model: string, deploymentName: string, options: DeepSpeedLaunchOptions = {}): string[] {
  const config: Record<string, unknown> = {
    ...options.serveKwargs,
    model,
    deployment_name: deploymentName,
    enable_restful_api: true,
    restful_api_port: options.port ?? 51080,
  };
  if (options.host !== undefined) config.restful_api_host = options.host;
  if (options.tensorParallel !== undefined) config.tensor_parallel = options.tensorParallel;
  if (options.replicaNum !== undefined) config.replica_num = options.replicaNum;
  if (options.maxLength !== undefined) config.max_length = options.maxLength;
  return ['-c', MII_SERVE_SCRIPT, JSON.stringify(config)];
}

/** Arguments for MII's OpenAI-compatible server: `python -m mii.entrypoints.openai_api_server ...`. */
export function miiOpenAiServerArgs(model: string, deploymentName: string, options: DeepSpeedLaunchOptions = {}): string[] {
  const args = [
    '-m',
    'mii.entrypoints.openai_api_server',
    '--model',
    model,
    '--deployment-name',
    deploymentName,
    '--host',
    options.host ?? '127.0.0.1',
    '--port',
    String(options.port ?? 8000),
  ];
  if (options.tensorParallel !== undefined) args.push('--tensor-parallel', String(options.tensorParallel));
  if (options.replicaNum !== undefined) args.push('--replica-num', String(options.replicaNum));
  if (options.maxLength !== undefined) args.push('--max-length', String(options.maxLength));
  return args;
}
