import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderKeyTables } from '../test/docs-table.js';
import { repoRoot } from '../test/helpers.js';
import { listEnvironmentVariables, NON_CONFIG_VARIABLES } from './environment.js';

const docs = readFileSync(join(repoRoot, 'docs/configuration.md'), 'utf8');

describe('docs/configuration.md', () => {
  it('lists every key with its current default and variable (regenerate with `npx tsx test/docs-table.ts`)', () => {
    const section = /<!-- keys:start[^>]*-->\n([\s\S]*?)\n<!-- keys:end -->/.exec(docs);
    expect(section, 'the keys:start/keys:end markers are missing').not.toBeNull();
    expect(section![1]!.trim()).toBe(renderKeyTables());
  });

  it('names every variable, including the allowed ones that are not keys', () => {
    for (const { variable } of listEnvironmentVariables()) expect(docs).toContain(`\`${variable}\``);
    for (const variable of NON_CONFIG_VARIABLES) expect(docs).toContain(`\`${variable}\``);
  });
});
