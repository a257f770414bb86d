import { MuaiError } from '@muai/core';
import type { MuaiErrorOptions } from '@muai/core';

/** The Hub refused a download (401/403): a gated or private repository without a valid token. */
export class HubUnauthorizedError extends MuaiError {
  constructor(repo: string, endpoint: string, tokenSent: boolean, options: MuaiErrorOptions = {}) {
    const advice = tokenSent
      ? `The token in HF_TOKEN was refused or has no access: open ${endpoint}/${repo}, accept its terms with the account of that token (or ask for access), and check that the token has read permission.`
      : `Set HF_TOKEN to an access token (${endpoint}/settings/tokens) of an account that has accepted the repository's terms at ${endpoint}/${repo}.`;
    super('HUB_UNAUTHORIZED', `The Hugging Face Hub refused access to "${repo}": it is gated or private. ${advice}`, {
      ...options,
      details: { repo, endpoint, tokenSent, ...options.details },
    });
    this.name = 'HubUnauthorizedError';
  }
}

/** The repository has no ONNX decoder graph the embedded engine could load. */
export class HubNoOnnxError extends MuaiError {
  constructor(repo: string, revision: string, onnxFiles: readonly string[], options: MuaiErrorOptions = {}) {
    const found = onnxFiles.length === 0 ? 'no .onnx file at all' : `ONNX files but no decoder graph (${onnxFiles.join(', ')})`;
    super(
      'HUB_NO_ONNX',
      `The Hub repository "${repo}" (revision ${revision}) holds ${found}; the embedded engine needs onnx/model.onnx (or a dtype variant such as onnx/model_q4.onnx). Use an ONNX export of the model (many are published under onnx-community/), export it with Hugging Face Optimum, or serve the original with vLLM.`,
      { ...options, details: { repo, revision, onnxFiles, ...options.details } },
    );
    this.name = 'HubNoOnnxError';
  }
}

/** Why a download failed; `details.reason` of HubDownloadError. */
export type HubDownloadFailure = 'unreachable' | 'http' | 'interrupted' | 'size_mismatch' | 'checksum_mismatch' | 'disk_full' | 'protocol';

/** A download from the Hub failed. A partial file stays as `<blob>.incomplete`, and the next attempt resumes it. */
export class HubDownloadError extends MuaiError {
  readonly reason: HubDownloadFailure;
  constructor(reason: HubDownloadFailure, message: string, options: MuaiErrorOptions = {}) {
    super('HUB_DOWNLOAD_FAILED', message, { ...options, details: { reason, ...options.details } });
    this.name = 'HubDownloadError';
    this.reason = reason;
  }
}
