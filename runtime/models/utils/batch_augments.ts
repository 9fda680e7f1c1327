/**
 * Batch augmentations (MMClassification's `model.train_cfg.augments`): Mixup, CutMix and ResizeMix
 * mix each image of a batch with another image of the same batch and mix their one-hot scores in
 * the same proportion. They run in the data preprocessor, in training only, on NHWC float tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { BATCH_AUGMENTS } from '../../registry';
import { Rng } from '../../datasets/rng';
import { ClsDataSample } from '../../structures';

export { BATCH_AUGMENTS };

let sharedRng: Rng | null = null;

/**
 * Seeds one generator that all later batch augments draw from. Without it (the default), each
 * batch draws a fresh generator seeded from `Math.random()`, which the runner seeds from
 * `randomness.seed` and saves in checkpoints: runs are reproducible and resume exactly.
 * `seedBatchAugments(null)` returns to that default.
 */
export function seedBatchAugments(seed: number | null): void {
  sharedRng = seed === null ? null : new Rng(seed, 0xba7c4);
}

/** The generator one batch draws from. */
export function batchAugmentRng(): Rng {
  return sharedRng ?? new Rng(Math.floor(Math.random() * 4294967296), 0xba7c4);
}

/** One batch augmentation: takes NHWC inputs and (N, num_classes) scores, returns mixed ones. */
export interface BatchAugment {
  call(inputs: tf.Tensor4D, scores: tf.Tensor2D, rng?: Rng): [tf.Tensor4D, tf.Tensor2D];
  /**
   * `call` in two halves, so that the label mixing can run on the host (no read back from the
   * device): the random draw, then the images mixed on the device. The scores mix as
   * `lam * scores + (1 - lam) * scores[index]`. Optional for augments registered elsewhere.
   */
  drawMix?(n: number, h: number, w: number, rng: Rng): BatchMix;
  mixInputs?(inputs: tf.Tensor4D, mix: BatchMix): tf.Tensor4D;
}

/** One draw of a batch augment: the mixing weight, the partner of each sample, and the box (CutMix). */
export interface BatchMix {
  lam: number;
  index: number[];
  box?: Box;
}

function badArg(who: string, msg: string): MmclsError {
  return new MmclsError(`${who}: ${msg}`, { code: 'model.bad-argument' });
}

function checkScores(scores: tf.Tensor, n: number): void {
  if (scores.rank !== 2 || scores.shape[0] !== n) {
    throw new MmclsError('The input `batch_score` should be a one-hot format tensor, which shape should be ``(N, num_classes)``.', { code: 'data.shape' });
  }
}

function mixScores(scores: tf.Tensor2D, index: tf.Tensor1D, lam: number): tf.Tensor2D {
  return tf.add(tf.mul(scores, lam), tf.mul(tf.gather(scores, index), 1 - lam));
}

/** `call` of an augment made of `drawMix` + `mixInputs`: one draw, images and scores mixed on the device. */
function mixBatch(aug: Required<Pick<BatchAugment, 'drawMix' | 'mixInputs'>>, inputs: tf.Tensor4D, scores: tf.Tensor2D, rng: Rng): [tf.Tensor4D, tf.Tensor2D] {
  const [n, h, w] = inputs.shape;
  checkScores(scores, n);
  const mix = aug.drawMix(n, h, w, rng);
  return [aug.mixInputs(inputs, mix), tf.tidy(() => mixScores(tf.cast(scores, 'float32'), tf.tensor1d(mix.index, 'int32'), mix.lam))];
}

/** Options of Mixup. */
export interface MixupOptions {
  /** Parameters of the Beta(alpha, alpha) distribution the mixing ratio is drawn from. */
  alpha: number;
  /** Number of classes (older configs set it here; the scores carry it). @default None */
  num_classes?: number | null;
}

/** Mixup (mixup: Beyond Empirical Risk Minimization): x = lam * x + (1 - lam) * x[perm], same for scores. */
@BATCH_AUGMENTS.registerModule()
export class Mixup implements BatchAugment {
  readonly alpha: number;
  constructor(options: MixupOptions) {
    if (typeof options?.alpha !== 'number' || !(options.alpha > 0)) throw badArg('Mixup', `alpha must be a positive float, got ${JSON.stringify(options?.alpha)}`);
    this.alpha = options.alpha;
  }
  /** The mixing ratio and permutation, exposed for tests. */
  draw(n: number, rng: Rng): { lam: number; index: number[] } {
    const lam = rng.beta(this.alpha, this.alpha);
    return { lam, index: rng.permutation(n) };
  }
  drawMix(n: number, _h: number, _w: number, rng: Rng): BatchMix {
    return this.draw(n, rng);
  }

