/**
 * `mmcls browse-dataset CONFIG [-o DIR] [-p train|val|test] [-n N] [-m original|transformed|concat|pipeline]
 * [-r SCALE] [-c BGR|RGB] [--cfg-options ...]`: the seed's tools/visualizations/browse_dataset.py.
 * Writes one PNG per sample (there is no window to show them in) and an index.tsv listing what each
 * file shows.
 */
import type { Command } from 'commander';
import type { CliContext } from '../main';

interface Opts {
  outputDir?: string;
  phase: string;
  showNumber?: string;
  showInterval?: string;
  mode: string;
  rescaleFactor?: string;
  channelOrder: string;
  cfgOptions?: string[];
  seed: string;
  json?: boolean;
}

export function define(program: Command, _ctx: CliContext): void {
  program
    .command('browse-dataset')
    .description("write the images of a config's dataset as PNG files: as loaded, after the pipeline, both side by side, or every pipeline step")
    .argument('<config>', 'config file (.py)')
    .option('-o, --output-dir <dir>', 'folder for the PNG files (default: browse_dataset/<config name>)')
    .option('-p, --phase <phase>', 'which dataloader: train, val or test', 'train')
    .option('-n, --show-number <n>', 'number of samples (default: all)')
    .option('-i, --show-interval <s>', 'accepted for compatibility (images are written, not shown)')
    .option('-m, --mode <mode>', 'original, transformed, concat or pipeline', 'transformed')
    .option('-r, --rescale-factor <f>', 'scale the written images, e.g. 10 for CIFAR')
    .option('-c, --channel-order <order>', 'channel order of the images in the pipeline: BGR or RGB', 'BGR')
    .option('--seed <n>', 'seed of the random transforms', '0')
    .option('--cfg-options <key=value...>', 'override settings of the config')
    .option('--json', 'print one JSON line: {outputDir, total, written, files}')
    .action(async (config: string, opts: Opts) => {
      // require, not import(): the CLI is CommonJS, and tests run it from the TypeScript sources
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { browseDataset } = require('../../datasets/tools') as typeof import('../../datasets/tools');
      const r = await browseDataset(config, {
        outputDir: opts.outputDir,
        phase: opts.phase,
        showNumber: opts.showNumber === undefined ? undefined : Number(opts.showNumber),
        mode: opts.mode,
        rescaleFactor: opts.rescaleFactor === undefined ? undefined : Number(opts.rescaleFactor),
        channelOrder: opts.channelOrder,
        cfgOptions: opts.cfgOptions ?? [],
        seed: Number(opts.seed),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ outputDir: r.outputDir, total: r.total, written: r.written, files: r.files })}\n`);
        return;
      }
      process.stdout.write(`wrote ${r.written} image(s) of the ${opts.phase} dataset (${r.total} samples) to ${r.outputDir} (mode ${opts.mode}); index.tsv lists them\n`);
    });
}
