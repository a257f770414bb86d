import { resolve } from 'node:path';
import { sharedVitestConfig } from '../../vitest.shared';

const config = sharedVitestConfig(import.meta.dirname);
// The shared aliases map only package roots; add this package's ./testing subpath.
(config.resolve!.alias as Array<{ find: RegExp; replacement: string }>).unshift({
  find: /^@muai\/engines-http\/testing$/,
  replacement: resolve(import.meta.dirname, '../engines-http/src/testing/index.ts'),
});
export default config;
