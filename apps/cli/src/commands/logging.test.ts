import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRotatingFile, createServeLogging } from './logging.js';

const config = { level: 'info', format: 'json' } as const;

function capture(isTTY: boolean): PassThrough & { isTTY: boolean; text(): string } {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return Object.assign(stream, { text: () => text });
}

describe('createServeLogging', () => {
  it('writes JSON lines to stdout and the file, with prompts, API keys and Authorization redacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'muai-log-'));
    const stdout = capture(false);
    const logging = createServeLogging({ config: { ...config, file: 'logs/muai.log' }, formatIsDefault: true, stdout, cwd: dir });
    expect(logging.file).toBe(join(dir, 'logs/muai.log'));
    logging.logger.warn('model slow', { model: 'default', prompt: 'secret words', api_key: 'sk-1', req: { headers: { authorization: 'Bearer sk-2' } }, body: { messages: [{ content: 'private' }] } });
    await logging.close();
    const line = JSON.parse(readFileSync(logging.file!, 'utf8').trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 40, msg: 'model slow', model: 'default', prompt: '[redacted]', api_key: '[redacted]', req: { headers: { authorization: '[redacted]' } }, body: '[redacted]' });
    expect(JSON.parse(stdout.text().trim())).toEqual(line);
  });

  it('is pretty on a terminal when the format was not set, JSON when it was; "-" means no file', async () => {
    const terminal = capture(true);
    const pretty = createServeLogging({ config: { ...config, file: '-' }, formatIsDefault: true, stdout: terminal });
    expect(pretty.file).toBeUndefined();
    pretty.logger.info?.('hello', { model: 'm' });
    await pretty.close();
    expect(terminal.text()).toMatch(/INFO.*hello/);
    expect(() => JSON.parse(terminal.text())).toThrow();

    const explicit = capture(true);
    const json = createServeLogging({ config: { ...config, file: '-' }, formatIsDefault: false, stdout: explicit });
    json.logger.info?.('hello');
    await json.close();
    expect(JSON.parse(explicit.text().trim())).toMatchObject({ msg: 'hello' });
  });
});

describe('createRotatingFile', () => {
  it('rotates by size logrotate-style: the live file keeps its name, older ones are .1 .. .keep', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'muai-rotate-')), 'muai.log');
    const rotating = createRotatingFile(file, { maxBytes: 100, keep: 2 });
    for (let index = 0; index < 8; index += 1) {
      rotating.stream.write(`${'x'.repeat(60)} line ${index}\n`);
      // Let each write reach the file before the next (rotation happens on the write event).
      await new Promise((done) => setTimeout(done, 20));
    }
    await rotating.close();
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(existsSync(`${file}.2`)).toBe(true);
    expect(existsSync(`${file}.3`)).toBe(false);
    const all = [readFileSync(`${file}.2`, 'utf8'), readFileSync(`${file}.1`, 'utf8'), existsSync(file) ? readFileSync(file, 'utf8') : ''].join('');
    // The newest lines survive in order; the oldest were dropped past `keep`.
    expect(all).toContain('line 7');
    expect(all.indexOf('line 6')).toBeLessThan(all.indexOf('line 7'));
    expect(all).not.toContain('line 0');
  });

  it('rotates a non-empty file on its interval', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'muai-rotate-')), 'muai.log');
    const rotating = createRotatingFile(file, { intervalMs: 50 });
    rotating.stream.write('first\n');
    // Wait for the interval to rotate it (polled: a loaded machine delays timers).
    for (let waited = 0; !existsSync(`${file}.1`) && waited < 5_000; waited += 10) await new Promise((done) => setTimeout(done, 10));
    rotating.stream.write('second\n');
    await rotating.close();
    const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
    // 'first' left the live file on the interval; nothing was lost and the order holds (a later tick
    // may have rotated 'second' too, which is also correct).
    expect(read(file)).not.toContain('first');
    expect([`${file}.2`, `${file}.1`, file].map(read).join('')).toBe('first\nsecond\n');
  });
});
