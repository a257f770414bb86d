import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseSse } from '../src/sse.js';

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  const encoder = new TextEncoder();
  for (const part of parts) yield encoder.encode(part);
}

async function collect(source: AsyncIterable<Uint8Array>) {
  const out = [];
  for await (const event of parseSse(source)) out.push(event);
  return out;
}

describe('parseSse', () => {
  it('splits events on blank lines and drops one space after the colon', async () => {
    const events = await collect(chunks('data: {"a":1}\n\ndata:{"b":2}\n\n'));
    expect(events.map((event) => event.data)).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('handles CRLF, CR, events split across chunks and UTF-8 split inside a character', async () => {
    const bytes = new TextEncoder().encode('data: héllo\r\n\r\ndata: x\r\r');
    const cut = 8; // inside the two-byte "é"
    async function* split() {
      yield bytes.slice(0, cut);
      yield bytes.slice(cut, cut + 5);
      yield bytes.slice(cut + 5);
    }
    const events = await collect(split());
    expect(events.map((event) => event.data)).toEqual(['héllo', 'x']);
  });

  it('joins multi-line data, keeps event names, skips comments', async () => {
    const events = await collect(chunks(': keep-alive\n', 'event: update\ndata: one\ndata: two\nid: 7\n\n'));
    expect(events).toEqual([{ event: 'update', data: 'one\ntwo', id: '7' }]);
  });

  it('does not yield an event that was not closed by a blank line (a cut stream)', async () => {
    const events = await collect(chunks('data: complete\n\n', 'data: {"choices": [{"text": "par'));
    expect(events.map((event) => event.data)).toEqual(['complete']);
  });

  it('reads the recorded vLLM chat stream fixture', async () => {
    const text = readFileSync(new URL('./fixtures/vllm-chat-stream.sse', import.meta.url), 'utf8');
    const events = await collect(chunks(text));
    expect(events).toHaveLength(7);
    expect(events.at(-1)!.data).toBe('[DONE]');
  });
});
