import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { Layer } from './layer';
import { Buffer, Parameter, ShapeContext, lazy, shapeNumel } from './module';
import { MODELS } from '../registry';

/** Options of the batch norms (PyTorch's `nn.BatchNorm2d`). */
export interface BatchNormOptions {
  /**
   * Number of channels. Given by the layer that builds the norm from its `norm_cfg`, so configs
   * leave it out (`norm_cfg=dict(type='BN')`).
   * @injected
   */
  num_features: number;
  /** Added to the variance for numerical stability. @default 1e-05 */
  eps?: number;
  /** Weight of the current batch in the running statistics (None: cumulative average). @default 0.1 */
  momentum?: number | null;
  /** Whether to learn a scale and a shift. @default True */
  affine?: boolean;
  /** Whether to keep running statistics. @default True */
  track_running_stats?: boolean;
}

/**
 * MMCV's `_BatchNorm` base (PyTorch's): batch statistics in training (and running-statistics update),
 * running statistics in eval. Normalises the last axis (channels, NHWC).
 */
export class _BatchNorm extends Layer {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly runningMean: Buffer | null;
  readonly runningVar: Buffer | null;
  readonly numBatchesTracked: Buffer | null;

  constructor(options: BatchNormOptions) {
    super();
    const c = options.num_features;
    this.numFeatures = c;
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    this.affine = options.affine ?? true;
    this.weight = this.registerParameter('weight', this.affine ? lazy([c], () => tf.ones([c])) : null);
    this.bias = this.registerParameter('bias', this.affine ? lazy([c], () => tf.zeros([c])) : null);
    if (options.track_running_stats ?? true) {
      this.runningMean = this.registerBuffer('running_mean', lazy([c], () => tf.zeros([c])));
      this.runningVar = this.registerBuffer('running_var', lazy([c], () => tf.ones([c])));
      this.numBatchesTracked = this.registerBuffer('num_batches_tracked', lazy([], () => tf.scalar(0, 'int32'), 'int32'), 'int64');
    } else {
      this.runningMean = this.runningVar = this.numBatchesTracked = null;
    }
  }

  protected expectedRank(_rank: number): void {}

  forward(x: tf.Tensor): tf.Tensor {
    this.expectedRank(x.rank);
    if (x.shape[x.rank - 1] !== this.numFeatures) {
      throw new MmclsError(`${this.typeName} expects ${this.numFeatures} channels (last axis), got [${x.shape.join(', ')}]`, {
        code: 'model.shape',
      });
    }
    const useBatch = this.training || !this.runningMean;
    let scale: tf.Tensor;
    let shift: tf.Tensor;
    if (useBatch) {
      const axes = [...Array(x.rank - 1).keys()];
      const { mean, variance } = tf.moments(x, axes);
      if (this.training && this.runningMean && this.runningVar && this.numBatchesTracked) {
        const n = x.size / this.numFeatures;
        const nbt = this.numBatchesTracked;
        const rm = this.runningMean;
        const rv = this.runningVar;
        const momentum = this.momentum;
        tf.tidy(() => {
          nbt.assign(tf.add(nbt.variable, tf.scalar(1, 'int32')));
          // momentum=None: the cumulative moving average, factor 1 / num_batches_tracked, computed
          // on the device (no read back, which webgpu in Node.js cannot do synchronously).
          const f: tf.Tensor | number = momentum === null ? tf.div(1, tf.cast(nbt.variable, 'float32')) : momentum;
          const keep = typeof f === 'number' ? 1 - f : tf.sub(1, f);
          const m = mean;
          const v = tf.mul(variance, n / Math.max(n - 1, 1));
          rm.assign(tf.add(tf.mul(rm.variable, keep), tf.mul(m, f)));
          rv.assign(tf.add(tf.mul(rv.variable, keep), tf.mul(v, f)));
        });
      }
      const inv = tf.rsqrt(tf.add(variance, this.eps));
      const xn = tf.mul(tf.sub(x, mean), inv);
      if (!this.weight || !this.bias) return xn;
      return tf.add(tf.mul(xn, this.weight.variable), this.bias.variable);
    }
    const inv = tf.rsqrt(tf.add(this.runningVar!.variable, this.eps));
    scale = this.weight ? tf.mul(inv, this.weight.variable) : inv;
    shift = tf.neg(tf.mul(this.runningMean.variable, scale));
    if (this.bias) shift = tf.add(shift, this.bias.variable);
    return tf.add(tf.mul(x, scale), shift);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    if (x[1] !== this.numFeatures) {
      throw new MmclsError(`${this.typeName} expects ${this.numFeatures} channels, got [${x.join(', ')}]`, {
        code: 'analysis.shape',
      });
    }
    const n = shapeNumel(x);
    // fvcore: eval = 1 (normalise) + 1 (affine) per element; training computes statistics too.
    const per = this.training ? (this.affine ? 5 : 4) : this.affine ? 2 : 1;
    ctx.add('batch_norm', per * n, 0);
    return x;
  }
}

