import type * as ort from 'onnxruntime-node';
import { MuaiError } from '@muai/core';

/** What a decoder graph takes and returns, read from the session's declared inputs and outputs. */
export interface LmLayout {
  numLayers: number;
  /** Key/value heads (fewer than attention heads with grouped-query attention). */
  kvHeads: number;
  headDim: number;
  /** Element type of past keys/values, as the graph declares it. */
  kvType: 'float32' | 'float16';
  /** `past_key_values.N.key`, `past_key_values.N.value`, for N = 0..layers-1 (interleaved). */
  pastNames: string[];
  /** `present.N.key`, `present.N.value`, in the same order as pastNames. */
  presentNames: string[];
  hasAttentionMask: boolean;
  hasPositionIds: boolean;
  /** Merged decoders (decoder_model_merged.onnx) take a boolean `use_cache_branch`. */
  hasUseCacheBranch: boolean;
  /** `num_logits_to_keep` / `logits_to_keep` when the graph has it (set to 1). */
  logitsToKeepName: string | undefined;
  logitsType: 'float32' | 'float16';
  vocabSize: number | undefined;
}

function tensorMeta(list: readonly ort.InferenceSession.ValueMetadata[]): Map<string, ort.InferenceSession.TensorValueMetadata> {
  const map = new Map<string, ort.InferenceSession.TensorValueMetadata>();
  for (const item of list) if (item.isTensor) map.set(item.name, item);
  return map;
}

/** True when the graph looks like a decoder with past key/values (used to tell LMs from plain models). */
export function looksLikeDecoder(session: ort.InferenceSession): boolean {
  return session.inputNames.includes('input_ids') && session.inputNames.some((name) => name.startsWith('past_key_values.'));
}

/**
 * Checks a decoder graph against the standard layout and reads its dimensions. `config` fills in
 * dimensions the graph leaves symbolic (num_key_value_heads, head_dim).
 */
export function readLmLayout(session: ort.InferenceSession, config: Record<string, unknown>, graphPath: string): LmLayout {
  const inputs = tensorMeta(session.inputMetadata);
  const outputs = tensorMeta(session.outputMetadata);
  const problems: string[] = [];
  if (!inputs.has('input_ids')) problems.push('no `input_ids` input');
  if (!outputs.has('logits')) problems.push('no `logits` output');
  let numLayers = 0;
  while (inputs.has(`past_key_values.${numLayers}.key`)) numLayers++;
  if (numLayers === 0) problems.push('no `past_key_values.0.key` input (export with past key/values: `--task text-generation-with-past`)');
  const pastNames: string[] = [];
  const presentNames: string[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    for (const kind of ['key', 'value']) {
      pastNames.push(`past_key_values.${layer}.${kind}`);
      presentNames.push(`present.${layer}.${kind}`);
      if (!inputs.has(`past_key_values.${layer}.${kind}`)) problems.push(`no \`past_key_values.${layer}.${kind}\` input`);
      if (!outputs.has(`present.${layer}.${kind}`)) problems.push(`no \`present.${layer}.${kind}\` output`);
    }
  }
  const known = new Set(['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch', 'num_logits_to_keep', 'logits_to_keep', ...pastNames]);
  for (const name of session.inputNames) if (!known.has(name)) problems.push(`unexpected input \`${name}\``);
  const firstPast = inputs.get('past_key_values.0.key');
  const kvType = firstPast?.type;
  if (firstPast !== undefined && kvType !== 'float32' && kvType !== 'float16') problems.push(`past key/values of type ${String(kvType)} (float32 or float16 expected)`);
  const logitsType = outputs.get('logits')?.type;
  if (logitsType !== undefined && logitsType !== 'float32' && logitsType !== 'float16') problems.push(`logits of type ${logitsType} (float32 or float16 expected)`);
  if (problems.length > 0) {
    throw new MuaiError(
      'MODEL_INVALID',
      `${graphPath} does not have the inputs/outputs of a decoder language model: ${problems.join('; ')}. Expected input_ids, attention_mask, position_ids, past_key_values.N.key|value -> logits, present.N.key|value (the Hugging Face Optimum layout).`,
      { details: { graph: graphPath, inputs: session.inputNames, outputs: session.outputNames } },
    );
  }
  const shape = firstPast!.shape;
  const number = (value: unknown): number | undefined => (typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined);
  const heads = number(config['num_attention_heads']) ?? number(config['n_head']);
  const kvHeads = number(shape[1]) ?? number(config['num_key_value_heads']) ?? heads;
  const hidden = number(config['hidden_size']) ?? number(config['n_embd']);
  const headDim = number(shape[3]) ?? number(config['head_dim']) ?? (hidden !== undefined && heads !== undefined ? hidden / heads : undefined);
  if (kvHeads === undefined || headDim === undefined || !Number.isInteger(headDim)) {
    throw new MuaiError('MODEL_INVALID', `Cannot tell the key/value heads or head size of ${graphPath}: the graph leaves them symbolic and config.json lacks num_key_value_heads/num_attention_heads/hidden_size. Add them to config.json.`, {
      details: { graph: graphPath },
    });
  }
  const logitsShape = outputs.get('logits')!.shape;
  const logitsToKeepName = inputs.has('num_logits_to_keep') ? 'num_logits_to_keep' : inputs.has('logits_to_keep') ? 'logits_to_keep' : undefined;
  return {
    numLayers,
    kvHeads,
    headDim,
    kvType: kvType as 'float32' | 'float16',
    pastNames,
    presentNames,
    hasAttentionMask: inputs.has('attention_mask'),
    hasPositionIds: inputs.has('position_ids'),
    hasUseCacheBranch: inputs.has('use_cache_branch'),
    logitsToKeepName,
    logitsType: logitsType as 'float32' | 'float16',
    vocabSize: number(logitsShape[logitsShape.length - 1]) ?? number(config['vocab_size']),
  };
}
