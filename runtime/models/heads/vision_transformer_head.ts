import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { LayerCfg, buildActivationLayer } from '../../nn/builders';
import { Linear } from '../../nn/conv';
import { initParameter } from '../../nn/init';
import { Layer, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { Feat, asTensor } from '../types';
import { ClsHead, ClsHeadOptions, lastFeat } from './cls_head';

/** Options of {@link VisionTransformerClsHead}. */
export interface VisionTransformerClsHeadOptions extends ClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Channels of the class token. */
  in_channels: number;
  /** Hidden layer size of the pre-logits layer (None: no hidden layer). @default None */
  hidden_dim?: number | null;
  /** Activation after the hidden layer. @default dict(type='Tanh') */
  act_cfg?: LayerCfg;
  /** Initialisation config. @default dict(type='Constant', layer='Linear', val=0) */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Vision Transformer classifier head on the class token (`layers.pre_logits`, `layers.act`, `layers.head`). */
@MODELS.registerModule()
export class VisionTransformerClsHead extends ClsHead {
  readonly numClasses: number;
  readonly inChannels: number;
  readonly hiddenDim: number | null;
  readonly layers: Sequential;

  constructor(options: VisionTransformerClsHeadOptions) {
    super({ ...options, init_cfg: options.init_cfg === undefined ? { type: 'Constant', layer: 'Linear', val: 0 } : options.init_cfg });
    this.numClasses = options.num_classes;
    this.inChannels = options.in_channels;
    this.hiddenDim = options.hidden_dim ?? null;
    if (!(this.numClasses > 0)) throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    const layers: [string, Layer][] = this.hiddenDim === null
      ? [['head', new Linear({ in_features: this.inChannels, out_features: this.numClasses })]]
      : [
          ['pre_logits', new Linear({ in_features: this.inChannels, out_features: this.hiddenDim })],
          ['act', buildActivationLayer(options.act_cfg ?? { type: 'Tanh' })],
          ['head', new Linear({ in_features: this.hiddenDim, out_features: this.numClasses })],
        ];
    this.layers = this.addModule('layers', new Sequential(...layers));
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was || this.hiddenDim === null) return;
    const pre = this.layers.getChild('pre_logits') as Linear;
    initParameter(pre.weight, { type: 'TruncNormal', std: Math.sqrt(1 / pre.inFeatures) });
    if (pre.bias) initParameter(pre.bias, { type: 'Constant', val: 0 });
  }

  /** The class token (through the hidden layer and activation when hidden_dim is set). */
  override preLogits(feats: Feat[] | tf.Tensor): tf.Tensor {
    const feat = lastFeat(feats, this.typeName);
    // MMCls 1.0.0rc: [patch_token, cls_token]; newer out_type='cls_token': the token itself.
    const cls = Array.isArray(feat) ? asTensor(feat[feat.length - 1], this.typeName) : asTensor(feat, this.typeName);
    if (this.hiddenDim === null) return cls;
    return (this.layers.getChild('act') as Layer).forward((this.layers.getChild('pre_logits') as Layer).forward(cls));
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return (this.layers.getChild('head') as Layer).forward(this.preLogits(feats));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let last = super.forwardShape(x, ctx) as ShapeValue[];
    if (Array.isArray(last) && Array.isArray(last[0])) last = last[last.length - 1] as ShapeValue[];
    return this.layers.inferShape(last as ShapeValue, ctx);
  }
}

/** Options of {@link DeiTClsHead} (VisionTransformerClsHead's). */
export interface DeiTClsHeadOptions extends VisionTransformerClsHeadOptions {}

/** DeiT head: averages the class-token head and the distillation-token head (`head_dist`) at inference. */
@MODELS.registerModule()
export class DeiTClsHead extends VisionTransformerClsHead {
  readonly headDist: Linear;

  constructor(options: DeiTClsHeadOptions) {
    super(options);
    this.headDist = this.addModule('head_dist', new Linear({ in_features: this.inChannels, out_features: this.numClasses }));
  }

  /** [cls_token, dist_token] (through the hidden layer when hidden_dim is set). */
  preLogitsPair(feats: Feat[] | tf.Tensor): [tf.Tensor, tf.Tensor] {
    const feat = lastFeat(feats, this.typeName);
    if (!Array.isArray(feat) || feat.length < 3) {
      throw new MmclsError('DeiTClsHead expects [patch_token, cls_token, dist_token] from DistilledVisionTransformer', { code: 'model.shape' });
    }
    let cls = asTensor(feat[1], this.typeName);
    let dist = asTensor(feat[2], this.typeName);
    if (this.hiddenDim !== null) {
      const pre = this.layers.getChild('pre_logits') as Layer;
      const act = this.layers.getChild('act') as Layer;
      cls = act.forward(pre.forward(cls));
      dist = act.forward(pre.forward(dist));
    }
    return [cls, dist];
  }

  override preLogits(feats: Feat[] | tf.Tensor): tf.Tensor {
    return this.preLogitsPair(feats)[0];
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    if (this.training) {
      throw new MmclsError("MMClassification doesn't support to train the distilled version DeiTClsHead.", { code: 'model.unsupported' });
    }
    const [cls, dist] = this.preLogitsPair(feats);
    return tf.div(tf.add((this.layers.getChild('head') as Layer).forward(cls), this.headDist.forward(dist)), 2);
  }
}