/**
 * Batch normalisation over [N, H, W, C] (`nn.BatchNorm2d`, config type `BN`). `SyncBN` (MMCV's
 * synchronised batch norm of multi-GPU runs) is the same here: one process holds the whole batch.
 */
@MODELS.registerModule('BN')
@MODELS.registerModule('BN2d')
@MODELS.registerModule('SyncBN')
export class BatchNorm2d extends _BatchNorm {
  protected override expectedRank(rank: number): void {
    if (rank !== 4) throw new MmclsError(`BatchNorm2d expects a 4-D input, got ${rank}-D`, { code: 'model.shape' });
  }
}

/** Batch normalisation over [N, C] or [N, L, C] (`nn.BatchNorm1d`, config type `BN1d`). */
@MODELS.registerModule('BN1d')
export class BatchNorm1d extends _BatchNorm {
  protected override expectedRank(rank: number): void {
    if (rank !== 2 && rank !== 3) {
      throw new MmclsError(`BatchNorm1d expects a 2-D or 3-D input, got ${rank}-D`, { code: 'model.shape' });
    }
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    // PyTorch's BatchNorm1d input is [N, C] or [N, C, L]: channels are axis 1 in both.
    return super.shapeOf(x, ctx);
  }
}

/** Options of {@link LayerNorm} (PyTorch's `nn.LayerNorm`). */
export interface LayerNormOptions {
  /**
   * Size of the normalised trailing dimension(s). Given by the layer that builds the norm from its
   * `norm_cfg`, so configs leave it out (`norm_cfg=dict(type='LN')`).
   * @injected
   */
  normalized_shape: number | number[];
  /** Added to the variance for numerical stability. @default 1e-05 */
  eps?: number;
  /** Whether to learn a scale and a shift. @default True */
  elementwise_affine?: boolean;
}

/** Layer normalisation over the trailing dimension(s) (`nn.LayerNorm`, config type `LN`). */
@MODELS.registerModule('LN')
export class LayerNorm extends Layer {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(options: LayerNormOptions) {
    super();
    this.normalizedShape = typeof options.normalized_shape === 'number' ? [options.normalized_shape] : [...options.normalized_shape];
    this.eps = options.eps ?? 1e-5;
    const affine = options.elementwise_affine ?? true;
    this.weight = this.registerParameter('weight', affine ? lazy(this.normalizedShape, () => tf.ones(this.normalizedShape)) : null);
    this.bias = this.registerParameter('bias', affine ? lazy(this.normalizedShape, () => tf.zeros(this.normalizedShape)) : null);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const k = this.normalizedShape.length;
    const axes = [...Array(k).keys()].map((i) => x.rank - k + i);
    const { mean, variance } = tf.moments(x, axes, true);
    const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
    if (!this.weight || !this.bias) return xn;
    return tf.add(tf.mul(xn, this.weight.variable), this.bias.variable);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    ctx.add('layer_norm', (this.weight ? 5 : 4) * shapeNumel(x), 0);
    return x;
  }
}

/** Options of {@link GroupNorm} (PyTorch's `nn.GroupNorm`). */
export interface GroupNormOptions {
  /** Number of groups the channels are divided into. */
  num_groups: number;
  /**
   * Number of channels. Given by the layer that builds the norm from its `norm_cfg`, so configs
   * leave it out (`norm_cfg=dict(type='GN', num_groups=32)`).
   * @injected
   */
  num_channels: number;
  /** Added to the variance for numerical stability. @default 1e-05 */
  eps?: number;
  /** Whether to learn a per-channel scale and shift. @default True */
  affine?: boolean;
}

/** Group normalisation (`nn.GroupNorm`, config type `GN`); channels last. */
@MODELS.registerModule('GN')
export class GroupNorm extends Layer {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(options: GroupNormOptions) {
    super();
    this.numGroups = options.num_groups;
    this.numChannels = options.num_channels;
    if (this.numChannels % this.numGroups !== 0) {
      throw new MmclsError(`GroupNorm: num_channels (${this.numChannels}) must be divisible by num_groups (${this.numGroups})`, {
        code: 'model.bad-argument',
      });
    }
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? lazy([this.numChannels], () => tf.ones([this.numChannels])) : null);
    this.bias = this.registerParameter('bias', affine ? lazy([this.numChannels], () => tf.zeros([this.numChannels])) : null);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const shape = x.shape;
    const n = shape[0];
    const g = this.numGroups;
    const c = this.numChannels;
    // [N, ..., C] -> [N, S, G, C/G]; statistics over S and C/G.
    const xg = tf.reshape(x, [n, -1, g, c / g]);
    const { mean, variance } = tf.moments(xg, [1, 3], true);
    let y = tf.reshape(tf.mul(tf.sub(xg, mean), tf.rsqrt(tf.add(variance, this.eps))), shape);
    if (this.weight && this.bias) y = tf.add(tf.mul(y, this.weight.variable), this.bias.variable);
    return y;
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    ctx.add('group_norm', (this.weight ? 5 : 4) * shapeNumel(x), 0);
    return x;
  }
}
