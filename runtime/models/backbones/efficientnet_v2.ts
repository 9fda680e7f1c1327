import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { ConvModule, ConvModuleOptions, LayerCfg } from '../../nn/builders';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { Feat } from '../types';
import { InvertedResidual as MBConv } from '../utils/inverted_residual';
import { SELayerOptions } from '../utils/se_layer';
import { BaseBackbone } from './base_backbone';
import { EdgeResidual as FusedMBConv } from './efficientnet';

/** Options of {@link EnhancedConvModule}: those of ConvModule plus a shortcut. */
export interface EnhancedConvModuleOptions extends ConvModuleOptions {
  /** Add the input to the output (needs stride 1 and equal channels). @default False */
  has_skip?: boolean;
  /** Stochastic depth rate of the shortcut branch. @default 0 */
  drop_path_rate?: number;
}

/** ConvModule with a shortcut and stochastic depth (EfficientNetV2's first stage). */
export class EnhancedConvModule extends ConvModule {
  readonly hasSkip: boolean;
  readonly dropPath: Layer;

  constructor(o: EnhancedConvModuleOptions) {
    super(o);
    this.hasSkip = o.has_skip ?? false;
    const stride = o.stride ?? 1;
    const strided = typeof stride === 'number' ? stride !== 1 : stride[0] !== 1 || stride[1] !== 1;
    if (this.hasSkip && (o.in_channels !== o.out_channels || strided)) {
      throw new MmclsError(
        'the stride must be 1 and the `in_channels` and `out_channels` must be the same , when `has_skip` is True in `EnhancedConvModule` .',
        { code: 'model.bad-argument' },
      );
    }
    const dpr = o.drop_path_rate ?? 0;
    this.dropPath = this.addModule('drop_path', dpr ? new DropPath({ drop_prob: dpr }) : new Identity());
  }

  override forward(x: tf.Tensor): tf.Tensor {
    const y = super.forward(x);
    return this.hasSkip ? tf.add(this.dropPath.forward(y), x) : y;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const y = super.forwardShape(x, ctx);
    return this.hasSkip ? this.dropPath.inferShape(y, ctx) : y;
  }
}

/** One layer: [repeat, kernel_size, stride, expand_ratio, in_channels, out_channels, se_ratio, block_type (-2 ConvModule, -1 EnhancedConvModule, 0 FusedMBConv, 1 MBConv)]. */
type LayerSetting = [number, number, number, number, number, number, number, number];

const S: LayerSetting[] = [
  [2, 3, 1, 1, 24, 24, 0.0, -1], [4, 3, 2, 4, 24, 48, 0.0, 0], [4, 3, 2, 4, 48, 64, 0.0, 0], [6, 3, 2, 4, 64, 128, 0.25, 1],
  [9, 3, 1, 6, 128, 160, 0.25, 1], [15, 3, 2, 6, 160, 256, 0.25, 1], [1, 1, 1, 1, 256, 1280, 0.0, -2],
];
const M: LayerSetting[] = [
  [3, 3, 1, 1, 24, 24, 0.0, -1], [5, 3, 2, 4, 24, 48, 0.0, 0], [5, 3, 2, 4, 48, 80, 0.0, 0], [7, 3, 2, 4, 80, 160, 0.25, 1],
  [14, 3, 1, 6, 160, 176, 0.25, 1], [18, 3, 2, 6, 176, 304, 0.25, 1], [5, 3, 1, 6, 304, 512, 0.25, 1], [1, 1, 1, 1, 512, 1280, 0.0, -2],
];
const L: LayerSetting[] = [
  [4, 3, 1, 1, 32, 32, 0.0, -1], [7, 3, 2, 4, 32, 64, 0.0, 0], [7, 3, 2, 4, 64, 96, 0.0, 0], [10, 3, 2, 4, 96, 192, 0.25, 1],
  [19, 3, 1, 6, 192, 224, 0.25, 1], [25, 3, 2, 6, 224, 384, 0.25, 1], [7, 3, 1, 6, 384, 640, 0.25, 1], [1, 1, 1, 1, 640, 1280, 0.0, -2],
];

