import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, MuaiError } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { ModelManager, SearchQAWorkflow } from '../src/index.js';

const tiny = join(import.meta.dirname, '..', '..', '..', 'models', 'generated', 'tiny');

/**
 * The seed's property: for any query string, a workflow without optimization returns a result or
 * throws only a documented error (a MuaiError whose code is one of the stable codes, and for a
 * well-formed call only the ones a query can cause).
 */
const QUERY_ERRORS = new Set(['INVALID_REQUEST', 'CONTEXT_LENGTH_EXCEEDED']);

async function holds(workflow: SearchQAWorkflow, query: string, maxTokens: number): Promise<void> {
  try {
    const result = await workflow.execute({ query, maxTokens });
    expect(result.workflow).toBe('search_qa');
    expect(typeof result.output).toBe('string');
    expect(query.trim()).not.toBe('');
  } catch (error) {
    expect(MuaiError.isInstance(error)).toBe(true);
    const code = (error as MuaiError).code;
    expect(Object.keys(ERROR_CODES)).toContain(code);
    expect(QUERY_ERRORS).toContain(code);
    if (query.trim() === '') expect(code).toBe('INVALID_REQUEST');
  }
}

describe('property: workflows work without optimization', () => {
  it('holds for any string with a fake engine', async () => {
    const workflow = new SearchQAWorkflow(new ModelManager({ engine: new FakeEngine({ name: 'onnx' }) }));
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', ' ', '\n\t', '?', 'What is AI?')), (query) => holds(workflow, query, 8)), { numRuns: 300 });
  });

  it.skipIf(!existsSync(tiny))('holds for any string with the real embedded engine (the generated tiny model)', async () => {
    const workflow = new SearchQAWorkflow(new ModelManager({ defaultModelPath: tiny }));
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constantFrom('', ' ', 'What is AI?')), (query) => holds(workflow, query, 2)), { numRuns: 25 });
  });
});
