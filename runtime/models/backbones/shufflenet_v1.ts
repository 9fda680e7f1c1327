import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ConvModule, LayerCfg, buildActivationLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { GroupNorm, _BatchNorm } from '../../nn/norm';
import { AvgPool2d, MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { channelShuffle } from '../utils/channel_shuffle';
import { makeDivisible } from '../utils/make_divisible';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** Options of {@link ShuffleUnit}. */
export interface ShuffleUnitOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels (for 'concat', including the in_channels of the shortcut). */
  out_channels: number;
  /** Groups of the 1x1 convolutions. @default 3 */
  groups?: number;
  /** First unit of the network: its first 1x1 convolution is not grouped. @default True */
  first_block?: boolean;
  /** 'add' (stride 1, residual sum) or 'concat' (stride 2, average-pooled shortcut concatenated). @default 'add' */
  combine?: 'add' | 'concat';
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
}

/** ShuffleNetV1's unit: grouped 1x1 compress, channel shuffle, 3x3 depth-wise, grouped 1x1 expand. */
export class ShuffleUnit extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly combine: 'add' | 'concat';
  readonly bottleneckChannels: number;
  readonly avgpool: AvgPool2d | null = null;
  readonly gConv1x1Compress: ConvModule;
  readonly depthwiseConv3x3Bn: ConvModule;
  readonly gConv1x1Expand: ConvModule;
  readonly act: Layer;

  constructor(o: ShuffleUnitOptions) {
    super();
    this.inChannels = o.in_channels;
    this.groups = o.groups ?? 3;
    this.combine = o.combine ?? 'add';
    this.bottleneckChannels = Math.floor(o.out_channels / 4);
    let out = o.out_channels;
    let stride: number;
    if (this.combine === 'add') {
      stride = 1;
      if (o.in_channels !== o.out_channels) {
        throw new MmclsError(`in_channels (${o.in_channels}) must be equal to out_channels (${o.out_channels}) when combine is add`, {
          code: 'model.bad-argument',
        });
      }
    } else if (this.combine === 'concat') {
      stride = 2;
      out -= o.in_channels;
      this.avgpool = this.addModule('avgpool', new AvgPool2d({ kernel_size: 3, stride: 2, padding: 1 }));
    } else {
      throw new MmclsError(`Cannot combine tensors with ${JSON.stringify(this.combine)}. Only "add" and "concat" are supported`, {
        code: 'model.bad-argument',
      });
    }
    this.outChannels = out;
    const common = { conv_cfg: o.conv_cfg ?? null, norm_cfg: o.norm_cfg ?? { type: 'BN' } };
    const actCfg = o.act_cfg ?? { type: 'ReLU' };
    const b = this.bottleneckChannels;
    this.gConv1x1Compress = this.addModule(
      'g_conv_1x1_compress',
      new ConvModule({ in_channels: this.inChannels, out_channels: b, kernel_size: 1, groups: o.first_block ?? true ? 1 : this.groups, ...common, act_cfg: actCfg }),
    );
    this.depthwiseConv3x3Bn = this.addModule(
      'depthwise_conv3x3_bn',
      new ConvModule({ in_channels: b, out_channels: b, kernel_size: 3, stride, padding: 1, groups: b, ...common, act_cfg: null }),
    );
    this.gConv1x1Expand = this.addModule(
      'g_conv_1x1_expand',
      new ConvModule({ in_channels: b, out_channels: out, kernel_size: 1, groups: this.groups, ...common, act_cfg: null }),
    );
    this.act = this.addModule('act', buildActivationLayer(actCfg));
  }

  forward(x: tf.Tensor): tf.Tensor {
    let out = this.depthwiseConv3x3Bn.forward(this.gConv1x1Compress.forward(x));
    if (this.groups > 1) out = channelShuffle(out, this.groups);
    out = this.gConv1x1Expand.forward(out);
    if (this.combine === 'concat') {
      return tf.concat([this.avgpool!.forward(x), this.act.forward(out)], 3);
    }
    return this.act.forward(tf.add(x, out));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let out = this.depthwiseConv3x3Bn.inferShape(this.gConv1x1Compress.inferShape(x, ctx), ctx);
    out = this.gConv1x1Expand.inferShape(out, ctx);
    if (this.combine === 'concat') {
      const res = asShape(this.avgpool!.inferShape(x, ctx), 'ShuffleUnit');
      const o = asShape(this.act.inferShape(out, ctx), 'ShuffleUnit');
      return [o[0], res[1] + o[1], o[2], o[3]];
    }
    return this.act.inferShape(out, ctx);
  }
}

const STAGE_CHANNELS: Record<number, number[]> = {
  1: [144, 288, 576],
  2: [200, 400, 800],
  3: [240, 480, 960],
  4: [272, 544, 1088],
  8: [384, 768, 1536],
};

