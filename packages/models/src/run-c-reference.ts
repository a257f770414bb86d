// llama2.c's own greedy outputs for stories260K (run.c @350e04fe, `-t 0 -n 64`), copied from
// assets/stories260K/SOURCE.md. Tests (and anyone checking a conversion) compare against them.

export interface RunCReference {
  /** The `-i` prompt ('' for none). */
  prompt: string;
  /** Every id run.c produced, BOS first: the prompt's ids, then the generated ones. */
  ids: readonly number[];
  /** How many of `ids` are the prompt (BOS included). */
  promptIdCount: number;
  /** run.c's stdout without its final newline: the prompt text followed by the generation. */
  text: string;
}

const STORY_IDS = [
  1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432,
  358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438, 310,
];
const STORY_TEXT =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily';

/** run.c's greedy outputs for stories260K with 64 steps. */
export const STORIES260K_RUNC_REFERENCE: readonly RunCReference[] = [
  { prompt: '', ids: STORY_IDS, promptIdCount: 1, text: STORY_TEXT },
  { prompt: 'Once upon a time', ids: STORY_IDS, promptIdCount: 5, text: STORY_TEXT },
  {
    prompt: 'What is AI?',
    ids: [
      1, 410, 448, 415, 294, 410, 293, 410, 447, 442, 450, 410, 447, 416, 416, 412, 432, 410, 447, 416, 416, 412, 432, 280, 303, 359, 300, 360, 261, 262, 427, 411, 429, 417, 412, 421,
      262, 427, 411, 429, 417, 412, 421, 262, 427, 411, 429, 417, 412, 421, 262, 427, 411, 429, 417, 412, 421, 262, 427, 411, 429, 417, 412, 421, 262,
    ],
    promptIdCount: 11,
    text: 'What is AI? Anna, Anna, can I have a special special special special special s',
  },
];
