import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../test/cli-harness.js';
import { createProgram } from '../program.js';
import { completionEntries, completionScript } from './completion.js';
import { allCommands, commandPath } from './examples.js';
import packageJson from '../../package.json' with { type: 'json' };

afterEach(() => {
  process.exitCode = undefined;
});

/** Asks the completion function of `shell` for the candidates after `line` (the last word is being typed). */
function complete(shell: 'bash' | 'zsh', line: string): string[] {
  const script = completionScript(createProgram(), shell);
  const words = line.split(' ');
  if (shell === 'bash') {
    const driver = `${script}\nCOMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}\n_muai_complete\nprintf '%s\\n' "\${COMPREPLY[@]}"\n`;
    const result = spawnSync('bash', ['--norc', '-c', driver], { encoding: 'utf8' });
    expect(result.error, 'bash must be installed').toBeUndefined();
    expect(result.stderr).toBe('');
    return result.stdout.split('\n').filter(Boolean);
  }
  // zsh: the real completion system is interactive; compadd and _files are replaced by functions
  // that print what they are given (compadd keeping, as the real one does, the words that start
  // with $PREFIX), and `words`/`CURRENT`/`PREFIX` are set as zsh's completion sets them.
  const fakes = `compadd() { [[ $1 == -- ]] && shift; local word; for word in "$@"; do [[ $word == "$PREFIX"* ]] && print -r -- $word; done; }\n_files() { echo FILES; }`;
  const driver = `${fakes}\n${script}\nwords=(${words.map((word) => `'${word}'`).join(' ')}); CURRENT=${words.length}; PREFIX='${words.at(-1)}'\n_muai\n`;
  const result = spawnSync('zsh', ['-f', '-c', driver], { encoding: 'utf8' });
  expect(result.error, 'zsh must be installed (apt-get install zsh)').toBeUndefined();
  expect(result.stderr).toBe('');
  return result.stdout.split('\n').filter(Boolean);
}

describe('muai --version and --help', () => {
  it('prints the version of apps/cli/package.json', async () => {
    const { code, stdout } = await runCli(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(packageJson.version);
  });

  it('every command has a description and an Examples section in its --help', async () => {
    const program = createProgram();
    const missing: string[] = [];
    for (const command of allCommands(program)) {
      const path = commandPath(command);
      expect(command.description(), `muai ${path} has a description`).not.toBe('');
      const { code, stdout } = await runCli([...(path ? path.split(' ') : []), '--help']);
      expect(code, `muai ${path} --help`).toBe(0);
      if (!/\nExamples:\n {2}\$ muai/.test(stdout)) missing.push(`muai ${path}`);
    }
    // A new command: add its examples to COMMAND_EXAMPLES in examples.ts (or addHelpText in its module).
    expect(missing, 'commands whose --help has no Examples section').toEqual([]);
  });
});

describe('muai completion', () => {
  it('is generated from the command tree: every command and option is in the table', () => {
    const entries = completionEntries(createProgram());
    const root = entries.find((entry) => entry.path === '')!;
    expect(root.subcommands).toEqual(expect.arrayContaining(['serve', 'run', 'config', 'doctor', 'completion']));
    expect(entries.find((entry) => entry.path === 'config validate')!.flags).toEqual(expect.arrayContaining(['-c', '--config', '--strict', '--help']));
    expect(entries.find((entry) => entry.path === 'serve')!.valueFlags).toEqual(expect.arrayContaining(['--port', '--host', '-c']));
  });

  it.each(['bash', 'zsh'] as const)('%s: completes subcommands, nested subcommands, options and files', (shell) => {
    expect(complete(shell, 'muai se')).toEqual(['serve']);
    expect(complete(shell, 'muai config ')).toEqual(expect.arrayContaining(['validate', 'print']));
    expect(complete(shell, 'muai config validate --s')).toEqual(['--strict']);
    expect(complete(shell, 'muai serve --po')).toEqual(['--port']);
    // After a flag that takes a value, the shell completes file names instead of flags.
    const afterConfig = complete(shell, 'muai serve --config ');
    expect(afterConfig).not.toContain('--port');
    if (shell === 'zsh') expect(afterConfig).toEqual(['FILES']);
  });

  it('prints the script and rejects an unknown shell with a stable error', async () => {
    const bash = await runCli(['completion', 'bash']);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -o default -F _muai_complete muai');
    const zsh = await runCli(['completion', 'zsh']);
    expect(zsh.stdout.startsWith('#compdef muai')).toBe(true);
    const fish = await runCli(['completion', 'fish']);
    expect(fish.code).toBe(1);
    expect(fish.stderr).toContain('INVALID_REQUEST');
  });
});
