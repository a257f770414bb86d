import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { serveV8Flags } from './v8-flags.js';

describe('serveV8Flags', () => {
  it('turns incremental marking off unless MUAI_V8_INCREMENTAL_MARKING=1', () => {
    expect(serveV8Flags({})).toEqual(['--no-incremental-marking']);
    expect(serveV8Flags({ MUAI_V8_INCREMENTAL_MARKING: '0' })).toEqual(['--no-incremental-marking']);
    expect(serveV8Flags({ MUAI_V8_INCREMENTAL_MARKING: '1' })).toEqual([]);
  });

  it('is a flag this Node accepts at run time (V8 rejects unknown ones only with a warning, so check the list)', () => {
    const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).stdout;
    for (const flag of serveV8Flags({})) expect(options).toContain(`--${flag.replace(/^--no-/, '')} `);
  });
});
