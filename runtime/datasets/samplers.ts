import { DATA_SAMPLERS } from '../registry';
import { MmclsError } from '../errors';
import { Rng } from './rng';

/** A sampler yields dataset indices; `set_epoch` reseeds epoch-dependent shuffling. */
export interface Sampler extends Iterable<number> {
  set_epoch(epoch: number): void;
  /** Number of indices per epoch (Infinity for infinite samplers). */
  readonly length: number;
  readonly seed: number;
}

function lengthOf(dataset: unknown): number {
  const n = (dataset as { length?: unknown })?.length;
  if (typeof n !== 'number') throw new MmclsError('sampler: the dataset has no length', { code: 'data.bad-arg' });
  return n;
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

/** Options of DefaultSampler. */
export interface DefaultSamplerOptions {
  /** The dataset to sample from (set by the data loader). */
  dataset: { length: number };
  /** Shuffle the indices every epoch. @default True */
  shuffle?: boolean;
  /** Random seed of the shuffling; None draws one. @default None */
  seed?: number | null;
  /** Pad the indices so that every rank gets the same number (one rank here). @default True */
  round_up?: boolean;
}

/** The default sampler (MMEngine): every index once per epoch, shuffled with seed + epoch when `shuffle`. */
@DATA_SAMPLERS.registerModule()
export class DefaultSampler implements Sampler {
  readonly dataset: { length: number };
  readonly shuffle: boolean;
  readonly seed: number;
  readonly round_up: boolean;
  epoch = 0;
  constructor(options: DefaultSamplerOptions) {
    this.dataset = options.dataset;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? randomSeed();
    this.round_up = options.round_up ?? true;
  }
  get length(): number {
    return lengthOf(this.dataset);
  }
  set_epoch(epoch: number): void {
    this.epoch = epoch;
  }
  *[Symbol.iterator](): Iterator<number> {
    const n = this.length;
    const idx = this.shuffle ? new Rng(this.seed + this.epoch, 0x5a3b1e).permutation(n) : Array.from({ length: n }, (_, i) => i);
    yield* idx;
  }
}

/** Options of InfiniteSampler. */
export interface InfiniteSamplerOptions {
  /** The dataset to sample from (set by the data loader). */
  dataset: { length: number };
  /** Shuffle each pass over the dataset. @default True */
  shuffle?: boolean;
  /** Random seed; None draws one. @default None */
  seed?: number | null;
}

/** An endless stream of indices, pass after pass (for iteration-based training). */
@DATA_SAMPLERS.registerModule()
export class InfiniteSampler implements Sampler {
  readonly dataset: { length: number };
  readonly shuffle: boolean;
  readonly seed: number;
  constructor(options: InfiniteSamplerOptions) {
    this.dataset = options.dataset;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? randomSeed();
  }
  get length(): number {
    return Infinity;
  }
  set_epoch(_epoch: number): void {
    // Not used: the stream never restarts.
  }
  *[Symbol.iterator](): Iterator<number> {
    const n = lengthOf(this.dataset);
    if (n === 0) return;
    const rng = new Rng(this.seed, 0x1f1f);
    for (;;) {
      const idx = this.shuffle ? rng.permutation(n) : Array.from({ length: n }, (_, i) => i);
      yield* idx;
    }
  }
}
