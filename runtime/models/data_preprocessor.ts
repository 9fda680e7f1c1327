import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { MODELS } from '../registry';
import { Module } from '../nn/module';
import { ClsDataSample } from '../structures';

/** A batch as data loaders produce it: images (NHWC, or a list of HWC images of one size) and samples. */
export interface DataBatch {
  inputs: tf.Tensor | tf.Tensor[];
  data_samples?: ClsDataSample[] | null;
}

/** The batch after preprocessing: one float NHWC tensor. */
export interface PreprocessedBatch {
  inputs: tf.Tensor;
  data_samples: ClsDataSample[] | null;
}

/** Options of {@link ClsDataPreprocessor}. */
export interface ClsDataPreprocessorOptions {
  /** Per-channel mean subtracted from the images (None: no normalisation). @default None */
  mean?: number[] | null;
  /** Per-channel standard deviation the images are divided by. @default None */
  std?: number[] | null;
  /** Pad height and width up to a multiple of this. @default 1 */
  pad_size_divisor?: number;
  /** Value of the padded pixels. @default 0 */
  pad_value?: number;
  /** Swap BGR to RGB (3-channel images only). @default False */
  to_rgb?: boolean;
  /** Turn class indices into one-hot scores (gt_score). @default False */
  to_onehot?: boolean;
  /** Number of classes, for to_onehot. @default None */
  num_classes?: number | null;
  /** Batch augmentations (Mixup, CutMix, ...), the classifier's train_cfg. @default None */
  batch_augments?: { [key: string]: unknown } | null;
}

/**
 * Image classification data preprocessor: stacks the batch, swaps BGR/RGB, normalises with mean and
 * std, pads to a size divisor. (Batch augments are applied by the full data pipeline.)
 */
@MODELS.registerModule()
export class ClsDataPreprocessor extends Module {
  readonly mean: number[] | null;
  readonly std: number[] | null;
  readonly padSizeDivisor: number;
  readonly padValue: number;
  readonly toRgb: boolean;
  readonly toOnehot: boolean;
  readonly numClasses: number | null;
  readonly batchAugmentsCfg: { [key: string]: unknown } | null;

  constructor(options: ClsDataPreprocessorOptions = {}) {
    super();
    const { mean = null, std = null } = options;
    if ((mean === null) !== (std === null)) {
      throw new MmclsError('ClsDataPreprocessor: mean and std should be both None or tuple', { code: 'model.bad-argument' });
    }
    if (mean && std && mean.length !== std.length) {
      throw new MmclsError('ClsDataPreprocessor: mean and std must have the same length', { code: 'model.bad-argument' });
    }
    this.mean = mean;
    this.std = std;
    this.padSizeDivisor = options.pad_size_divisor ?? 1;
    this.padValue = options.pad_value ?? 0;
    this.toRgb = options.to_rgb ?? false;
    this.toOnehot = options.to_onehot ?? false;
    this.numClasses = options.num_classes ?? null;
    this.batchAugmentsCfg = options.batch_augments ?? null;
  }

  /** Preprocesses a batch; `training` enables batch augments (left to subclasses). */
  forward(data: DataBatch, _training = false): PreprocessedBatch {
    const inputs = tf.tidy(() => {
      let x = Array.isArray(data.inputs) ? tf.stack(data.inputs) : data.inputs;
      if (x.rank === 3) x = tf.expandDims(x, 0);
      x = tf.cast(x, 'float32');
      const c = x.shape[3]!;
      if (this.toRgb && c === 3) x = tf.reverse(x, 3);
      if (this.mean && this.std) {
        if (this.mean.length !== c && this.mean.length !== 1) {
          throw new MmclsError(`ClsDataPreprocessor: mean has ${this.mean.length} values for ${c}-channel images`, { code: 'data.shape' });
        }
        x = tf.div(tf.sub(x, tf.tensor1d(this.mean)), tf.tensor1d(this.std));
      }
      const d = this.padSizeDivisor;
      if (d > 1) {
        const [, h, w] = x.shape;
        const ph = Math.ceil(h! / d) * d - h!;
        const pw = Math.ceil(w! / d) * d - w!;
        if (ph || pw) x = tf.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]], this.padValue);
      }
      return x;
    });
    let samples = data.data_samples ?? null;
    if (samples && this.toOnehot && this.numClasses) {
      samples = samples.map((s) => {
        if (s.gt_label?.label && !s.gt_label.score) {
          const score = new Float32Array(this.numClasses!);
          for (const l of s.gt_label.label) score[l] = 1;
          s.set_gt_score(score);
        }
        return s;
      });
    }
    return { inputs, data_samples: samples };
  }
}
