import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ConvModule, LayerCfg, buildNormLayer } from '../../nn/builders';
import { Layer, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape, shapeNumel } from '../../nn/module';
import { upsampleFlops } from '../../nn/transformer';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { InvertedResidual } from './mobilenet_v2';
import { TransformerEncoderLayer } from './vision_transformer';

/** Options of {@link MobileVitBlock}. */
export interface MobileVitBlockOptions {
  /** Number of input channels. */
  in_channels: number;
  /** Number of transformer channels. */
  transformer_dim: number;
  /** Number of FFN channels in the transformer blocks. */
  ffn_dim: number;
  /** Number of output channels. */
  out_channels: number;
  /** Kernel size of the local representation and fusion convolutions. @default 3 */
  conv_ksize?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg | null;
  /** Activation config. @default dict(type='Swish') */
  act_cfg?: LayerCfg | null;
  /** Number of transformer blocks. @default 2 */
  num_transformer_blocks?: number;
  /** Patch size of the unfolding and folding. @default 2 */
  patch_size?: number;
  /** Number of attention heads. @default 4 */
  num_heads?: number;
  /** Dropout rate after the FFN and the attention projection. @default 0. */
  drop_rate?: number;
  /** Dropout rate of the attention weights. @default 0. */
  attn_drop_rate?: number;
  /** Stochastic depth rate. @default 0. */
  drop_path_rate?: number;
  /** Whether to remove the fusion convolution. @default False */
  no_fusion?: boolean;
  /** Normalisation config of the transformer. @default dict(type='LN') */
  transformer_norm_cfg?: LayerCfg;
}

/**
 * MobileViT block: local representation (k x k conv + 1x1 projection), unfold into patches, transformer
 * layers over the patches at each of the p x p positions, fold back (bilinear resizing to a multiple of
 * the patch size and back when needed), 1x1 projection and the fusion convolution with the input.
 */
export class MobileVitBlock extends Layer {
  readonly localRep: Sequential;
  readonly globalRep: Sequential;
  readonly convProj: ConvModule;
  readonly convFusion: ConvModule | null;
  readonly patchSize: number;

  constructor(o: MobileVitBlockOptions) {
    super();
    const k = o.conv_ksize ?? 3;
    const pad = Math.trunc((k - 1) / 2);
    const normCfg = o.norm_cfg === undefined ? { type: 'BN' } : o.norm_cfg;
    const actCfg = o.act_cfg === undefined ? { type: 'Swish' } : o.act_cfg;
    const tnorm = o.transformer_norm_cfg ?? { type: 'LN' };
    const convCfg = o.conv_cfg ?? null;
    this.localRep = this.addModule(
      'local_rep',
      new Sequential(
        new ConvModule({ in_channels: o.in_channels, out_channels: o.in_channels, kernel_size: k, padding: pad, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg }),
        new ConvModule({ in_channels: o.in_channels, out_channels: o.transformer_dim, kernel_size: 1, bias: false, conv_cfg: convCfg, norm_cfg: null, act_cfg: null }),
      ),
    );
    const global: Layer[] = [];
    for (let i = 0; i < (o.num_transformer_blocks ?? 2); i++) {
      global.push(
        new TransformerEncoderLayer({
          embed_dims: o.transformer_dim,
          num_heads: o.num_heads ?? 4,
          feedforward_channels: o.ffn_dim,
          drop_rate: o.drop_rate ?? 0,
          attn_drop_rate: o.attn_drop_rate ?? 0,
          drop_path_rate: o.drop_path_rate ?? 0,
          qkv_bias: true,
          act_cfg: { type: 'Swish' },
          norm_cfg: tnorm,
        }),
      );
    }
    global.push(buildNormLayer(tnorm, o.transformer_dim)[1]);
    this.globalRep = this.addModule('global_rep', new Sequential(...global));
    this.convProj = this.addModule(
      'conv_proj',
      new ConvModule({ in_channels: o.transformer_dim, out_channels: o.out_channels, kernel_size: 1, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg }),
    );
    this.convFusion = o.no_fusion
      ? this.addModule('conv_fusion', null)
      : this.addModule(
          'conv_fusion',
          new ConvModule({ in_channels: o.in_channels + o.out_channels, out_channels: o.out_channels, kernel_size: k, padding: pad, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg }),
        );
    this.patchSize = o.patch_size ?? 2;
  }

  /** [B, H, W, C] (H, W multiples of p) to [B * p * p, N, C], patch positions outer, PyTorch's order. */
  static unfold(x: tf.Tensor, p: number): tf.Tensor {
    const [b, h, w, c] = x.shape;
    const nh = h / p, nw = w / p;
    return tf.reshape(tf.transpose(tf.reshape(x, [b, nh, p, nw, p, c]), [0, 2, 4, 1, 3, 5]), [b * p * p, nh * nw, c]);
  }

