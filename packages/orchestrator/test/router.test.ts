import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Router } from '../src/index.js';

describe('Router', () => {
  const router = new Router();
  it.each([
    ['What is AI?', 'search_qa'],
    ['who wrote the batcher', 'search_qa'],
    ['How do I enable vLLM', 'search_qa'],
    ['Summarize: the quick brown fox', 'summarize'],
    ['Please summarise this article', 'summarize'],
    ['tl;dr of the release notes', 'summarize'],
    ['hello there', 'chat'],
    ['write me a poem about GPUs', 'chat'],
  ])('routes %j to %s', (query, workflow) => {
    expect(router.route({ query }).workflow).toBe(workflow);
  });

  it('lets an explicit workflow win, with confidence 1', () => {
    expect(router.route({ query: 'What is AI?', workflow: 'chat' })).toMatchObject({ workflow: 'chat', confidence: 1, reason: expect.stringContaining('explicitly') });
  });

  it('uses default_workflow below confidence_threshold and says why', () => {
    const strict = Router.fromConfig({ default_workflow: 'search_qa', confidence_threshold: 0.7 });
    const decision = strict.route({ query: 'write me a poem' });
    expect(decision.workflow).toBe('search_qa');
    expect(decision.matched.workflow).toBe('chat');
    expect(decision.reason).toContain('below the threshold 0.7');
  });

  it('replaces the built-in rules with router.rules from config, by priority', () => {
    const configured = Router.fromConfig({
      default_workflow: 'chat',
      rules: [
        { workflow: 'summarize', keywords: ['digest'], priority: 1 },
        { workflow: 'search_qa', pattern: '^find\\b', priority: 5 },
      ],
    });
    expect(configured.route({ query: 'find the digest' }).workflow).toBe('search_qa');
    expect(configured.route({ query: 'a digest please' }).workflow).toBe('summarize');
    expect(configured.route({ query: 'What is AI?' }).workflow).toBe('chat');
  });

  it('always returns a confidence in [0, 1] and a reason', () => {
    fc.assert(
      fc.property(fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), (query, threshold) => {
        const decision = new Router({ confidenceThreshold: threshold }).route({ query });
        expect(decision.confidence).toBeGreaterThanOrEqual(0);
        expect(decision.confidence).toBeLessThanOrEqual(1);
        expect(['chat', 'search_qa', 'summarize']).toContain(decision.workflow);
        expect(decision.reason.length).toBeGreaterThan(0);
      }),
    );
  });
});
