// Reads llama2.c's tokenizer.bin and turns it into a Hugging Face BPE vocabulary.
// Format: int32 max_token_length, then per token: float32 score, int32 byte length, the bytes.
// The token count is not stored: it is the checkpoint's vocab_size.
import { readFileSync } from 'node:fs';
import { MuaiError } from '@muai/core';
import { BOS, EOS, UNK } from '../tokenizer-json.js';
import type { BpeVocabulary } from '../tokenizer-json.js';

export interface Llama2cTokenizer {
  maxTokenLength: number;
  /** Pieces as stored (word starts carry a plain space), indexed by id. */
  pieces: string[];
  scores: number[];
}

function invalid(file: string, reason: string, message: string, details: Record<string, unknown> = {}): MuaiError {
  return new MuaiError('MODEL_INVALID', `${file}: ${message}`, { details: { file, reason, ...details } });
}

/**
 * Parses a tokenizer.bin that must hold exactly `vocabSize` tokens (the checkpoint's).
 * Throws MODEL_INVALID with details.reason 'truncated' or 'vocab-mismatch'.
 */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize: number, file: string): Llama2cTokenizer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw invalid(file, 'truncated', `a llama2.c tokenizer.bin starts with a 4-byte max_token_length, but the file has ${bytes.length} bytes.`);
  const maxTokenLength = view.getInt32(0, true);
  const pieces: string[] = [];
  const scores: number[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let offset = 4;
  // Read every complete entry, even past vocabSize, so that a size mismatch reports both counts.
  while (offset < bytes.length) {
    if (offset + 8 > bytes.length) {
      throw invalid(file, 'truncated', `token ${pieces.length} is cut off at byte ${offset} of ${bytes.length} (truncated file?).`);
    }
    const score = view.getFloat32(offset, true);
    const length = view.getInt32(offset + 4, true);
    if (length < 0 || offset + 8 + length > bytes.length) {
      throw invalid(file, 'truncated', `token ${pieces.length} claims ${length} bytes at byte ${offset + 8}, past the end of the ${bytes.length}-byte file (truncated, or not a tokenizer.bin).`);
    }
    pieces.push(decoder.decode(bytes.subarray(offset + 8, offset + 8 + length)));
    scores.push(score);
    offset += 8 + length;
  }
  if (pieces.length !== vocabSize) {
    throw invalid(
      file,
      'vocab-mismatch',
      `the tokenizer has ${pieces.length} tokens but the checkpoint's vocab_size is ${vocabSize}: they do not belong together. Use the tokenizer.bin the checkpoint was trained with.`,
      { tokenizerTokens: pieces.length, checkpointVocabSize: vocabSize },
    );
  }
  if (vocabSize < 259 || !/^<0x00>$/.test(pieces[3] ?? '') || pieces[258] !== '<0xFF>') {
    throw invalid(file, 'bad-vocabulary', 'ids 3..258 must be the byte tokens <0x00>..<0xFF> (SentencePiece byte fallback), as in every llama2.c tokenizer.');
  }
  return { maxTokenLength, pieces, scores };
}

/** Reads a tokenizer.bin file (see parseLlama2cTokenizer). */
export function readLlama2cTokenizer(file: string, vocabSize: number): Llama2cTokenizer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new MuaiError('MODEL_NOT_FOUND', `The llama2.c tokenizer ${file} does not exist or is not readable.`, { cause: error, details: { file } });
  }
  return parseLlama2cTokenizer(bytes, vocabSize, file);
}

/**
 * The Hugging Face BPE vocabulary of a llama2.c tokenizer. Pieces get SentencePiece's `▁` for
 * spaces; ids 0..2 become <unk>, <s>, </s> (llama2.c stores them as "<unk>", "\n<s>\n",
 * "\n</s>\n"). run.c merges the adjacent pair whose merged piece has the highest score, so every
 * split (left, right) of a piece into two pieces becomes a merge ranked by the piece's score,
 * as transformers' SentencePieceExtractor orders them (score descending, then piece id, then the
 * ids of the two parts).
 */
export function llama2cBpeVocabulary(tokenizer: Llama2cTokenizer): BpeVocabulary {
  const tokens = tokenizer.pieces.map((piece, id) => (id === 0 ? UNK : id === 1 ? BOS : id === 2 ? EOS : piece.replaceAll(' ', '\u2581')));
  const ids = new Map<string, number>();
  tokens.forEach((token, id) => {
    if (ids.has(token)) throw new MuaiError('MODEL_INVALID', `The tokenizer has the piece ${JSON.stringify(token)} twice (ids ${ids.get(token)} and ${id}).`, { details: { reason: 'bad-vocabulary' } });
    ids.set(token, id);
  });
  const candidates: Array<{ left: string; right: string; score: number; id: number; leftId: number; rightId: number }> = [];
  for (let id = 3 + 256; id < tokens.length; id++) {
    const piece = tokens[id]!;
    const chars = [...piece];
    for (let split = 1; split < chars.length; split++) {
      const left = chars.slice(0, split).join('');
      const right = chars.slice(split).join('');
      const leftId = ids.get(left);
      const rightId = ids.get(right);
      if (leftId !== undefined && rightId !== undefined) candidates.push({ left, right, score: tokenizer.scores[id]!, id, leftId, rightId });
    }
  }
  candidates.sort((a, b) => b.score - a.score || a.id - b.id || a.leftId - b.leftId || a.rightId - b.rightId);
  return { tokens, merges: candidates.map(({ left, right }) => [left, right] as const) };
}
