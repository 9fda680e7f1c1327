import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { Layer, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { Feat } from '../types';
import { makeDivisible } from '../utils/make_divisible';
import { BaseBackbone } from './base_backbone';

/** MobileNetV2's inverted residual block: 1x1 expand, 3x3 depth-wise, 1x1 project. */
export class InvertedResidual extends Layer {
  readonly useResConnect: boolean;
  readonly conv: Sequential;

  constructor(o: { in_channels: number; out_channels: number; stride: number; expand_ratio: number; conv_cfg?: LayerCfg | null; norm_cfg?: LayerCfg; act_cfg?: LayerCfg }) {
    super();
    if (o.stride !== 1 && o.stride !== 2) throw new MmclsError(`stride must in [1, 2]. But received ${o.stride}.`, { code: 'model.bad-argument' });
    const hidden = Math.round(o.in_channels * o.expand_ratio);
    this.useResConnect = o.stride === 1 && o.in_channels === o.out_channels;
    const common = { conv_cfg: o.conv_cfg, norm_cfg: o.norm_cfg ?? { type: 'BN' } };
    const act = o.act_cfg ?? { type: 'ReLU6' };
    const layers: Layer[] = [];
    if (o.expand_ratio !== 1) layers.push(new ConvModule({ in_channels: o.in_channels, out_channels: hidden, kernel_size: 1, ...common, act_cfg: act }));
    layers.push(new ConvModule({ in_channels: hidden, out_channels: hidden, kernel_size: 3, stride: o.stride, padding: 1, groups: hidden, ...common, act_cfg: act }));
    layers.push(new ConvModule({ in_channels: hidden, out_channels: o.out_channels, kernel_size: 1, ...common, act_cfg: null }));
    this.conv = this.addModule('conv', new Sequential(...layers));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.conv.forward(x);
    return this.useResConnect ? tf.add(x, y) : y;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.conv.inferShape(x, ctx);
  }
}

/** Options of {@link MobileNetV2}. */
export interface MobileNetV2Options {
  /** Width multiplier of the channels. @default 1.0 */
  widen_factor?: number;
  /** Stages whose output is returned (0-7; 7 is the final 1x1 conv). @default (7, ) */
  out_indices?: number[];
  /** Stages to freeze; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU6') */
  act_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training. @default False */
  norm_eval?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

const ARCH: [number, number, number, number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** MobileNetV2 backbone (MobileNetV2: Inverted Residuals and Linear Bottlenecks). */
@MODELS.registerModule()
export class MobileNetV2 extends BaseBackbone {
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly conv1: ConvModule;
  readonly layerNames_: string[] = [];
  readonly outChannel: number;

  constructor(options: MobileNetV2Options = {}) {
    super(options.init_cfg === undefined ? [{ type: 'Kaiming', layer: ['Conv2d'] }, { type: 'Constant', val: 1, layer: ['_BatchNorm', 'GroupNorm'] }] : options.init_cfg);
    const widen = options.widen_factor ?? 1.0;
    this.outIndices = [...(options.out_indices ?? [7])];
    for (const i of this.outIndices) {
      if (!(i >= 0 && i < 8)) throw new MmclsError(`the item in out_indices must in range(0, 8). But received ${i}`, { code: 'model.bad-argument' });
    }
    this.frozenStages = options.frozen_stages ?? -1;
    if (!(this.frozenStages >= -1 && this.frozenStages < 8)) {
      throw new MmclsError(`frozen_stages must be in range(-1, 8). But received ${this.frozenStages}`, { code: 'model.bad-argument' });
    }
    this.normEval = options.norm_eval ?? false;
    const common = { conv_cfg: options.conv_cfg ?? null, norm_cfg: options.norm_cfg ?? { type: 'BN' }, act_cfg: options.act_cfg ?? { type: 'ReLU6' } };
    let inCh = makeDivisible(32 * widen, 8);
    this.conv1 = this.addModule('conv1', new ConvModule({ in_channels: 3, out_channels: inCh, kernel_size: 3, stride: 2, padding: 1, ...common }));
    ARCH.forEach(([expand, channel, numBlocks, stride], i) => {
      const outCh = makeDivisible(channel * widen, 8);
      const blocks: Layer[] = [];
      for (let j = 0; j < numBlocks; j++) {
        blocks.push(new InvertedResidual({ in_channels: inCh, out_channels: outCh, stride: j === 0 ? stride : 1, expand_ratio: expand, ...common }));
        inCh = outCh;
      }
      const name = `layer${i + 1}`;
      this.addModule(name, new Sequential(...blocks));
      this.layerNames_.push(name);
    });
    this.outChannel = widen > 1.0 ? Math.trunc(1280 * widen) : 1280;
    this.addModule('conv2', new ConvModule({ in_channels: inCh, out_channels: this.outChannel, kernel_size: 1, stride: 1, padding: 0, ...common }));
    this.layerNames_.push('conv2');
    this.freezeStages();
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) this.conv1.requiresGrad(false);
    for (let i = 1; i <= this.frozenStages; i++) {
      const m = this.getChild(`layer${i}`);
      if (m) {
        m.eval();
        m.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.conv1.forward(x);
    const outs: Feat[] = [];
    this.layerNames_.forEach((name, i) => {
      x = (this.getChild(name) as Layer).forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    x = this.conv1.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    this.layerNames_.forEach((name, i) => {
      x = (this.getChild(name) as Layer).inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }
}
