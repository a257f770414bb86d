import { describe, expect, it } from 'vitest';
import { ConfigInvalidError } from '@muai/core';
import { createPrometheusExporter } from './prometheus-exporter.js';
import { OTelTracer } from './otel-tracer.js';

describe('configuration problems are ConfigInvalidError listing every problem', () => {
  it('PrometheusExporter lists a bad port and a bad prefix together', () => {
    const error = (() => {
      try {
        createPrometheusExporter({ port: 70000, prefix: '9bad' });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigInvalidError);
    expect((error as ConfigInvalidError).problems.map((problem) => problem.path)).toEqual(['port', 'prefix']);
  });

  it('OTelTracer lists a bad sample rate and a bad protocol together', () => {
    expect(() => new OTelTracer({ sampleRate: 2, protocol: 'smoke-signals' as never })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', problems: [expect.objectContaining({ path: 'sampleRate' }), expect.objectContaining({ path: 'protocol' })] }));
  });
});