  /** The inverse of {@link unfold}. */
  static fold(x: tf.Tensor, b: number, h: number, w: number, p: number): tf.Tensor {
    const c = x.shape[2] as number;
    const nh = h / p, nw = w / p;
    return tf.reshape(tf.transpose(tf.reshape(x, [b, p, p, nh, nw, c]), [0, 3, 1, 4, 2, 5]), [b, h, w, c]);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const shortcut = x;
    let y = this.localRep.forward(x);
    const [b, h, w] = y.shape;
    const p = this.patchSize;
    const nh = Math.ceil(h / p) * p, nw = Math.ceil(w / p) * p;
    const interpolate = nh !== h || nw !== w;
    // Bilinear with align_corners=False is TensorFlow's half-pixel-centres resize.
    if (interpolate) y = tf.image.resizeBilinear(y as tf.Tensor4D, [nh, nw], false, true);
    y = this.globalRep.forward(MobileVitBlock.unfold(y, p));
    y = MobileVitBlock.fold(y, b, nh, nw, p);
    if (interpolate) y = tf.image.resizeBilinear(y as tf.Tensor4D, [h, w], false, true);
    y = this.convProj.forward(y);
    if (this.convFusion) y = this.convFusion.forward(tf.concat([shortcut, y], -1));
    return y;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = this.localRep.inferShape(x, ctx) as number[];
    const [b, c, h, w] = s;
    const p = this.patchSize;
    const nh = Math.ceil(h / p) * p, nw = Math.ceil(w / p) * p;
    const interpolate = nh !== h || nw !== w;
    if (interpolate) ctx.add('upsample_bilinear2d', upsampleFlops('bilinear', b * c * nh * nw), 0);
    this.globalRep.inferShape([b * p * p, (nh / p) * (nw / p), c], ctx);
    if (interpolate) ctx.add('upsample_bilinear2d', upsampleFlops('bilinear', shapeNumel(s)), 0);
    let y = this.convProj.inferShape(s, ctx) as number[];
    if (this.convFusion) {
      const xin = x as number[];
      y = this.convFusion.inferShape([y[0], xin[1] + y[1], y[2], y[3]], ctx) as number[];
    }
    return y;
  }
}

/** One entry of a MobileViT arch: ['mobilenetv2', out, stride, blocks, expand] or ['mobilevit', out, stride, transformer_dim, ffn_dim, transformer_blocks, expand]. */
export type MobileViTLayerSetting = [string, ...number[]];

/** The preset names of {@link MobileViT}. */
export type MobileViTArchName = 'small' | 'x_small' | 'xx_small';

const ARCH_SETTINGS: Record<MobileViTArchName, MobileViTLayerSetting[]> = {
  small: [
    ['mobilenetv2', 32, 1, 1, 4],
    ['mobilenetv2', 64, 2, 3, 4],
    ['mobilevit', 96, 2, 144, 288, 2, 4],
    ['mobilevit', 128, 2, 192, 384, 4, 4],
    ['mobilevit', 160, 2, 240, 480, 3, 4],
  ],
  x_small: [
    ['mobilenetv2', 32, 1, 1, 4],
    ['mobilenetv2', 48, 2, 3, 4],
    ['mobilevit', 64, 2, 96, 192, 2, 4],
    ['mobilevit', 80, 2, 120, 240, 4, 4],
    ['mobilevit', 96, 2, 144, 288, 3, 4],
  ],
  xx_small: [
    ['mobilenetv2', 16, 1, 1, 2],
    ['mobilenetv2', 24, 2, 3, 2],
    ['mobilevit', 48, 2, 64, 128, 2, 2],
    ['mobilevit', 64, 2, 80, 160, 4, 2],
    ['mobilevit', 80, 2, 96, 192, 3, 2],
  ],
};

/** Options of {@link MobileViT}. */
export interface MobileViTOptions {
  /** Preset ('small', 'x_small', 'xx_small', case-insensitive) or a list of layer settings (see {@link MobileViTLayerSetting}). @default 'small' */
  arch?: string | MobileViTLayerSetting[];
  /** Number of input channels. @default 3 */
  in_channels?: number;
  /** Channels of the stem. @default 16 */
  stem_channels?: number;
  /** Channel expansion of the last 1x1 convolution. @default 4 */
  last_exp_factor?: number;
  /** Stages to output (negative: number of stages + index); the last stage's output passes conv_1x1_exp. @default (4, ) */
  out_indices?: number | number[];
  /** Stages to freeze (`layers.0` ... ; the stem is never frozen, as in MMCls); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg | null;
  /** Activation config. @default dict(type='Swish') */
  act_cfg?: LayerCfg | null;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MobileViT backbone (MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer). */
@MODELS.registerModule()
export class MobileViT extends BaseBackbone {
  readonly stem: ConvModule;
  readonly layers: Sequential;
  readonly conv1x1Exp: ConvModule;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly numStages: number;

