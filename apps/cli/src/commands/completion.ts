import type { Command, Option } from 'commander';
import { InvalidRequestError } from '@muai/core';
import { allCommands, commandPath } from './examples.js';

/** Shells `muai completion` writes a script for. */
export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** What a shell may complete after one command path: its subcommands, its flags, and which flags take a value. */
export interface CompletionEntry {
  path: string;
  subcommands: string[];
  flags: string[];
  valueFlags: string[];
}

function flagsOf(option: Option): string[] {
  return [option.short, option.long].filter((flag): flag is string => typeof flag === 'string');
}

/**
 * The completion table, read from commander's command tree so that it stays true when commands
 * or options are added: nothing in it is written by hand.
 */
export function completionEntries(root: Command): CompletionEntry[] {
  return allCommands(root).map((command) => {
    const options = command.options as readonly Option[];
    const flags = [...options.flatMap(flagsOf), '-h', '--help'];
    const valueFlags = options.filter((option) => option.required || option.optional).flatMap(flagsOf);
    return { path: commandPath(command), subcommands: command.commands.map((child) => child.name()), flags, valueFlags };
  });
}

function shellCase(entries: readonly CompletionEntry[], pick: (entry: CompletionEntry) => readonly string[]): string {
  return entries.map((entry) => `    '${entry.path}') echo '${pick(entry).join(' ')}' ;;`).join('\n');
}

/** The shared functions: `_muai_words PATH`, `_muai_subcommands PATH`, `_muai_value_flags PATH`. */
function tableFunctions(entries: readonly CompletionEntry[]): string {
  return [
    '_muai_subcommands() {',
    '  case "$1" in',
    shellCase(entries, (entry) => entry.subcommands),
    '  esac',
    '}',
    '_muai_words() {',
    '  case "$1" in',
    shellCase(entries, (entry) => [...entry.subcommands, ...entry.flags]),
    '  esac',
    '}',
    '_muai_value_flags() {',
    '  case "$1" in',
    shellCase(entries, (entry) => entry.valueFlags),
    '  esac',
    '}',
  ].join('\n');
}

/** Walks the words before the cursor and prints the command path they name (`config validate`). */
const PATH_WALK = `_muai_path() {
  local muai_path="" word
  for word in "$@"; do
    case "$word" in -*) continue ;; esac
    case " $(_muai_subcommands "$muai_path") " in
      *" $word "*) muai_path="\${muai_path:+$muai_path }$word" ;;
    esac
  done
  echo "$muai_path"
}`;

/** The completion script for `shell`, generated from the program's command tree. */
export function completionScript(root: Command, shell: CompletionShell): string {
  const table = tableFunctions(completionEntries(root));
  if (shell === 'bash') {
    return `# muai completion for bash. Load it with: source <(muai completion bash)
${table}
${PATH_WALK}
_muai_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" muai_path
  muai_path=$(_muai_path "\${COMP_WORDS[@]:1:COMP_CWORD-1}")
  case " $(_muai_value_flags "$muai_path") " in
    *" $prev "*) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
  esac
  COMPREPLY=($(compgen -W "$(_muai_words "$muai_path")" -- "$cur"))
}
complete -o default -F _muai_complete muai
`;
  }
  return `#compdef muai
# muai completion for zsh. Save it as _muai in a folder of $fpath, or: source <(muai completion zsh)
${table}
${PATH_WALK}
_muai() {
  local muai_path prev=\${words[CURRENT-1]}
  muai_path=$(_muai_path "\${(@)words[2,CURRENT-1]}")
  case " $(_muai_value_flags "$muai_path") " in
    *" $prev "*) _files; return ;;
  esac
  local -a candidates
  candidates=(\${=$(_muai_words "$muai_path")})
  compadd -- "\${candidates[@]}"
}
if [[ -n \${ZSH_VERSION-} ]] && (( \${+functions[compdef]} )); then
  compdef _muai muai
fi
`;
}

/** `muai completion bash|zsh`: prints the shell completion script. */
export function registerCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh) for muai, generated from its commands')
    .argument('<shell>', `the shell: ${COMPLETION_SHELLS.join(' or ')}`)
    .action((shell: string) => {
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) {
        throw new InvalidRequestError(`muai completion supports ${COMPLETION_SHELLS.join(' and ')}, not "${shell}".`);
      }
      process.stdout.write(completionScript(program, shell as CompletionShell));
    });
}
