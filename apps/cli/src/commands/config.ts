import { configOption } from './config-option.js';
import type { Command } from 'commander';
import { MuaiError } from '@muai/core';
import { describeSources, loadConfig } from '@muai/config';
import type { ConfigWarning, LoadedConfig } from '@muai/config';

interface ConfigFileOptions {
  config?: string[];
  strict?: boolean;
}

interface PrintOptions extends ConfigFileOptions {
  json?: boolean;
}

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

function printWarnings(warnings: readonly ConfigWarning[]): void {
  for (const warning of warnings) write(process.stderr, `muai: warning: ${warning.message}`);
}

/**
 * Loads the configuration as the CLI sees it (files from --config, else MUAI_CONFIG, else
 * config/system.yaml and config/optimization.yaml in the working directory; then MUAI_* variables).
 * On failure prints the problems and sets the exit code to 1; returns undefined.
 */
function loadForCommand(options: ConfigFileOptions): LoadedConfig | undefined {
  try {
    const loadOptions = { env: process.env, cwd: process.cwd(), strict: options.strict === true };
    return loadConfig(options.config && options.config.length > 0 ? { ...loadOptions, files: options.config } : loadOptions);
  } catch (error) {
    if (MuaiError.isInstance(error)) {
      write(process.stderr, `muai: error ${error.code}: ${error.message}`);
      process.exitCode = 1;
      return undefined;
    }
    throw error;
  }
}

/**
 * The command's options merged with those of its parents: the root command may declare the same
 * flags (`--config`, `--json`) for its own use, and commander then gives them to the root.
 */
function commandOptions<T>(command: Command): T {
  return command.optsWithGlobals<T & object>();
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `muai config validate` and `muai config print` (see issue 2). */
export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('validate or print the effective configuration');

  config
    .command('validate')
    .description('check configuration files and MUAI_* variables; exit 1 listing every problem')
    .addOption(configOption())
    .option('--strict', 'treat unknown MUAI_* variables as errors')
    .action((_options: ConfigFileOptions, command: Command) => {
      const options = commandOptions<ConfigFileOptions>(command);
      const loaded = loadForCommand(options);
      if (!loaded) return;
      printWarnings(loaded.warnings);
      const files = loaded.files.length > 0 ? loaded.files.join(', ') : 'no files, defaults';
      const warned = loaded.warnings.length > 0 ? `, ${loaded.warnings.length} warning${loaded.warnings.length === 1 ? '' : 's'}` : '';
      write(process.stdout, `OK: configuration is valid (${files}${warned})`);
      process.exitCode = 0;
    });

  config
    .command('print')
    .description('print the effective configuration and where each value came from')
    .addOption(configOption())
    .option('--strict', 'treat unknown MUAI_* variables as errors')
    .option('--json', 'print {config, sources, files, warnings} as JSON')
    .action((_options: PrintOptions, command: Command) => {
      const options = commandOptions<PrintOptions>(command);
      const loaded = loadForCommand(options);
      if (!loaded) return;
      if (options.json) {
        const { config: effective, sources, files, warnings } = loaded;
        write(process.stdout, JSON.stringify({ config: effective, sources, files, warnings }, null, 2));
      } else {
        printWarnings(loaded.warnings);
        const entries = describeSources(loaded);
        const width = Math.min(60, Math.max(...entries.map((entry) => entry.path.length + formatValue(entry.value).length + 3)));
        write(process.stdout, `# files: ${loaded.files.length > 0 ? loaded.files.join(', ') : '(none, defaults only)'}`);
        for (const entry of entries) {
          const assignment = `${entry.path} = ${formatValue(entry.value)}`;
          write(process.stdout, `${assignment.padEnd(width)}  # ${entry.source}`);
        }
      }
      process.exitCode = 0;
    });
}
