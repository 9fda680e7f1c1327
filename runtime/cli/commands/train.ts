import type { Command } from 'commander';
import type { CliContext } from '../main';
import { DEVICE_NAMES } from '../../backend/device-names';

interface TrainFlags {
  workDir?: string;
  resume?: string | boolean;
  amp?: boolean;
  validate?: boolean;
  autoScaleLr?: boolean;
  cfgOptions?: string[];
  device?: string;
  progress?: string;
  launcher?: string;
}

/**
 * `mmcls train CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--no-validate] [--auto-scale-lr]
 * [--cfg-options ...] [--device D] [--progress bar|json|none]`: the seed's tools/train.py.
 */
export function define(program: Command, ctx: CliContext): void {
  program
    .command('train')
    .description('train a model from a config (tools/train.py); prints the evaluation metrics at the end')
    .argument('<config>', 'config file (.py)')
    .option('--work-dir <dir>', 'the folder for logs and checkpoints (default: work_dirs/<config name>)')
    .option('--resume [checkpoint]', 'resume from this checkpoint, or from the newest one in the work_dir when none is given')
    .option('--amp', 'enable automatic mixed precision training (TensorFlow.js trains in float32 and says so)')
    .option('--no-validate', 'do not validate during training (not recommended)')
    .option('--auto-scale-lr', "scale the learning rate by the batch size over auto_scale_lr.base_batch_size")
    .option('--cfg-options <key=value...>', 'override settings, e.g. train_cfg.max_epochs=1 optim_wrapper.optimizer.lr=0.1')
    .option('--device <device>', `TensorFlow.js backend: ${DEVICE_NAMES.join(', ')} (default: env_cfg.device or auto)`)
    .option('--progress <mode>', 'bar (a progress bar on a terminal), json (one JSON object per line on stdout) or none')
    .option('--launcher <launcher>', 'job launcher (only "none": one process)', 'none')
    .action(async (config: string, flags: TrainFlags) => {
      const { runJob } = await import('../../engine/runner_job');
      await runJob(ctx, 'train', config, flags.progress, async (progress) => {
        const { MmclsError } = await import('../../errors');
        if (flags.launcher && flags.launcher !== 'none') throw new MmclsError(`--launcher ${flags.launcher}: distributed training is not available; use --launcher none`, { code: 'cli.usage' });
        const { loadConfig } = await import('../../config');
        const loaded = loadConfig(config, { cfgOptions: flags.cfgOptions ?? [] });
        const { Runner } = await import('../../engine/runner');
        const runner = await Runner.create(loaded, {
          mode: 'train',
          workDir: flags.workDir,
          resume: flags.resume,
          amp: flags.amp,
          noValidate: flags.validate === false,
          autoScaleLr: flags.autoScaleLr,
          device: flags.device,
          progress,
          argv: process.argv.slice(2),
        });
        try {
          const { metrics, checkpoint } = await runner.train();
          const final = await finalTestMetrics(runner, metrics);
          progress.finish();
          const line = Object.entries(final.metrics)
            .map(([k, v]) => `${k}: ${typeof v === 'number' ? v.toFixed(2) : JSON.stringify(v)}`)
            .join('  ');
          runner.logger.info(`Training done. ${final.label}: ${line || '(no metrics)'}`);
          progress.emit('done', { metrics: final.metrics, work_dir: runner.workDir, checkpoint });
          if (progress.mode !== 'json' && line) process.stdout.write(`${final.label}: ${line}\n`);
        } finally {
          runner.close();
        }
      });
    });
}

/**
 * The test accuracy at the end of training: the last validation's metrics when the test split is
 * the val split (as in MMCls's LeNet configs), otherwise a test run on test_dataloader.
 */
async function finalTestMetrics(
  runner: import('../../engine/runner').Runner,
  valMetrics: Record<string, unknown>,
): Promise<{ metrics: Record<string, unknown>; label: string }> {
  const cfg = runner.cfg;
  const same = JSON.stringify(cfg.test_dataloader) === JSON.stringify(cfg.val_dataloader) && JSON.stringify(cfg.test_evaluator) === JSON.stringify(cfg.val_evaluator);
  if (same && runner.lastValMetrics && runner.lastValMetrics === valMetrics && valMetrics && Object.keys(valMetrics).length) {
    const at = runner.trainLoop?.byEpoch ? `epoch ${runner.epoch}` : `iteration ${runner.iter}`;
    return { metrics: valMetrics, label: `Test metrics (test split, ${at})` };
  }
  if (cfg.test_dataloader && cfg.test_evaluator && cfg.test_cfg !== null) {
    const { metrics } = await runner.test();
    return { metrics, label: 'Test metrics (test split)' };
  }
  return { metrics: valMetrics, label: 'Validation metrics' };
}
