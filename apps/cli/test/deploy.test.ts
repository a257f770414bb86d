/**
 * deploy/deploy.sh end to end in a temporary prefix: releases are archives whose `muai` validates
 * with this repository's real CLI and serves a tiny /ready; `systemctl` is a stand-in on PATH that
 * starts and stops that server as the unit's ExecStart would. Covers a first install, an upgrade,
 * an invalid config (nothing switched), a release that never becomes ready (rolled back), --rollback
 * and --dry-run. Also `systemd-analyze verify` on the unit.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, repoRoot } from './cli-harness.js';
import { freePort } from '@muai/core/testing';

const fixtures = join(import.meta.dirname, 'fixtures/deploy');
const root = mkdtempSync(join(tmpdir(), 'muai-deploy-'));
const prefix = join(root, 'opt/muai');
const state = join(root, 'state');
const bin = join(root, 'bin');
const envFile = join(root, 'muai.env');
const goodConfig = join(root, 'system.yaml');
const badConfig = join(root, 'bad.yaml');
let port = 0;


/** A release archive: the fake muai, VERSION and MODE (`good` or `never-ready`). */
function release(version: string, mode: 'good' | 'never-ready'): string {
  const dir = join(root, 'build', version);
  mkdirSync(join(dir, 'apps/cli/bin'), { recursive: true });
  copyFileSync(join(fixtures, 'muai.mjs'), join(dir, 'apps/cli/bin/muai.mjs'));
  writeFileSync(join(dir, 'VERSION'), version);
  writeFileSync(join(dir, 'MODE'), mode);
  const archive = join(root, `${version}.tgz`);
  const tar = spawnSync('tar', ['-czf', archive, '-C', dir, '.']);
  expect(tar.status).toBe(0);
  return archive;
}

function writeEnv(config: string): void {
  writeFileSync(envFile, `MUAI_CONFIG=${config}\nMUAI_MON_SERVER_PORT=${port}\n`);
}

function deploy(...args: string[]): { code: number | null; stderr: string } {
  const result = spawnSync(join(repoRoot, 'deploy.sh'), ['--prefix', prefix, '--env-file', envFile, '--workdir', root, '--ready-timeout', '5', ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, FAKE_SYSTEMD_STATE: state, FAKE_PREFIX: prefix, FAKE_ENV_FILE: envFile, REAL_MUAI_BIN: cliBin, },
  });
  return { code: result.status, stderr: result.stderr };
}

const current = () => basename(readlinkSync(join(prefix, 'current')));
const calls = () => (existsSync(join(state, 'calls')) ? readFileSync(join(state, 'calls'), 'utf8').trim().split('\n') : []);
/** GET /ready on a fresh connection (a pooled one may belong to the process deploy.sh just stopped). */
const served = () =>
  new Promise<{ status: number | undefined; version: string }>((done, reject) => {
    get({ host: '127.0.0.1', port, path: '/ready', agent: false }, (response) => {
      let version = '';
      response.on('data', (chunk: Buffer) => (version += chunk.toString()));
      response.on('end', () => done({ status: response.statusCode, version }));
    }).on('error', reject);
  });

beforeAll(async () => {
  if (!existsSync(cliBin.replace('bin/muai.mjs', 'dist/index.js'))) throw new Error('apps/cli is not built: run `npm run build`');
  port = await freePort();
  mkdirSync(state, { recursive: true });
  mkdirSync(bin, { recursive: true });
  copyFileSync(join(fixtures, 'systemctl'), join(bin, 'systemctl'));
  chmodSync(join(bin, 'systemctl'), 0o755);
  writeFileSync(goodConfig, 'monitoring:\n  server:\n    drain_timeout_ms: 5000\n');
  writeFileSync(badConfig, 'monitoring:\n  server:\n    drain_timeout_ms: -1\n');
  writeEnv(goodConfig);
});

afterAll(() => {
  if (existsSync(join(state, 'pid'))) spawnSync('kill', ['-TERM', readFileSync(join(state, 'pid'), 'utf8').trim()]);
});