/** Options of {@link ShuffleNetV1}. */
export interface ShuffleNetV1Options {
  /** Groups of the 1x1 convolutions: 1, 2, 3, 4 or 8. @default 3 */
  groups?: 1 | 2 | 3 | 4 | 8;
  /** Width multiplier of the channels. @default 1.0 */
  widen_factor?: number;
  /** Stages whose output is returned (0-2). @default (2, ) */
  out_indices?: number[];
  /** Stages to freeze (the stem conv too when >= 0); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training. @default False */
  norm_eval?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** ShuffleNetV1 backbone (ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices). */
@MODELS.registerModule()
export class ShuffleNetV1 extends BaseBackbone {
  readonly groups: number;
  readonly stageBlocks = [4, 8, 4];
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly conv1: ConvModule;
  readonly maxpool: MaxPool2d;
  readonly layers: ModuleList<Sequential>;

  constructor(options: ShuffleNetV1Options = {}) {
    super(options.init_cfg ?? null);
    this.groups = options.groups ?? 3;
    this.outIndices = [...(options.out_indices ?? [2])];
    for (const i of this.outIndices) {
      if (!(Number.isInteger(i) && i >= 0 && i < 3)) {
        throw new MmclsError(`the item in out_indices must in range(0, 3). But received ${i}`, { code: 'model.bad-argument' });
      }
    }
    this.frozenStages = options.frozen_stages ?? -1;
    if (!(Number.isInteger(this.frozenStages) && this.frozenStages >= -1 && this.frozenStages < 3)) {
      throw new MmclsError(`frozen_stages must be in range(-1, 3). But received ${this.frozenStages}`, { code: 'model.bad-argument' });
    }
    this.normEval = options.norm_eval ?? false;
    const base = STAGE_CHANNELS[this.groups];
    if (!base) throw new MmclsError(`${this.groups} groups is not supported for 1x1 Grouped Convolutions (use 1, 2, 3, 4 or 8)`, { code: 'model.bad-argument' });
    const widen = options.widen_factor ?? 1.0;
    const channels = base.map((c) => makeDivisible(c * widen, 8));
    const common = { conv_cfg: options.conv_cfg ?? null, norm_cfg: options.norm_cfg ?? { type: 'BN' }, act_cfg: options.act_cfg ?? { type: 'ReLU' } };
    let inCh = Math.trunc(24 * widen);
    this.conv1 = this.addModule('conv1', new ConvModule({ in_channels: 3, out_channels: inCh, kernel_size: 3, stride: 2, padding: 1, ...common }));
    this.maxpool = this.addModule('maxpool', new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }));
    this.layers = this.addModule('layers', new ModuleList<Sequential>());
    this.stageBlocks.forEach((numBlocks, i) => {
      const units: Layer[] = [];
      for (let j = 0; j < numBlocks; j++) {
        units.push(
          new ShuffleUnit({
            in_channels: inCh,
            out_channels: channels[i],
            groups: this.groups,
            first_block: i === 0 && j === 0,
            combine: j === 0 ? 'concat' : 'add',
            ...common,
          }),
        );
        inCh = channels[i];
      }
      this.layers.push(new Sequential(...units));
    });
    this.freezeStages();
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) this.conv1.requiresGrad(false);
    for (let i = 0; i < this.frozenStages; i++) {
      const layer = this.layers.at(i);
      layer.eval();
      layer.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  /** MMCls's init: stem conv N(0, 0.01), other convs N(0, 1 / fan-in channels), norms 1 / 0 (see below), running means 0. */
  override initWeights(): void {
    const wasInit = this.isInit;
    super.initWeights();
    if (wasInit) return;
    if (this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained') return;
    tf.tidy(() => {
      for (const [name, m] of this.namedModules()) {
        if (m instanceof Conv2d) {
          const std = name.includes('conv1') ? 0.01 : 1.0 / m.weight.torchShape[1];
          m.weight.assign(tf.randomNormal(m.weight.shape, 0, std));
          if (m.bias) m.bias.assign(tf.zeros(m.bias.shape));
        } else if (m instanceof _BatchNorm || m instanceof GroupNorm) {
          // MMCls calls constant_init(m.weight, val=1, bias=0.0001) on the weight *tensor*, which has
          // no .weight/.bias attributes: nothing changes, the norm keeps weight 1 and bias 0.
          if (m.weight) m.weight.assign(tf.ones(m.weight.shape));
          if (m.bias) m.bias.assign(tf.zeros(m.bias.shape));
          if (m instanceof _BatchNorm && m.runningMean) m.runningMean.assign(tf.zeros(m.runningMean.shape));
        }
      }
    });
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.maxpool.forward(this.conv1.forward(x));
    const outs: Feat[] = [];
    for (let i = 0; i < this.layers.length; i++) {
      x = this.layers.at(i).forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'ShuffleNetV1');
    x = this.maxpool.inferShape(this.conv1.inferShape(x, ctx), ctx);
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.layers.length; i++) {
      x = shapeInList(this.layers, this.layers.at(i), x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }
}
