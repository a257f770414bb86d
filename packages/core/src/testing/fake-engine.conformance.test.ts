import { afterAll, beforeAll, describe, it } from 'vitest';
import { FakeEngine, describeEngineConformance } from './index.js';

const respond = (prompt: string) => `${prompt} and so on and so forth`;

describeEngineConformance(
  'FakeEngine',
  async () => {
    const engine = new FakeEngine({ respond });
    const spec = { name: 'fake-model', path: '/nowhere' };
    await engine.load(spec);
    // FakeEngine's tokens are words with their trailing space: the first maxTokens of its answer.
    return { engine, spec, expectedText: (prompt, maxTokens) => respond(prompt).split(/(?<=\s)/).slice(0, maxTokens).join('') };
  },
  { describe, it, beforeAll, afterAll },
);
