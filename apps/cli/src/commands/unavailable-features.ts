import type { MuaiConfig } from '@muai/config';

/**
 * Warnings for features a config switches on that this version does not have yet, so that an
 * enabled key is never accepted silently. Remove an entry when its package lands. (None today:
 * the tuner, the last one, runs in `muai serve`; see ./tuner-wiring.ts.)
 */
export function unavailableFeatureWarnings(_config: MuaiConfig): string[] {
  return [];
}
