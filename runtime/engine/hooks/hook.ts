import { MmclsError } from '../../errors';
import type { Runner } from '../runner';

/** MMEngine's priority names and numbers (smaller runs first). */
export const PRIORITIES = {
  HIGHEST: 0,
  VERY_HIGH: 10,
  HIGH: 30,
  ABOVE_NORMAL: 40,
  NORMAL: 50,
  BELOW_NORMAL: 60,
  LOW: 70,
  VERY_LOW: 90,
  LOWEST: 100,
} as const;

export type PriorityName = keyof typeof PRIORITIES;

/** A priority given as a name ('NORMAL') or a number from 0 to 100. */
export function getPriority(p: unknown): number {
  if (typeof p === 'number') {
    if (!Number.isInteger(p) || p < 0 || p > 100) throw new MmclsError(`priority must be an integer between 0 (HIGHEST) and 100 (LOWEST), got ${p}`, { code: 'hook.priority' });
    return p;
  }
  if (typeof p === 'string' && p.toUpperCase() in PRIORITIES) return PRIORITIES[p.toUpperCase() as PriorityName];
  throw new MmclsError(`unknown priority ${JSON.stringify(p)}: expected a number or one of ${Object.keys(PRIORITIES).join(', ')}`, { code: 'hook.priority' });
}

/** What a train iteration hands to `afterTrainIter`: the loss values of the iteration. */
export interface TrainOutputs {
  [name: string]: number;
}

/** The checkpoint being written or just read, as hooks see it (`before_save_checkpoint`, `after_load_checkpoint`). */
export interface CheckpointDict {
  meta: Record<string, unknown>;
  stateDict: Map<string, { data: ArrayLike<number> | BigInt64Array; shape: number[]; dtype?: string }>;
  extra: Record<string, unknown>;
}

type MaybePromise = void | Promise<void>;

/**
 * MMEngine's Hook: every method is a point of the run where a hook may act. Methods may be
 * asynchronous; the runner awaits them in priority order.
 */
export class Hook {
  /** Set by the runner from the config's `priority` or the hook's default. */
  priority: number = PRIORITIES.NORMAL;

  beforeRun(_runner: Runner): MaybePromise {}
  afterRun(_runner: Runner): MaybePromise {}
  beforeTrain(_runner: Runner): MaybePromise {}
  afterTrain(_runner: Runner): MaybePromise {}
  beforeVal(_runner: Runner): MaybePromise {}
  afterVal(_runner: Runner): MaybePromise {}
  beforeTest(_runner: Runner): MaybePromise {}
  afterTest(_runner: Runner): MaybePromise {}
  beforeTrainEpoch(_runner: Runner): MaybePromise {}
  afterTrainEpoch(_runner: Runner): MaybePromise {}
  beforeValEpoch(_runner: Runner): MaybePromise {}
  afterValEpoch(_runner: Runner, _metrics: Record<string, unknown>): MaybePromise {}
  beforeTestEpoch(_runner: Runner): MaybePromise {}
  afterTestEpoch(_runner: Runner, _metrics: Record<string, unknown>): MaybePromise {}
  beforeTrainIter(_runner: Runner, _batchIdx: number, _batch: unknown): MaybePromise {}
  afterTrainIter(_runner: Runner, _batchIdx: number, _batch: unknown, _outputs: TrainOutputs): MaybePromise {}
  beforeValIter(_runner: Runner, _batchIdx: number, _batch: unknown): MaybePromise {}
  afterValIter(_runner: Runner, _batchIdx: number, _batch: unknown, _outputs: unknown[]): MaybePromise {}
  beforeTestIter(_runner: Runner, _batchIdx: number, _batch: unknown): MaybePromise {}
  afterTestIter(_runner: Runner, _batchIdx: number, _batch: unknown, _outputs: unknown[]): MaybePromise {}
  beforeSaveCheckpoint(_runner: Runner, _checkpoint: CheckpointDict): MaybePromise {}
  afterLoadCheckpoint(_runner: Runner, _checkpoint: CheckpointDict): MaybePromise {}

  /** Every `n` train iterations (MMEngine's `every_n_train_iters`). */
  protected everyNTrainIters(runner: Runner, n: number): boolean {
    return n > 0 && (runner.iter + 1) % n === 0;
  }
  protected everyNInnerIters(batchIdx: number, n: number): boolean {
    return n > 0 && (batchIdx + 1) % n === 0;
  }
  protected everyNEpochs(runner: Runner, n: number): boolean {
    return n > 0 && (runner.epoch + 1) % n === 0;
  }
  protected endOfEpoch(runner: Runner, batchIdx: number): boolean {
    return batchIdx + 1 === runner.trainLoopLength;
  }
  protected isLastTrainEpoch(runner: Runner): boolean {
    return runner.epoch + 1 === runner.maxEpochs;
  }
  protected isLastTrainIter(runner: Runner): boolean {
    return runner.iter + 1 === runner.maxIters;
  }
}

export type HookName = Exclude<keyof Hook, 'priority' | 'everyNTrainIters' | 'everyNInnerIters' | 'everyNEpochs' | 'endOfEpoch' | 'isLastTrainEpoch' | 'isLastTrainIter'>;
