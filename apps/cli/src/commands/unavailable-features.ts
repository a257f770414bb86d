import type { MuaiConfig } from '@muai/config';

/**
 * Warnings for features a config switches on that this version does not have yet, so that an
 * enabled key is never accepted silently. Remove an entry when its package lands.
 */
export function unavailableFeatureWarnings(config: MuaiConfig): string[] {
  const warnings: string[] = [];
  if (config.optimization.enabled && config.optimization.tuner.enabled) {
    warnings.push('optimization.tuner.enabled is true, but auto-tuning is not available in this version of MuAI; the settings stay as configured.');
  }
  return warnings;
}
