import { Command, CommanderError } from 'commander';
import { MuaiError } from '@muai/core';
import { registerBenchCommand } from './commands/bench.js';
import { registerTuneCommand } from './commands/tune.js';
import { registerConfigCommands } from './commands/config.js';
import { registerQueryCommand } from './commands/query.js';
import { registerRunCommand } from './commands/run.js';
import { registerConvertCommand } from './commands/convert.js';
import { registerServeCommand } from './commands/serve.js';
import { registerAlertsCommands } from './commands/alerts.js';
import { registerPullCommand } from './commands/pull.js';
import { registerCompletionCommand } from './commands/completion.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { addExamples } from './commands/examples.js';
import packageJson from '../package.json' with { type: 'json' };

/** Each command module adds its commands to the program. Add new modules here. */
const registrations: Array<(program: Command) => void> = [registerQueryCommand, registerRunCommand, registerServeCommand, registerConvertCommand, registerConfigCommands, registerPullCommand, registerDoctorCommand, registerCompletionCommand, registerBenchCommand, registerTuneCommand, registerAlertsCommands];

export function createProgram(): Command {
  const program = new Command('muai')
    .description('MuAI: inference orchestration for Node.js')
    .version(packageJson.version, '-V, --version', 'print the version of the muai command')
    .exitOverride()
    // Program options (the query's -c, --max-tokens, ...) only before a command name, so that
    // `muai serve -c a.yaml -c b.yaml` gives serve its files instead of the program taking them.
    .enablePositionalOptions()
    .showHelpAfterError();
  for (const register of registrations) register(program);
  // After every registration, so that commands added by any module get their examples in --help.
  addExamples(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. Errors print their code and advice. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (MuaiError.isInstance(error)) {
      process.stderr.write(`muai: error ${error.code}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`muai: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
