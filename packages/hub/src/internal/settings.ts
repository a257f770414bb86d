import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where and how to reach the Hub, after options and environment variables are applied. */
export interface HubSettings {
  /** Hub base URL without a trailing slash. */
  endpoint: string;
  /** The hub cache folder that holds `models--org--name/`. */
  cacheDir: string;
  token: string | undefined;
  offline: boolean;
}

export interface HubSettingsInput {
  endpoint?: string;
  cacheDir?: string;
  token?: string;
  offline?: boolean;
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** True for the values huggingface_hub accepts as "on" (1, ON, YES, TRUE, any case). */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`, as huggingface_hub computes it. */
function hfHome(env: NodeJS.ProcessEnv): string {
  const home = nonEmpty(env['HF_HOME']);
  if (home !== undefined) return resolve(home);
  const xdg = nonEmpty(env['XDG_CACHE_HOME']);
  return join(xdg !== undefined ? resolve(xdg) : join(homedir(), '.cache'), 'huggingface');
}

/**
 * The cache folder: MUAI_CACHE_DIR, else HF_HUB_CACHE, else `<HF_HOME>/hub`. The last two are
 * huggingface_hub's own rules, so that Python and MuAI share one copy of each file.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const own = nonEmpty(env['MUAI_CACHE_DIR']) ?? nonEmpty(env['HF_HUB_CACHE']);
  return own !== undefined ? resolve(own) : join(hfHome(env), 'hub');
}

/** HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the file `huggingface-cli login` writes (HF_TOKEN_PATH or `<HF_HOME>/token`). */
function tokenFrom(env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = nonEmpty(env['HF_TOKEN']) ?? nonEmpty(env['HUGGING_FACE_HUB_TOKEN']);
  if (fromEnv !== undefined) return fromEnv;
  const file = nonEmpty(env['HF_TOKEN_PATH']) ?? join(hfHome(env), 'token');
  try {
    return existsSync(file) ? nonEmpty(readFileSync(file, 'utf8')) : undefined;
  } catch {
    return undefined;
  }
}

export function hubSettings(input: HubSettingsInput, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const endpoint = (nonEmpty(input.endpoint) ?? nonEmpty(env['HF_ENDPOINT']) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  return {
    endpoint,
    cacheDir: input.cacheDir !== undefined ? resolve(input.cacheDir) : defaultCacheDir(env),
    token: input.token ?? tokenFrom(env),
    offline: input.offline ?? envFlag(env['HF_HUB_OFFLINE']),
  };
}
