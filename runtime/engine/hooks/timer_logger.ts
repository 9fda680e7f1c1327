import { HOOKS } from '../../registry';
import type { Runner } from '../runner';
import { Hook, PRIORITIES, TrainOutputs } from './hook';

/** Options of IterTimerHook. */
export interface IterTimerHookOptions {
  /** When the hook runs among the others. @default 'NORMAL' */
  priority?: string | number;
}

/** Records the time of each iteration (`time`) and of loading its data (`data_time`), and the eta. */
@HOOKS.registerModule()
export class IterTimerHook extends Hook {
  private t = 0;
  private timeSum = 0;
  private startIter = 0;

  constructor(_options: IterTimerHookOptions = {}) {
    super();
    this.priority = PRIORITIES.NORMAL;
  }

  override beforeTrain(runner: Runner): void {
    this.startIter = runner.iter;
    this.timeSum = 0;
  }
  override beforeTrainEpoch(): void {
    this.t = performance.now();
  }
  override beforeValEpoch(): void {
    this.t = performance.now();
  }
  override beforeTestEpoch(): void {
    this.t = performance.now();
  }

  private before(runner: Runner, mode: string): void {
    runner.messageHub.updateScalar(`${mode}/data_time`, (performance.now() - this.t) / 1000);
  }
  private after(runner: Runner, mode: string): void {
    const dt = (performance.now() - this.t) / 1000;
    runner.messageHub.updateScalar(`${mode}/time`, dt);
    this.t = performance.now();
    if (mode === 'train') {
      this.timeSum += dt;
      const done = runner.iter - this.startIter + 1;
      runner.messageHub.updateInfo('eta', (this.timeSum / done) * (runner.maxIters - runner.iter - 1));
    }
  }
  override beforeTrainIter(runner: Runner): void {
    this.before(runner, 'train');
  }
  override afterTrainIter(runner: Runner): void {
    this.after(runner, 'train');
  }
  override beforeValIter(runner: Runner): void {
    this.before(runner, 'val');
  }
  override afterValIter(runner: Runner): void {
    this.after(runner, 'val');
  }
  override beforeTestIter(runner: Runner): void {
    this.before(runner, 'test');
  }
  override afterTestIter(runner: Runner): void {
    this.after(runner, 'test');
  }
}

/** Options of LoggerHook. */
export interface LoggerHookOptions {
  /** Log every this many iterations (and at the end of each epoch). @default 10 */
  interval?: number;
  /** Skip the last iterations of an epoch when they are fewer than `interval`. @default False */
  ignore_last?: boolean;
  /** Log val/test metrics as epoch-based (`Epoch(val) [1]...`) rather than iteration-based. @default True */
  log_metric_by_epoch?: boolean;
  /** Where a copy of the log and scalars.json go besides the run folder. @default None */
  out_dir?: string | null;
  /** When the hook runs among the others. @default 'BELOW_NORMAL' */
  priority?: string | number;
  /** Accepted for compatibility with MMEngine (no effect). @default None */
  file_client_args?: { [key: string]: unknown } | null;
}

/**
 * Writes the log lines (`Epoch(train) [1][ 10/469]  lr: ...  loss: ...`) and scalars.json
 * every `interval` iterations, and the metrics after each evaluation.
 */
@HOOKS.registerModule()
export class LoggerHook extends Hook {
  readonly interval: number;
  readonly ignore_last: boolean;
  readonly log_metric_by_epoch: boolean;
  readonly out_dir: string | null;

  constructor(options: LoggerHookOptions = {}) {
    super();
    this.interval = options.interval ?? 10;
    this.ignore_last = options.ignore_last ?? false;
    this.log_metric_by_epoch = options.log_metric_by_epoch ?? true;
    this.out_dir = options.out_dir ?? null;
    this.priority = PRIORITIES.BELOW_NORMAL;
  }

