/**
 * `mmcls verify-dataset CONFIG [--out-path FILE] [--phase train|val|test] [--num-process N] [--cfg-options ...]`:
 * the seed's tools/misc/verify_dataset.py. Decodes every image of the dataset and lists the ones
 * that cannot be read in FILE (one path per line). Exits with status 1 when any is broken.
 */
import type { Command } from 'commander';
import type { CliContext } from '../main';

export function define(program: Command, ctx: CliContext): void {
  program
    .command('verify-dataset')
    .description('decode every image of a dataset and list the broken ones (missing, corrupt, truncated)')
    .argument('<config>', 'config file (.py)')
    .option('--out-path <file>', 'where to list the broken files', 'brokenfiles.log')
    .option('--phase <phase>', 'which dataloader: train, val or test', 'train')
    .option('--num-process <n>', 'images decoded at the same time', '1')
    .option('--cfg-options <key=value...>', 'override settings of the config')
    .option('--json', 'print one JSON line: {checked, broken: [{path, reason}], outPath}')
    .action(async (config: string, opts: { outPath: string; phase: string; numProcess: string; cfgOptions?: string[]; json?: boolean }) => {
      // require, not import(): the CLI is CommonJS, and tests run it from the TypeScript sources
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { verifyDataset } = require('../../datasets/tools') as typeof import('../../datasets/tools');
      const r = await verifyDataset(config, {
        outPath: opts.outPath,
        phase: opts.phase,
        numProcess: Number(opts.numProcess),
        cfgOptions: opts.cfgOptions ?? [],
        onProgress: undefined,
      });
      if (r.broken.length) ctx.setExitCode(1);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      if (r.checked === 0 && r.samples > 0) {
        process.stdout.write(`the ${opts.phase} dataset holds its ${r.samples} images in memory (read from its data files when it was built): no image files to check\n`);
        return;
      }
      for (const b of r.broken) process.stdout.write(`broken: ${b.path}: ${b.reason}\n`);
      process.stdout.write(`checked ${r.checked} image(s) of the ${opts.phase} dataset: ${r.broken.length} broken${r.broken.length ? `, listed in ${r.outPath}` : ''}\n`);
    });
}
