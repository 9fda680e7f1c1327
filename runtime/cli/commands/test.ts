import type { Command } from 'commander';
import type { CliContext } from '../main';
import { DEVICE_NAMES } from '../../backend/device-names';

interface TestFlags {
  workDir?: string;
  out?: string;
  outItem?: string;
  showDir?: string;
  show?: boolean;
  interval?: string;
  waitTime?: string;
  cfgOptions?: string[];
  device?: string;
  progress?: string;
  launcher?: string;
}

/**
 * `mmcls test CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--out-item pred|metrics]
 * [--show-dir DIR] [--show] [--interval N] [--wait-time S] [--cfg-options ...]`: tools/test.py.
 * CHECKPOINT is one of our safetensors checkpoints or an official MMCls `.pth` file.
 */
export function define(program: Command, ctx: CliContext): void {
  program
    .command('test')
    .description('evaluate a checkpoint on the test set of a config (tools/test.py)')
    .argument('<config>', 'config file (.py)')
    .argument('<checkpoint>', 'checkpoint file (.safetensors written by mmcls train, or an MMCls .pth)')
    .option('--work-dir <dir>', 'the folder for the test log and metrics (default: work_dirs/<config name>)')
    .option('--out <file>', 'write the test output to this JSON file')
    .option('--out-item <item>', 'what --out holds: pred (every prediction, for offline evaluation) or metrics', 'pred')
    .option('--show-dir <dir>', 'save images with their predictions to this folder (relative to the run folder)')
    .option('--show', 'show the predictions (no window here: the images are saved)')
    .option('--interval <n>', 'visualize every n-th sample', '1')
    .option('--wait-time <s>', 'seconds each shown image stays (compatibility)', '2')
    .option('--cfg-options <key=value...>', 'override settings, e.g. test_dataloader.batch_size=64')
    .option('--device <device>', `TensorFlow.js backend: ${DEVICE_NAMES.join(', ')}`)
    .option('--progress <mode>', 'bar, json (one JSON object per line on stdout) or none')
    .option('--launcher <launcher>', 'job launcher (only "none": one process)', 'none')
    .action(async (config: string, checkpoint: string, flags: TestFlags) => {
      const { runJob } = await import('../../engine/runner_job');
      await runJob(ctx, 'test', config, flags.progress, async (progress) => {
        const { MmclsError } = await import('../../errors');
        if (flags.outItem !== 'pred' && flags.outItem !== 'metrics') throw new MmclsError(`--out-item must be pred or metrics, got ${JSON.stringify(flags.outItem)}`, { code: 'cli.usage' });
        if (flags.launcher && flags.launcher !== 'none') throw new MmclsError(`--launcher ${flags.launcher}: distributed testing is not available; use --launcher none`, { code: 'cli.usage' });
        const interval = Number(flags.interval);
        if (!Number.isInteger(interval) || interval < 1) throw new MmclsError(`--interval must be a positive integer, got ${flags.interval}`, { code: 'cli.usage' });
        const waitTime = Number(flags.waitTime);
        const fs = await import('fs');
        if (!fs.existsSync(checkpoint)) throw new MmclsError('checkpoint not found', { code: 'checkpoint.not-found', location: { file: checkpoint } });
        const { loadConfig } = await import('../../config');
        const loaded = loadConfig(config, { cfgOptions: flags.cfgOptions ?? [] });
        const { Runner } = await import('../../engine/runner');
        const runner = await Runner.create(loaded, {
          mode: 'test',
          workDir: flags.workDir,
          device: flags.device,
          progress,
          checkpoint,
          showDir: flags.showDir,
          show: flags.show,
          interval,
          waitTime: Number.isFinite(waitTime) ? waitTime : undefined,
          argv: process.argv.slice(2),
        });
        try {
          await runner.loadFrom(checkpoint);
          progress.emit('start', { config: loaded.filename, work_dir: runner.workDir, backend: runner.backend?.summary ?? 'unknown', max_iters: runner.testLoopLength });
          const { metrics, predictions } = await runner.test();
          progress.emit('test', { metrics, checkpoint });
          if (flags.out) {
            const path = await import('path');
            if (flags.out.endsWith('.pkl') || flags.out.endsWith('.pickle')) runner.logger.warning(`--out ${flags.out}: the output is JSON (pickle is a Python format)`);
            fs.mkdirSync(path.dirname(path.resolve(flags.out)), { recursive: true });
            const body = flags.outItem === 'metrics' ? metrics : predictions.map((p) => (p && typeof (p as { toJSON?: unknown }).toJSON === 'function' ? (p as { toJSON(): unknown }).toJSON() : p));
            fs.writeFileSync(flags.out, `${JSON.stringify(body)}\n`);
            runner.logger.info(`Results (${flags.outItem}) written to ${flags.out}`);
          }
          progress.finish();
          progress.emit('done', { metrics, work_dir: runner.workDir, checkpoint });
          if (progress.mode !== 'json') {
            const line = Object.entries(metrics).map(([k, v]) => `${k}: ${typeof v === 'number' ? v.toFixed(2) : JSON.stringify(v)}`).join('  ');
            process.stdout.write(`Test metrics: ${line}\n`);
          }
        } finally {
          runner.close();
        }
      });
    });
}
