import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildDropout, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear, Pair, pair } from '../../nn/conv';
import { Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Module, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { FFN } from '../../nn/transformer';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { Unfold } from './t2t_vit';

/** Options of {@link TorchMultiheadAttention}. */
export interface TorchMultiheadAttentionOptions {
  /** Embedding dimension. */
  embed_dim: number;
  /** Number of heads. */
  num_heads: number;
  /** Dropout on the attention weights. @default 0.0 */
  dropout?: number;
  /** Bias of the packed input projection (`in_proj_bias`). @default True */
  bias?: boolean;
}

/**
 * PyTorch's `nn.MultiheadAttention` for self-attention on batch-first tokens: a packed
 * `in_proj_weight` [3E, E] (and `in_proj_bias`), q scaled by head_dims**-0.5, two batched matmuls
 * (fvcore: `bmm`), then `out_proj`.
 */
export class TorchMultiheadAttention extends Layer {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly inProjWeight: Parameter;
  readonly inProjBias: Parameter | null;
  readonly outProj: Linear;
  readonly attnDrop: Dropout;

  constructor(o: TorchMultiheadAttentionOptions) {
    super();
    this.embedDim = o.embed_dim;
    this.numHeads = o.num_heads;
    if (this.embedDim % this.numHeads !== 0) {
      throw new MmclsError(`embed_dim ${this.embedDim} must be divisible by num_heads ${this.numHeads}`, { code: 'model.bad-argument' });
    }
    this.headDim = this.embedDim / this.numHeads;
    const e = this.embedDim;
    // PyTorch's _reset_parameters: xavier-uniform in_proj_weight, zero biases.
    const bound = Math.sqrt(6 / (e + 3 * e));
    this.inProjWeight = this.registerParameter('in_proj_weight', lazy([e, 3 * e], () => tf.randomUniform([e, 3 * e], -bound, bound)), { kind: 'linear' })!;
    this.inProjBias = this.registerParameter('in_proj_bias', o.bias ?? true ? lazy([3 * e], () => tf.zeros([3 * e])) : null);
    this.outProj = this.addModule('out_proj', new Linear({ in_features: e, out_features: e }));
    this.attnDrop = new Dropout({ p: o.dropout ?? 0 });
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    const b = this.outProj.bias;
    if (b) tf.tidy(() => b.assign(tf.zeros(b.shape)));
  }

  override train(mode = true): this {
    super.train(mode);
    this.attnDrop.train(mode);
    return this;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n, e] = x.shape;
    const h = this.numHeads;
    const d = this.headDim;
    let qkv: tf.Tensor = tf.matMul(tf.reshape(x, [b * n, e]), this.inProjWeight.variable as tf.Tensor2D);
    if (this.inProjBias) qkv = tf.add(qkv, this.inProjBias.variable);
    const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [b, n, 3, h, d]), [2, 0, 3, 1, 4]), 0);
    const attn = this.attnDrop.forward(tf.softmax(tf.matMul(tf.div(q, Math.sqrt(d)), k, false, true), -1));
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, e]);
    return this.outProj.forward(y);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n, e] = x;
    const h = this.numHeads;
    const d = this.headDim;
    ctx.add('linear', b * n * e * 3 * e, b * n * 3 * e);
    ctx.add('bmm', b * h * n * n * d, b * h * n * n);
    ctx.add('bmm', b * h * n * n * d, b * h * n * d);
    return this.outProj.inferShape([b, n, e], ctx) as number[];
  }
}

/** Options of {@link MMCVMultiheadAttention}. */
export interface MMCVMultiheadAttentionOptions {
  /** Embedding dimension. */
  embed_dims: number;
  /** Number of heads. */
  num_heads: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the attention. @default 0.0 */
  proj_drop?: number;
  /** Dropout or DropPath before the shortcut. @default dict(type='Dropout', drop_prob=0.0) */
  dropout_layer?: LayerCfg | null;
  /** Bias of the input projection (MMCls's TNT removes it when qkv_bias=False). @default True */
  qkv_bias?: boolean;
}

/** MMCV's `MultiheadAttention` wrapper: `attn` (PyTorch's), proj_drop and drop-path, plus the shortcut. */
export class MMCVMultiheadAttention extends Module {
  readonly attn: TorchMultiheadAttention;
  readonly projDrop: Dropout;
  readonly dropoutLayer: Layer;

