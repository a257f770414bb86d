/**
 * The Dockerfile and deploy/compose.yaml cannot be built or run here (no Docker engine, no image
 * registry). What can be checked is checked: the Dockerfile's build steps are the commands CI runs,
 * every file they and the compose stack reference exists, the image runs as a non-root user with a
 * healthcheck on /health, and the configs compose mounts pass their tools' own checks.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { requireBinary } from '../../../packages/monitoring/test/helpers/binaries.js';
import { repoRoot } from './cli-harness.js';

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const compose = readFileSync(join(repoRoot, 'deploy/compose.yaml'), 'utf8');
/** Instructions with their continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

describe('Dockerfile', () => {
  it("builds with the commands CI runs: README's ci:test-command starts with `npm ci`, then the root build script", () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const ciCommand = /<!-- ci:test-command -->\n```bash\n(.*)\n```/.exec(readme)![1]!;
    const ciSteps = ciCommand.split('&&').map((step) => step.trim());
    const runs = instructions.filter((line) => line.startsWith('RUN ')).map((line) => line.slice(4).trim());
    const npmRuns = runs.filter((run) => run.startsWith('npm '));
    expect(npmRuns[0]).toBe(ciSteps[0]);
    expect(ciSteps[0]).toBe('npm ci');
    expect(npmRuns).toContain('npm run build');
    const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['build']).toBeDefined();
    // .ci/run runs the README command; the Dockerfile must not invent other install flags.
    expect(readFileSync(join(repoRoot, '.ci/run'), 'utf8')).toContain('ci:test-command');
  });

  it('runs as an unprivileged user, checks /health, starts muai serve from the built tree with the default model inside', () => {
    const stages = instructions.filter((line) => line.startsWith('FROM '));
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = instructions.slice(instructions.lastIndexOf(instructions.filter((line) => line.startsWith('FROM ')).at(-1)!));
    expect(runtime.find((line) => line.startsWith('USER '))).toBe('USER muai');
    expect(runtime.find((line) => line.startsWith('HEALTHCHECK '))).toContain("http://127.0.0.1:8000/health");
    expect(runtime.find((line) => line.startsWith('ENTRYPOINT '))).toContain('/opt/muai/current/apps/cli/bin/muai.mjs');
    expect(runtime.find((line) => line.startsWith('CMD '))).toBe('CMD ["serve"]');
    // The whole built tree is copied, so models/generated/tiny (made by npm ci's prepare) is inside.
    expect(runtime).toContain('COPY --from=build /src /opt/muai/current');
    expect(readFileSync(join(repoRoot, 'tools/scripts/prepare.mjs'), 'utf8')).toContain('model-gen/generate.mjs --size tiny');
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');
    for (const path of ['node_modules', 'models/generated', '**/dist']) expect(ignored).toContain(path);
    for (const path of ['apps/cli/bin/muai.mjs', 'tools/scripts/prepare.mjs', 'package-lock.json']) expect(existsSync(join(repoRoot, path)), path).toBe(true);
  });
});

describe('deploy/compose.yaml', () => {
  it('has the server, Prometheus, Alertmanager, an OTLP collector and Grafana, and every mounted file exists', () => {
    for (const service of ['muai:', 'prometheus:', 'alertmanager:', 'otel-collector:', 'grafana:']) expect(compose).toContain(`\n  ${service}\n`);
    const mounts = [...compose.matchAll(/^\s+- \.\/(\S+?):\S+$/gm)].map((match) => match[1]!);
    expect(mounts.length).toBeGreaterThanOrEqual(5);
    for (const mount of mounts) expect(existsSync(join(repoRoot, 'deploy', mount)), mount).toBe(true);
    expect(compose).toContain('MUAI_MON_TRACING_ENDPOINT: http://otel-collector:4317');
  });

  it('its Prometheus config and rules pass promtool, its Alertmanager config passes amtool', () => {
    const prometheus = spawnSync(requireBinary('promtool'), ['check', 'config', join(repoRoot, 'deploy/prometheus/prometheus.yml')], { encoding: 'utf8' });
    expect(prometheus.status, prometheus.stdout + prometheus.stderr).toBe(0);
    const amtool = spawnSync('amtool', ['check-config', join(repoRoot, 'deploy/alertmanager/alertmanager.yml')], { encoding: 'utf8' });
    expect(amtool.error, 'amtool is missing: apt-get install prometheus-alertmanager').toBeUndefined();
    expect(amtool.status, amtool.stdout + amtool.stderr).toBe(0);
  });
});
