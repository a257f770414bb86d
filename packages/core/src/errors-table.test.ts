// Like Fastify's errors test: the documented table and the code agree, code by code.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './errors.js';

const table = readFileSync(resolve(import.meta.dirname, '../../../docs/errors.md'), 'utf8');

describe('docs/errors.md', () => {
  it('lists exactly the codes of ERROR_CODES, each with its HTTP status, a meaning and what to do', () => {
    const rows = [...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| ([^|]+) \| ([^|]+) \|$/gm)];
    const documented = Object.fromEntries(rows.map((row) => [row[1], Number(row[2])]));
    expect(documented).toEqual({ ...ERROR_CODES });
    for (const row of rows) {
      expect(row[3]!.trim().length, `${row[1]} meaning`).toBeGreaterThan(2);
      expect(row[4]!.trim().length, `${row[1]} what to do`).toBeGreaterThan(2);
    }
  });
});
