import { Option } from 'commander';

/**
 * `-c, --config <file>` as every command takes it: one file per flag, repeatable, applied in order
 * (`-c system.yaml -c optimization.yaml`). One value per flag, so that `muai -c a.yaml "What is AI?"`
 * keeps the query as the query (a variadic option swallowed it as a second file).
 */
export function configOption(description = 'configuration file; repeat for several, applied in order (default: MUAI_CONFIG, else config/system.yaml and config/optimization.yaml)'): Option {
  return new Option('-c, --config <file>', description).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}
