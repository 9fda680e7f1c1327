import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { MODELS } from '../registry';
import { Module } from '../nn/module';
import { ClsDataSample } from '../structures';
import { Image, isImage } from '../datasets/image';
import { imagesToTensor } from '../datasets/to_tensor';
import { RandomBatchAugment, RandomBatchAugmentOptions, applyBatchAugments } from './utils/batch_augments';

/**
 * A batch as data loaders produce it: `inputs` is one NHWC (or HWC) tensor as `default_collate`
 * gives, or a list of HWC images (tensors or decoded images, sizes may differ) as `pseudo_collate`
 * gives; `data_samples` carry the labels.
 */
export interface DataBatch {
  inputs: tf.Tensor | tf.Tensor[] | Image[];
  data_samples?: ClsDataSample[] | null;
}

/** The batch after preprocessing: one float NHWC tensor (padded) and the data samples. */
export interface PreprocessedBatch {
  inputs: tf.Tensor;
  data_samples: ClsDataSample[] | null;
}

/** Options of {@link ClsDataPreprocessor}. */
export interface ClsDataPreprocessorOptions {
  /** Per-channel mean subtracted from the images, in the output channel order (None: no normalisation). @default None */
  mean?: number[] | null;
  /** Per-channel standard deviation the images are divided by. @default None */
  std?: number[] | null;
  /** Pad height and width up to a multiple of this. @default 1 */
  pad_size_divisor?: number;
  /** Value of the padded pixels (after normalisation). @default 0 */
  pad_value?: number;
  /** Swap BGR to RGB (3-channel images only). @default False */
  to_rgb?: boolean;
  /** Turn class indices into one-hot scores (gt_score); switched on by batch augments. @default False */
  to_onehot?: boolean;
  /** Number of classes, for to_onehot and batch augments (else the samples' `num_classes`). @default None */
  num_classes?: number | null;
  /** Batch augmentations `dict(augments=..., probs=...)`; ImageClassifier passes its train_cfg here. @default None */
  batch_augments?: { [key: string]: unknown } | null;
}

type Sizes = { h: number; w: number }[];

