import type { Command } from 'commander';
import type { CliContext } from '../main';
import { DEVICE_NAMES } from '../../backend/device-names';

/**
 * `mmcls classify CONFIG CHECKPOINT IMAGE [--topk K] [--format text|json] [--device D]`: the seed's
 * demo/image_demo.py (inference_model): the top-k classes of one image.
 */
export function define(program: Command, _ctx: CliContext): void {
  program
    .command('classify')
    .description('classify one image with a config and checkpoint (image_demo.py): the top-k classes and scores')
    .argument('<config>', 'config file (.py)')
    .argument('<checkpoint>', 'checkpoint file (.safetensors or .pth)')
    .argument('<image>', 'image file')
    .option('--topk <k>', 'number of classes to show', '5')
    .option('--format <format>', 'text or json', 'text')
    .option('--device <device>', `TensorFlow.js backend: ${DEVICE_NAMES.join(', ')}`)
    .option('--cfg-options <key=value...>', 'override settings of the config')
    .action(async (config: string, checkpoint: string, image: string, opts: { topk: string; format: string; device?: string; cfgOptions?: string[] }) => {
      const { MmclsError } = await import('../../errors');
      if (opts.format !== 'text' && opts.format !== 'json') throw new MmclsError(`--format must be text or json, got ${JSON.stringify(opts.format)}`, { code: 'cli.usage' });
      const topk = Number(opts.topk);
      if (!Number.isInteger(topk) || topk < 1) throw new MmclsError(`--topk must be a positive integer, got ${opts.topk}`, { code: 'cli.usage' });
      const { inferenceModel } = await import('../../apis/inference');
      const r = await inferenceModel(config, checkpoint, image, { topk, device: opts.device, cfgOptions: opts.cfgOptions });
      if (opts.format === 'json') {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      process.stdout.write(`${r.image}\n`);
      for (const [i, c] of r.topk.entries()) process.stdout.write(`${String(i + 1).padStart(3)}  ${(100 * c.score).toFixed(2).padStart(6)}%  ${c.label ?? `class ${c.index}`}\n`);
    });
}
