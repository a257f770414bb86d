import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidRequestError, MuaiError } from '@muai/core';
import type { ChatMessage } from '@muai/core';
import { ChunkedEncoder } from './chunked-encoder.js';
import { readJsonFile } from './model-files.js';

function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * Drops what @huggingface/tokenizers' BPE model keeps after construction but never reads again:
 * the merges list (its ranks live on in `bpe_ranks`) and the parsed tokenizer.json's vocab and
 * merges (copied into `tokens_to_ids` and `vocab`): about 5.6 MB of live heap for a 32 000-token
 * vocabulary. Why: onnxruntime-node returns every `present` as a new buffer each decode step, V8
 * answers that external memory with full mark-compact collections, and their cost grows with the
 * live heap. Measured at position 512 on the bench model (quiet machine, separate processes):
 * 16.3-18.8 ms CPU per step before, 15.1-15.5 after, 13.9-14.7 for a bare loop
 * (benchmarks/RESULTS.md, decode). Only when the internals look as expected; load() checks that a
 * probe encodes the same before and after.
 */
function releaseConstructionTables(tokenizer: Tokenizer): void {
  const model = (tokenizer as unknown as { model?: { bpe_ranks?: unknown; tokens_to_ids?: unknown; merges?: unknown; config?: Record<string, unknown> } }).model;
  if (model === undefined || !(model.bpe_ranks instanceof Map) || !(model.tokens_to_ids instanceof Map)) return;
  model.merges = undefined;
  if (model.config !== undefined) {
    delete model.config['merges'];
    delete model.config['vocab'];
  }
}

/**
 * A model's tokenizer (tokenizer.json through @huggingface/tokenizers) and chat template
 * (tokenizer_config.json `chat_template` or chat_template.jinja, through @huggingface/jinja).
 */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly template: Template | undefined;
  private readonly specialTokens: Record<string, string>;
  /** Long prompts in cached chunks, when the tokenizer allows it exactly (chunked-encoder.ts). */
  private readonly chunked: ChunkedEncoder | undefined;

  /** Whether long prompts are tokenized in cached chunks (a known prefix is not tokenized again). */
  get chunkedPrompts(): boolean {
    return this.chunked !== undefined;
  }

  private constructor(tokenizer: Tokenizer, template: Template | undefined, specialTokens: Record<string, string>, chunked: ChunkedEncoder | undefined) {
    this.tokenizer = tokenizer;
    this.template = template;
    this.specialTokens = specialTokens;
    this.chunked = chunked;
  }

  static load(dir: string): TextTokenizer {
    const tokenizerPath = join(dir, 'tokenizer.json');
    const tokenizerJson = readJsonFile(tokenizerPath, true)!;
    const tokenizerConfig = readJsonFile(join(dir, 'tokenizer_config.json'), false) ?? {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
      tokenizer.encode('a');
    } catch (error) {
      throw new MuaiError('MODEL_INVALID', `${tokenizerPath} is not a usable Hugging Face tokenizer (${(error as Error).message}). Restore the file from the model's original export.`, {
        cause: error,
        details: { file: tokenizerPath },
      });
    }
    let source: string | undefined;
    const configured = tokenizerConfig['chat_template'];
    if (typeof configured === 'string') source = configured;
    else if (Array.isArray(configured)) {
      const named = configured as Array<{ name?: unknown; template?: unknown }>;
      const chosen = named.find((entry) => entry.name === 'default') ?? named[0];
      if (typeof chosen?.template === 'string') source = chosen.template;
    } else if (existsSync(join(dir, 'chat_template.jinja'))) {
      source = readFileSync(join(dir, 'chat_template.jinja'), 'utf8');
    }
    let template: Template | undefined;
    if (source !== undefined) {
      try {
        template = new Template(source);
      } catch (error) {
        throw new MuaiError('MODEL_INVALID', `The chat template of ${dir} does not parse (${(error as Error).message}). Fix chat_template in tokenizer_config.json.`, {
          cause: error,
          details: { file: join(dir, 'tokenizer_config.json') },
        });
      }
    }
    const specialTokens: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
      const text = tokenText(tokenizerConfig[key]);
      if (text !== undefined) specialTokens[key] = text;
    }
    // Before the tables are released: the tokenizer's config is the parsed tokenizer.json's model
    // object itself, so releasing them also empties the merges that ChunkedEncoder checks.
    const chunked = ChunkedEncoder.create(tokenizerJson, (text, addSpecialTokens) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids);
    const probe = 'Tokenizer probe: the quick brown fox, 42 ▁ naïve 日本.';
    const before = tokenizer.encode(probe).ids.join(',');
    releaseConstructionTables(tokenizer);
    if (tokenizer.encode(probe).ids.join(',') !== before) {
      throw new MuaiError('INTERNAL', `Releasing @huggingface/tokenizers' construction tables changed the encoding of ${tokenizerPath}; this version of the library is not supported by releaseConstructionTables.`);
    }
    return new TextTokenizer(tokenizer, template, specialTokens, chunked);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** Tokenizes a plain completion prompt, special tokens (BOS) added as the post-processor says. */
  encodePrompt(prompt: string): number[] {
    return this.chunked?.encode(prompt, true) ?? this.tokenizer.encode(prompt).ids;
  }

  /** Applies the chat template (with a generation prompt) and tokenizes without adding special tokens twice. */
  encodeMessages(messages: readonly ChatMessage[]): number[] {
    const text = this.renderChat(messages);
    return this.chunked?.encode(text, false) ?? this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  renderChat(messages: readonly ChatMessage[]): string {
    if (this.template === undefined) {
      throw new InvalidRequestError('This model has no chat template (tokenizer_config.json has no chat_template). Send `prompt` instead of `messages`.');
    }
    try {
      return this.template.render({
        messages: messages.map((message) => ({ role: message.role, content: message.content })),
        add_generation_prompt: true,
        ...this.specialTokens,
      });
    } catch (error) {
      if (MuaiError.isInstance(error)) throw error;
      throw new InvalidRequestError(`The model's chat template refused these messages: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Decodes ids to text, special tokens skipped. */
  decode(ids: number[]): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }
}
