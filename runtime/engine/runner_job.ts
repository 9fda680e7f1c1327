import type { CliContext } from '../cli/main';
import type { ProgressReporter } from './logging/progress';

/**
 * Runs a train/test job with its progress reporter. User errors (MmclsError) are printed without a
 * stack (and sent as an `error` event with --progress json); an interruption prints how to resume.
 */
export async function runJob(ctx: CliContext, _kind: 'train' | 'test', _config: string, progressMode: string | undefined, body: (progress: ProgressReporter) => Promise<void>): Promise<void> {
  const { createProgress } = await import('./logging/progress');
  const { MmclsError, isMmclsError } = await import('../errors');
  if (progressMode !== undefined && !['bar', 'json', 'none'].includes(progressMode)) {
    throw new MmclsError(`--progress must be bar, json or none, got ${JSON.stringify(progressMode)}`, { code: 'cli.usage' });
  }
  const progress = createProgress(progressMode);
  try {
    await body(progress);
  } catch (e) {
    progress.finish();
    const { RunInterrupted } = await import('./runner');
    if (e instanceof RunInterrupted) {
      process.stderr.write(`\nInterrupted by ${e.signal}. Checkpoint saved to ${e.checkpoint}\nResume with:\n  ${e.command}\n`);
      ctx.setExitCode(e.signal === 'SIGINT' ? 130 : 143);
      return;
    }
    if (isMmclsError(e)) {
      if (progress.mode === 'json') {
        const { file, line, column } = e.location;
        progress.emit('error', { message: e.message, code: e.code, file, line, column });
      }
      process.stderr.write(`mmcls: ${e.format()}\n`);
      ctx.setExitCode(1);
      return;
    }
    if (progress.mode === 'json') progress.emit('error', { message: `internal error: ${(e as Error)?.message ?? String(e)}` });
    throw e;
  }
}
