import { z } from 'zod';

/** Limits applied to every request; defaults match monitoring.server.* in @muai/config. */
export interface RequestLimits {
  /** Longest prompt accepted, in characters (token limits are the engine's: CONTEXT_LENGTH_EXCEEDED). */
  maxPromptChars: number;
  /** Largest max_tokens accepted. */
  maxTokensLimit: number;
  /** Most chat messages in one request. */
  maxMessages: number;
}

export const DEFAULT_LIMITS: RequestLimits = { maxPromptChars: 200_000, maxTokensLimit: 4096, maxMessages: 256 };

const stop = z.union([z.string().min(1), z.array(z.string().min(1)).max(8)]).nullish();

function sampling(limits: RequestLimits) {
  return {
    model: z.string().min(1).max(256).optional(),
    max_tokens: z.number().int().min(1).max(limits.maxTokensLimit).nullish(),
    max_completion_tokens: z.number().int().min(1).max(limits.maxTokensLimit).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    top_k: z.number().int().min(-1).max(100_000).nullish(),
    min_p: z.number().min(0).max(1).nullish(),
    repetition_penalty: z.number().gt(0).max(10).nullish(),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
    stop,
    stop_token_ids: z.array(z.number().int().min(0)).max(64).nullish(),
    /** vLLM's extension: generate up to max_tokens past the end-of-sequence token. */
    ignore_eos: z.boolean().nullish(),
    n: z.literal(1).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
    user: z.string().max(256).nullish(),
    // Accepted and ignored, as OpenAI clients send them: they do not change MuAI's output.
    presence_penalty: z.number().min(-2).max(2).nullish(),
    frequency_penalty: z.number().min(-2).max(2).nullish(),
    logprobs: z.union([z.boolean(), z.number().int()]).nullish(),
  };
}

export function completionSchema(limits: RequestLimits) {
  return z.object({
    ...sampling(limits),
    prompt: z.union([z.string().max(limits.maxPromptChars), z.array(z.string().max(limits.maxPromptChars)).length(1)]),
    echo: z.boolean().nullish(),
  });
}

const textPart = z.object({ type: z.literal('text'), text: z.string() });

export function chatSchema(limits: RequestLimits) {
  return z.object({
    ...sampling(limits),
    messages: z
      .array(
        z.object({
          role: z.enum(['system', 'user', 'assistant', 'tool', 'developer']),
          content: z.union([z.string().max(limits.maxPromptChars), z.array(textPart).max(64)]),
          name: z.string().max(256).optional(),
        }),
      )
      .min(1)
      .max(limits.maxMessages),
  });
}

export type CompletionBody = z.infer<ReturnType<typeof completionSchema>>;
export type ChatBody = z.infer<ReturnType<typeof chatSchema>>;

/** Formats zod issues as one line: `messages.0.role: Invalid option ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
    .join('; ');
}
