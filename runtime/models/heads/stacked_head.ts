import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Linear } from '../../nn/conv';
import { Layer, ModuleList } from '../../nn/layer';
import { ShapeContext, ShapeValue } from '../../nn/module';
import { Feat } from '../types';
import { ClsHead, ClsHeadOptions } from './cls_head';

/** fc, then optional norm, activation and dropout (MMCls's LinearBlock). */
export class LinearBlock extends Layer {
  readonly fc: Linear;
  readonly norm: Layer | null;
  readonly act: Layer | null;
  readonly dropout: Layer | null;

  constructor(inChannels: number, outChannels: number, dropoutRate = 0, normCfg: LayerCfg | null = null, actCfg: LayerCfg | null = null) {
    super();
    this.fc = this.addModule('fc', new Linear({ in_features: inChannels, out_features: outChannels }));
    this.norm = normCfg ? this.addModule('norm', buildNormLayer(normCfg, outChannels)[1]) : null;
    this.act = actCfg ? this.addModule('act', buildActivationLayer(actCfg)) : null;
    this.dropout = dropoutRate > 0 ? this.addModule('dropout', new Dropout({ p: dropoutRate })) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = this.fc.forward(x);
    if (this.norm) x = this.norm.forward(x);
    if (this.act) x = this.act.forward(x);
    if (this.dropout) x = this.dropout.forward(x);
    return x;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    x = this.fc.inferShape(x, ctx);
    if (this.norm) x = this.norm.inferShape(x, ctx);
    return x;
  }
}

/** Options of {@link StackedLinearClsHead}. */
export interface StackedLinearClsHeadOptions extends ClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Channels of the input feature. */
  in_channels: number;
  /** Output channels of the hidden linear blocks. */
  mid_channels: number[];
  /** Dropout after each hidden block. @default 0.0 */
  dropout_rate?: number;
  /** Norm of the hidden blocks (e.g. dict(type='BN1d')). @default None */
  norm_cfg?: LayerCfg | null;
  /** Activation of the hidden blocks. @default dict(type='ReLU') */
  act_cfg?: LayerCfg | null;
}

/** Classifier head of stacked linear blocks (`layers.0`, `layers.1`, ..., the last one without norm/act). */
@MODELS.registerModule()
export class StackedLinearClsHead extends ClsHead {
  readonly numClasses: number;
  readonly inChannels: number;
  readonly layers: ModuleList<LinearBlock>;

  constructor(options: StackedLinearClsHeadOptions) {
    super(options);
    this.numClasses = options.num_classes;
    this.inChannels = options.in_channels;
    if (!(this.numClasses > 0)) throw new MmclsError(`num_classes=${this.numClasses} must be a positive integer`, { code: 'model.bad-argument' });
    if (!Array.isArray(options.mid_channels)) {
      throw new MmclsError(`mid_channels should be a sequence, instead of ${JSON.stringify(options.mid_channels)}`, { code: 'model.bad-argument' });
    }
    const act = options.act_cfg === undefined ? { type: 'ReLU' } : options.act_cfg;
    this.layers = this.addModule('layers', new ModuleList<LinearBlock>());
    let inCh = this.inChannels;
    for (const mid of options.mid_channels) {
      this.layers.push(new LinearBlock(inCh, mid, options.dropout_rate ?? 0, options.norm_cfg ?? null, act));
      inCh = mid;
    }
    this.layers.push(new LinearBlock(inCh, this.numClasses, 0, null, null));
  }

  override preLogits(feats: Feat[] | tf.Tensor): tf.Tensor {
    let x = super.preLogits(feats);
    const blocks = this.layers.toArray();
    for (const b of blocks.slice(0, -1)) x = b.forward(x);
    return x;
  }

  override forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return this.layers.at(-1).forward(this.preLogits(feats));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = super.forwardShape(x, ctx);
    for (const b of this.layers) y = b.inferShape(y, ctx);
    return y;
  }
}
