import type { Command } from 'commander';

/** `muai config validate` and `muai config print` (see issue 2). */
export function registerConfigCommands(program: Command): void {
  program.command('config').description('validate or print the effective configuration');
}