  override afterTrainIter(runner: Runner, batchIdx: number, _batch: unknown, _outputs: TrainOutputs): void {
    const byEpoch = runner.logProcessor.by_epoch;
    let log = false;
    if (byEpoch) {
      log = this.everyNInnerIters(batchIdx, this.interval) || (this.endOfEpoch(runner, batchIdx) && !this.ignore_last);
    } else {
      log = this.everyNTrainIters(runner, this.interval) || this.isLastTrainIter(runner);
    }
    if (!log) return;
    const { tag, log: line } = runner.logProcessor.getLogAfterIter(runner.logContext(), batchIdx, 'train');
    runner.logger.info(line);
    runner.writeScalars({ ...tag, epoch: runner.epoch + 1, iter: runner.iter + 1 }, runner.iter + 1);
  }

  override afterValIter(runner: Runner, batchIdx: number): void {
    if (this.everyNInnerIters(batchIdx, this.interval)) {
      const ctx = { ...runner.logContext(), dataloaderLength: runner.valLoopLength };
      runner.logger.info(runner.logProcessor.getLogAfterIter(ctx, batchIdx, 'val').log);
    }
  }

  override afterTestIter(runner: Runner, batchIdx: number): void {
    if (this.everyNInnerIters(batchIdx, this.interval)) {
      const ctx = { ...runner.logContext(), dataloaderLength: runner.testLoopLength };
      runner.logger.info(runner.logProcessor.getLogAfterIter(ctx, batchIdx, 'test').log);
    }
  }

  override afterValEpoch(runner: Runner, metrics: Record<string, unknown>): void {
    const ctx = { ...runner.logContext(), dataloaderLength: runner.valLoopLength };
    const { tag, log } = runner.logProcessor.getLogAfterEpoch(ctx, metrics, 'val');
    runner.logger.info(log);
    const scalars: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(tag)) if (typeof v === 'number') scalars[k] = v;
    runner.writeScalars(scalars, this.log_metric_by_epoch && runner.logProcessor.by_epoch ? runner.epoch : runner.iter);
  }

  override afterTestEpoch(runner: Runner, metrics: Record<string, unknown>): void {
    const ctx = { ...runner.logContext(), dataloaderLength: runner.testLoopLength };
    const { tag, log } = runner.logProcessor.getLogAfterEpoch(ctx, metrics, 'test');
    runner.logger.info(log);
    const scalars: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(tag)) if (typeof v === 'number') scalars[k] = v;
    runner.writeScalars(scalars, 0);
  }
}

/** Options of ParamSchedulerHook. */
export interface ParamSchedulerHookOptions {
  /** When the hook runs among the others. @default 'LOW' */
  priority?: string | number;
}

/** Steps the parameter schedulers: iteration-based ones after every iteration, epoch-based ones after every epoch. */
@HOOKS.registerModule()
export class ParamSchedulerHook extends Hook {
  constructor(_options: ParamSchedulerHookOptions = {}) {
    super();
    this.priority = PRIORITIES.LOW;
  }
  override afterTrainIter(runner: Runner): void {
    for (const s of runner.paramSchedulers) if (!s.by_epoch && !s.need_val_args) s.step();
  }
  override afterTrainEpoch(runner: Runner): void {
    for (const s of runner.paramSchedulers) if (s.by_epoch && !s.need_val_args) s.step();
  }
  /** ReduceOnPlateau-style schedulers step with the validation metrics. */
  override afterValEpoch(runner: Runner, metrics: Record<string, unknown>): void {
    if (runner.mode !== 'train') return;
    for (const s of runner.paramSchedulers) if (s.need_val_args) s.step(metrics);
  }
}

/** Options of DistSamplerSeedHook. */
export interface DistSamplerSeedHookOptions {
  /** When the hook runs among the others. @default 'NORMAL' */
  priority?: string | number;
}

/** Sets the epoch of the train sampler before each epoch, so shuffling differs from epoch to epoch. */
@HOOKS.registerModule()
export class DistSamplerSeedHook extends Hook {
  constructor(_options: DistSamplerSeedHookOptions = {}) {
    super();
    this.priority = PRIORITIES.NORMAL;
  }
  override beforeTrainEpoch(runner: Runner): void {
    runner.trainDataloader?.set_epoch(runner.epoch);
  }
}
