import type { Command } from 'commander';

/**
 * Examples shown at the end of `--help`, by command path (`''` is `muai` itself). Kept in one
 * table so that every command's help has them without each module repeating the formatting; a
 * module may instead call `command.addHelpText('after', ...)` itself, and a test checks that every
 * command's help ends with an "Examples:" section either way.
 */
export const COMMAND_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': [
    'muai "What is AI?"                          # routed, grounded in docs/, answered',
    'muai "Summarize: ..." --workflow summarize --json',
    'muai serve --port 8080                      # the OpenAI-compatible server',
    'muai doctor                                 # check this machine and its config',
  ],
  run: [
    'muai run "Once upon a time" --max-tokens 32 --stream',
    'muai run "Hi" --model path/to/exported-model --temperature 0.7 --seed 1',
    'muai run "Hi" --engine vllm --endpoint http://127.0.0.1:8001 --model my-model',
    'muai run "Hi" --engine deepspeed --endpoint http://127.0.0.1:28080 --deployment my-model --json',
  ],
  serve: [
    'muai serve                                  # http://127.0.0.1:8000, logs to logs/muai.log',
    'muai serve -c config/system.yaml -c config/optimization.yaml --port 8080',
    'MUAI_MON_TRACING_ENABLED=true MUAI_MON_TRACING_ENDPOINT=http://127.0.0.1:4318 muai serve',
    'curl -s http://127.0.0.1:8000/ready && curl -s http://127.0.0.1:8000/metrics | head',
  ],
  config: ['muai config validate -c config/system.yaml', 'muai config print --json'],
  'config validate': [
    'muai config validate                        # config/system.yaml + config/optimization.yaml when present',
    'muai config validate -c docs/examples/production.yaml --strict',
    'MUAI_OPT_BATCHER_MAX_BATCH_SIZE=64 muai config validate',
  ],
  'config print': ['muai config print                           # every key with its source', 'muai config print -c system.yaml --json | jq .sources'],
  doctor: [
    'muai doctor                                 # table of checks, a fix for each failure',
    'muai doctor -c config/system.yaml --json    # machine-readable; exit 1 on any failure',
    'muai doctor --skip-network                  # no connection attempts to remote endpoints',
  ],
  convert: ['muai convert llama2c stories15M.bin --tokenizer tokenizer.bin --out models/stories15M'],
  'convert llama2c': [
    'muai convert llama2c stories260K.bin -t tok512.bin -o models/stories260K',
    'muai convert llama2c stories15M.bin -t tokenizer.bin -o models/stories15M --force --json',
  ],
  pull: [
    'muai pull onnx-community/SmolLM2-135M-Instruct            # fp32 graph into the shared cache',
    'muai pull onnx-community/SmolLM2-135M-Instruct --dtype q8 --json',
  ],
  bench: [
    'muai bench --base-url http://127.0.0.1:8000 --num-prompts 200 --max-concurrency 8',
    'muai bench --model models/generated/tiny --random-input-len 64 --random-output-len 16 --json',
    'muai bench --base-url http://127.0.0.1:8000 --sweep rates=1,2,inf --save-results after.json',
  ],
  'bench compare': ['muai bench compare before.json after.json', 'muai bench compare before.json after.json --json'],
  alerts: ['muai alerts test', 'muai alerts list --url http://127.0.0.1:8000', 'muai alerts rules -o deploy/prometheus/muai-anomaly-rules.yml'],
  'alerts test': ['muai alerts test -c config/optimization.yaml', 'muai alerts test --json'],
  'alerts list': ['muai alerts list                            # the server of monitoring.server.*', 'muai alerts list --url http://10.0.0.5:8000 --api-key "$MUAI_MON_SERVER_API_KEY" --json'],
  'alerts rules': ['muai alerts rules > muai-rules.yml && promtool check rules muai-rules.yml', 'muai alerts rules --error-budget 0.001 -o rules.yml'],
  completion: [
    'muai completion bash > /etc/bash_completion.d/muai',
    'muai completion zsh > "${fpath[1]}/_muai"',
    'source <(muai completion bash)              # this shell only',
  ],
};

/** The command's path below the root, e.g. `config validate`; `''` for the root. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent) names.unshift(current.name());
  return names.join(' ');
}

/** Every command of the tree, the root first, depth first. */
export function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((child) => allCommands(child))];
}

/** Adds an "Examples:" section to the help of each command that has examples in the table. */
export function addExamples(root: Command): void {
  for (const command of allCommands(root)) {
    const examples = COMMAND_EXAMPLES[commandPath(command)];
    if (!examples) continue;
    command.addHelpText('after', `\nExamples:\n${examples.map((line) => `  $ ${line}`).join('\n')}\n`);
  }
}