  mixInputs(inputs: tf.Tensor4D, { lam, index }: BatchMix): tf.Tensor4D {
    return tf.tidy(() => {
      const idx = tf.tensor1d(index, 'int32');
      return tf.add(tf.mul(inputs, lam), tf.mul(tf.gather(inputs, idx), 1 - lam)) as tf.Tensor4D;
    });
  }

  call(inputs: tf.Tensor4D, scores: tf.Tensor2D, rng: Rng = batchAugmentRng()): [tf.Tensor4D, tf.Tensor2D] {
    return mixBatch(this, inputs, scores, rng);
  }
}

/** Options of CutMix. */
export interface CutMixOptions {
  /** Parameters of the Beta(alpha, alpha) distribution of the mixing ratio. */
  alpha: number;
  /** Min and max box size as fractions of the image; overrides alpha when set. @default None */
  cutmix_minmax?: [number, number] | null;
  /** Recompute the ratio from the clipped box area. @default True */
  correct_lam?: boolean;
  /** Number of classes (older configs). @default None */
  num_classes?: number | null;
}

/** A box (y1, y2, x1, x2) of the image. */
export type Box = [number, number, number, number];

/** CutMix: paste a box of a shuffled image into each image; scores mixed by the pasted area. */
@BATCH_AUGMENTS.registerModule()
export class CutMix implements BatchAugment {
  readonly alpha: number;
  readonly cutmix_minmax: [number, number] | null;
  readonly correct_lam: boolean;
  constructor(options: CutMixOptions) {
    const who = this.constructor.name;
    if (typeof options?.alpha !== 'number' || !(options.alpha > 0)) throw badArg(who, `alpha must be a positive float, got ${JSON.stringify(options?.alpha)}`);
    this.alpha = options.alpha;
    this.cutmix_minmax = options.cutmix_minmax ?? null;
    this.correct_lam = options.correct_lam ?? true;
  }

  randBboxMinmax(h: number, w: number, rng: Rng): Box {
    const [lo, hi] = this.cutmix_minmax!;
    const ch = rng.randint(Math.trunc(h * lo), Math.trunc(h * hi));
    const cw = rng.randint(Math.trunc(w * lo), Math.trunc(w * hi));
    const yl = rng.randint(0, h - ch);
    const xl = rng.randint(0, w - cw);
    return [yl, yl + ch, xl, xl + cw];
  }

  randBbox(h: number, w: number, lam: number, rng: Rng, margin = 0): Box {
    const ratio = Math.sqrt(1 - lam);
    const ch = Math.trunc(h * ratio);
    const cw = Math.trunc(w * ratio);
    const my = Math.trunc(margin * ch);
    const mx = Math.trunc(margin * cw);
    const cy = rng.randint(my, h - my);
    const cx = rng.randint(mx, w - mx);
    const clip = (v: number, hiV: number) => Math.min(Math.max(v, 0), hiV);
    return [clip(cy - Math.floor(ch / 2), h), clip(cy + Math.floor(ch / 2), h), clip(cx - Math.floor(cw / 2), w), clip(cx + Math.floor(cw / 2), w)];
  }

  /** The box and the (corrected) ratio of the original image kept. */
  bboxAndLam(h: number, w: number, lam: number, rng: Rng): { box: Box; lam: number } {
    const box = this.cutmix_minmax ? this.randBboxMinmax(h, w, rng) : this.randBbox(h, w, lam, rng);
    if (this.correct_lam || this.cutmix_minmax) {
      const [y1, y2, x1, x2] = box;
      lam = 1 - ((y2 - y1) * (x2 - x1)) / (h * w);
    }
    return { box, lam };
  }

  protected drawLam(rng: Rng): number {
    return rng.beta(this.alpha, this.alpha);
  }

  /** Draws everything one call needs (exposed for tests). */
  draw(n: number, h: number, w: number, rng: Rng): { lam: number; index: number[]; box: Box } {
    const lam0 = this.drawLam(rng);
    const index = rng.permutation(n);
    const { box, lam } = this.bboxAndLam(h, w, lam0, rng);
    return { lam, index, box };
  }

  /** What goes into the box: the shuffled batch's pixels at the box. */
  protected patch(inputs: tf.Tensor4D, idx: tf.Tensor1D, box: Box): tf.Tensor4D {
    const [y1, y2, x1, x2] = box;
    const [n, , , c] = inputs.shape;
    return tf.slice(tf.gather(inputs, idx), [0, y1, x1, 0], [n, y2 - y1, x2 - x1, c]);
  }

