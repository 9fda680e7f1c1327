import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { Layer } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { Feat } from '../types';
import { InvertedResidual } from '../utils/inverted_residual';
import { BaseBackbone } from './base_backbone';

/** One block of a MobileNetV3 arch: [kernel size, mid channels, out channels, with SE, activation, stride]. */
export type MobileNetV3BlockSetting = [number, number, number, boolean, 'ReLU' | 'HSwish', number];

/** The preset names of {@link MobileNetV3}. */
export type MobileNetV3ArchName = 'small' | 'small_075' | 'small_050' | 'large';

/** MMCls's `MobileNetV3.arch_settings`. */
export const MOBILENET_V3_ARCH_SETTINGS: Record<MobileNetV3ArchName, MobileNetV3BlockSetting[]> = {
  small: [
    [3, 16, 16, true, 'ReLU', 2],
    [3, 72, 24, false, 'ReLU', 2],
    [3, 88, 24, false, 'ReLU', 1],
    [5, 96, 40, true, 'HSwish', 2],
    [5, 240, 40, true, 'HSwish', 1],
    [5, 240, 40, true, 'HSwish', 1],
    [5, 120, 48, true, 'HSwish', 1],
    [5, 144, 48, true, 'HSwish', 1],
    [5, 288, 96, true, 'HSwish', 2],
    [5, 576, 96, true, 'HSwish', 1],
    [5, 576, 96, true, 'HSwish', 1],
  ],
  small_075: [
    [3, 16, 16, true, 'ReLU', 2],
    [3, 72, 24, false, 'ReLU', 2],
    [3, 88, 24, false, 'ReLU', 1],
    [5, 96, 32, true, 'HSwish', 2],
    [5, 192, 32, true, 'HSwish', 1],
    [5, 192, 32, true, 'HSwish', 1],
    [5, 96, 40, true, 'HSwish', 1],
    [5, 120, 40, true, 'HSwish', 1],
    [5, 240, 72, true, 'HSwish', 2],
    [5, 432, 72, true, 'HSwish', 1],
    [5, 432, 72, true, 'HSwish', 1],
  ],
  small_050: [
    [3, 16, 8, true, 'ReLU', 2],
    [3, 40, 16, false, 'ReLU', 2],
    [3, 56, 16, false, 'ReLU', 1],
    [5, 64, 24, true, 'HSwish', 2],
    [5, 144, 24, true, 'HSwish', 1],
    [5, 144, 24, true, 'HSwish', 1],
    [5, 72, 24, true, 'HSwish', 1],
    [5, 72, 24, true, 'HSwish', 1],
    [5, 144, 48, true, 'HSwish', 2],
    [5, 288, 48, true, 'HSwish', 1],
    [5, 288, 48, true, 'HSwish', 1],
  ],
  large: [
    [3, 16, 16, false, 'ReLU', 1],
    [3, 64, 24, false, 'ReLU', 2],
    [3, 72, 24, false, 'ReLU', 1],
    [5, 72, 40, true, 'ReLU', 2],
    [5, 120, 40, true, 'ReLU', 1],
    [5, 120, 40, true, 'ReLU', 1],
    [3, 240, 80, false, 'HSwish', 2],
    [3, 200, 80, false, 'HSwish', 1],
    [3, 184, 80, false, 'HSwish', 1],
    [3, 184, 80, false, 'HSwish', 1],
    [3, 480, 112, true, 'HSwish', 1],
    [3, 672, 112, true, 'HSwish', 1],
    [5, 672, 160, true, 'HSwish', 2],
    [5, 960, 160, true, 'HSwish', 1],
    [5, 960, 160, true, 'HSwish', 1],
  ],
};

/** Options of {@link MobileNetV3}. */
export interface MobileNetV3Options {
  /** Architecture: 'small', 'small_075', 'small_050' or 'large'. @default 'small' */
  arch?: MobileNetV3ArchName;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', eps=0.001, momentum=0.01) */
  norm_cfg?: LayerCfg;
  /** Layers whose output is returned (0 is the stem, the last is the final 1x1 conv; None: the last, 12 for the small archs and 16 for large). @default None */
  out_indices?: number[] | null;
  /** Layers to freeze (layer0 to layer{frozen_stages}); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Keep batch norms in eval mode during training. @default False */
  norm_eval?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d'], nonlinearity='leaky_relu'), dict(type='Normal', layer=['Linear'], std=0.01), dict(type='Constant', layer=['BatchNorm2d'], val=1)] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MobileNetV3 backbone (Searching for MobileNetV3). */
@MODELS.registerModule()
export class MobileNetV3 extends BaseBackbone {
  readonly arch: MobileNetV3ArchName;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  /** Names of the layers in forward order (`layer0` ... `layer12` / `layer16`). */
  readonly layers: string[] = [];
  /** Mid channels of the last block, the output channels of the final 1x1 conv. */
  readonly featDim: number;