describe('deploy.sh', () => {
  let first = '';

  it('installs a first release: validates, switches current, restarts, waits for /ready', async () => {
    const { code, stderr } = deploy('--archive', release('v1', 'good'));
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('OK: configuration is valid');
    expect(stderr).toMatch(/ready answered 200/);
    first = current();
    expect(calls()).toEqual(['restart muai-orchestration']);
    expect(await served()).toEqual({ status: 200, version: 'v1' });
  });

  it('upgrades to a second release', async () => {
    const { code, stderr } = deploy('--archive', release('v2', 'good'));
    expect(code, stderr).toBe(0);
    expect(current()).not.toBe(first);
    expect(await served()).toEqual({ status: 200, version: 'v2' });
  });

  it('refuses a release when the config is invalid: nothing switched, no restart, release removed', async () => {
    const before = current();
    const restarts = calls().length;
    writeEnv(badConfig);
    try {
      const { code, stderr } = deploy('--archive', release('v3', 'good'));
      expect(code).toBe(1);
      expect(stderr).toContain('CONFIG_INVALID');
      expect(stderr).toContain('drain_timeout_ms');
      expect(stderr).toContain('nothing was switched');
    } finally {
      writeEnv(goodConfig);
    }
    expect(current()).toBe(before);
    expect(calls()).toHaveLength(restarts);
    expect(readdirSync(join(prefix, 'releases'))).toHaveLength(2);
    expect(await served()).toEqual({ status: 200, version: 'v2' });
  });

  it('rolls back when the new release never becomes ready', async () => {
    const before = current();
    const { code, stderr } = deploy('--archive', release('v4', 'never-ready'));
    expect(code).toBe(1);
    expect(stderr).toContain('did not answer 200 within 5s');
    expect(stderr).toContain(`rolled back to ${join(prefix, 'releases', before)}, which is serving`);
    expect(current()).toBe(before);
    expect(readdirSync(join(prefix, 'releases'))).toHaveLength(2);
    expect(calls().slice(-2)).toEqual(['restart muai-orchestration', 'restart muai-orchestration']);
    expect(await served()).toEqual({ status: 200, version: 'v2' });
  });

  it('--rollback goes back to the previous release', async () => {
    const { code, stderr } = deploy('--rollback');
    expect(code, stderr).toBe(0);
    expect(current()).toBe(first);
    expect(await served()).toEqual({ status: 200, version: 'v1' });
  });

  it('--dry-run prints every step and changes nothing', () => {
    const before = current();
    const restarts = calls().length;
    const { code, stderr } = deploy('--dry-run', '--source', repoRoot);
    expect(code, stderr).toBe(0);
    for (const step of ['+ git -C', '+ npm ci', 'config validate', '+ ln -sfn', '+ systemctl restart muai-orchestration', '/ready']) expect(stderr).toContain(step);
    expect(current()).toBe(before);
    expect(calls()).toHaveLength(restarts);
    expect(readdirSync(join(prefix, 'releases'))).toHaveLength(2);
  });
});

describe('deploy/systemd/muai-orchestration.service', () => {
  it('passes systemd-analyze verify (when systemd is installed) and keeps the promises deploy.sh and the docs make', () => {
    const unit = join(repoRoot, 'deploy/systemd/muai-orchestration.service');
    const text = readFileSync(unit, 'utf8');
    for (const line of ['User=muai', 'Restart=on-failure', 'KillSignal=SIGTERM', 'EnvironmentFile=-/etc/muai/muai.env', 'ExecStart=/usr/bin/node /opt/muai/current/apps/cli/bin/muai.mjs serve']) {
      expect(text).toContain(line);
    }
    // TimeoutStopSec must leave room for the default drain (monitoring.server.drain_timeout_ms, 10 s).
    expect(Number(/TimeoutStopSec=(\d+)/.exec(text)?.[1])).toBeGreaterThan(10);
    const which = spawnSync('sh', ['-c', 'command -v systemd-analyze']);
    if (which.status !== 0) {
      console.warn('systemd-analyze is not installed (Debian package systemd): the unit was not verified');
      return;
    }
    const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', cwd: tmpdir() });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stderr.trim()).toBe('');
  });
});
