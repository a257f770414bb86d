import { existsSync } from 'node:fs';

// The orchestrator never looks for a repository (nx.json, models/, docs/): a library runs inside
// other people's projects. Callers pass the default model's folder (`defaultModelPath`) and the
// retriever's folder (`docsDirectory`); the muai CLI passes the ones it ships with.

/** True when `path` names something on this machine rather than a hub id such as `Qwen/Qwen-7B-Chat`. */
export function looksLocal(path: string): boolean {
  return path.startsWith('/') || path.startsWith('./') || path.startsWith('../') || path.startsWith('~') || /^[A-Za-z]:[\\/]/.test(path) || existsSync(path);
}