const ARCH_SETTINGS: Record<string, LayerSetting[]> = {
  small: S,
  s: S,
  m: M,
  medium: M,
  l: L,
  large: L,
  xl: [
    [4, 3, 1, 1, 32, 32, 0.0, -1], [8, 3, 2, 4, 32, 64, 0.0, 0], [8, 3, 2, 4, 64, 96, 0.0, 0], [16, 3, 2, 4, 96, 192, 0.25, 1],
    [24, 3, 1, 6, 192, 256, 0.25, 1], [32, 3, 2, 6, 256, 512, 0.25, 1], [8, 3, 1, 6, 512, 640, 0.25, 1], [1, 1, 1, 1, 640, 1280, 0.0, -2],
  ],
  b0: [
    [1, 3, 1, 1, 32, 16, 0.0, -1], [2, 3, 2, 4, 16, 32, 0.0, 0], [2, 3, 2, 4, 32, 48, 0.0, 0], [3, 3, 2, 4, 48, 96, 0.25, 1],
    [5, 3, 1, 6, 96, 112, 0.25, 1], [8, 3, 2, 6, 112, 192, 0.25, 1], [1, 1, 1, 1, 192, 1280, 0.0, -2],
  ],
  b1: [
    [2, 3, 1, 1, 32, 16, 0.0, -1], [3, 3, 2, 4, 16, 32, 0.0, 0], [3, 3, 2, 4, 32, 48, 0.0, 0], [4, 3, 2, 4, 48, 96, 0.25, 1],
    [6, 3, 1, 6, 96, 112, 0.25, 1], [9, 3, 2, 6, 112, 192, 0.25, 1], [1, 1, 1, 1, 192, 1280, 0.0, -2],
  ],
  b2: [
    [2, 3, 1, 1, 32, 16, 0.0, -1], [3, 3, 2, 4, 16, 32, 0.0, 0], [3, 3, 2, 4, 32, 56, 0.0, 0], [4, 3, 2, 4, 56, 104, 0.25, 1],
    [6, 3, 1, 6, 104, 120, 0.25, 1], [10, 3, 2, 6, 120, 208, 0.25, 1], [1, 1, 1, 1, 208, 1408, 0.0, -2],
  ],
  b3: [
    [2, 3, 1, 1, 40, 16, 0.0, -1], [3, 3, 2, 4, 16, 40, 0.0, 0], [3, 3, 2, 4, 40, 56, 0.0, 0], [5, 3, 2, 4, 56, 112, 0.25, 1],
    [7, 3, 1, 6, 112, 136, 0.25, 1], [12, 3, 2, 6, 136, 232, 0.25, 1], [1, 1, 1, 1, 232, 1536, 0.0, -2],
  ],
};

/** Options of {@link EfficientNetV2}. */
export interface EfficientNetV2Options {
  /** Architecture: 'b0' to 'b3', 's'/'small', 'm'/'medium', 'l'/'large' or 'xl'. @default 's' */
  arch?: 'b0' | 'b1' | 'b2' | 'b3' | 's' | 'small' | 'm' | 'medium' | 'l' | 'large' | 'xl';
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Stochastic depth rate (linearly increasing over the blocks). @default 0. */
  drop_path_rate?: number;
  /** Layers whose output is returned (0: stem conv, then the block layers, last: the final 1x1 conv; negative counts from the end). @default (-1, ) */
  out_indices?: number | number[];
  /** Number of leading layers to freeze (0: none). @default 0 */
  frozen_stages?: number;
  /** Convolution config of the stem, the final conv and the strided blocks (TensorFlow's "SAME" padding). @default dict(type='Conv2dAdaptivePadding') */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', eps=1e-3, momentum=0.1) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='Swish') */
  act_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training (frozen statistics). @default False */
  norm_eval?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer='Conv2d'), dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1)] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** EfficientNetV2 backbone (EfficientNetV2: Smaller Models and Faster Training). */
@MODELS.registerModule()
export class EfficientNetV2 extends BaseBackbone {
  readonly arch: LayerSetting[];
  readonly layers: ModuleList<Layer>;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  /** Channels of the last layer's output. */
  readonly outChannels: number;

