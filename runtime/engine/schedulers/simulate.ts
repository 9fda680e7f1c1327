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
  /**
   * The optimizer's `weight_decay`, for weight-decay schedulers (`param_name='weight_decay'`).
   * @default 0 (PyTorch's default: every optimizer's parameter groups have it)
   */
  base_weight_decay?: number;
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
  // Every torch optimizer's groups carry weight_decay (0 unless set), so a scheduler on it always has one.
  group.weight_decay = opts.base_weight_decay ?? 0;
  defaults.weight_decay = opts.base_weight_decay ?? 0;
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

/** Iterations per epoch of a data loader: `ceil(size / (batch × gpus))`, or floor with `drop_last`. */
export function itersPerEpoch(datasetSize: number, batchSize: number, ngpus = 1, dropLast = false): number {
  const per = batchSize * ngpus;
  if (!(datasetSize > 0 && per > 0)) {
    throw new MmclsError(`dataset size (${datasetSize}) and batch size × GPUs (${per}) must be positive`, { code: 'scheduler.invalid-arg' });
  }
  return dropLast ? Math.floor(datasetSize / per) : Math.ceil(datasetSize / per);
}

/** A schedule curve together with what it was computed from. */
export interface ConfigScheduleCurve extends ScheduleCurve {
  by_epoch: boolean;
  max_epochs?: number;
  max_iters?: number;
  base_lr: number;
  base_momentum?: number;
}

type Dict = { [key: string]: unknown };

function dictAt(cfg: Dict, key: string): Dict {
  const v = cfg[key];
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Dict) : {};
}

/**
 * The learning-rate and momentum curves of a merged config, as `vis_scheduler` draws them:
 * `optim_wrapper.optimizer` gives the base values (`momentum`, or `betas[0]` for Adam-style
 * optimizers), `train_cfg` the loop (`by_epoch`/`max_epochs` or `max_iters`, or
 * `type='EpochBasedTrainLoop'|'IterBasedTrainLoop'`), `train_dataloader.batch_size` with
 * `dataset_size` and `ngpus` the iterations per epoch.
 */
export function scheduleFromConfig(cfg: Dict, opts: { dataset_size: number; ngpus?: number }): ConfigScheduleCurve {
  const optimizer = dictAt(dictAt(cfg, 'optim_wrapper'), 'optimizer');
  const lr = optimizer.lr;
  if (typeof lr !== 'number') {
    throw new MmclsError('optim_wrapper.optimizer.lr must be set to draw the schedule', { code: 'scheduler.invalid-cfg' });
  }
  let momentum: number | undefined;
  if (typeof optimizer.momentum === 'number') momentum = optimizer.momentum;
  else if (Array.isArray(optimizer.betas) && typeof optimizer.betas[0] === 'number') momentum = optimizer.betas[0];
  else if (optimizer.type === 'SGD' || optimizer.type === 'RMSprop' || optimizer.type === 'LARS') momentum = 0;
  else if (['Adam', 'AdamW', 'Adamax', 'NAdam', 'RAdam', 'Lamb'].includes(String(optimizer.type))) momentum = 0.9;
  const weightDecay = typeof optimizer.weight_decay === 'number' ? optimizer.weight_decay : undefined;
  const train = dictAt(cfg, 'train_cfg');
  const loop = typeof train.type === 'string' ? train.type : undefined;
  const byEpoch = loop ? loop !== 'IterBasedTrainLoop' : train.by_epoch !== false;
  const batch = dictAt(cfg, 'train_dataloader').batch_size;
  if (typeof batch !== 'number') {
    throw new MmclsError('train_dataloader.batch_size must be set to draw the schedule', { code: 'scheduler.invalid-cfg' });
  }
  const perEpoch = itersPerEpoch(opts.dataset_size, batch, opts.ngpus ?? 1);
  const paramScheduler = cfg.param_scheduler;
  if (byEpoch) {
    const maxEpochs = train.max_epochs;
    if (typeof maxEpochs !== 'number') throw new MmclsError('train_cfg.max_epochs must be set', { code: 'scheduler.invalid-cfg' });
    const c = simulateSchedule(paramScheduler, { max_epochs: maxEpochs, iters_per_epoch: perEpoch, base_lr: lr, base_momentum: momentum, base_weight_decay: weightDecay });
    return { ...c, by_epoch: true, max_epochs: maxEpochs, base_lr: lr, base_momentum: momentum };
  }
  const maxIters = train.max_iters;
  if (typeof maxIters !== 'number') throw new MmclsError('train_cfg.max_iters must be set', { code: 'scheduler.invalid-cfg' });
  const c = simulateSchedule(paramScheduler, { max_iters: maxIters, iters_per_epoch: perEpoch, base_lr: lr, base_momentum: momentum, base_weight_decay: weightDecay });
  return { ...c, by_epoch: false, max_iters: maxIters, base_lr: lr, base_momentum: momentum };
}
