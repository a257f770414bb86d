import { spawnSync } from 'node:child_process';

/**
 * Path of a binary from Debian's prometheus package. Throws (failing the test, never skipping it)
 * when it is missing, saying how to install it.
 */
export function requireBinary(name: 'promtool' | 'prometheus'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error(`\`${name}\` is not installed. Run .ci/install-prometheus.sh (installs Debian's prometheus package) and run the tests again.`);
  }
  return path;
}
