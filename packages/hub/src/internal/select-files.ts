// File-name suffix of each weight dtype, as transformers.js names them: one table, in @muai/core.
import { DTYPE_SUFFIXES } from '@muai/core';
export { DTYPE_SUFFIXES };

/** Files besides the graph that the engine reads, downloaded when the repository has them. */
export const SUPPORT_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
] as const;

/** Decoder graph base names, in order of preference (transformers.js's, then Optimum's older merged name). */
const DECODER_BASES = ['model', 'decoder_model_merged'] as const;

export interface GraphChoice {
  /** Repository path of the graph, e.g. `onnx/model_q4.onnx`. */
  graph: string;
  dtype: string;
  /** Its external data files (`onnx/model_q4.onnx_data`, `..._data_1`, `.onnx.data`). */
  externalData: string[];
}

/** The dtype of a decoder graph path (`onnx/model_fp16.onnx` -> fp16), or undefined for other files. */
export function dtypeOfGraph(path: string): string | undefined {
  const match = /^(?:onnx\/)?([^/]+)\.onnx$/.exec(path);
  if (!match) return undefined;
  for (const base of DECODER_BASES) {
    for (const [dtype, suffix] of Object.entries(DTYPE_SUFFIXES)) {
      if (match[1] === `${base}${suffix}`) return dtype;
    }
  }
  return undefined;
}

/** External data of `graph`: `<graph>_data`, `<graph>_data_<n>` (transformers.js's chunks) and `<graph>.data`. */
export function externalDataOf(graph: string, files: readonly string[]): string[] {
  return files.filter((file) => file === `${graph}.data` || file === `${graph}_data` || new RegExp(`^${escapeRegExp(graph)}_data_\\d+$`).test(file)).sort();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Picks the graph as the engine would pick it from a folder holding every file: the asked dtype;
 * else fp32 when present, else the first of fp16, q8, int8, uint8, q4, q4f16, bnb4. Graphs under
 * `onnx/` win over ones at the root, and `model*` over `decoder_model_merged*`.
 * Returns undefined with `available` when the asked dtype is missing, or when there is no graph.
 */
export function chooseGraph(files: readonly string[], dtype: string | undefined): { choice?: GraphChoice; available: string[] } {
  const graphs = files.filter((file) => dtypeOfGraph(file) !== undefined);
  const rank = (file: string): number => (file.startsWith('onnx/') ? 0 : 2) + (/(^|\/)model[^/]*$/.test(file) ? 0 : 1);
  graphs.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const byDtype = new Map<string, string>();
  for (const graph of graphs) {
    const graphDtype = dtypeOfGraph(graph)!;
    if (!byDtype.has(graphDtype)) byDtype.set(graphDtype, graph);
  }
  const available = Object.keys(DTYPE_SUFFIXES).filter((known) => byDtype.has(known));
  const wanted = dtype !== undefined ? [dtype] : Object.keys(DTYPE_SUFFIXES);
  for (const candidate of wanted) {
    const graph = byDtype.get(candidate);
    if (graph !== undefined) return { choice: { graph, dtype: candidate, externalData: externalDataOf(graph, files) }, available };
  }
  return { available };
}
