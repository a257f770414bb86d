import { describe, expect, it } from 'vitest';
import { LabelGuard } from './label-guard.js';

describe('LabelGuard', () => {
  it('keeps the first N distinct values of a label and collapses later ones to "other"', () => {
    const guard = new LabelGuard({ maxValuesPerLabel: 3 });
    expect(['a', 'b', 'c'].map((v) => guard.value('model', v))).toEqual(['a', 'b', 'c']);
    expect(guard.value('model', 'd')).toBe('other');
    expect(guard.value('model', 'a')).toBe('a');
    // Limits are per label.
    expect(guard.value('engine', 'd')).toBe('d');
    expect(guard.overflowed).toBe(1);
  });

  it('applies allow-lists and per-label limits', () => {
    const guard = new LabelGuard({ labels: { severity: { allow: ['warning', 'critical'] }, model: { maxValues: 1 } } });
    expect(guard.value('severity', 'critical')).toBe('critical');
    expect(guard.value('severity', 'panic')).toBe('other');
    expect(guard.value('model', 'm1')).toBe('m1');
    expect(guard.value('model', 'm2')).toBe('other');
  });

  it('rejects free text, long values and maps empty values to "unknown"', () => {
    const guard = new LabelGuard();
    expect(guard.value('model', 'Tell me a secret about my account')).toBe('other');
    expect(guard.value('model', 'x'.repeat(65))).toBe('other');
    expect(guard.value('model', 'a"b')).toBe('other');
    expect(guard.value('model', '')).toBe('unknown');
    expect(guard.value('model', undefined)).toBe('unknown');
    expect(guard.value('model', 'Qwen/Qwen2.5-0.5B-Instruct')).toBe('Qwen/Qwen2.5-0.5B-Instruct');
  });
});
