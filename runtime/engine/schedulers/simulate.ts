import { MmclsError } from '../../errors';
import { SchedulerGroup, SchedulerTarget } from './param_scheduler';
import { buildParamSchedulers } from './build';

/** The training length and starting values a schedule is simulated with. */
export interface SimulateOptions {
  /** Epoch-based training (`train_cfg.by_epoch=True`): number of epochs. */
  max_epochs?: number;
  /** Iteration-based training: number of iterations. */
  max_iters?: number;
  /** Iterations per epoch (the train dataloader's length). Required with `max_epochs`. */
  iters_per_epoch?: number;
  /** The optimizer's `lr`. */
  base_lr: number;
  /** The optimizer's momentum (SGD `momentum`, or Adam `betas[0]`); needed by momentum schedulers. */
  base_momentum?: number;
}

/** Learning rate and momentum used at each training iteration. */
export interface ScheduleCurve {
  lr: number[];
  momentum: number[];
  /** Iterations per epoch the curve was made with (to mark epochs on a plot). */
  iters_per_epoch: number;
}

/**
 * The values a `param_scheduler` config gives at every training iteration, exactly as MMEngine's
 * runner produces them: schedulers are built in order (each applies its step-0 value), after every
 * iteration the iteration-based ones step, after every epoch the epoch-based ones (iteration-based
 * training runs as one long epoch). A pure function: no tensors, no model.
 */
export function simulateSchedule(paramScheduler: unknown, opts: SimulateOptions): ScheduleCurve {
  const byEpoch = opts.max_epochs !== undefined;
  if (byEpoch === (opts.max_iters !== undefined)) {
    throw new MmclsError('simulateSchedule: give exactly one of max_epochs and max_iters', { code: 'scheduler.invalid-arg' });
  }
  const perEpoch = opts.iters_per_epoch ?? (byEpoch ? undefined : opts.max_iters);
  if (!(typeof perEpoch === 'number' && perEpoch > 0 && Number.isInteger(perEpoch))) {
    throw new MmclsError('simulateSchedule: iters_per_epoch must be a positive integer', { code: 'scheduler.invalid-arg' });
  }
  const maxEpochs = byEpoch ? (opts.max_epochs as number) : 1;
  const maxIters = byEpoch ? maxEpochs * perEpoch : (opts.max_iters as number);
  const group: SchedulerGroup = { params: [], lr: opts.base_lr };
  const defaults: SchedulerTarget['defaults'] = { lr: opts.base_lr };
  if (opts.base_momentum !== undefined) {
    group.momentum = opts.base_momentum;
    defaults.momentum = opts.base_momentum;
  }
  const target: SchedulerTarget = { paramGroups: [group], defaults };
  const schedulers = buildParamSchedulers(paramScheduler, { optimizer: target, maxEpochs, maxIters, epochLength: perEpoch });
  const lr: number[] = [];
  const momentum: number[] = [];
  for (let it = 0; it < maxIters; it++) {
    lr.push(group.lr as number);
    if (opts.base_momentum !== undefined) momentum.push(group.momentum as number);
    for (const s of schedulers) if (!s.by_epoch) s.step();
    if (byEpoch && (it + 1) % perEpoch === 0) for (const s of schedulers) if (s.by_epoch) s.step();
  }
  return { lr, momentum, iters_per_epoch: perEpoch };
}