  constructor(options: EfficientNetV2Options = {}) {
    super(
      options.init_cfg === undefined
        ? [{ type: 'Kaiming', layer: 'Conv2d' }, { type: 'Constant', layer: ['_BatchNorm', 'GroupNorm'], val: 1 }]
        : options.init_cfg,
    );
    const archName = options.arch ?? 's';
    const arch = ARCH_SETTINGS[archName];
    if (!arch) {
      throw new MmclsError(`"${archName}" is not one of the arch_settings (${Object.keys(ARCH_SETTINGS).join(', ')})`, { code: 'model.bad-argument' });
    }
    this.arch = arch;
    const frozen = options.frozen_stages ?? 0;
    if (!(Number.isInteger(frozen) && frozen >= 0 && frozen <= arch.length)) {
      throw new MmclsError(`frozen_stages must be in range(0, ${arch.length}), but get ${frozen}`, { code: 'model.bad-argument' });
    }
    this.frozenStages = frozen;
    this.normEval = options.norm_eval ?? false;
    const convCfg = options.conv_cfg === undefined ? { type: 'Conv2dAdaptivePadding' } : options.conv_cfg;
    const normCfg = options.norm_cfg ?? { type: 'BN', eps: 1e-3, momentum: 0.1 };
    const actCfg = options.act_cfg ?? { type: 'Swish' };
    const last = arch[arch.length - 1];
    this.outChannels = last[5];

    this.layers = this.addModule('layers', new ModuleList<Layer>());
    this.layers.push(
      new ConvModule({ in_channels: options.in_channels ?? 3, out_channels: arch[0][4], kernel_size: 3, stride: 2, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg }),
    );
    let inChannels = arch[0][4];
    const layerSetting = arch.slice(0, -1);
    const total = layerSetting.reduce((s, l) => s + l[0], 0);
    const rate = options.drop_path_rate ?? 0;
    const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
    let blockIdx = 0;
    for (const [repeat, kernelSize, stride0, expandRatio, , outChannels, seRatio, blockType] of layerSetting) {
      const blocks: Layer[] = [];
      for (let i = 0; i < repeat; i++) {
        const stride = i === 0 ? stride0 : 1;
        if (blockType === -1) {
          const hasSkip = stride === 1 && inChannels === outChannels;
          blocks.push(
            new EnhancedConvModule({
              in_channels: inChannels,
              out_channels: outChannels,
              kernel_size: kernelSize,
              has_skip: hasSkip,
              drop_path_rate: hasSkip ? dpr[blockIdx] : 0,
              stride,
              padding: 1,
              conv_cfg: null,
              norm_cfg: normCfg,
              act_cfg: actCfg,
            }),
          );
        } else {
          const midChannels = Math.trunc(inChannels * expandRatio);
          const seCfg: SELayerOptions | null =
            blockType !== 0 && seRatio > 0
              ? { channels: midChannels, ratio: expandRatio * (1.0 / seRatio), divisor: 1, act_cfg: [actCfg, { type: 'Sigmoid' }] }
              : null;
          const common = {
            in_channels: inChannels,
            out_channels: outChannels,
            mid_channels: midChannels,
            kernel_size: kernelSize,
            stride,
            se_cfg: seCfg,
            conv_cfg: stride === 2 ? convCfg : null,
            norm_cfg: normCfg,
            act_cfg: actCfg,
            drop_path_rate: dpr[blockIdx],
            with_cp: options.with_cp ?? false,
          };
          blocks.push(blockType === 0 ? new FusedMBConv(common) : new MBConv(common));
        }
        inChannels = outChannels;
        blockIdx++;
      }
      this.layers.push(new Sequential(...blocks));
    }
    this.layers.push(
      new ConvModule({ in_channels: inChannels, out_channels: this.outChannels, kernel_size: last[1], stride: last[2], conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg }),
    );

    const oi = options.out_indices ?? [-1];
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const j = i < 0 ? this.layers.length + i : i;
      if (!(Number.isInteger(j) && j >= 0 && j < this.layers.length)) throw new MmclsError(`Invalid out_indices ${i}.`, { code: 'model.bad-argument' });
      return j;
    });
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages; i++) {
      const m = this.layers.at(i);
      m.eval();
      m.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    this.layers.toArray().forEach((layer, i) => {
      x = layer.forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'EfficientNetV2');
    const outs: ShapeValue[] = [];
    ctx.enter(this.layers);
    try {
      this.layers.toArray().forEach((layer, i) => {
        x = layer.inferShape(x, ctx);
        if (this.outIndices.includes(i)) outs.push(x);
      });
    } finally {
      ctx.exit(this.layers);
    }
    return outs;
  }
}