  drawMix(n: number, h: number, w: number, rng: Rng): BatchMix {
    return this.draw(n, h, w, rng);
  }

  mixInputs(inputs: tf.Tensor4D, { index, box }: BatchMix): tf.Tensor4D {
    const [, h, w] = inputs.shape;
    const [y1, y2, x1, x2] = box!;
    // An empty box leaves the images as they are (a copy: the caller owns the result).
    if (!(y2 > y1 && x2 > x1)) return tf.clone(inputs);
    return tf.tidy(() => {
      const idx = tf.tensor1d(index, 'int32');
      const patch = this.patch(inputs, idx, box!);
      const padded = tf.pad(patch, [[0, 0], [y1, h - y2], [x1, w - x2], [0, 0]]);
      const mask = tf.pad(tf.ones([1, y2 - y1, x2 - x1, 1], 'bool'), [[0, 0], [y1, h - y2], [x1, w - x2], [0, 0]]);
      return tf.where(tf.broadcastTo(mask, inputs.shape), padded, inputs) as tf.Tensor4D;
    });
  }

  call(inputs: tf.Tensor4D, scores: tf.Tensor2D, rng: Rng = batchAugmentRng()): [tf.Tensor4D, tf.Tensor2D] {
    return mixBatch(this, inputs, scores, rng);
  }
}

/** Options of ResizeMix. */
export interface ResizeMixOptions extends CutMixOptions {
  /** Lower bound of the scale ratio lam. @default 0.1 */
  lam_min?: number;
  /** Upper bound of the scale ratio lam. @default 0.8 */
  lam_max?: number;
  /** How the shuffled image is resized into the box: 'nearest' or 'bilinear'. @default 'bilinear' */
  interpolation?: 'nearest' | 'bilinear';
  /** Probability of applying (kept for compatibility; RandomBatchAugment's probs decide). @default 1.0 */
  prob?: number;
}

/** ResizeMix: paste a whole shuffled image, resized, into a box of each image. */
@BATCH_AUGMENTS.registerModule()
export class ResizeMix extends CutMix {
  readonly lam_min: number;
  readonly lam_max: number;
  readonly interpolation: 'nearest' | 'bilinear';
  readonly prob: number;
  constructor(options: ResizeMixOptions) {
    super(options);
    this.lam_min = options.lam_min ?? 0.1;
    this.lam_max = options.lam_max ?? 0.8;
    this.interpolation = options.interpolation ?? 'bilinear';
    this.prob = options.prob ?? 1.0;
    if (this.interpolation !== 'nearest' && this.interpolation !== 'bilinear') throw badArg('ResizeMix', `interpolation must be 'nearest' or 'bilinear', got ${JSON.stringify(this.interpolation)}`);
  }
  protected override drawLam(rng: Rng): number {
    return rng.beta(this.alpha, this.alpha) * (this.lam_max - this.lam_min) + this.lam_min;
  }
  protected override patch(inputs: tf.Tensor4D, idx: tf.Tensor1D, box: Box): tf.Tensor4D {
    const [y1, y2, x1, x2] = box;
    const shuffled = tf.gather(inputs, idx);
    const size: [number, number] = [y2 - y1, x2 - x1];
    // F.interpolate(..., align_corners=False) samples at half-pixel centres
    return this.interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(shuffled, size, false, true) : tf.image.resizeBilinear(shuffled, size, false, true);
  }
}

/** Options of RandomBatchAugment. */
export interface RandomBatchAugmentOptions {
  /** The batch augments (config dicts or objects); one is chosen per batch. */
  augments: Record<string, unknown> | BatchAugment | (Record<string, unknown> | BatchAugment)[];
  /** Probability of each augment; the rest (1 - sum) leaves the batch unchanged. None: uniform, always one. @default None */
  probs?: number | number[] | null;
}

/** Chooses one batch augment per batch with the given probabilities (mmcls RandomBatchAugment). */
export class RandomBatchAugment {
  readonly augments: (BatchAugment | null)[];
  readonly probs: number[] | null;
  constructor(options: RandomBatchAugmentOptions) {
    const list = Array.isArray(options?.augments) ? options.augments : [options?.augments];
    if (!list.length || list.some((a) => !a)) throw badArg('RandomBatchAugment', 'augments must be a dict or a list of dicts');
    this.augments = list.map((a) => (typeof (a as BatchAugment).call === 'function' ? (a as BatchAugment) : BATCH_AUGMENTS.build<BatchAugment>(a)));
    let probs = options.probs ?? null;
    if (typeof probs === 'number') probs = [probs];
    if (probs) {
      if (probs.length !== list.length) throw badArg('RandomBatchAugment', `probs has ${probs.length} values for ${list.length} augments`);
      const s = probs.reduce((a, b) => a + b, 0);
      if (s > 1 + 1e-9) throw badArg('RandomBatchAugment', `the probs sum to ${s} > 1`);
      this.probs = [...probs, Math.max(0, 1 - s)];
      this.augments.push(null);
    } else {
      this.probs = null;
    }
  }

