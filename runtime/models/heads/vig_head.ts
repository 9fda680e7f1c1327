import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout, GELU } from '../../nn/activation';
import { LayerCfg, buildActivationLayer } from '../../nn/builders';
import { Linear } from '../../nn/conv';
import { Layer } from '../../nn/layer';
import { BatchNorm1d } from '../../nn/norm';
import { ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { Feat, asTensor } from '../types';
import { ClsHead, ClsHeadOptions, lastFeat } from './cls_head';

/** Options of {@link VigClsHead}. */
export interface VigClsHeadOptions extends ClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Channels of the pooled feature. */
  in_channels: number;
  /** Channels of the hidden layer. @default 1024 */
  hidden_dim?: number;
  /** Activation after the hidden layer. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Dropout rate before the last layer. @default 0. */
  dropout?: number;
}

/** Vision GNN classifier head: fc1, BatchNorm1d, activation, dropout, fc2 on the last (pooled) feature. */
@MODELS.registerModule()
export class VigClsHead extends ClsHead {
  readonly numClasses: number;
  readonly inChannels: number;
  readonly hiddenDim: number;
  readonly fc1: Linear;
  readonly bn: BatchNorm1d;
  readonly act: Layer;
  readonly drop: Dropout;
  readonly fc2: Linear;

  constructor(options: VigClsHeadOptions) {
    super(options);
    this.numClasses = options.num_classes;
    this.inChannels = options.in_channels;
    this.hiddenDim = options.hidden_dim ?? 1024;
    if (!(this.numClasses > 0)) throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    this.fc1 = this.addModule('fc1', new Linear({ in_features: this.inChannels, out_features: this.hiddenDim }));
    this.bn = this.addModule('bn', new BatchNorm1d({ num_features: this.hiddenDim }));
    this.act = this.addModule('act', options.act_cfg ? buildActivationLayer(options.act_cfg) : new GELU());
    this.drop = this.addModule('drop', new Dropout({ p: options.dropout ?? 0 }));
    this.fc2 = this.addModule('fc2', new Linear({ in_features: this.hiddenDim, out_features: this.numClasses }));
  }

  override preLogits(feats: Feat[] | tf.Tensor): tf.Tensor {
    const x = asTensor(lastFeat(feats, this.typeName), this.typeName);
    return this.drop.forward(this.act.forward(this.bn.forward(this.fc1.forward(x))));
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return this.fc2.forward(this.preLogits(feats));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = super.forwardShape(x, ctx);
    for (const l of [this.fc1, this.bn, this.act, this.drop, this.fc2]) y = l.inferShape(asShape(y), ctx);
    return y;
  }
}
