import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { BatchNorm2d, _BatchNorm } from '../../nn/norm';
import { MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { channelShuffle } from '../utils/channel_shuffle';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** Options of {@link ShuffleNetV2InvertedResidual}. */
export interface ShuffleNetV2InvertedResidualOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels (half from each branch). */
  out_channels: number;
  /** Stride of the depth-wise convolutions. @default 1 */
  stride?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
}

/**
 * ShuffleNetV2's unit (MMCls's `InvertedResidual` in shufflenet_v2.py). Stride 1: the channels are
 * split in two, the second half goes through 1x1-dw3x3-1x1 (`branch2`) and is concatenated after
 * the first; stride 2: both `branch1` (dw3x3-1x1) and `branch2` see the whole input. The result is
 * channel-shuffled with 2 groups.
 */
export class ShuffleNetV2InvertedResidual extends Layer {
  readonly stride: number;
  readonly branch1: Sequential | null = null;
  readonly branch2: Sequential;

  constructor(o: ShuffleNetV2InvertedResidualOptions) {
    super();
    this.stride = o.stride ?? 1;
    const branchFeatures = Math.floor(o.out_channels / 2);
    if (this.stride === 1 && o.in_channels !== branchFeatures * 2) {
      throw new MmclsError(`in_channels (${o.in_channels}) should equal to branch_features * 2 (${branchFeatures * 2}) when stride is 1`, { code: 'model.bad-argument' });
    }
    const common = { conv_cfg: o.conv_cfg ?? null, norm_cfg: o.norm_cfg ?? { type: 'BN' } };
    const act = o.act_cfg ?? { type: 'ReLU' };
    if (this.stride > 1) {
      this.branch1 = this.addModule(
        'branch1',
        new Sequential(
          new ConvModule({ in_channels: o.in_channels, out_channels: o.in_channels, kernel_size: 3, stride: this.stride, padding: 1, groups: o.in_channels, ...common, act_cfg: null }),
          new ConvModule({ in_channels: o.in_channels, out_channels: branchFeatures, kernel_size: 1, stride: 1, padding: 0, ...common, act_cfg: act }),
        ),
      );
    }
    this.branch2 = this.addModule(
      'branch2',
      new Sequential(
        new ConvModule({ in_channels: this.stride > 1 ? o.in_channels : branchFeatures, out_channels: branchFeatures, kernel_size: 1, stride: 1, padding: 0, ...common, act_cfg: act }),
        new ConvModule({ in_channels: branchFeatures, out_channels: branchFeatures, kernel_size: 3, stride: this.stride, padding: 1, groups: branchFeatures, ...common, act_cfg: null }),
        new ConvModule({ in_channels: branchFeatures, out_channels: branchFeatures, kernel_size: 1, stride: 1, padding: 0, ...common, act_cfg: act }),
      ),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    let out: tf.Tensor;
    if (this.branch1) {
      out = tf.concat([this.branch1.forward(x), this.branch2.forward(x)], 3);
    } else {
      const channels = x.shape[3]!;
      const c = Math.floor(channels / 2) + (channels % 2);
      const [x1, x2] = tf.split(x, [c, channels - c], 3);
      out = tf.concat([x1, this.branch2.forward(x2)], 3);
    }
    return channelShuffle(out, 2);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = asShape(x, 'ShuffleNetV2 InvertedResidual');
    if (this.branch1) {
      const a = asShape(this.branch1.inferShape(s, ctx), 'branch1');
      const b = asShape(this.branch2.inferShape(s, ctx), 'branch2');
      return [a[0], a[1] + b[1], a[2], a[3]];
    }
    const c = Math.floor(s[1] / 2) + (s[1] % 2);
    const b = asShape(this.branch2.inferShape([s[0], s[1] - c, s[2], s[3]], ctx), 'branch2');
    return [b[0], c + b[1], b[2], b[3]];
  }
}

const STAGE_CHANNELS: Record<string, number[]> = {
  '0.5': [48, 96, 192, 1024],
  '1': [116, 232, 464, 1024],
  '1.5': [176, 352, 704, 1024],
  '2': [244, 488, 976, 2048],
};

/** Options of {@link ShuffleNetV2}. */
export interface ShuffleNetV2Options {
  /** Width multiplier: 0.5, 1.0, 1.5 or 2.0. @default 1.0 */
  widen_factor?: 0.5 | 1.0 | 1.5 | 2.0;
  /** Stages whose output is returned (0-2 the shuffle stages, 3 the final 1x1 conv). @default (3, ) */
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

/** ShuffleNetV2 backbone (ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design). */
@MODELS.registerModule()
export class ShuffleNetV2 extends BaseBackbone {
  readonly stageBlocks = [4, 8, 4];
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly conv1: ConvModule;
  readonly maxpool: MaxPool2d;
  readonly layers: ModuleList<Layer>;