  constructor(options: MobileNetV3Options = {}) {
    super(
      options.init_cfg === undefined
        ? [
            { type: 'Kaiming', layer: ['Conv2d'], nonlinearity: 'leaky_relu' },
            { type: 'Normal', layer: ['Linear'], std: 0.01 },
            { type: 'Constant', layer: ['BatchNorm2d'], val: 1 },
          ]
        : options.init_cfg,
    );
    const arch = options.arch ?? 'small';
    const settings = MOBILENET_V3_ARCH_SETTINGS[arch];
    if (!settings) {
      throw new MmclsError(`Unavailable arch ${JSON.stringify(arch)}, please choose from (${Object.keys(MOBILENET_V3_ARCH_SETTINGS).join(', ')})`, {
        code: 'model.bad-argument',
      });
    }
    this.arch = arch;
    const numLayers = settings.length + 2;
    const outIndices = options.out_indices ?? (arch.includes('small') ? [12] : [16]);
    for (const i of outIndices) {
      if (!(Number.isInteger(i) && i >= 0 && i < numLayers)) {
        throw new MmclsError(`the item in out_indices must in range(0, ${numLayers}). But received ${i}`, { code: 'model.bad-argument' });
      }
    }
    this.outIndices = [...outIndices];
    this.frozenStages = options.frozen_stages ?? -1;
    if (!(Number.isInteger(this.frozenStages) && this.frozenStages >= -1 && this.frozenStages < numLayers)) {
      throw new MmclsError(`frozen_stages must be in range(-1, ${numLayers}). But received ${this.frozenStages}`, { code: 'model.bad-argument' });
    }
    this.normEval = options.norm_eval ?? false;
    const convCfg = options.conv_cfg ?? null;
    const normCfg = options.norm_cfg ?? { type: 'BN', eps: 0.001, momentum: 0.01 };

    let inChannels = 16;
    this.addLayer(
      'layer0',
      new ConvModule({ in_channels: 3, out_channels: inChannels, kernel_size: 3, stride: 2, padding: 1, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: { type: 'HSwish' } }),
    );
    let midChannels = inChannels;
    settings.forEach(([kernelSize, mid, out, withSe, act, stride], i) => {
      midChannels = mid;
      const seCfg = withSe
        ? {
            channels: mid,
            ratio: 4,
            act_cfg: [{ type: 'ReLU' }, { type: 'HSigmoid', bias: 3, divisor: 6, min_value: 0, max_value: 1 }] as [LayerCfg, LayerCfg],
          }
        : null;
      this.addLayer(
        `layer${i + 1}`,
        new InvertedResidual({
          in_channels: inChannels,
          out_channels: out,
          mid_channels: mid,
          kernel_size: kernelSize,
          stride,
          se_cfg: seCfg,
          conv_cfg: convCfg,
          norm_cfg: normCfg,
          act_cfg: { type: act },
          with_cp: options.with_cp ?? false,
        }),
      );
      inChannels = out;
    });
    this.addLayer(
      `layer${settings.length + 1}`,
      new ConvModule({ in_channels: inChannels, out_channels: midChannels, kernel_size: 1, stride: 1, padding: 0, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: { type: 'HSwish' } }),
    );
    this.featDim = settings[settings.length - 1][1];
  }

  private addLayer(name: string, layer: Layer): void {
    this.addModule(name, layer);
    this.layers.push(name);
  }

  private layer(i: number): Layer {
    return this.getChild(this.layers[i]) as Layer;
  }

  private freezeStages(): void {
    for (let i = 0; i <= this.frozenStages; i++) {
      const m = this.layer(i);
      m.eval();
      m.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    this.layers.forEach((_, i) => {
      x = this.layer(i).forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'MobileNetV3');
    const outs: ShapeValue[] = [];
    this.layers.forEach((_, i) => {
      x = this.layer(i).inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }
}
