// Fitting prompts into a model's context window, and plain prompts for models without a chat
// template. The orchestrator cannot tokenize (the Engine contract has no tokenizer), so it budgets in
// characters: a conservative first guess of CHARS_PER_TOKEN, then the engine's own counts
// (CONTEXT_LENGTH_EXCEEDED details, or usage.promptTokens) calibrate the next attempt.
import type { ChatMessage } from '@muai/core';

/**
 * First guess of characters per token. Real tokenizers give 3-4 on English prose; small
 * vocabularies and byte fallback give less (stories260K's 512 tokens: about 2.3), so 2 rarely overshoots.
 */
export const INITIAL_CHARS_PER_TOKEN = 2;

/** What a workflow's prompt builder returns for a character budget. */
export interface BuiltPrompt {
  messages: ChatMessage[];
}

/** Characters of message content: what the budget counts. */
export function promptChars(messages: readonly ChatMessage[]): number {
  return messages.reduce((total, message) => total + message.content.length, 0);
}

/**
 * The text a base model (no chat template) continues: a system message as a plain first line,
 * each turn as `User: …` / `Assistant: …`, ending with `Assistant:` so the model writes the answer.
 */
export function plainPrompt(messages: readonly ChatMessage[]): string {
  const lines = messages.map((message) => (message.role === 'system' ? message.content : `${message.role === 'assistant' ? 'Assistant' : 'User'}: ${message.content}`));
  return `${lines.join('\n')}\nAssistant:`;
}

/** Cuts `text` to at most `budget` characters, keeping its start (an ellipsis marks the cut). */
export function keepStart(text: string, budget: number): string {
  if (text.length <= budget) return text;
  if (budget <= 1) return '';
  return `${text.slice(0, budget - 1).trimEnd()}…`;
}

/** Cuts `text` to at most `budget` characters, keeping its end (the part nearest the answer). */
export function keepEnd(text: string, budget: number): string {
  if (text.length <= budget) return text;
  if (budget <= 1) return '';
  return `…${text.slice(text.length - budget + 1).trimStart()}`;
}

/**
 * The character budget for a prompt: the whole window minus the answer's tokens, in characters at
 * `charsPerToken`, never above `maxChars` (the workflow's own cap). Without a known window: `maxChars`.
 */
export function charBudget(contextLength: number | undefined, answerTokens: number, charsPerToken: number, maxChars: number): number {
  if (contextLength === undefined) return maxChars;
  return Math.max(0, Math.min(maxChars, Math.floor((contextLength - answerTokens) * charsPerToken)));
}
