import type { Command } from 'commander';
import type { CliContext } from '../main';

/**
 * `mmcls print-config CONFIG... [--cfg-options K=V ...] [--format py|json]`: the seed's
 * tools/misc/print_config.py. The Python form is a re-readable config (`> final_config.py`);
 * MMCls prints a `Config:` line first, which we write as a comment so the output stays valid Python.
 */
export function define(program: Command, ctx: CliContext): void {
  program
    .command('print-config')
    .description('print the whole config after inheritance (_base_) and --cfg-options, without running it')
    .argument('<config...>', 'config files (.py)')
    .option('--cfg-options <key=value...>', 'override settings, e.g. model.backbone.depth=101 train_dataloader.dataset.pipeline.1.prob=0.0 val_evaluator.topk="(1,3)"')
    .option('--format <format>', 'py (a config file you can re-read) or json (one JSON line per config)', 'py')
    .action(async (configs: string[], opts: { cfgOptions?: string[]; format: string }) => {
      const { MmclsError } = await import('../../errors');
      if (opts.format !== 'py' && opts.format !== 'json') {
        throw new MmclsError(`--format must be py or json, got ${JSON.stringify(opts.format)}`, { code: 'cli.usage' });
      }
      const { loadConfig, dumpJson, dumpPython } = await import('../../config');
      let failed = false;
      for (const file of configs) {
        try {
          const cfg = loadConfig(file, { cfgOptions: opts.cfgOptions ?? [] });
          if (opts.format === 'json') {
            process.stdout.write(`{"file": ${JSON.stringify(file)}, "config": ${dumpJson(cfg.value)}}\n`);
          } else {
            process.stdout.write(`# Config: ${file}\n${dumpPython(cfg.value)}${configs.length > 1 ? '\n' : ''}`);
          }
        } catch (e) {
          if (!(e instanceof MmclsError)) throw e;
          failed = true;
          if (opts.format === 'json') {
            const { file: f, line, column } = e.location;
            const error = { message: e.message, file: f ?? null, line: line ?? null, column: column ?? null, code: e.code };
            process.stdout.write(`${JSON.stringify({ file, error })}\n`);
          } else {
            process.stderr.write(`mmcls: ${e.format()}\n`);
          }
        }
      }
      if (failed) ctx.setExitCode(1);
    });
}
