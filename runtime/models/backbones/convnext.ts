import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { Feat } from '../types';
import { GRN } from '../utils/grn';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** Options of {@link ConvNeXtBlock}. */
export interface ConvNeXtBlockOptions {
  /** Number of input (and output) channels. */
  in_channels: number;
  /** Kernel size and padding of the depth-wise convolution. @default dict(kernel_size=7, padding=3) */
  dw_conv_cfg?: { kernel_size: number; padding: number };
  /** Normalisation config. @default dict(type='LN2d', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Activation between the point-wise convolutions. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Expansion ratio of the point-wise convolutions. @default 4.0 */
  mlp_ratio?: number;
  /** Point-wise convolutions as linear layers (channels last) instead of 1x1 convolutions. @default True */
  linear_pw_conv?: boolean;
  /** Stochastic depth rate of the residual branch. @default 0.0 */
  drop_path_rate?: number;
  /** Initial value of the layer scale (0 or less: no layer scale). @default 1e-6 */
  layer_scale_init_value?: number;
  /** Global Response Normalization after the activation (ConvNeXt V2). @default False */
  use_grn?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
}

/**
 * ConvNeXt block: 7x7 depth-wise conv, LayerNorm, point-wise expansion, GELU, (GRN,) point-wise
 * projection, layer scale, residual. Tensors are NHWC here, so the linear point-wise layers need no
 * permutes; the shape pass permutes as MMCls does so that the FLOPs are counted on the same shapes.
 */
export class ConvNeXtBlock extends Layer {
  readonly gamma: Parameter | null;
  readonly depthwiseConv: Conv2d;
  readonly norm: Layer;
  readonly pointwiseConv1: Linear | Conv2d;
  readonly act: Layer;
  readonly pointwiseConv2: Linear | Conv2d;
  readonly grn: GRN | null;
  readonly dropPath: Layer;
  readonly linearPwConv: boolean;