  constructor(options: ShuffleNetV2Options = {}) {
    super(options.init_cfg ?? null);
    const outIndices = options.out_indices ?? [3];
    for (const i of outIndices) {
      if (!(Number.isInteger(i) && i >= 0 && i < 4)) {
        throw new MmclsError(`the item in out_indices must in range(0, 4). But received ${i}`, { code: 'model.bad-argument' });
      }
    }
    this.outIndices = [...outIndices];
    this.frozenStages = options.frozen_stages ?? -1;
    if (!(Number.isInteger(this.frozenStages) && this.frozenStages >= -1 && this.frozenStages < 4)) {
      throw new MmclsError(`frozen_stages must be in range(-1, 4). But received ${this.frozenStages}`, { code: 'model.bad-argument' });
    }
    this.normEval = options.norm_eval ?? false;
    const widen = options.widen_factor ?? 1.0;
    const channels = STAGE_CHANNELS[String(widen)];
    if (!channels) {
      throw new MmclsError(`widen_factor must be in [0.5, 1.0, 1.5, 2.0]. But received ${widen}`, { code: 'model.bad-argument' });
    }
    const common = { conv_cfg: options.conv_cfg ?? null, norm_cfg: options.norm_cfg ?? { type: 'BN' }, act_cfg: options.act_cfg ?? { type: 'ReLU' } };
    let inChannels = 24;
    this.conv1 = this.addModule('conv1', new ConvModule({ in_channels: 3, out_channels: inChannels, kernel_size: 3, stride: 2, padding: 1, ...common }));
    this.maxpool = this.addModule('maxpool', new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }));
    this.layers = this.addModule('layers', new ModuleList<Layer>());
    this.stageBlocks.forEach((numBlocks, i) => {
      const units: Layer[] = [];
      for (let j = 0; j < numBlocks; j++) {
        units.push(new ShuffleNetV2InvertedResidual({ in_channels: inChannels, out_channels: channels[i], stride: j === 0 ? 2 : 1, ...common, with_cp: options.with_cp }));
        inChannels = channels[i];
      }
      this.layers.push(new Sequential(...units));
    });
    this.layers.push(new ConvModule({ in_channels: inChannels, out_channels: channels[3], kernel_size: 1, ...common }));
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) this.conv1.requiresGrad(false);
    for (let i = 0; i < this.frozenStages; i++) {
      const m = this.layers.at(i);
      m.eval();
      m.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    super.train(mode);
    this.freezeStages();
    if (mode && this.normEval) {
      this.apply((m) => {
        if (m instanceof BatchNorm2d) m.training = false;
      });
    }
    return this;
  }

  /**
   * MMCls's init: the stem conv N(0, 0.01), other convs N(0, 1 / weight.shape[1]) with zero bias,
   * running means of batch norms 0. (MMCls also calls `constant_init(m.weight, val=1, bias=0.0001)`
   * on the norms, which, given a tensor rather than a module, changes nothing: their weight and bias
   * stay as built, 1 and 0.)
   */
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
        } else if (m instanceof _BatchNorm && m.runningMean) {
          m.runningMean.assign(tf.zeros(m.runningMean.shape));
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
    asShape(x, 'ShuffleNetV2');
    x = this.maxpool.inferShape(this.conv1.inferShape(x, ctx), ctx);
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.layers.length; i++) {
      x = shapeInList(this.layers, this.layers.at(i), x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }
}
