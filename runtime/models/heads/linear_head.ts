import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Linear } from '../../nn/conv';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { Feat } from '../types';
import { ClsHead, ClsHeadOptions } from './cls_head';

/** Options of {@link LinearClsHead}. */
export interface LinearClsHeadOptions extends ClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Number of channels of the input feature. */
  in_channels: number;
  /** Initialisation config. @default dict(type='Normal', layer='Linear', std=0.01) */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Linear classifier head: one fully connected layer `fc` on the last feature. */
@MODELS.registerModule()
export class LinearClsHead extends ClsHead {
  readonly numClasses: number;
  readonly inChannels: number;
  readonly fc: Linear;

  constructor(options: LinearClsHeadOptions) {
    super({ ...options, init_cfg: options.init_cfg === undefined ? { type: 'Normal', layer: 'Linear', std: 0.01 } : options.init_cfg });
    this.numClasses = options.num_classes;
    this.inChannels = options.in_channels;
    if (!(this.numClasses > 0)) {
      throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    }
    this.fc = this.addModule('fc', new Linear({ in_features: this.inChannels, out_features: this.numClasses }));
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return this.fc.forward(this.preLogits(feats));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.fc.inferShape(super.forwardShape(x, ctx), ctx);
  }
}