  constructor(o: ConvNeXtBlockOptions) {
    super();
    const c = o.in_channels;
    const dw = o.dw_conv_cfg ?? { kernel_size: 7, padding: 3 };
    this.linearPwConv = o.linear_pw_conv ?? true;
    const scale = o.layer_scale_init_value ?? 1e-6;
    // PyTorch puts a module's own parameters before its children's in the state dict.
    this.gamma = this.registerParameter('gamma', scale > 0 ? lazy([c], () => tf.fill([c], scale)) : null);
    this.depthwiseConv = this.addModule('depthwise_conv', new Conv2d({ in_channels: c, out_channels: c, groups: c, kernel_size: dw.kernel_size, padding: dw.padding }));
    this.norm = this.addModule('norm', buildNormLayer(o.norm_cfg ?? { type: 'LN2d', eps: 1e-6 }, c)[1]);
    const mid = Math.trunc((o.mlp_ratio ?? 4.0) * c);
    const pw = (cin: number, cout: number): Linear | Conv2d =>
      this.linearPwConv ? new Linear({ in_features: cin, out_features: cout }) : new Conv2d({ in_channels: cin, out_channels: cout, kernel_size: 1 });
    this.pointwiseConv1 = this.addModule('pointwise_conv1', pw(c, mid));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.pointwiseConv2 = this.addModule('pointwise_conv2', pw(mid, c));
    this.grn = o.use_grn ? this.addModule('grn', new GRN(mid)) : null;
    const dpr = o.drop_path_rate ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    let y = this.norm.forward(this.depthwiseConv.forward(x));
    y = this.act.forward(this.pointwiseConv1.forward(y));
    if (this.grn) y = this.grn.forward(y);
    y = this.pointwiseConv2.forward(y);
    if (this.gamma) y = tf.mul(y, this.gamma.variable);
    return tf.add(x, this.dropPath.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = this.norm.inferShape(this.depthwiseConv.inferShape(x, ctx), ctx);
    // Linear point-wise layers see (N, H, W, C), as after MMCls's permute.
    const toLast = (s: ShapeValue): ShapeValue => {
      const [n, c, h, w] = asShape(s, 'ConvNeXtBlock');
      return [n, h, w, c];
    };
    const toFirst = (s: ShapeValue): ShapeValue => {
      const [n, h, w, c] = asShape(s, 'ConvNeXtBlock');
      return [n, c, h, w];
    };
    if (this.linearPwConv) y = toLast(y);
    y = this.act.inferShape(this.pointwiseConv1.inferShape(y, ctx), ctx);
    if (this.grn) y = this.grn.inferShape(y, ctx);
    y = this.pointwiseConv2.inferShape(y, ctx);
    if (this.linearPwConv) y = toFirst(y);
    return this.dropPath.inferShape(y, ctx);
  }
}

/** Depths and channels of a ConvNeXt. */
export type ConvNeXtArch = {
  /** Number of blocks of each stage. */
  depths: number[];
  /** Channels of each stage. */
  channels: number[];
};

/** The preset names of {@link ConvNeXt}. */
export type ConvNeXtArchName = 'atto' | 'femto' | 'pico' | 'nano' | 'tiny' | 'small' | 'base' | 'large' | 'xlarge' | 'huge';

const ARCH_SETTINGS: Record<ConvNeXtArchName, ConvNeXtArch> = {
  atto: { depths: [2, 2, 6, 2], channels: [40, 80, 160, 320] },
  femto: { depths: [2, 2, 6, 2], channels: [48, 96, 192, 384] },
  pico: { depths: [2, 2, 6, 2], channels: [64, 128, 256, 512] },
  nano: { depths: [2, 2, 8, 2], channels: [80, 160, 320, 640] },
  tiny: { depths: [3, 3, 9, 3], channels: [96, 192, 384, 768] },
  small: { depths: [3, 3, 27, 3], channels: [96, 192, 384, 768] },
  base: { depths: [3, 3, 27, 3], channels: [128, 256, 512, 1024] },
  large: { depths: [3, 3, 27, 3], channels: [192, 384, 768, 1536] },
  xlarge: { depths: [3, 3, 27, 3], channels: [256, 512, 1024, 2048] },
  huge: { depths: [3, 3, 27, 3], channels: [352, 704, 1408, 2816] },
};

/** Options of {@link ConvNeXt}. */
export interface ConvNeXtOptions {
  /** Preset ('atto', 'femto', 'pico', 'nano', 'tiny', 'small', 'base', 'large', 'xlarge', 'huge') or a dict of depths and channels per stage. @default 'tiny' */
  arch?: ConvNeXtArchName | ConvNeXtArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Patch size (kernel and stride) of the stem convolution. @default 4 */
  stem_patch_size?: number;
  /** Normalisation config. @default dict(type='LN2d', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Activation between the point-wise convolutions. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Point-wise convolutions as linear layers (channels last) instead of 1x1 convolutions. @default True */
  linear_pw_conv?: boolean;
  /** Global Response Normalization in the blocks (ConvNeXt V2; use with layer_scale_init_value=0.). @default False */
  use_grn?: boolean;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0.0 */
  drop_path_rate?: number;
  /** Initial value of the layer scale (0: none). @default 1e-6 */
  layer_scale_init_value?: number;
  /** Stages whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Number of stages (with their downsample layers) to freeze. @default 0 */
  frozen_stages?: number;
  /** Average over the feature map before the final norm (outputs [N, C]). @default True */
  gap_before_final_norm?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default [dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.), dict(type='Constant', layer=['LayerNorm'], val=1., bias=0.)] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** ConvNeXt backbone (A ConvNet for the 2020s; with use_grn, ConvNeXt V2). */
@MODELS.registerModule()
export class ConvNeXt extends BaseBackbone {
  readonly depths: number[];
  readonly channels: number[];
  readonly numStages: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly gapBeforeFinalNorm: boolean;
  readonly downsampleLayers: ModuleList<Sequential>;
  readonly stages: ModuleList<Sequential>;
  private readonly norms = new Map<number, Layer>();