/**
 * Image classification data preprocessor (MMCls ClsDataPreprocessor): stacks the batch (padding
 * images of different sizes at the bottom and right), swaps BGR to RGB, normalises with mean and
 * std, pads to a size divisor with pad_value, makes one-hot scores (to_onehot) and, in training,
 * applies the batch augments (Mixup, CutMix, ResizeMix) that turn labels into mixed gt_scores.
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
  readonly batchAugments: RandomBatchAugment | null;

  constructor(options: ClsDataPreprocessorOptions = {}) {
    super();
    const { mean = null, std = null } = options;
    if ((mean === null) !== (std === null)) {
      throw new MmclsError('ClsDataPreprocessor: mean and std should be both None or tuple', { code: 'model.bad-argument' });
    }
    if (mean && std && mean.length !== std.length) {
      throw new MmclsError('ClsDataPreprocessor: mean and std must have the same length', { code: 'model.bad-argument' });
    }
    if (std && std.some((v) => v === 0)) {
      throw new MmclsError(`ClsDataPreprocessor: std must not contain 0, got [${std.join(', ')}]`, { code: 'model.bad-argument' });
    }
    this.mean = mean;
    this.std = std;
    this.padSizeDivisor = options.pad_size_divisor ?? 1;
    if (!Number.isInteger(this.padSizeDivisor) || this.padSizeDivisor < 1) {
      throw new MmclsError(`ClsDataPreprocessor: pad_size_divisor must be a positive integer, got ${this.padSizeDivisor}`, { code: 'model.bad-argument' });
    }
    this.padValue = options.pad_value ?? 0;
    this.toRgb = options.to_rgb ?? false;
    this.numClasses = options.num_classes ?? null;
    this.batchAugmentsCfg = options.batch_augments ?? null;
    if (this.batchAugmentsCfg) {
      const { augments, probs } = this.batchAugmentsCfg as Partial<RandomBatchAugmentOptions>;
      if (augments === undefined || augments === null) {
        throw new MmclsError('ClsDataPreprocessor: batch_augments (model.train_cfg) needs `augments`, e.g. dict(augments=[dict(type="Mixup", alpha=0.8)])', { code: 'model.bad-argument' });
      }
      this.batchAugments = new RandomBatchAugment({ augments, probs: probs ?? null });
      // MMCls: "Because batch augmentations are enabled, the data preprocessor automatically
      // enables the `to_onehot` option to generate one-hot format labels."
      this.toOnehot = true;
    } else {
      this.batchAugments = null;
      this.toOnehot = options.to_onehot ?? false;
    }
  }

  /** Preprocesses a batch; `training` enables the batch augments. */
  forward(data: DataBatch, training = false): PreprocessedBatch {
    let inputs = this.processInputs(data.inputs);
    const samples = data.data_samples ?? null;
    if (samples && samples.length && samples[0] instanceof ClsDataSample && samples[0].gt_label) {
      if (!samples[0].gt_label.score && this.toOnehot) this.setOnehotScores(samples);
      if (training && this.batchAugments) {
        if (inputs.rank !== 4) throw new MmclsError('batch augments need NHWC inputs', { code: 'data.shape' });
        const mixed = applyBatchAugments(this.batchAugments, inputs as tf.Tensor4D, samples, this.numClasses);
        if (mixed !== inputs) inputs.dispose();
        inputs = mixed;
      }
    }
    return { inputs, data_samples: samples };
  }

  /** MMCls's `batch_label_to_onehot`: every sample's labels (several for multi-label) become 1. */
  private setOnehotScores(samples: ClsDataSample[]): void {
    const k = this.numClasses ?? samples[0].get<number>('num_classes') ?? null;
    if (!k) throw new MmclsError('Cannot generate one-hot format labels because not set `num_classes` in `data_preprocessor`.', { code: 'model.bad-argument' });
    for (const s of samples) {
      const labels = s.gt_label?.label;
      if (!labels) throw new MmclsError('Cannot generate onehot format labels because no labels.', { code: 'data.no-label' });
      const score = new Float32Array(k);
      for (const l of labels) {
        if (!(l >= 0 && l < k)) throw new MmclsError(`label ${l} is outside [0, ${k}) (num_classes = ${k})`, { code: 'data.label-out-of-range' });
        score[l] = 1;
      }
      s.set_gt_score(score);
    }
  }

  /** Stack (padding to the largest image), to_rgb, normalise, pad to the divisor with pad_value. */
  private processInputs(raw: tf.Tensor | tf.Tensor[] | Image[]): tf.Tensor {
    return tf.tidy(() => {
      let x: tf.Tensor;
      let sizes: Sizes | null = null;
      if (Array.isArray(raw)) {
        if (!raw.length) throw new MmclsError('ClsDataPreprocessor: empty batch', { code: 'data.empty-batch' });
        const sz: Sizes = raw.map((im) => (isImage(im) ? { h: im.height, w: im.width } : { h: checkHwc(im).shape[0]!, w: im.shape[1]! }));
        sizes = sz;
        if (raw.every(isImage)) {
          x = imagesToTensor(raw as Image[]);
        } else if (raw.some(isImage)) {
          throw new MmclsError('ClsDataPreprocessor: a batch mixes tensors and images', { code: 'data.shape' });
        } else {
          const ts = raw as tf.Tensor[];
          const c = ts[0].shape[2];
          if (ts.some((t) => t.shape[2] !== c)) throw new MmclsError(`images of one batch have different channel counts (${ts.map((t) => t.shape[2]).join(', ')})`, { code: 'data.shape' });
          const h = Math.max(...sz.map((s) => s.h));
          const w = Math.max(...sz.map((s) => s.w));
          x = tf.stack(ts.map((t, i) => (sz[i].h === h && sz[i].w === w ? tf.cast(t, 'float32') : tf.pad(tf.cast(t, 'float32'), [[0, h - sz[i].h], [0, w - sz[i].w], [0, 0]]))));
        }
      } else {
        x = raw.rank === 3 ? tf.expandDims(raw, 0) : raw;
        if (x.rank !== 4) throw new MmclsError(`ClsDataPreprocessor: inputs must be NHWC, got shape [${x.shape.join(', ')}]`, { code: 'data.shape' });
      }
      x = tf.cast(x, 'float32');
      const c = x.shape[3]!;
      if (this.toRgb && c === 3) x = tf.reverse(x, 3);
      if (this.mean && this.std) {
        if (this.mean.length !== c && this.mean.length !== 1) {
          throw new MmclsError(`ClsDataPreprocessor: mean has ${this.mean.length} values for ${c}-channel images; give ${c} values (or 1)`, { code: 'data.shape' });
        }
        x = tf.div(tf.sub(x, tf.tensor1d(this.mean)), tf.tensor1d(this.std));
      }
      const [n, h0, w0] = x.shape as number[];
      const d = this.padSizeDivisor;
      const h = Math.ceil(h0 / d) * d;
      const w = Math.ceil(w0 / d) * d;
      if (h !== h0 || w !== w0) x = tf.pad(x, [[0, 0], [0, h - h0], [0, w - w0], [0, 0]], this.padValue);
      // Images smaller than the batch were padded with zeros before normalising: their padding
      // must read pad_value, as MMEngine's stack_batch pads the normalised images.
      if (sizes && sizes.some((s) => s.h < h0 || s.w < w0) && (this.padValue !== 0 || this.mean)) {
        const rows = new Uint8Array(n * h);
        const cols = new Uint8Array(n * w);
        sizes.forEach((s, i) => {
          rows.fill(1, i * h, i * h + s.h);
          cols.fill(1, i * w, i * w + s.w);
        });
        const mask = tf.logicalAnd(tf.tensor4d(rows, [n, h, 1, 1], 'bool'), tf.tensor4d(cols, [n, 1, w, 1], 'bool'));
        x = tf.where(tf.broadcastTo(mask, x.shape), x, tf.fill(x.shape, this.padValue));
      }
      return x;
    });
  }
}

function checkHwc(t: tf.Tensor): tf.Tensor {
  if (t.rank !== 3) throw new MmclsError(`ClsDataPreprocessor: each image of a list must be HWC, got shape [${t.shape.join(', ')}]`, { code: 'data.shape' });
  return t;
}
