import { MmclsError } from '../../errors';
import { LOOPS } from '../../registry';
import type { Runner } from '../runner';

/** Thrown inside a loop when a stop was requested (SIGINT/SIGTERM) and the checkpoint is saved. */
export class StopRequested extends Error {
  constructor(readonly signal: string) {
    super(`stopped by ${signal}`);
  }
}

/** Options of EpochBasedTrainLoop (`train_cfg=dict(by_epoch=True, ...)`). */
export interface EpochBasedTrainLoopOptions {
  /** Number of training epochs. */
  max_epochs: number;
  /** First epoch after which to validate. @default 1 */
  val_begin?: number;
  /** Validate every this many epochs. @default 1 */
  val_interval?: number;
  /** Selects this loop (True) or IterBasedTrainLoop (False) when `type` is absent. @default True */
  by_epoch?: boolean;
  /** Changes of val_interval during training, as [(epoch, interval), ...]. @default None */
  dynamic_intervals?: Array<[number, number]> | null;
  /** Set by the runner. @default None */
  runner?: unknown;
}

/** Trains for `max_epochs` epochs, validating every `val_interval` epochs from `val_begin`. */
@LOOPS.registerModule()
export class EpochBasedTrainLoop {
  readonly max_epochs: number;
  readonly val_begin: number;
  val_interval: number;
  readonly dynamic_intervals: Array<[number, number]>;
  readonly byEpoch = true;
  private readonly runner: Runner;

  constructor(options: EpochBasedTrainLoopOptions) {
    this.runner = options.runner as Runner;
    this.max_epochs = options.max_epochs;
    if (!Number.isInteger(this.max_epochs) || this.max_epochs < 1) {
      throw new MmclsError(`train_cfg.max_epochs must be a positive integer, got ${JSON.stringify(options.max_epochs)}`, { code: 'config.train_cfg' });
    }
    this.val_begin = options.val_begin ?? 1;
    this.val_interval = options.val_interval ?? 1;
    this.dynamic_intervals = options.dynamic_intervals ?? [];
  }

  get maxIters(): number {
    return this.max_epochs * this.runner.trainLoopLength;
  }

  async run(): Promise<void> {
    const r = this.runner;
    await r.callHook('beforeTrain');
    while (r.epoch < this.max_epochs) {
      await this.runEpoch();
      for (const [e, iv] of this.dynamic_intervals) if (r.epoch >= e) this.val_interval = iv;
      if (r.valLoop && r.epoch >= this.val_begin && r.epoch % this.val_interval === 0) {
        await r.valLoop.run();
        await r.checkStop(true);
      }
    }
    await r.callHook('afterTrain');
  }

  private async runEpoch(): Promise<void> {
    const r = this.runner;
    await r.callHook('beforeTrainEpoch');
    r.model.train();
    const skip = r.takeResumeSkip();
    const loader = r.trainDataloader!;
    let idx = 0;
    for await (const batch of loader) {
      if (idx < skip) {
        idx++;
        continue;
      }
      await r.runTrainIter(idx, batch);
      idx++;
      await r.checkStop(false);
    }
    await r.callHook('afterTrainEpoch');
    r.epoch += 1;
  }
}

/** Options of IterBasedTrainLoop (`train_cfg=dict(by_epoch=False, ...)`). */
export interface IterBasedTrainLoopOptions {
  /** Number of training iterations. */
  max_iters: number;
  /** First iteration after which to validate. @default 1 */
  val_begin?: number;
  /** Validate every this many iterations. @default 1000 */
  val_interval?: number;
  /** Selects EpochBasedTrainLoop (True) or this loop (False) when `type` is absent. @default False */
  by_epoch?: boolean;
  /** Changes of val_interval during training, as [(iter, interval), ...]. @default None */
  dynamic_intervals?: Array<[number, number]> | null;
  /** Set by the runner. @default None */
  runner?: unknown;
}

