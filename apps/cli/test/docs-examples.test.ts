/** Every configuration example in docs/examples is valid for @muai/config, warning-free, and listed in its README. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@muai/config';
import { repoRoot } from './cli-harness.js';

const folder = join(repoRoot, 'docs/examples');
const examples = readdirSync(folder).filter((file) => file.endsWith('.yaml'));

describe('docs/examples', () => {
  it('has the scenarios the guide names', () => {
    expect(examples).toEqual(expect.arrayContaining(['minimal.yaml', 'production-cpu.yaml', 'vllm-gpu.yaml', 'deepspeed-mii.yaml', 'observability.yaml', 'low-latency.yaml', 'multi-model.yaml']));
  });

  it.each(examples)('%s is valid, with no warning, and listed in the README', (file) => {
    const loaded = loadConfig({ files: [join(folder, file)], env: {}, strict: true });
    expect(loaded.warnings).toEqual([]);
    expect(readFileSync(join(folder, 'README.md'), 'utf8')).toContain(`[${file}](${file})`);
  });

  it('the examples configure what their names say', () => {
    const load = (file: string) => loadConfig({ files: [join(folder, file)], env: {} }).config;
    expect(load('production-cpu.yaml').optimization.batcher.enabled).toBe(true);
    expect(load('production-cpu.yaml').monitoring.logging.file).toBe('logs/muai.log');
    expect(load('vllm-gpu.yaml').optimization.engine_preference).toEqual(['vllm', 'onnx']);
    expect(load('deepspeed-mii.yaml').optimization.deepspeed.enabled).toBe(true);
    expect(load('observability.yaml').monitoring.tracing.enabled).toBe(true);
    expect(load('low-latency.yaml').optimization.batcher.enabled).toBe(false);
    expect(Object.keys(load('multi-model.yaml').models)).toEqual(['default', 'summarizer']);
  });
});

describe('operations documents', () => {
  it.each(['docs/deployment.md', 'docs/troubleshooting.md', 'deploy/README.md', 'docs/examples/README.md'])('%s links only to files that exist', (document) => {
    const text = readFileSync(join(repoRoot, document), 'utf8');
    const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((match) => match[1]!).filter((link) => !/^[a-z]+:/.test(link));
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(existsSync(join(repoRoot, dirname(document), link)), `${document} -> ${link}`).toBe(true);
  });
});
