/**
 * OpenTelemetry GenAI semantic-convention attribute names (development status in semconv 1.37+;
 * copied here rather than imported from `@opentelemetry/semantic-conventions/incubating`, as that
 * entry point advises, because incubating names may change between its minor versions).
 */
export const GEN_AI_ATTRIBUTES = {
  OPERATION_NAME: 'gen_ai.operation.name',
  PROVIDER_NAME: 'gen_ai.provider.name',
  /** Deprecated in semconv 1.37 in favour of gen_ai.provider.name; emitted only with `legacyGenAiSystem`. */
  SYSTEM: 'gen_ai.system',
  REQUEST_MODEL: 'gen_ai.request.model',
  REQUEST_MAX_TOKENS: 'gen_ai.request.max_tokens',
  REQUEST_TEMPERATURE: 'gen_ai.request.temperature',
  REQUEST_TOP_P: 'gen_ai.request.top_p',
  RESPONSE_MODEL: 'gen_ai.response.model',
  RESPONSE_ID: 'gen_ai.response.id',
  RESPONSE_FINISH_REASONS: 'gen_ai.response.finish_reasons',
  USAGE_INPUT_TOKENS: 'gen_ai.usage.input_tokens',
  USAGE_OUTPUT_TOKENS: 'gen_ai.usage.output_tokens',
  INPUT_MESSAGES: 'gen_ai.input.messages',
  OUTPUT_MESSAGES: 'gen_ai.output.messages',
} as const;

/** Attributes that carry prompt or completion text: dropped unless `recordPrompts` is on. */
export const CONTENT_ATTRIBUTES: ReadonlySet<string> = new Set([
  'gen_ai.prompt',
  'gen_ai.completion',
  'gen_ai.input.messages',
  'gen_ai.output.messages',
  'gen_ai.system_instructions',
]);

/** MuAI's own span attributes (namespaced `muai.`). */
export const MUAI_ATTRIBUTES = {
  WORKFLOW_NAME: 'muai.workflow.name',
  ENGINE_NAME: 'muai.engine.name',
  ENGINE_OPERATION: 'muai.engine.operation',
  BATCH_SIZE: 'muai.batch.size',
  REQUEST_ID: 'muai.request.id',
} as const;
