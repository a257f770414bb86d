import { describe, expect, it } from 'vitest';
import { ModelManager } from '@muai/orchestrator';
import { defaultModelPath } from '@muai/models';
import { ModelManagerEngine } from './serving-engine.js';

describe('ModelManagerEngine (what muai serve speaks)', () => {
  it('sends chat messages to a model without a chat template (the bundled stories260K) as one plain prompt', async () => {
    const engine = new ModelManagerEngine(new ModelManager({ env: {}, defaultModelPath: defaultModelPath() }));
    try {
      const messages = [{ role: 'user' as const, content: 'Hello there' }];
      const chat = await engine.generate({ model: 'default', messages, maxTokens: 12, temperature: 0 });
      const plain = await engine.generate({ model: 'default', prompt: 'User: Hello there\nAssistant:', maxTokens: 12, temperature: 0 });
      expect(chat.text).toBe(plain.text);
      expect(chat.text).toMatch(/[a-z]+ [a-z]+/i);
      let streamed = '';
      for await (const chunk of engine.stream({ model: 'default', messages, maxTokens: 12, temperature: 0 })) streamed += chunk.text;
      expect(streamed).toBe(chat.text);
    } finally {
      await engine.close();
    }
  });
});
