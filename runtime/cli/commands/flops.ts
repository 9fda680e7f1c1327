import type { Command } from 'commander';
import type { CliContext } from '../main';

/**
 * `mmcls flops CONFIG [--shape H [W]] [--format table|json]`: the seed's
 * tools/analysis_tools/get_flops.py. Builds only `model` from the config (no weights are allocated)
 * and counts FLOPs, parameters and activations of backbone + neck by shape inference.
 */
export function define(program: Command, ctx: CliContext): void {
  program
    .command('flops')
    .description('FLOPs, parameters and activations of the model of a config (backbone and neck, as get_flops.py)')
    .argument('<config>', 'config file (.py)')
    .option('--shape <size...>', "input size: H, or H W (default: the config's test input size, else 224)")
    .option('--format <format>', 'table (as get_flops.py prints it) or json', 'table')
    .option('--cfg-options <key=value...>', 'override settings, e.g. model.backbone.depth=101')
    .action(async (config: string, opts: { shape?: string[]; format: string; cfgOptions?: string[] }) => {
      const { MmclsError } = await import('../../errors');
      if (opts.format !== 'table' && opts.format !== 'json') {
        throw new MmclsError(`--format must be table or json, got ${JSON.stringify(opts.format)}`, { code: 'cli.usage' });
      }
      const sizes = (opts.shape ?? []).map((s) => Number(s));
      if (opts.shape && (sizes.length < 1 || sizes.length > 2 || sizes.some((s) => !Number.isInteger(s) || s <= 0))) {
        throw new MmclsError(`--shape takes one or two positive integers (H or H W), got ${opts.shape.join(' ')}`, { code: 'cli.usage' });
      }
      const { loadConfig } = await import('../../config');
      const cfg = loadConfig(config, { cfgOptions: opts.cfgOptions ?? [] });
      const { modelComplexityOfConfig, inputSizeOf } = await import('../../analysis/config-flops');
      const [h, w] = sizes.length === 0 ? inputSizeOf(cfg.value as Record<string, unknown>) : sizes.length === 1 ? [sizes[0], sizes[0]] : sizes;
      const { result, model } = modelComplexityOfConfig(cfg.value as Record<string, unknown>, [h, w], config);
      if (opts.format === 'json') {
        const out = {
          input_shape: result.inputShape,
          flops: result.flops,
          params: result.params,
          activations: result.activations,
          modules: result.modules.map((m) => ({ name: m.name, flops: m.flops, params: m.params, activations: m.activations })),
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } else {
        const { formatSummary, formatTable } = await import('../../analysis/complexity');
        process.stdout.write(`${formatSummary(result)}\n${formatTable(model, result)}\n`);
      }
      ctx.setExitCode(0);
    });
}
