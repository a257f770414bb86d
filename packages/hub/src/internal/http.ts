import { ModelNotFoundError, MuaiError, errorCauseCode } from '@muai/core';
import { HubDownloadError, HubUnauthorizedError } from '../errors.js';
import type { HubSettings } from './settings.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** What a request is about, for error messages. */
export interface RequestSubject {
  repo: string;
  revision: string;
  file?: string;
}

const USER_AGENT = `muai-hub/0.1.0; node/${process.versions.node}`;

/** Request headers: the token only goes to the Hub's own origin, never to a CDN it redirects to. */
export function hubHeaders(settings: HubSettings, url: string, extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...extra };
  if (settings.token !== undefined && new URL(url).origin === new URL(settings.endpoint).origin) {
    headers['authorization'] = `Bearer ${settings.token}`;
  }
  return headers;
}

/** The `code` of a Node network error (ECONNREFUSED, ENOTFOUND, ECONNRESET, ...) in `error` or its causes. */
export const networkCode = errorCauseCode;

/** fetch() whose network failures become HUB_DOWNLOAD_FAILED (reason `unreachable`) naming the endpoint. */
export async function hubFetch(fetchImpl: FetchLike, settings: HubSettings, url: string, init: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fetchImpl(url, init);
    } catch (error) {
      if (MuaiError.isInstance(error)) throw error;
      // A kept-alive socket the server closed at the same moment: every client meets this now and then.
      if (attempt < 2 && RESET_CODES.has(networkCode(error) ?? '') && init.signal?.aborted !== true) {
        await new Promise((done) => setTimeout(done, 50 * (attempt + 1)));
        continue;
      }
      throw unreachable(settings, url, error);
    }
  }
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function unreachable(settings: HubSettings, url: string, error: unknown): HubDownloadError {
  const code = networkCode(error) ?? (error instanceof Error ? error.message : String(error));
  return new HubDownloadError(
    'unreachable',
    `Could not reach the Hugging Face Hub at ${new URL(url).origin} (${code}). Check the network and HF_ENDPOINT; models already downloaded work offline with HF_HUB_OFFLINE=1.`,
    { cause: error, details: { url, endpoint: settings.endpoint } },
  );
}

/**
 * Throws the coded error for a failed Hub answer. The Hub tells what is missing in `X-Error-Code`
 * (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo); it answers 401 both for gated repos
 * and, to anonymous callers, for repos that do not exist, so a 401 without a code means "a token may help".
 */
export async function raiseForStatus(response: Response, settings: HubSettings, subject: RequestSubject): Promise<void> {
  if (response.ok || (response.status >= 300 && response.status < 400)) return;
  const errorCode = response.headers.get('x-error-code') ?? '';
  const errorMessage = response.headers.get('x-error-message') ?? '';
  const { repo, revision, file } = subject;
  const details = { status: response.status, url: response.url, hubErrorCode: errorCode || undefined, hubErrorMessage: errorMessage || undefined };
  // Drain the body so that the connection is released.
  await response.body?.cancel().catch(() => undefined);
  const tokenHint = settings.token === undefined ? ' If it is private, set HF_TOKEN to a token with read access.' : '';
  if (errorCode === 'GatedRepo' || (response.status === 403 && errorCode !== 'RepoNotFound') || (response.status === 401 && errorCode === '')) {
    throw new HubUnauthorizedError(repo, settings.endpoint, settings.token !== undefined, { details });
  }
  if (errorCode === 'RepoNotFound' || (response.status === 404 && file === undefined && errorCode === '')) {
    throw new ModelNotFoundError(repo, `The Hugging Face Hub at ${settings.endpoint} has no model repository "${repo}". Check the id (org/name, as in the model's URL); for a local folder, check its path (./${repo} is always read as a folder).${tokenHint}`, { details: { repo, ...details } });
  }
  if (errorCode === 'RevisionNotFound') {
    throw new ModelNotFoundError(repo, `Revision "${revision}" does not exist in "${repo}". Pass a branch, tag or commit of the repository with --revision.`, { details: { repo, revision, ...details } });
  }
  if (errorCode === 'EntryNotFound' || response.status === 404) {
    throw new ModelNotFoundError(repo, `"${file ?? ''}" does not exist in "${repo}" at revision ${revision}.`, { details: { repo, revision, file, ...details } });
  }
  throw new HubDownloadError(
    'http',
    `The Hugging Face Hub answered ${response.status}${errorMessage ? ` (${errorMessage})` : ''} for ${file === undefined ? `"${repo}"` : `"${file}" of "${repo}"`}. Retry later; partial downloads resume.`,
    { details: { repo, revision, file, ...details } },
  );
}
