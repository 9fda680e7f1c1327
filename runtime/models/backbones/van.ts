import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath, Dropout } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Pair } from '../../nn/conv';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { Feat } from '../types';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** VAN's MixFFN: 1x1 conv, 3x3 depth-wise conv, activation, dropout, 1x1 conv, dropout. */
export class MixFFN extends Layer {
  readonly fc1: Conv2d;
  readonly dwconv: Conv2d;
  readonly act: Layer;
  readonly fc2: Conv2d;
  readonly drop: Dropout;

  constructor(o: { embed_dims: number; feedforward_channels: number; act_cfg?: LayerCfg; ffn_drop?: number }) {
    super();
    const c = o.embed_dims;
    const h = o.feedforward_channels;
    this.fc1 = this.addModule('fc1', new Conv2d({ in_channels: c, out_channels: h, kernel_size: 1 }));
    this.dwconv = this.addModule('dwconv', new Conv2d({ in_channels: h, out_channels: h, kernel_size: 3, stride: 1, padding: 1, bias: true, groups: h }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.fc2 = this.addModule('fc2', new Conv2d({ in_channels: h, out_channels: c, kernel_size: 1 }));
    this.drop = this.addModule('drop', new Dropout({ p: o.ffn_drop ?? 0 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = this.drop.forward(this.act.forward(this.dwconv.forward(this.fc1.forward(x))));
    return this.drop.forward(this.fc2.forward(x));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    x = this.act.inferShape(this.dwconv.inferShape(this.fc1.inferShape(x, ctx), ctx), ctx);
    return this.fc2.inferShape(x, ctx);
  }
}

/** Large Kernel Attention: 5x5 depth-wise conv, 7x7 depth-wise conv with dilation 3, 1x1 conv; multiplies the input. */
export class LKA extends Layer {
  readonly DW_conv: Conv2d;
  readonly DW_D_conv: Conv2d;
  readonly conv1: Conv2d;

  constructor(embedDims: number) {
    super();
    const c = embedDims;
    this.DW_conv = this.addModule('DW_conv', new Conv2d({ in_channels: c, out_channels: c, kernel_size: 5, padding: 2, groups: c }));
    this.DW_D_conv = this.addModule('DW_D_conv', new Conv2d({ in_channels: c, out_channels: c, kernel_size: 7, stride: 1, padding: 9, groups: c, dilation: 3 }));
    this.conv1 = this.addModule('conv1', new Conv2d({ in_channels: c, out_channels: c, kernel_size: 1 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, this.conv1.forward(this.DW_D_conv.forward(this.DW_conv.forward(x))));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.conv1.inferShape(this.DW_D_conv.inferShape(this.DW_conv.inferShape(x, ctx), ctx), ctx);
  }
}

/** VAN's spatial attention: 1x1 conv, activation, LKA, 1x1 conv, plus the input. */
export class SpatialAttention extends Layer {
  readonly proj_1: Conv2d;
  readonly activation: Layer;
  readonly spatialGatingUnit: LKA;
  readonly proj_2: Conv2d;

  constructor(embedDims: number, actCfg: LayerCfg = { type: 'GELU' }) {
    super();
    const c = embedDims;
    this.proj_1 = this.addModule('proj_1', new Conv2d({ in_channels: c, out_channels: c, kernel_size: 1 }));
    this.activation = this.addModule('activation', buildActivationLayer(actCfg));
    this.spatialGatingUnit = this.addModule('spatial_gating_unit', new LKA(c));
    this.proj_2 = this.addModule('proj_2', new Conv2d({ in_channels: c, out_channels: c, kernel_size: 1 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.proj_2.forward(this.spatialGatingUnit.forward(this.activation.forward(this.proj_1.forward(x))));
    return tf.add(y, x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const y = this.activation.inferShape(this.proj_1.inferShape(x, ctx), ctx);
    return this.proj_2.inferShape(this.spatialGatingUnit.inferShape(y, ctx), ctx);
  }
}

/** Options of {@link VANBlock} (also the keys of VAN's `block_cfgs`). */
export interface VANBlockOptions {
  /** Number of input (and output) channels. */
  embed_dims: number;
  /** Expansion ratio of the MixFFN hidden channels. @default 4.0 */
  ffn_ratio?: number;
  /** Dropout rate in the MixFFN. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Activation. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation before the attention and the MixFFN. @default dict(type='BN', eps=1e-5) */
  norm_cfg?: LayerCfg;
  /** Initial value of the two layer scales (0 or less: none). @default 1e-2 */
  layer_scale_init_value?: number;
}

/** VAN block: x + ls1 * attn(norm1(x)), then x + ls2 * mlp(norm2(x)). */
export class VANBlock extends Layer {
  readonly outChannels: number;
  readonly layerScale1: Parameter | null;
  readonly layerScale2: Parameter | null;
  readonly norm1: Layer;
  readonly attn: SpatialAttention;
  readonly dropPath: Layer;
  readonly norm2: Layer;
  readonly mlp: MixFFN;

  constructor(o: VANBlockOptions) {
    super();
    const c = o.embed_dims;
    this.outChannels = c;
    const ls = o.layer_scale_init_value ?? 1e-2;
    const normCfg = o.norm_cfg ?? { type: 'BN', eps: 1e-5 };
    const actCfg = o.act_cfg ?? { type: 'GELU' };
    this.layerScale1 = this.registerParameter('layer_scale_1', ls > 0 ? lazy([c], () => tf.fill([c], ls)) : null);
    this.layerScale2 = this.registerParameter('layer_scale_2', ls > 0 ? lazy([c], () => tf.fill([c], ls)) : null);
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, c)[1]);
    this.attn = this.addModule('attn', new SpatialAttention(c, actCfg));
    const dpr = o.drop_path_rate ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, c)[1]);
    this.mlp = this.addModule('mlp', new MixFFN({ embed_dims: c, feedforward_channels: Math.trunc(c * (o.ffn_ratio ?? 4)), act_cfg: actCfg, ffn_drop: o.drop_rate ?? 0 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    let y = this.attn.forward(this.norm1.forward(x));
    if (this.layerScale1) y = tf.mul(y, this.layerScale1.variable);
    x = tf.add(x, this.dropPath.forward(y));
    y = this.mlp.forward(this.norm2.forward(x));
    if (this.layerScale2) y = tf.mul(y, this.layerScale2.variable);
    return tf.add(x, this.dropPath.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    x = this.dropPath.inferShape(this.attn.inferShape(this.norm1.inferShape(x, ctx), ctx), ctx);
    return this.dropPath.inferShape(this.mlp.inferShape(this.norm2.inferShape(x, ctx), ctx), ctx);
  }
}

/** VAN's patch embedding: a strided conv with zero padding, then batch norm; stays a feature map. */
export class VANPatchEmbed extends Layer {
  readonly projection: Conv2d;
  readonly norm: Layer | null;

  constructor(o: { in_channels: number; embed_dims: number; kernel_size: Pair; stride: Pair; padding: Pair; norm_cfg?: LayerCfg | null }) {
    super();
    this.projection = this.addModule(
      'projection',
      new Conv2d({ in_channels: o.in_channels, out_channels: o.embed_dims, kernel_size: o.kernel_size, stride: o.stride, padding: o.padding, bias: true }),
    );
    const normCfg = o.norm_cfg === undefined ? { type: 'BN' } : o.norm_cfg;
    this.norm = normCfg ? this.addModule('norm', buildNormLayer(normCfg, o.embed_dims)[1]) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.projection.forward(x);
    return this.norm ? this.norm.forward(y) : y;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const y = this.projection.inferShape(x, ctx);
    return this.norm ? this.norm.inferShape(y, ctx) : y;
  }
}

/** Embedding dims, depths and MLP ratios of a VAN. */
export type VANArch = {
  /** Channels of each stage. */
  embed_dims: number[];
  /** Number of blocks of each stage. */
  depths: number[];
  /** MixFFN expansion ratio of each stage. */
  ffn_ratios: number[];
};

/** The preset names of {@link VAN}. */
export type VANArchName = 't' | 'tiny' | 's' | 'small' | 'b' | 'base' | 'l' | 'large';

const TINY: VANArch = { embed_dims: [32, 64, 160, 256], depths: [3, 3, 5, 2], ffn_ratios: [8, 8, 4, 4] };
const SMALL: VANArch = { embed_dims: [64, 128, 320, 512], depths: [2, 2, 4, 2], ffn_ratios: [8, 8, 4, 4] };
const BASE: VANArch = { embed_dims: [64, 128, 320, 512], depths: [3, 3, 12, 3], ffn_ratios: [8, 8, 4, 4] };
const LARGE: VANArch = { embed_dims: [64, 128, 320, 512], depths: [3, 5, 27, 3], ffn_ratios: [8, 8, 4, 4] };
const ARCH_ZOO: Record<VANArchName, VANArch> = { t: TINY, tiny: TINY, s: SMALL, small: SMALL, b: BASE, base: BASE, l: LARGE, large: LARGE };

/** Options of {@link VAN}. */
export interface VANOptions {
  /** Preset ('tiny', 'small', 'base', 'large' or their initials) or a dict of embed_dims, depths and ffn_ratios. @default 'tiny' */
  arch?: VANArchName | VANArch;
  /** Kernel size of each stage's patch embedding (stride k // 2 + 1, padding k // 2). @default [7, 3, 3, 3] */
  patch_sizes?: number[];
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Dropout rate in the MixFFNs. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0.0 */
  drop_path_rate?: number;
  /** Stages whose output is returned. @default (3, ) */
  out_indices?: number[];
  /** Stages (patch embedding, blocks and norm) to freeze, counting from 0; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Keep batch norms in eval mode (frozen statistics) while training. @default False */
  norm_eval?: boolean;
  /** Normalisation after each stage. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Extra options of every VANBlock (e.g. layer_scale_init_value, norm_cfg, act_cfg). @default dict() */
  block_cfgs?: Partial<VANBlockOptions>;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** VAN backbone (Visual Attention Network): large kernel attention in four stages. */
@MODELS.registerModule()
export class VAN extends BaseBackbone {
  readonly embedDims: number[];
  readonly depths: number[];
  readonly ffnRatios: number[];
  readonly numStages: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly patchEmbeds: VANPatchEmbed[] = [];
  readonly blocks: ModuleList<VANBlock>[] = [];
  readonly norms: Layer[] = [];

  constructor(options: VANOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? 'tiny';
    let arch: VANArch;
    if (typeof a === 'string') {
      const s = (ARCH_ZOO as Record<string, VANArch | undefined>)[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs {${Object.keys(ARCH_ZOO).map((k) => `'${k}'`).join(', ')}}`, { code: 'model.bad-argument' });
      arch = s;
    } else {
      const keys = Object.keys(a ?? {}).sort().join(',');
      if (keys !== 'depths,embed_dims,ffn_ratios') {
        throw new MmclsError(`Custom arch needs a dict with keys {'embed_dims', 'depths', 'ffn_ratios'}, got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    this.embedDims = [...arch.embed_dims];
    this.depths = [...arch.depths];
    this.ffnRatios = [...arch.ffn_ratios];
    this.numStages = this.depths.length;
    this.outIndices = [...(options.out_indices ?? [3])];
    this.frozenStages = options.frozen_stages ?? -1;
    this.normEval = options.norm_eval ?? false;
    const patchSizes = options.patch_sizes ?? [7, 3, 3, 3];
    const normCfg = options.norm_cfg ?? { type: 'LN' };
    const total = this.depths.reduce((s, d) => s + d, 0);
    const rate = options.drop_path_rate ?? 0;
    const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
    let cur = 0;
    for (let i = 0; i < this.numStages; i++) {
      const p = patchSizes[i];
      const pe = new VANPatchEmbed({
        in_channels: i === 0 ? options.in_channels ?? 3 : this.embedDims[i - 1],
        embed_dims: this.embedDims[i],
        kernel_size: p,
        stride: Math.floor(p / 2) + 1,
        padding: [Math.floor(p / 2), Math.floor(p / 2)],
        norm_cfg: { type: 'BN' },
      });
      const blocks = new ModuleList<VANBlock>(
        Array.from(
          { length: this.depths[i] },
          (_, j) =>
            new VANBlock({
              embed_dims: this.embedDims[i],
              ffn_ratio: this.ffnRatios[i],
              drop_rate: options.drop_rate ?? 0,
              drop_path_rate: dpr[cur + j],
              ...(options.block_cfgs ?? {}),
            }),
        ),
      );
      cur += this.depths[i];
      this.patchEmbeds.push(this.addModule(`patch_embed${i + 1}`, pe));
      this.blocks.push(this.addModule(`blocks${i + 1}`, blocks));
      this.norms.push(this.addModule(`norm${i + 1}`, buildNormLayer(normCfg, this.embedDims[i])[1]));
    }
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i <= this.frozenStages && i < this.numStages; i++) {
      for (const m of [this.patchEmbeds[i], this.blocks[i], this.norms[i]]) {
        m.eval();
        m.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = this.patchEmbeds[i].forward(x);
      for (const b of this.blocks[i]) x = b.forward(x);
      // MMCls flattens to tokens for the norm; with channels last that is the same LayerNorm.
      x = this.norms[i].forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = this.patchEmbeds[i].inferShape(x, ctx);
      const list = this.blocks[i];
      for (const b of list) x = shapeInList(list, b, x, ctx);
      const [n, c, h, w] = asShape(x, 'VAN');
      this.norms[i].inferShape([n, h * w, c], ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }
}