  constructor(options: MobileViTOptions = {}) {
    super(
      options.init_cfg === undefined
        ? [{ type: 'Kaiming', layer: ['Conv2d'] }, { type: 'Constant', val: 1, layer: ['_BatchNorm', 'GroupNorm'] }]
        : options.init_cfg,
    );
    let arch: MobileViTLayerSetting[];
    const a = options.arch ?? 'small';
    if (typeof a === 'string') {
      const s = (ARCH_SETTINGS as Record<string, MobileViTLayerSetting[] | undefined>)[a.toLowerCase()];
      if (!s) {
        throw new MmclsError(`Unavailable arch ${JSON.stringify(a)}, please choose from (${Object.keys(ARCH_SETTINGS).join(', ')}) or pass a list.`, {
          code: 'model.bad-argument',
        });
      }
      arch = s;
    } else {
      if (!Array.isArray(a)) throw new MmclsError('MobileViT: arch must be a preset name or a list of layer settings.', { code: 'model.bad-argument' });
      arch = a;
    }
    this.numStages = arch.length;
    const oi = options.out_indices ?? [4];
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const j = i < 0 ? this.numStages + i : i;
      if (j < 0) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });
    this.frozenStages = options.frozen_stages ?? -1;
    if (!(Number.isInteger(this.frozenStages) && this.frozenStages >= -1 && this.frozenStages < this.numStages)) {
      throw new MmclsError(`frozen_stages must be in range(-1, ${this.numStages}). But received ${this.frozenStages}`, { code: 'model.bad-argument' });
    }
    const convCfg = options.conv_cfg ?? null;
    const normCfg = options.norm_cfg === undefined ? { type: 'BN' } : options.norm_cfg;
    const actCfg = options.act_cfg === undefined ? { type: 'Swish' } : options.act_cfg;
    const stemCh = options.stem_channels ?? 16;
    this.stem = this.addModule(
      'stem',
      new ConvModule({ in_channels: options.in_channels ?? 3, out_channels: stemCh, kernel_size: 3, stride: 2, padding: 1, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg }),
    );
    let inCh = stemCh;
    const layers: Layer[] = [];
    for (const setting of arch) {
      const [kind, ...s] = setting;
      if (kind === 'mobilenetv2') {
        const [out, stride, blocks] = s;
        const expand = s[3] ?? 4;
        const blk: Layer[] = [];
        for (let i = 0; i < blocks; i++) {
          blk.push(new InvertedResidual({ in_channels: inCh, out_channels: out, stride: i === 0 ? stride : 1, expand_ratio: expand, act_cfg: { type: 'Swish' } }));
          inCh = out;
        }
        layers.push(new Sequential(...blk));
      } else if (kind === 'mobilevit') {
        const [out, stride, tdim, ffn, nblocks] = s;
        const expand = s[5] ?? 4;
        layers.push(
          new Sequential(
            new InvertedResidual({ in_channels: inCh, out_channels: out, stride, expand_ratio: expand, act_cfg: { type: 'Swish' } }),
            new MobileVitBlock({ in_channels: out, transformer_dim: tdim, ffn_dim: ffn, out_channels: out, num_transformer_blocks: nblocks }),
          ),
        );
        inCh = out;
      } else {
        throw new MmclsError(`MobileViT: unknown layer type ${JSON.stringify(kind)}, expected 'mobilenetv2' or 'mobilevit'.`, { code: 'model.bad-argument' });
      }
    }
    this.layers = this.addModule('layers', new Sequential(...layers));
    const expFactor = options.last_exp_factor ?? 4;
    this.conv1x1Exp = this.addModule(
      'conv_1x1_exp',
      new ConvModule({ in_channels: inCh, out_channels: expFactor * inCh, kernel_size: 1, stride: 1, conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg }),
    );
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages; i++) {
      const l = this.layers.at(i);
      l.eval();
      l.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages());
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.stem.forward(x);
    const outs: Feat[] = [];
    const n = this.layers.length;
    for (let i = 0; i < n; i++) {
      x = this.layers.at(i).forward(x);
      if (i === n - 1) x = this.conv1x1Exp.forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'MobileViT');
    x = this.stem.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    const n = this.layers.length;
    for (let i = 0; i < n; i++) {
      x = this.layers.at(i).inferShape(x, ctx);
      if (i === n - 1) x = this.conv1x1Exp.inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }
}
