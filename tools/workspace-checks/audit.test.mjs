// tools/scripts/audit.mjs's verdicts on npm's real report shapes (npm 11 `audit --json`, report version 2).
import { describe, expect, it } from 'vitest';
import { judgeAudit } from '../scripts/audit.mjs';

const clean = { auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0 }, dependencies: { prod: 120, dev: 0, optional: 3, peer: 0, peerOptional: 0, total: 122 } } };
const vulnerable = {
  auditReportVersion: 2,
  vulnerabilities: {
    'fast-xml-parser': { name: 'fast-xml-parser', severity: 'high', isDirect: false, via: [{ source: 1, title: 'prototype pollution', severity: 'high', range: '<4.2.4' }], effects: [], range: '<4.2.4', nodes: ['node_modules/fast-xml-parser'], fixAvailable: true },
    'semver': { name: 'semver', severity: 'moderate', isDirect: false, via: [], effects: [], range: '<7.5.2', nodes: ['node_modules/semver'], fixAvailable: true },
  },
  metadata: { vulnerabilities: { info: 0, low: 0, moderate: 1, high: 1, critical: 0, total: 2 } },
};
// What this machine's registry answers (npm prints the HTTP error as the JSON report).
const refused = { message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', method: 'POST', statusCode: 405, body: '', error: { summary: '', detail: '' } };

describe('judgeAudit', () => {
  it('passes a report with no high or critical advisory', () => {
    expect(judgeAudit(clean)).toMatchObject({ status: 'clean' });
    expect(judgeAudit({ ...vulnerable, vulnerabilities: { semver: vulnerable.vulnerabilities.semver }, metadata: { vulnerabilities: { moderate: 1, high: 0, critical: 0 } } })).toMatchObject({ status: 'clean' });
  });

  it('fails on a high advisory and names the package', () => {
    const verdict = judgeAudit(vulnerable);
    expect(verdict).toMatchObject({ status: 'vulnerable', count: 1 });
    expect(verdict.offending).toEqual(['fast-xml-parser (high, <4.2.4)']);
  });

  it('calls a refused advisory endpoint "unavailable", never "clean"', () => {
    expect(judgeAudit(refused)).toMatchObject({ status: 'unavailable', reason: expect.stringContaining('405') });
    expect(judgeAudit(null).status).toBe('unavailable');
    expect(judgeAudit({ error: { code: 'ENOAUDIT', summary: 'Your configured registry does not support audit requests.' } })).toMatchObject({ status: 'unavailable', reason: expect.stringContaining('does not support audit') });
  });
});
