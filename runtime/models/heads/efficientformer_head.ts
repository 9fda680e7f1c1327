import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Linear } from '../../nn/conv';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { ClsDataSample } from '../../structures';
import { Feat } from '../types';
import { ClsHead, ClsHeadOptions } from './cls_head';

/** Options of {@link EfficientFormerClsHead}. */
export interface EfficientFormerClsHeadOptions extends ClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Number of channels of the input feature. */
  in_channels: number;
  /** Whether to use the additional distillation head (`dist_head`); its scores are averaged with `head`'s. @default True */
  distillation?: boolean;
  /** Initialisation config. @default dict(type='Normal', layer='Linear', std=0.01) */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * EfficientFormer classifier head: a linear layer `head` on the last feature and, with `distillation`,
 * a second one `dist_head`; the score is the mean of the two. Training the distilled version is not
 * supported (as in MMCls: `loss` throws).
 */
@MODELS.registerModule()
export class EfficientFormerClsHead extends ClsHead {
  readonly numClasses: number;
  readonly inChannels: number;
  readonly dist: boolean;
  readonly head: Linear;
  readonly distHead: Linear | null;

  constructor(options: EfficientFormerClsHeadOptions) {
    super({ ...options, init_cfg: options.init_cfg === undefined ? { type: 'Normal', layer: 'Linear', std: 0.01 } : options.init_cfg });
    this.numClasses = options.num_classes;
    this.inChannels = options.in_channels;
    this.dist = options.distillation ?? true;
    if (!(this.numClasses > 0)) {
      throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    }
    this.head = this.addModule('head', new Linear({ in_features: this.inChannels, out_features: this.numClasses }));
    this.distHead = this.dist ? this.addModule('dist_head', new Linear({ in_features: this.inChannels, out_features: this.numClasses })) : null;
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const x = this.preLogits(feats);
      const s = this.head.forward(x);
      return this.distHead ? tf.div(tf.add(s, this.distHead.forward(x)), 2) : s;
    });
  }

  override loss(feats: Feat[] | tf.Tensor, dataSamples: ClsDataSample[]): Record<string, tf.Tensor> {
    if (this.dist) {
      throw new MmclsError("MMClassification doesn't support to train the distilled version EfficientFormer. Set the head's distillation=False to train it.", {
        code: 'model.unsupported',
      });
    }
    return super.loss(feats, dataSamples);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const pre = super.forwardShape(x, ctx);
    const out = this.head.inferShape(pre, ctx);
    if (this.distHead) this.distHead.inferShape(pre, ctx);
    return out;
  }
}