  constructor(options: ConvNeXtOptions = {}) {
    super(
      options.init_cfg === undefined
        ? [
            { type: 'TruncNormal', layer: ['Conv2d', 'Linear'], std: 0.02, bias: 0 },
            { type: 'Constant', layer: ['LayerNorm'], val: 1, bias: 0 },
          ]
        : options.init_cfg,
    );
    const a = options.arch ?? 'tiny';
    let arch: ConvNeXtArch;
    if (typeof a === 'string') {
      const s = (ARCH_SETTINGS as Record<string, ConvNeXtArch | undefined>)[a];
      if (!s) {
        throw new MmclsError(`Unavailable arch ${JSON.stringify(a)}, please choose from (${Object.keys(ARCH_SETTINGS).join(', ')}) or pass a dict`, {
          code: 'model.bad-argument',
        });
      }
      arch = s;
    } else {
      if (!a || !Array.isArray(a.depths) || !Array.isArray(a.channels)) {
        throw new MmclsError(`The arch dict must have "depths" and "channels", but got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    if (arch.depths.length !== arch.channels.length) {
      throw new MmclsError(`The "depths" (${arch.depths}) and "channels" (${arch.channels}) should be both sequence with the same length`, {
        code: 'model.bad-argument',
      });
    }
    this.depths = [...arch.depths];
    this.channels = [...arch.channels];
    this.numStages = this.depths.length;
    const oi = options.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => (i < 0 ? this.numStages + i : i));
    for (const i of this.outIndices) {
      if (i < 0 || i >= this.numStages) throw new MmclsError(`Invalid out_indices ${i} for ${this.numStages} stages`, { code: 'model.bad-argument' });
    }
    this.frozenStages = options.frozen_stages ?? 0;
    this.gapBeforeFinalNorm = options.gap_before_final_norm ?? true;
    const normCfg = options.norm_cfg ?? { type: 'LN2d', eps: 1e-6 };
    const total = this.depths.reduce((s, d) => s + d, 0);
    const rate = options.drop_path_rate ?? 0;
    // torch.linspace(0, rate, total)
    const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
    const patch = options.stem_patch_size ?? 4;

    this.downsampleLayers = this.addModule('downsample_layers', new ModuleList<Sequential>());
    this.downsampleLayers.push(
      new Sequential(
        new Conv2d({ in_channels: options.in_channels ?? 3, out_channels: this.channels[0], kernel_size: patch, stride: patch }),
        buildNormLayer(normCfg, this.channels[0])[1],
      ),
    );
    this.stages = this.addModule('stages', new ModuleList<Sequential>());
    let blockIdx = 0;
    for (let i = 0; i < this.numStages; i++) {
      const c = this.channels[i];
      if (i >= 1) {
        this.downsampleLayers.push(
          new Sequential(
            buildNormLayer(normCfg, this.channels[i - 1])[1],
            new Conv2d({ in_channels: this.channels[i - 1], out_channels: c, kernel_size: 2, stride: 2 }),
          ),
        );
      }
      const blocks: Layer[] = [];
      for (let j = 0; j < this.depths[i]; j++) {
        blocks.push(
          new ConvNeXtBlock({
            in_channels: c,
            drop_path_rate: dpr[blockIdx + j],
            norm_cfg: normCfg,
            act_cfg: options.act_cfg ?? { type: 'GELU' },
            linear_pw_conv: options.linear_pw_conv ?? true,
            layer_scale_init_value: options.layer_scale_init_value ?? 1e-6,
            use_grn: options.use_grn ?? false,
          }),
        );
      }
      blockIdx += this.depths[i];
      this.stages.push(new Sequential(...blocks));
      if (this.outIndices.includes(i)) this.norms.set(i, this.addModule(`norm${i}`, buildNormLayer(normCfg, c)[1]));
    }
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages && i < this.numStages; i++) {
      for (const m of [this.downsampleLayers.at(i), this.stages.at(i)]) {
        m.eval();
        m.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    super.train(mode);
    this.freezeStages();
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = this.stages.at(i).forward(this.downsampleLayers.at(i).forward(x));
      const norm = this.norms.get(i);
      if (norm) {
        if (this.gapBeforeFinalNorm) {
          const gap = tf.mean(x, [1, 2], true);
          outs.push(tf.reshape(norm.forward(gap), [x.shape[0], -1]));
        } else {
          outs.push(norm.forward(x));
        }
      }
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'ConvNeXt');
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = shapeInList(this.downsampleLayers, this.downsampleLayers.at(i), x, ctx);
      x = shapeInList(this.stages, this.stages.at(i), x, ctx);
      const norm = this.norms.get(i);
      if (norm) {
        const [n, c, h, w] = asShape(x, 'ConvNeXt');
        if (this.gapBeforeFinalNorm) {
          // x.mean([-2, -1]) is aten::mean, which MMEngine's counter does not count.
          norm.inferShape([n, c, 1, 1], ctx);
          outs.push([n, c]);
        } else {
          outs.push(norm.inferShape([n, c, h, w], ctx));
        }
      }
    }
    return outs;
  }
}
