// Validation of a generation request against the model that will serve it: sampling values,
// stop lists, exactly one of prompt or messages, and a prompt that leaves room to generate.
import { InvalidRequestError, MuaiError } from '@muai/core';
import type { GenerationRequest } from '@muai/core';
import type { CausalLm } from './decoder.js';

function checkNumber(name: string, value: number | undefined, valid: (value: number) => boolean, expected: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || !valid(value)) {
    throw new InvalidRequestError(`${name} must be ${expected} (got ${JSON.stringify(value)}).`, { details: { field: name } });
  }
}

/** Sampling values, maxTokens and the stop lists of `request`, for `model`: INVALID_REQUEST naming the field. */
export function validateSampling(request: GenerationRequest, model: CausalLm): void {
  checkNumber('temperature', request.temperature, (v) => v >= 0, 'a number >= 0');
  checkNumber('topK', request.topK, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  checkNumber('topP', request.topP, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  checkNumber('minP', request.minP, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  checkNumber('repetitionPenalty', request.repetitionPenalty, (v) => v > 0, 'a number > 0');
  checkNumber('seed', request.seed, (v) => Number.isInteger(v), 'an integer');
  checkNumber('maxTokens', request.maxTokens, (v) => Number.isInteger(v) && v >= 1 && v <= model.contextLength, `an integer from 1 to the context length ${model.contextLength}`);
  if (request.stop !== undefined && (!Array.isArray(request.stop) || request.stop.some((stop) => typeof stop !== 'string'))) {
    throw new InvalidRequestError('stop must be an array of strings.');
  }
  if (request.stopTokenIds !== undefined && (!Array.isArray(request.stopTokenIds) || request.stopTokenIds.some((id) => !Number.isInteger(id) || id < 0 || id >= model.vocabSize))) {
    throw new InvalidRequestError(`stopTokenIds must be an array of token ids from 0 to ${model.vocabSize - 1}.`);
  }
}

/** The request's prompt (or chat messages through the chat template) as token ids. */
export function promptIds(model: CausalLm, request: Pick<GenerationRequest, 'prompt' | 'messages'>): number[] {
  const hasPrompt = typeof request.prompt === 'string';
  const hasMessages = Array.isArray(request.messages);
  if (hasPrompt === hasMessages) throw new InvalidRequestError('A generation request needs exactly one of `prompt` (a string) or `messages` (an array).');
  if (hasMessages) {
    for (const message of request.messages!) {
      if (typeof message?.role !== 'string' || typeof message.content !== 'string') {
        throw new InvalidRequestError('Each message needs a string `role` and a string `content`.');
      }
    }
    return model.tokenizer.encodeMessages(request.messages!);
  }
  return model.tokenizer.encodePrompt(request.prompt!);
}

/** promptIds, refusing an empty prompt and one that leaves no room to generate (CONTEXT_LENGTH_EXCEEDED). */
export function checkedPromptIds(model: CausalLm, request: Pick<GenerationRequest, 'prompt' | 'messages'>): number[] {
  const ids = promptIds(model, request);
  if (ids.length === 0) throw new InvalidRequestError('The prompt tokenizes to no tokens; send some text.');
  if (ids.length >= model.contextLength) {
    throw new MuaiError(
      'CONTEXT_LENGTH_EXCEEDED',
      `The prompt is ${ids.length} tokens, and model "${model.name}" has a context of ${model.contextLength} tokens, which leaves no room to generate. Shorten the prompt.`,
      { details: { model: model.name, promptTokens: ids.length, contextLength: model.contextLength } },
    );
  }
  return ids;
}
