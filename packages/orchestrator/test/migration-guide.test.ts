import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@muai/config';
import { defaultModelPath } from '../src/index.js';

/**
 * Runs every ```ts block of docs/migration-guide.md against the code, so that the guide cannot drift.
 * Script blocks are wrapped in a vitest `it` (imports hoisted); blocks that are tests themselves run as
 * they are. All run in one child vitest process whose working directory holds the guide's
 * config/system.yaml and config/optimization.yaml (taken from the guide's own YAML blocks).
 */
const root = resolve(import.meta.dirname, '../../..');
const guidePath = join(root, 'docs', 'migration-guide.md');
const guide = readFileSync(guidePath, 'utf8');
const workDir = join(import.meta.dirname, '.guide');

interface Block {
  language: string;
  code: string;
  line: number;
}

function blocks(markdown: string): Block[] {
  const found: Block[] = [];
  const pattern = /^```(\w+)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let match = pattern.exec(markdown); match; match = pattern.exec(markdown)) {
    found.push({ language: match[1] ?? '', code: match[2] ?? '', line: markdown.slice(0, match.index).split('\n').length });
  }
  return found;
}

const all = blocks(guide);
const tsBlocks = all.filter((block) => block.language === 'ts');
const yamlBlocks = all.filter((block) => block.language === 'yaml');

function asTestFile(block: Block, index: number): string {
  if (/from 'vitest'/.test(block.code)) return block.code;
  const lines = block.code.split('\n');
  const imports = lines.filter((line) => /^import\s/.test(line));
  const body = lines.filter((line) => !/^import\s/.test(line));
  return [
    "import { it as guideIt } from 'vitest';",
    ...imports,
    '',
    `guideIt('docs/migration-guide.md block ${index + 1} (line ${block.line})', async () => {`,
    ...body.map((line) => (line ? `  ${line}` : line)),
    '});',
    '',
  ].join('\n');
}

describe('docs/migration-guide.md', () => {
  it('has a TypeScript twin of every code example of the seed guide', () => {
    // Backward compatibility, optional optimization, option B, monitoring, ModelManager, workflow,
    // orchestrator, config loading, unit, integration and property tests.
    expect(tsBlocks.length).toBeGreaterThanOrEqual(11);
    for (const name of ['ModelManager', 'SearchQAWorkflow', 'OptimizationManager', 'loadOptimizationConfig', 'Orchestrator', 'PrometheusExporter', 'OTelTracer', 'PerformanceMonitor', 'BaseWorkflow', 'fc.asyncProperty']) {
      expect(tsBlocks.some((block) => block.code.includes(name)), name).toBe(true);
    }
  });

  it.each(yamlBlocks.map((block) => [block.line, block] as const))('YAML block at line %i parses with @muai/config', (_line, block) => {
    const dir = mkdtempSync(join(tmpdir(), 'muai-guide-yaml-'));
    const file = join(dir, `line-${block.line}.yaml`);
    writeFileSync(file, block.code);
    try {
      expect(() => loadConfig({ files: [file], env: {} })).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync(defaultModelPath()))('every ts block runs against the code', () => {
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(join(workDir, 'config'), { recursive: true });
    const minimal = yamlBlocks.find((block) => block.code.includes('config/optimization.yaml - minimal'));
    const merged = yamlBlocks.find((block) => block.code.includes('merged configuration'));
    expect(minimal && merged).toBeTruthy();
    writeFileSync(join(workDir, 'config', 'optimization.yaml'), minimal!.code);
    writeFileSync(join(workDir, 'config', 'system.yaml'), merged!.code);
    tsBlocks.forEach((block, index) => writeFileSync(join(workDir, `block-${String(index + 1).padStart(2, '0')}.guide.ts`), asTestFile(block, index)));
    writeFileSync(
      join(workDir, 'vitest.config.ts'),
      `import { sharedVitestConfig } from '${resolve(root, 'vitest.shared.ts').split('\\').join('/')}';\nexport default sharedVitestConfig(import.meta.dirname, { include: ['*.guide.ts'], testTimeout: 120000 });\n`,
    );
    const env: NodeJS.ProcessEnv = { ...process.env, MUAI_MON_PROMETHEUS_PORT: '0' };
    delete env.MUAI_MODEL;
    delete env.VITEST;
    delete env.VITEST_POOL_ID;
    delete env.VITEST_WORKER_ID;
    const child = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'vitest.config.ts', '--reporter=json', '--outputFile=results.json'], {
      cwd: workDir,
      env,
      encoding: 'utf8',
      timeout: 600_000,
    });
    const report = existsSync(join(workDir, 'results.json')) ? (JSON.parse(readFileSync(join(workDir, 'results.json'), 'utf8')) as { testResults: Array<{ name: string; status: string; message: string; assertionResults: Array<{ title: string; status: string; failureMessages: string[] }> }> }) : undefined;
    const failures = (report?.testResults ?? []).flatMap((file) =>
      file.status === 'passed' ? [] : [`${file.name}: ${file.message} ${file.assertionResults.flatMap((test) => test.failureMessages).join('\n')}`],
    );
    expect(failures, `${child.stderr}\n${child.stdout.slice(-2000)}`).toEqual([]);
    expect(report?.testResults.length).toBe(tsBlocks.length);
    expect(child.status).toBe(0);
    // Kept on failure for inspection (git-ignored); removed when everything passed.
    rmSync(workDir, { recursive: true, force: true });
  }, 600_000);
});
