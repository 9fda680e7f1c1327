import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Linear } from '../../nn/conv';
import { Layer } from '../../nn/layer';
import { BatchNorm1d } from '../../nn/norm';
import { ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { Feat } from '../types';
import { ClsHead, ClsHeadOptions } from './cls_head';

/** BatchNorm1d then Linear (`BatchNormLinear`, keys `bn`, `linear`); `fuse()` folds the norm into the linear layer. */
export class BatchNormLinear extends Layer {
  readonly bn: BatchNorm1d;
  readonly linear: Linear;
  constructor(inChannels: number, outChannels: number) {
    super();
    this.bn = this.addModule('bn', new BatchNorm1d({ num_features: inChannels }));
    this.linear = this.addModule('linear', new Linear({ in_features: inChannels, out_features: outChannels }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.linear.forward(this.bn.forward(x));
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    return asShape(this.linear.inferShape(this.bn.inferShape(x, ctx), ctx));
  }
  /** The linear layer with the eval-mode batch norm folded in. */
  fuse(): Linear {
    const fused = new Linear({ in_features: this.linear.inFeatures, out_features: this.linear.outFeatures });
    // Never allocated (a head built in deploy mode): the fused layer keeps its own lazy initialisation.
    if (!this.linear.weight.materialized && !this.bn.runningVar?.materialized) return fused;
    tf.tidy(() => {
      const inv = tf.rsqrt(tf.add(this.bn.runningVar!.variable, this.bn.eps));
      const scale = tf.mul(inv, this.bn.weight!.variable);
      const shift = tf.sub(this.bn.bias!.variable, tf.mul(this.bn.runningMean!.variable, scale));
      const w = this.linear.weight.variable; // [in, out]
      fused.weight.assign(tf.mul(w, tf.reshape(scale, [-1, 1])));
      fused.bias!.assign(tf.add(tf.squeeze(tf.matMul(tf.reshape(shift, [1, -1]), w), [0]), this.linear.bias!.variable));
    });
    return fused;
  }
}

/** Options of {@link LeViTClsHead}. */
export interface LeViTClsHeadOptions extends ClsHeadOptions {
  /** Number of categories. @default 1000 */
  num_classes?: number;
  /** Whether a distillation head (`head_dist`) is averaged with the class head at inference. @default True */
  distillation?: boolean;
  /** Channels of the pooled feature. */
  in_channels: number;
  /** Fold the batch norms into the linear layers (deployment structure). @default False */
  deploy?: boolean;
}

/** LeViT classifier head: BatchNorm1d + Linear (`head`), and with distillation a second one (`head_dist`) averaged in at inference. */
@MODELS.registerModule()
export class LeViTClsHead extends ClsHead {
  readonly numClasses: number;
  readonly distillation: boolean;
  deploy = false;
  head: Layer;
  headDist: Layer | null;

  constructor(options: LeViTClsHeadOptions) {
    super(options);
    this.numClasses = options.num_classes ?? 1000;
    this.distillation = options.distillation ?? true;
    if (!(this.numClasses > 0)) throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    this.head = this.addModule('head', new BatchNormLinear(options.in_channels, this.numClasses));
    this.headDist = this.distillation ? this.addModule('head_dist', new BatchNormLinear(options.in_channels, this.numClasses)) : null;
    if (options.deploy) this.switchToDeploy();
  }

  /** Folds the batch norms into the linear layers (keys become `head.weight`, `head.bias`). */
  switchToDeploy(): void {
    if (this.deploy) return;
    if (this.head instanceof BatchNormLinear) this.head = this.addModule('head', this.head.fuse());
    if (this.headDist instanceof BatchNormLinear) this.headDist = this.addModule('head_dist', this.headDist.fuse());
    this.deploy = true;
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    const x = this.preLogits(feats);
    if (!this.headDist) return this.head.forward(x);
    if (this.training) {
      throw new MmclsError("MMClassification doesn't support training in distillation mode (set distillation=False to train LeViTClsHead).", { code: 'model.unsupported' });
    }
    return tf.div(tf.add(this.head.forward(x), this.headDist.forward(x)), 2);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const last = asShape(super.forwardShape(x, ctx));
    const out = this.head.inferShape(last, ctx);
    if (this.headDist) this.headDist.inferShape(last, ctx);
    return out;
  }
}
