import { describe, expect, it } from 'vitest';
import { ConfigInvalidError } from '@muai/core';
import { createOnnxEngine } from '../src/index.js';

describe('OnnxEngine options', () => {
  it('invalid options are one ConfigInvalidError listing every problem', () => {
    let error: unknown;
    try {
      createOnnxEngine({ defaultMaxTokens: 0, maxBatchSize: 1.5, kvCache: 'big' as never });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigInvalidError);
    expect((error as ConfigInvalidError).problems.map((problem) => problem.path)).toEqual(['defaultMaxTokens', 'maxBatchSize', 'kvCache']);
  });
});
