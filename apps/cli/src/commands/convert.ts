import type { Command } from 'commander';
import { convertLlama2c } from '@muai/models';

interface ConvertOptions {
  tokenizer: string;
  out: string;
  force?: boolean;
  json?: boolean;
}

const EXAMPLES = [
  'muai convert llama2c stories15M.bin --tokenizer tokenizer.bin --out ./stories15M',
  'muai convert llama2c stories260K.bin --tokenizer tok512.bin --out ./s260k --force',
  'muai run "Once upon a time" --model ./stories15M',
];

/**
 * `muai convert llama2c <checkpoint.bin> --tokenizer <tokenizer.bin> --out <dir>`: a thin wrapper
 * around @muai/models' convertLlama2c (all checks and the atomic folder write live there).
 */
export function registerConvertCommand(program: Command): void {
  const convert = program.command('convert').description('convert models from other formats into the layout MuAI and transformers.js load');
  convert.addHelpText('after', `\nExamples:\n${EXAMPLES.map((line) => `  $ ${line}`).join('\n')}\n`);
  convert
    .command('llama2c')
    .description('convert a llama2.c checkpoint (run.c\'s .bin) and its tokenizer.bin into an ONNX model folder (config.json, tokenizer.json, onnx/model.onnx)')
    .argument('<checkpoint>', 'llama2.c checkpoint, legacy version 0 format (e.g. stories15M.bin)')
    .requiredOption('-t, --tokenizer <file>', 'llama2.c tokenizer.bin with the checkpoint\'s vocabulary (tok512.bin for stories260K, tokenizer.bin for the 32000-token models)')
    .requiredOption('-o, --out <dir>', 'output folder (must not exist unless --force)')
    .option('-f, --force', 'replace the output folder if it exists')
    .option('--json', 'print one JSON object: out, params, config, files')
    .addHelpText('after', `\nExamples:\n${EXAMPLES.slice(0, 2).map((line) => `  $ ${line}`).join('\n')}\n`)
    .action((checkpoint: string, options: ConvertOptions) => {
      const result = convertLlama2c({
        checkpoint,
        tokenizer: options.tokenizer,
        outDir: options.out,
        force: options.force === true,
        ...(options.json === true ? {} : { log: (line: string) => process.stderr.write(`muai: ${line}\n`) }),
      });
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify({ out: result.outDir, params: result.params, config: result.config, files: result.files })}\n`);
        return;
      }
      process.stdout.write(`${result.outDir}\n`);
      process.stderr.write(`muai: done. Try it: muai run "Once upon a time" --model ${result.outDir}\n`);
    });
}
