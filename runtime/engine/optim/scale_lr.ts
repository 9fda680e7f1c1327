import { MmclsError } from '../../errors';
import { engineLog } from './logging';
import { OptimWrapper } from './optim_wrapper';

/** `auto_scale_lr` of a config. */
export interface AutoScaleLrConfig {
  /** Whether to scale (also switched on by `--auto-scale-lr`). */
  enable?: boolean;
  /** The total batch size the config's learning rate was tuned for. */
  base_batch_size?: number;
}

/**
 * MMEngine's `Runner.scale_lr`: when `auto_scale_lr.enable`, multiplies every group's `lr` by
 * `real_batch_size / base_batch_size` (real = world size × `train_dataloader.batch_size`). Call it
 * before building the schedulers, which record the initial lr. Returns the ratio, or null when off.
 */
export function scaleLr(optimWrapper: OptimWrapper, autoScaleLr: AutoScaleLrConfig | null | undefined, realBatchSize: number): number | null {
  if (!autoScaleLr || !autoScaleLr.enable) return null;
  const base = autoScaleLr.base_batch_size;
  if (typeof base !== 'number' || !(base > 0)) {
    throw new MmclsError('auto_scale_lr needs base_batch_size, e.g. auto_scale_lr = dict(enable=True, base_batch_size=256)', {
      code: 'optim.invalid-cfg',
    });
  }
  if (optimWrapper.paramGroups.some((g) => 'initial_lr' in g)) {
    throw new Error('scaleLr should be called before building the parameter schedulers, which store the initial lr');
  }
  const ratio = realBatchSize / base;
  engineLog(
    'info',
    `LR is set based on batch size of ${base} and the current batch size is ${realBatchSize}. Scaling the original LR by ${ratio}.`,
  );
  for (const g of optimWrapper.paramGroups) g.lr = g.lr * ratio;
  return ratio;
}