/** Trains for `max_iters` iterations, cycling through the data, validating every `val_interval` iterations. */
@LOOPS.registerModule()
export class IterBasedTrainLoop {
  readonly max_iters: number;
  readonly val_begin: number;
  val_interval: number;
  readonly dynamic_intervals: Array<[number, number]>;
  readonly byEpoch = false;
  private readonly runner: Runner;

  constructor(options: IterBasedTrainLoopOptions) {
    this.runner = options.runner as Runner;
    this.max_iters = options.max_iters;
    if (!Number.isInteger(this.max_iters) || this.max_iters < 1) {
      throw new MmclsError(`train_cfg.max_iters must be a positive integer, got ${JSON.stringify(options.max_iters)}`, { code: 'config.train_cfg' });
    }
    this.val_begin = options.val_begin ?? 1;
    this.val_interval = options.val_interval ?? 1000;
    this.dynamic_intervals = options.dynamic_intervals ?? [];
  }

  get maxIters(): number {
    return this.max_iters;
  }

  async run(): Promise<void> {
    const r = this.runner;
    await r.callHook('beforeTrain');
    await r.callHook('beforeTrainEpoch');
    r.model.train();
    const loader = r.trainDataloader!;
    const len = loader.length;
    // The data loader restarts (with the next epoch's shuffle) whenever it runs out.
    let pass = Number.isFinite(len) && len > 0 ? Math.floor(r.iter / len) : 0;
    let skip = Number.isFinite(len) && len > 0 ? r.iter - pass * len : r.iter;
    r.takeResumeSkip();
    while (r.iter < this.max_iters) {
      loader.set_epoch(pass);
      let any = false;
      let idx = 0;
      for await (const batch of loader) {
        any = true;
        if (skip > 0) {
          skip--;
          idx++;
          continue;
        }
        if (r.iter >= this.max_iters) break;
        r.model.train();
        await r.runTrainIter(r.iter, batch);
        idx++;
        for (const [i, iv] of this.dynamic_intervals) if (r.iter >= i) this.val_interval = iv;
        if (r.valLoop && r.iter >= this.val_begin && (r.iter % this.val_interval === 0 || r.iter === this.max_iters)) {
          await r.valLoop.run();
          await r.checkStop(true);
        } else await r.checkStop(false);
      }
      if (!any) throw new MmclsError('the train dataloader yields no batches', { code: 'data.empty' });
      pass++;
    }
    await r.callHook('afterTrainEpoch');
    await r.callHook('afterTrain');
  }
}

/** Options of ValLoop (`val_cfg`). */
export interface ValLoopOptions {
  /** Validate in half precision (not available: float32 is used). @default False */
  fp16?: boolean;
  /** Set by the runner. @default None */
  runner?: unknown;
}

/** Runs the model on the val dataloader and evaluates with `val_evaluator`. */
@LOOPS.registerModule()
export class ValLoop {
  protected readonly runner: Runner;
  readonly fp16: boolean;
  constructor(options: ValLoopOptions = {}) {
    this.runner = options.runner as Runner;
    this.fp16 = options.fp16 ?? false;
  }
  async run(): Promise<Record<string, unknown>> {
    return this.runner.runEvaluation('val');
  }
}

/** Options of TestLoop (`test_cfg`). */
export interface TestLoopOptions {
  /** Test in half precision (not available: float32 is used). @default False */
  fp16?: boolean;
  /** Set by the runner. @default None */
  runner?: unknown;
}

/** Runs the model on the test dataloader and evaluates with `test_evaluator`. */
@LOOPS.registerModule()
export class TestLoop {
  protected readonly runner: Runner;
  readonly fp16: boolean;
  constructor(options: TestLoopOptions = {}) {
    this.runner = options.runner as Runner;
    this.fp16 = options.fp16 ?? false;
  }
  async run(): Promise<Record<string, unknown>> {
    return this.runner.runEvaluation('test');
  }
}

export type TrainLoop = EpochBasedTrainLoop | IterBasedTrainLoop;