  call(inputs: tf.Tensor4D, scores: tf.Tensor2D, rng: Rng = batchAugmentRng()): [tf.Tensor4D, tf.Tensor2D] {
    const aug = this.choose(rng);
    return aug ? aug.call(inputs, scores, rng) : [inputs, scores];
  }

  /** The augment of this batch (null: none), drawn as `call` draws it. */
  choose(rng: Rng): BatchAugment | null {
    const i = this.probs ? rng.choice(this.probs) : rng.randint(0, this.augments.length);
    return this.augments[i];
  }
}

/**
 * What ClsDataPreprocessor does in training when batch augments are configured: builds one-hot
 * scores from the samples' gt labels (or stacks their gt scores), runs the augment, and writes the
 * mixed scores back as each sample's gt_score. Returns the mixed inputs.
 */
export function applyBatchAugments(augment: RandomBatchAugment, inputs: tf.Tensor4D, samples: ClsDataSample[], numClasses: number | null, rng: Rng = batchAugmentRng()): tf.Tensor4D {
  const n = samples.length;
  if (n !== inputs.shape[0]) throw new MmclsError(`batch augments: ${inputs.shape[0]} images but ${n} data samples`, { code: 'data.shape' });
  let k: number;
  let scores: Float32Array;
  if (samples.every((s) => s.gt_label?.score)) {
    k = samples[0].gt_label!.score!.length;
    scores = Float32Array.from(samples.flatMap((s) => Array.from(s.gt_label!.score!)));
    if (scores.length !== n * k) throw new MmclsError('batch augments: the data samples\' gt_score have different lengths', { code: 'data.shape' });
  } else {
    const nc = numClasses ?? (samples[0].get<number>('num_classes') ?? null);
    if (!nc) throw new MmclsError('Cannot generate one-hot format labels because not set `num_classes` in `data_preprocessor`.', { code: 'model.bad-argument' });
    k = nc;
    scores = new Float32Array(n * k);
    samples.forEach((s, i) => {
      const labels = s.gt_label?.label;
      if (!labels) throw new MmclsError('Cannot generate onehot format labels because no labels.', { code: 'data.no-label' });
      for (const l of labels) {
        if (l < 0 || l >= k) throw new MmclsError(`label ${l} is outside [0, ${k})`, { code: 'data.label-out-of-range' });
        scores[i * k + l] = 1;
      }
    });
  }
  const aug = augment.choose(rng);
  let x: tf.Tensor4D = inputs;
  let mixed = scores;
  if (aug && aug.drawMix && aug.mixInputs) {
    // The images mix on the device; the labels on the host, in float32 as torch computes
    // `lam * s + (1 - lam) * s[index]`: nothing is read back from the device.
    const [, h, w] = inputs.shape;
    const mix = aug.drawMix(n, h, w, rng);
    x = aug.mixInputs(inputs, mix);
    mixed = mixScoresHost(scores, k, mix);
  } else if (aug) {
    // An augment with only `call`: its scores are read back synchronously.
    const t = tf.tensor2d(scores, [n, k]);
    const [xa, m] = aug.call(inputs, t, rng);
    x = xa;
    mixed = Float32Array.from(m.dataSync());
    if (m !== t) m.dispose();
    t.dispose();
  }
  samples.forEach((s, i) => s.set_gt_score(mixed.subarray(i * k, (i + 1) * k)));
  return x;
}

/** `lam * scores + (1 - lam) * scores[index]` on an `[n, k]` float32 matrix, with float32 rounding. */
export function mixScoresHost(scores: Float32Array, k: number, { lam, index }: BatchMix): Float32Array {
  const f = Math.fround;
  const a = f(lam);
  const b = f(1 - lam);
  const out = new Float32Array(scores.length);
  for (let i = 0; i < index.length; i++) {
    const j = index[i];
    for (let c = 0; c < k; c++) out[i * k + c] = f(f(scores[i * k + c] * a) + f(scores[j * k + c] * b));
  }
  return out;
}
