import type { Command } from 'commander';
import type { CliContext } from '../main';

export function define(program: Command, ctx: CliContext): void {
  program
    .command('reparameterize')
    .description('fold a MobileOne / RepVGG checkpoint into its deploy form (reparameterize_model.py)')
    .argument('<config>', 'the training-form config (.py)')
    .argument('<src>', 'the training-form checkpoint (.pth or .safetensors)')
    .argument('<dst>', 'the deploy-form checkpoint to write (.safetensors)')
    .option('--cfg-options <key=value...>', 'override settings of the config')
    .action(async (config: string, src: string, dst: string, opts: { cfgOptions?: string[] }) => {
      const { reparameterizeCheckpoint } = await import('../../apis/reparameterize');
      const s = await reparameterizeCheckpoint(config, src, dst, opts.cfgOptions ?? []);
      process.stdout.write(
        `wrote ${s.output}: ${s.tensors} tensors, ${s.paramsAfter.toLocaleString('en-US')} parameters ` +
          `(${s.paramsBefore.toLocaleString('en-US')} before); test it with the deploy config or --cfg-options model.backbone.deploy=True\n`,
      );
      ctx.setExitCode(0);
    });
}