  constructor(o: MMCVMultiheadAttentionOptions) {
    super();
    this.attn = this.addModule('attn', new TorchMultiheadAttention({ embed_dim: o.embed_dims, num_heads: o.num_heads, dropout: o.attn_drop ?? 0, bias: o.qkv_bias ?? true }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
    this.dropoutLayer = this.addModule('dropout_layer', buildDropout(o.dropout_layer === undefined ? { type: 'Dropout', drop_prob: 0 } : o.dropout_layer));
  }

  forward(x: tf.Tensor, identity?: tf.Tensor): tf.Tensor {
    return tf.add(identity ?? x, this.dropoutLayer.forward(this.projDrop.forward(this.attn.forward(x))));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.attn.inferShape(x, ctx);
  }
}

/** Options of {@link TnTTransformerBlock}. */
export interface TnTTransformerBlockOptions {
  /** Feature dimension. */
  embed_dims: number;
  /** Attention heads. */
  num_heads: number;
  /** Hidden channels of the FFN over embed_dims. @default 4 */
  ffn_ratio?: number;
  /** Dropout after the attention and in the FFN. @default 0.0 */
  drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Fully connected layers of the FFN. @default 2 */
  num_fcs?: number;
  /** Bias of the qkv projection. @default False */
  qkv_bias?: boolean;
  /** Activation of the FFN. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
}

/** TNT's `TransformerBlock`: x + attn(norm_attn(x)), then x + ffn(norm_ffn(x)). */
export class TnTTransformerBlock extends Layer {
  readonly normAttn: Layer;
  readonly attn: MMCVMultiheadAttention;
  readonly normFfn: Layer;
  readonly ffn: FFN;

  constructor(o: TnTTransformerBlockOptions) {
    super();
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const dropPath = { type: 'DropPath', drop_prob: o.drop_path_rate ?? 0 };
    this.normAttn = this.addModule('norm_attn', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.attn = this.addModule(
      'attn',
      new MMCVMultiheadAttention({
        embed_dims: o.embed_dims,
        num_heads: o.num_heads,
        attn_drop: o.attn_drop_rate ?? 0,
        proj_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        qkv_bias: o.qkv_bias ?? false,
      }),
    );
    this.normFfn = this.addModule('norm_ffn', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: o.embed_dims,
        feedforward_channels: o.embed_dims * (o.ffn_ratio ?? 4),
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        act_cfg: o.act_cfg ?? { type: 'GELU' },
      }),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = this.attn.forward(this.normAttn.forward(x), x);
    return this.ffn.forward(this.normFfn.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    this.attn.inferShape(this.normAttn.inferShape(x, ctx), ctx);
    this.ffn.inferShape(this.normFfn.inferShape(x, ctx), ctx);
    return x;
  }
}

/** Options of {@link TnTLayer}. */
export interface TnTLayerOptions {
  /** Pixels per patch. */
  num_pixel: number;
  /** Inner (pixel) feature dimension. */
  embed_dims_inner: number;
  /** Outer (patch) feature dimension. */
  embed_dims_outer: number;
  /** Inner attention heads. */
  num_heads_inner: number;
  /** Outer attention heads. */
  num_heads_outer: number;
  /** Extra options of the inner block. @default dict() */
  inner_block_cfg?: Partial<TnTTransformerBlockOptions>;
  /** Extra options of the outer block. @default dict() */
  outer_block_cfg?: Partial<TnTTransformerBlockOptions>;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
}

/** One TNT encoder layer: the inner block on pixels, their projection added to the patch tokens, the outer block on patches. */
export class TnTLayer extends Module {
  readonly innerBlock: TnTTransformerBlock;
  readonly normProj: Layer;
  readonly projection: Linear;
  readonly outerBlock: TnTTransformerBlock;

  constructor(o: TnTLayerOptions) {
    super();
    this.innerBlock = this.addModule('inner_block', new TnTTransformerBlock({ embed_dims: o.embed_dims_inner, num_heads: o.num_heads_inner, ...(o.inner_block_cfg ?? {}) }));
    this.normProj = this.addModule('norm_proj', buildNormLayer(o.norm_cfg ?? { type: 'LN' }, o.embed_dims_inner)[1]);
    this.projection = this.addModule('projection', new Linear({ in_features: o.embed_dims_inner * o.num_pixel, out_features: o.embed_dims_outer }));
    this.outerBlock = this.addModule('outer_block', new TnTTransformerBlock({ embed_dims: o.embed_dims_outer, num_heads: o.num_heads_outer, ...(o.outer_block_cfg ?? {}) }));
  }

  forward(pixelEmbed: tf.Tensor, patchEmbed: tf.Tensor): [tf.Tensor, tf.Tensor] {
    pixelEmbed = this.innerBlock.forward(pixelEmbed);
    const [b, n, c] = patchEmbed.shape;
    const proj = this.projection.forward(tf.reshape(this.normProj.forward(pixelEmbed), [b, n - 1, -1]));
    patchEmbed = tf.concat([tf.slice(patchEmbed, [0, 0, 0], [b, 1, c]), tf.add(tf.slice(patchEmbed, [0, 1, 0], [b, n - 1, c]), proj)], 1);
    return [pixelEmbed, this.outerBlock.forward(patchEmbed)];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [pixel, patch] = x as [number[], number[]];
    this.normProj.inferShape(this.innerBlock.inferShape(pixel, ctx), ctx);
    const [b, n] = patch;
    this.projection.inferShape([b, n - 1, pixel[1] * pixel[2]], ctx);
    this.outerBlock.inferShape(patch, ctx);
    return [pixel, patch];
  }
}

/** Options of {@link PixelEmbed}. */
export interface PixelEmbedOptions {
  /** Input image size. @default 224 */
  img_size?: Pair;
  /** Patch size. @default 16 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Pixel feature dimension. @default 48 */
  embed_dims_inner?: number;
  /** Stride of the 7x7 convolution. @default 4 */
  stride?: number;
}

/** TNT's image-to-pixel embedding: a 7x7 strided convolution unfolded into per-patch pixel grids. */
export class PixelEmbed extends Module {
  readonly imgSize: [number, number];
  readonly numPatches: number;
  readonly patchesResolution: [number, number];
  readonly embedDimsInner: number;
  readonly newPatchSize: [number, number];
  readonly proj: Conv2d;
  readonly unfold: Unfold;

  constructor(o: PixelEmbedOptions = {}) {
    super();
    this.imgSize = pair(o.img_size ?? 224, 'img_size');
    const ps = pair(o.patch_size ?? 16, 'patch_size');
    this.patchesResolution = [Math.floor(this.imgSize[0] / ps[0]), Math.floor(this.imgSize[1] / ps[1])];
    this.numPatches = this.patchesResolution[0] * this.patchesResolution[1];
    this.embedDimsInner = o.embed_dims_inner ?? 48;
    const stride = o.stride ?? 4;
    this.newPatchSize = [Math.ceil(ps[0] / stride), Math.ceil(ps[1] / stride)];
    this.proj = this.addModule('proj', new Conv2d({ in_channels: o.in_channels ?? 3, out_channels: this.embedDimsInner, kernel_size: 7, padding: 3, stride }));
    this.unfold = this.addModule('unfold', new Unfold({ kernel_size: this.newPatchSize, stride: this.newPatchSize }));
  }

  /** [B, H, W, C] image and the [1, C, kh, kw] pixel position embedding in; [B * numPatches, kh*kw, C] pixel tokens out. */
  forward(x: tf.Tensor, pixelPos: tf.Tensor): tf.Tensor {
    const [b, h, w] = x.shape;
    if (h !== this.imgSize[0] || w !== this.imgSize[1]) {
      throw new MmclsError(`Input image size (${h}*${w}) doesn't match model (${this.imgSize[0]}*${this.imgSize[1]}).`, { code: 'model.shape' });
    }
    const y = this.proj.forward(x);
    const [kh, kw] = this.newPatchSize;
    const [oh, ow] = this.unfold.outSize(y.shape[1]!, y.shape[2]!);
    const c = this.embedDimsInner;
    if (oh * ow !== this.numPatches) {
      throw new MmclsError(`PixelEmbed: the unfold gives ${oh * ow} patches, the model expects ${this.numPatches}`, { code: 'model.shape' });
    }
    // Unfold with stride = kernel: cut the map into kh x kw cells, pixel p = ki * kw + kj.
    const cells = tf.transpose(tf.reshape(tf.slice(y, [0, 0, 0, 0], [b, oh * kh, ow * kw, c]), [b, oh, kh, ow, kw, c]), [0, 1, 3, 2, 4, 5]);
    const pos = tf.transpose(tf.reshape(pixelPos, [c, kh * kw]), [1, 0]);
    return tf.add(tf.reshape(cells, [b * oh * ow, kh * kw, c]), pos);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'PixelEmbed');
    const y = this.proj.inferShape(x, ctx);
    this.unfold.inferShape(y, ctx);
    return [b * this.numPatches, this.newPatchSize[0] * this.newPatchSize[1], this.embedDimsInner];
  }
}

/** TNT's arch settings. */
export type TNTArchSetting = { embed_dims_outer: number; embed_dims_inner: number; num_layers: number; num_heads_outer: number; num_heads_inner: number };

const TNT_ARCHS: Record<string, TNTArchSetting> = {};
for (const n of ['s', 'small']) TNT_ARCHS[n] = { embed_dims_outer: 384, embed_dims_inner: 24, num_layers: 12, num_heads_outer: 6, num_heads_inner: 4 };
for (const n of ['b', 'base']) TNT_ARCHS[n] = { embed_dims_outer: 640, embed_dims_inner: 40, num_layers: 12, num_heads_outer: 10, num_heads_inner: 4 };

/** Options of {@link TNT}. */
export interface TNTOptions {
  /** Preset ('s', 'small', 'b', 'base') or a dict of embed_dims_outer, embed_dims_inner, num_layers, num_heads_outer, num_heads_inner. @default 'b' */
  arch?: string | TNTArchSetting;
  /** Input image size (fixed: other sizes are rejected). @default 224 */
  img_size?: Pair;
  /** Patch size. @default 16 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Hidden channels of the FFNs over their embedding dimension. @default 4 */
  ffn_ratio?: number;
  /** Bias of the qkv projections. @default False */
  qkv_bias?: boolean;
  /** Dropout after the attention and in the FFNs, and after the position embedding. @default 0.0 */
  drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over layers). @default 0.0 */
  drop_path_rate?: number;
  /** Activation of the FFNs. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Stride of the pixel embedding's convolution. @default 4 */
  first_stride?: number;
  /** Fully connected layers of the FFNs. @default 2 */
  num_fcs?: number;
  /** Initialisation config. @default [dict(type='TruncNormal', layer='Linear', std=.02), dict(type='Constant', layer='LayerNorm', val=1., bias=0.)] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Transformer in Transformer backbone (TNT); outputs the normalised class token. */
@MODELS.registerModule()
export class TNT extends BaseBackbone {
  readonly embedDimsInner: number;
  readonly embedDimsOuter: number;
  readonly embedDims: number;
  readonly numLayers: number;
  readonly numHeadsInner: number;
  readonly numHeadsOuter: number;
  readonly pixelEmbed: PixelEmbed;
  readonly numPatches: number;
  readonly norm1Proj: Layer;
  readonly projection: Linear;
  readonly norm2Proj: Layer;
  readonly clsToken: Parameter;
  readonly patchPos: Parameter;
  readonly pixelPos: Parameter;
  readonly dropAfterPos: Dropout;
  readonly layers: ModuleList<TnTLayer>;
  readonly norm: Layer;

  constructor(options: TNTOptions = {}) {
    super(
      options.init_cfg === undefined
        ? [
            { type: 'TruncNormal', layer: 'Linear', std: 0.02 },
            { type: 'Constant', layer: 'LayerNorm', val: 1, bias: 0 },
          ]
        : options.init_cfg,
    );
    const o = options;
    const a = o.arch ?? 'b';
    let s: TNTArchSetting;
    if (typeof a === 'string') {
      const found = TNT_ARCHS[a.toLowerCase()];
      if (!found) throw new MmclsError(`Arch ${a} is not in default archs ${Object.keys(TNT_ARCHS).join(', ')}`, { code: 'model.bad-argument' });
      s = found;
    } else {
      const keys = ['embed_dims_outer', 'embed_dims_inner', 'num_layers', 'num_heads_inner', 'num_heads_outer'];
      if (Object.keys(a).length !== keys.length || !keys.every((k) => k in a)) {
        throw new MmclsError(`Custom arch needs a dict with keys ${keys.join(', ')}`, { code: 'model.bad-argument' });
      }
      s = a;
    }
    this.embedDimsInner = s.embed_dims_inner;
    this.embedDimsOuter = s.embed_dims_outer;
    this.embedDims = this.embedDimsOuter;
    this.numLayers = s.num_layers;
    this.numHeadsInner = s.num_heads_inner;
    this.numHeadsOuter = s.num_heads_outer;
    const normCfg = o.norm_cfg ?? { type: 'LN' };

    // PyTorch lists a module's own parameters before its children's.
    const [kh, kw] = pair(o.patch_size ?? 16, 'patch_size').map((p) => Math.ceil(p / (o.first_stride ?? 4)));
    const imgSize = pair(o.img_size ?? 224, 'img_size');
    const ps = pair(o.patch_size ?? 16, 'patch_size');
    const numPatches = Math.floor(imgSize[0] / ps[0]) * Math.floor(imgSize[1] / ps[1]);
    const e = this.embedDimsOuter;
    const ei = this.embedDimsInner;
    this.clsToken = this.registerParameter('cls_token', lazy([1, 1, e], () => tf.randomNormal([1, 1, e], 0, 0.02)))!;
    this.patchPos = this.registerParameter('patch_pos', lazy([1, numPatches + 1, e], () => tf.randomNormal([1, numPatches + 1, e], 0, 0.02)))!;
    this.pixelPos = this.registerParameter('pixel_pos', lazy([1, ei, kh, kw], () => tf.randomNormal([1, ei, kh, kw], 0, 0.02)))!;

    this.pixelEmbed = this.addModule(
      'pixel_embed',
      new PixelEmbed({ img_size: imgSize, patch_size: ps, in_channels: o.in_channels ?? 3, embed_dims_inner: ei, stride: o.first_stride ?? 4 }),
    );
    this.numPatches = this.pixelEmbed.numPatches;
    const numPixel = kh * kw;
    this.norm1Proj = this.addModule('norm1_proj', buildNormLayer(normCfg, numPixel * ei)[1]);
    this.projection = this.addModule('projection', new Linear({ in_features: numPixel * ei, out_features: e }));
    this.norm2Proj = this.addModule('norm2_proj', buildNormLayer(normCfg, e)[1]);
    this.dropAfterPos = this.addModule('drop_after_pos', new Dropout({ p: o.drop_rate ?? 0 }));

    const dpr = o.drop_path_rate ?? 0;
    this.layers = this.addModule('layers', new ModuleList<TnTLayer>());
    for (let i = 0; i < this.numLayers; i++) {
      const blockCfg: Partial<TnTTransformerBlockOptions> = {
        ffn_ratio: o.ffn_ratio ?? 4,
        drop_rate: o.drop_rate ?? 0,
        attn_drop_rate: o.attn_drop_rate ?? 0,
        drop_path_rate: this.numLayers > 1 ? (dpr * i) / (this.numLayers - 1) : 0,
        num_fcs: o.num_fcs ?? 2,
        qkv_bias: o.qkv_bias ?? false,
        norm_cfg: normCfg,
        ...(o.act_cfg ? { act_cfg: o.act_cfg } : {}),
      };
      this.layers.push(
        new TnTLayer({
          num_pixel: numPixel,
          embed_dims_inner: ei,
          embed_dims_outer: e,
          num_heads_inner: this.numHeadsInner,
          num_heads_outer: this.numHeadsOuter,
          inner_block_cfg: blockCfg,
          outer_block_cfg: blockCfg,
          norm_cfg: normCfg,
        }),
      );
    }
    this.norm = this.addModule('norm', buildNormLayer(normCfg, e)[1]);
  }

  forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    let pixel = this.pixelEmbed.forward(x, this.pixelPos.variable);
    let patch = this.norm2Proj.forward(this.projection.forward(this.norm1Proj.forward(tf.reshape(pixel, [b, this.numPatches, -1]))));
    patch = tf.concat([tf.tile(this.clsToken.variable, [b, 1, 1]), patch], 1);
    patch = this.dropAfterPos.forward(tf.add(patch, this.patchPos.variable));
    for (const layer of this.layers.toArray()) [pixel, patch] = layer.forward(pixel, patch);
    patch = this.norm.forward(patch);
    return [tf.reshape(tf.slice(patch, [0, 0, 0], [b, 1, this.embedDimsOuter]), [b, this.embedDimsOuter])];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'TNT');
    const pixel = this.pixelEmbed.inferShape(x, ctx) as number[];
    const flat = [b, this.numPatches, pixel[1] * pixel[2]];
    this.norm1Proj.inferShape(flat, ctx);
    this.norm2Proj.inferShape(this.projection.inferShape(flat, ctx), ctx);
    const patch = [b, this.numPatches + 1, this.embedDimsOuter];
    this.dropAfterPos.inferShape(patch, ctx);
    ctx.enter(this.layers);
    try {
      for (const layer of this.layers.toArray()) layer.inferShape([pixel, patch], ctx);
    } finally {
      ctx.exit(this.layers);
    }
    this.norm.inferShape(patch, ctx);
    return [[b, this.embedDimsOuter]];
  }
}
