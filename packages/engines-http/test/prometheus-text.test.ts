import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parsePrometheusText, sumSamples } from '../src/prometheus-text.js';

describe('parsePrometheusText', () => {
  it('parses names with colons, labels, escapes and special values', () => {
    const samples = parsePrometheusText(
      [
        '# HELP x help',
        'vllm:num_requests_running{engine="0",model_name="a \\"b\\"\\\\c"} 3.0',
        'plain 7 1700000000000',
        'inf_metric{le="+Inf"} +Inf',
        'nan_metric NaN',
        'broken{oops 1',
      ].join('\n'),
    );
    expect(samples[0]).toEqual({ name: 'vllm:num_requests_running', labels: { engine: '0', model_name: 'a "b"\\c' }, value: 3 });
    expect(samples[1]).toEqual({ name: 'plain', labels: {}, value: 7 });
    expect(samples[2]!.value).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(samples[3]!.value)).toBe(true);
    expect(samples).toHaveLength(4);
  });

  it('sums a vLLM series across engines and filters by label', () => {
    const samples = parsePrometheusText(readFileSync(new URL('./fixtures/vllm-metrics.txt', import.meta.url), 'utf8'));
    expect(sumSamples(samples, 'vllm:num_requests_running')).toBe(5);
    expect(sumSamples(samples, 'vllm:request_success_total', { finished_reason: 'length' })).toBe(5);
    expect(sumSamples(samples, 'vllm:absent')).toBeUndefined();
  });
});
