// Proves that lint enforces DESIGN.md's dependency direction: the real eslint.config.mjs, run on
// source text placed (virtually) inside each project, rejects the forbidden imports.
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
// Type information is not needed for the boundary rule; linting virtual files skips it.
const eslint = new ESLint({
  cwd: root,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
  ruleFilter: ({ ruleId }) => ruleId === '@nx/enforce-module-boundaries',
});

async function boundaryErrors(file, importFrom) {
  const code = `import * as imported from '${importFrom}';\nexport const used = imported;\n`;
  const [result] = await eslint.lintText(code, { filePath: resolve(root, file) });
  return result.messages.filter((message) => message.ruleId === '@nx/enforce-module-boundaries').map((message) => message.message);
}

describe('module boundaries (lint)', () => {
  it.each([
    ['packages/engines-vllm/src/probe.ts', '@muai/engines-onnx', 'one engine importing another'],
    ['packages/engines-onnx/src/probe.ts', '@muai/engines-deepspeed', 'one engine importing another'],
    ['packages/core/src/probe.ts', '@muai/config', 'core importing anything'],
    ['packages/batcher/src/probe.ts', '@muai/monitoring', 'a library importing a sibling library'],
    ['packages/orchestrator/src/probe.ts', '@muai/server', 'a package importing an app'],
    ['packages/monitoring/src/probe.ts', '@muai/cli', 'a package importing an app'],
    ['packages/kv-cache/src/probe.ts', '@muai/engines-onnx', 'the cache importing an engine'],
  ])('%s importing %s fails (%s)', async (file, target) => {
    const errors = await boundaryErrors(file, target);
    expect(errors.length).toBe(1);
  });

  it.each([
    ['packages/engines-onnx/src/probe.ts', '@muai/kv-cache'],
    ['packages/engines-vllm/src/probe.ts', '@muai/engines-http'],
    ['packages/orchestrator/src/probe.ts', '@muai/engines-onnx'],
    ['apps/cli/src/probe.ts', '@muai/server'],
    ['apps/server/src/probe.ts', '@muai/core'],
  ])('%s importing %s is allowed', async (file, target) => {
    expect(await boundaryErrors(file, target)).toEqual([]);
  });
});
