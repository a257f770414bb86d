import { MuaiError, toMuaiError } from '@muai/core';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

function typeFor(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status < 500) return 'invalid_request_error';
  return 'server_error';
}

/** Maps any error to an HTTP status and an OpenAI-style error body. Never leaks stack traces. */
export function toErrorResponse(error: unknown): { status: number; body: OpenAIErrorBody } {
  const muai = MuaiError.isInstance(error) ? error : toMuaiError(error, 'INTERNAL', 'Internal server error.');
  const status = muai.httpStatus === 499 ? 400 : muai.httpStatus;
  const param = typeof muai.details['param'] === 'string' ? (muai.details['param'] as string) : null;
  return { status, body: { error: { message: muai.message, type: typeFor(status), param, code: muai.code } } };
}
