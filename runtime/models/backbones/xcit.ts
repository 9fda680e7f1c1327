import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout, DropPath } from '../../nn/activation';
import { ConvModule, LayerCfg, buildNormLayer } from '../../nn/builders';
import { Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Module, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { initParameter } from '../../nn/init';
import { FFN } from '../../nn/transformer';
import { Feat } from '../types';
import { PositionEncodingFourier } from '../utils/position_encoding_fourier';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** Options of {@link XCiTClassAttention}. */
export interface XCiTClassAttentionOptions {
  /** The feature dimension. */
  dim: number;
  /** Parallel attention heads. @default 8 */
  num_heads?: number;
  /** Bias of the q, k and v projections. @default False */
  qkv_bias?: boolean;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
}

/**
 * Class attention (CaiT; MMCls's `ClassAttntion`): only the class token (token 0) queries, all
 * tokens are keys and values; separate `q`, `k`, `v` linear layers. Input [B, N, C], output [B, 1, C].
 */
export class XCiTClassAttention extends Layer {
  override get typeName(): string {
    return 'ClassAttntion';
  }

  readonly dim: number;
  readonly numHeads: number;
  readonly headDims: number;
  readonly scale: number;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;

  constructor(o: XCiTClassAttentionOptions) {
    super();
    this.dim = o.dim;
    this.numHeads = o.num_heads ?? 8;
    this.headDims = Math.floor(this.dim / this.numHeads);
    this.scale = this.headDims ** -0.5;
    const bias = o.qkv_bias ?? false;
    this.q = this.addModule('q', new Linear({ in_features: this.dim, out_features: this.dim, bias }));
    this.k = this.addModule('k', new Linear({ in_features: this.dim, out_features: this.dim, bias }));
    this.v = this.addModule('v', new Linear({ in_features: this.dim, out_features: this.dim, bias }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: this.dim, out_features: this.dim }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const d = c / h;
    // q: [B, h, 1, d]; k, v: [B, h, N, d]
    const cls = tf.reshape(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [b, c]);
    const q = tf.mul(tf.transpose(tf.reshape(this.q.forward(cls), [b, 1, h, d]), [0, 2, 1, 3]), this.scale);
    const k = tf.transpose(tf.reshape(this.k.forward(x), [b, n, h, d]), [0, 2, 1, 3]);
    const v = tf.transpose(tf.reshape(this.v.forward(x), [b, n, h, d]), [0, 2, 1, 3]);
    const attn = this.attnDrop.forward(tf.softmax(tf.matMul(q, k, false, true), -1));
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, 1, c]);
    return this.projDrop.forward(this.proj.forward(y));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n, c] = x;
    const h = this.numHeads;
    const d = c / h;
    this.q.inferShape([b, c], ctx);
    this.k.inferShape(x, ctx);
    this.v.inferShape(x, ctx);
    // q @ k^T: [B, h, 1, d] x [B, h, d, N]; attn @ v: [B, h, 1, N] x [B, h, N, d].
    ctx.add('matmul', b * h * d * n, b * h * n);
    ctx.add('matmul', b * h * n * d, b * h * d);
    const out = [b, 1, c];
    this.proj.inferShape(out, ctx);
    return out;
  }
}

/** Options of {@link XCiTPositionalEncodingFourier}. */
export interface XCiTPositionalEncodingFourierOptions {
  /** Channels of the sine/cosine features of each axis. @default 32 */
  hidden_dim?: number;
  /** Output channels. @default 768 */
  dim?: number;
  /** Temperature of the frequencies. @default 10000 */
  temperature?: number;
}

/**
 * XCiT's `PositionalEncodingFourier`: the Fourier features of {@link PositionEncodingFourier}
 * projected by a 1x1 `ConvModule` named `token_projection` (no norm, no activation).
 */
export class XCiTPositionalEncodingFourier extends Module {
  override get typeName(): string {
    return 'PositionalEncodingFourier';
  }

  readonly hiddenDim: number;
  readonly dim: number;
  readonly tokenProjection: ConvModule;
  /** Only its feature computation is used (its own projection is never built). */
  private readonly fourier: PositionEncodingFourier;

  constructor(o: XCiTPositionalEncodingFourierOptions = {}) {
    super();
    this.hiddenDim = o.hidden_dim ?? 32;
    this.dim = o.dim ?? 768;
    this.tokenProjection = this.addModule(
      'token_projection',
      new ConvModule({ in_channels: this.hiddenDim * 2, out_channels: this.dim, kernel_size: 1, conv_cfg: null, norm_cfg: null, act_cfg: null }),
    );
    this.fourier = new PositionEncodingFourier({ in_channels: this.hiddenDim, embed_dims: this.dim, temperature: o.temperature ?? 10000 });
  }

  /** The un-projected features [H, W, 2 * hidden_dim] (row features, then column features). */
  features(h: number, w: number): Float32Array {
    return this.fourier.features(h, w);
  }

  /** The encoding for `b` maps of size h x w: [B, H, W, dim]. */
  forward(b: number, h: number, w: number): tf.Tensor {
    const feats = tf.tensor4d(this.features(h, w), [1, h, w, 2 * this.hiddenDim]);
    const pos = this.tokenProjection.forward(feats);
    return b === 1 ? pos : tf.tile(pos, [b, 1, 1, 1]);
  }

  /** Shape pass for the map [B, C, H, W] it is added to (the projection runs on one copy). */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, , h, w] = asShape(x, 'PositionalEncodingFourier');
    this.tokenProjection.inferShape([1, 2 * this.hiddenDim, h, w], ctx);
    return [b, this.dim, h, w];
  }
}

/** Options of {@link ConvPatchEmbed}. */
export interface ConvPatchEmbedOptions {
  /** Input image size. @default 224 */
  img_size?: number | [number, number];
  /** Patch size, 8 or 16. @default 16 */
  patch_size?: number;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Output channels. @default 768 */
  embed_dims?: number;
  /** Normalisation of the convolutions. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation between the convolutions. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
}

/**
 * XCiT's patch embedding: log2(patch_size) stride-2 3x3 conv + norm layers (`proj.0`, `proj.1`, ...),
 * the activation after all but the last; returns the tokens [B, N, C] and the patch resolution.
 */
export class ConvPatchEmbed extends Module {
  readonly patchSize: number;
  readonly proj: Sequential;

  constructor(o: ConvPatchEmbedOptions = {}) {
    super();
    this.patchSize = o.patch_size ?? 16;
    const inCh = o.in_channels ?? 3;
    const e = o.embed_dims ?? 768;
    const normCfg = o.norm_cfg ?? { type: 'BN' };
    const actCfg = o.act_cfg ?? { type: 'GELU' };
    const conv = (i: number, out: number, act: LayerCfg | null): ConvModule =>
      new ConvModule({ in_channels: i, out_channels: out, kernel_size: 3, stride: 2, padding: 1, norm_cfg: normCfg, act_cfg: act });
    const layers: Layer[] = [];
    if (this.patchSize === 16) {
      layers.push(conv(inCh, Math.floor(e / 8), actCfg), conv(Math.floor(e / 8), Math.floor(e / 4), actCfg));
    } else if (this.patchSize === 8) {
      layers.push(conv(inCh, Math.floor(e / 4), actCfg));
    } else {
      throw new MmclsError(`For patch embedding, the patch size must be 16 or 8, but get patch size ${this.patchSize}.`, { code: 'model.bad-argument' });
    }
    layers.push(conv(Math.floor(e / 4), Math.floor(e / 2), actCfg), conv(Math.floor(e / 2), e, null));
    this.proj = this.addModule('proj', new Sequential(...layers));
  }

  forward(x: tf.Tensor): { tokens: tf.Tensor; size: [number, number] } {
    const y = this.proj.forward(x);
    const [b, h, w, c] = y.shape;
    return { tokens: tf.reshape(y, [b, h * w, c]), size: [h, w] };
  }

  /** [[B, N, C], [Hp, Wp]] for an image batch [B, C, H, W]. */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, c, h, w] = asShape(this.proj.inferShape(x, ctx), 'ConvPatchEmbed');
    return [[b, h * w, c], [h, w]];
  }
}

/** Options of {@link LPI}. */
export interface LPIOptions {
  /** Input channels. */
  in_features: number;
  /** Output channels (None: in_features). @default None */
  out_features?: number | null;
  /** Kernel size of the depth-wise convolutions. @default 3 */
  kernel_size?: number;
  /** Normalisation after the first convolution. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation after the first convolution. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
}

/**
 * Local Patch Interaction: tokens back on the patch grid through a depth-wise conv, activation and
 * norm (`conv1`, in that order), then a second depth-wise conv (`conv2`).
 */
export class LPI extends Module {
  readonly conv1: ConvModule;
  readonly conv2: ConvModule;

  constructor(o: LPIOptions) {
    super();
    const inF = o.in_features;
    const outF = o.out_features ?? inF;
    const k = o.kernel_size ?? 3;
    const padding = Math.floor(k / 2);
    this.conv1 = this.addModule(
      'conv1',
      new ConvModule({
        in_channels: inF,
        out_channels: inF,
        kernel_size: k,
        padding,
        groups: inF,
        bias: true,
        norm_cfg: o.norm_cfg ?? { type: 'BN' },
        act_cfg: o.act_cfg ?? { type: 'GELU' },
        order: ['conv', 'act', 'norm'],
      }),
    );
    this.conv2 = this.addModule('conv2', new ConvModule({ in_channels: inF, out_channels: outF, kernel_size: k, padding, groups: outF, norm_cfg: null, act_cfg: null }));
  }

  forward(x: tf.Tensor, h: number, w: number): tf.Tensor {
    const [b, n, c] = x.shape;
    const y = this.conv2.forward(this.conv1.forward(tf.reshape(x, [b, h, w, c])));
    return tf.reshape(y, [b, n, y.shape[3] ?? c]);
  }

  /** Input [[B, N, C], [H, W]]. */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tok, [h, w]] = x as [number[], number[]];
    const [b, n, c] = tok;
    const [, co] = asShape(this.conv2.inferShape(this.conv1.inferShape([b, c, h, w], ctx), ctx), 'LPI');
    return [b, n, co];
  }
}

/** Options of {@link XCA}. */
export interface XCAOptions {
  /** The feature dimension. */
  dim: number;
  /** Parallel attention heads. @default 8 */
  num_heads?: number;
  /** Bias of the qkv projection. @default False */
  qkv_bias?: boolean;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
}

/**
 * Cross-covariance attention: per head a d x d attention over channels, softmax of the product of
 * q and k L2-normalised along the tokens, times a learnable per-head `temperature`.
 */
export class XCA extends Layer {
  readonly numHeads: number;
  readonly temperature: Parameter;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;

  constructor(o: XCAOptions) {
    super();
    const h = o.num_heads ?? 8;
    this.numHeads = h;
    this.temperature = this.registerParameter('temperature', lazy([h, 1, 1], () => tf.ones([h, 1, 1])))!;
    this.qkv = this.addModule('qkv', new Linear({ in_features: o.dim, out_features: o.dim * 3, bias: o.qkv_bias ?? false }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: o.dim, out_features: o.dim }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const d = Math.floor(c / h);
    // [B, N, 3, h, d] -> [3, B, h, d, N]
    const [q0, k0, v] = tf.unstack(tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, d]), [2, 0, 3, 4, 1]), 0);
    // F.normalize(dim=-1): x / max(||x||, 1e-12)
    const l2 = (t: tf.Tensor): tf.Tensor => tf.div(t, tf.maximum(tf.sqrt(tf.sum(tf.square(t), -1, true)), 1e-12));
    let attn = tf.mul(tf.matMul(l2(q0), l2(k0), false, true), this.temperature.variable);
    attn = this.attnDrop.forward(tf.softmax(attn, -1));
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 3, 1, 2]), [b, n, c]);
    return this.projDrop.forward(this.proj.forward(y));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n, c] = x;
    const h = this.numHeads;
    const d = Math.floor(c / h);
    this.qkv.inferShape(x, ctx);
    // q @ k^T: [B, h, d, N] x [B, h, N, d]; attn @ v: [B, h, d, d] x [B, h, d, N].
    ctx.add('matmul', b * h * d * n * d, b * h * d * d);
    ctx.add('matmul', b * h * d * d * n, b * h * d * n);
    this.proj.inferShape(x, ctx);
    return x;
  }
}

/** Options of {@link XCABlock}. */
export interface XCABlockOptions {
  /** The feature dimension. */
  dim: number;
  /** Parallel attention heads. */
  num_heads: number;
  /** Hidden dimension ratio of the FFN. @default 4.0 */
  mlp_ratio?: number;
  /** Bias of the qkv projection. @default False */
  qkv_bias?: boolean;
  /** Dropout after the projections and in the FFN. @default 0.0 */
  drop?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path?: number;
  /** Initial value of the layer scales. @default 1.0 */
  layer_scale_init_value?: number;
  /** Batch norm of the LPI. @default dict(type='BN') */
  bn_norm_cfg?: LayerCfg;
  /** Normalisation config. @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
}

/** XCiT block: XCA, then LPI, then FFN, each residual with its layer scale (gamma1, gamma3, gamma2). */
export class XCABlock extends Module {
  readonly gamma1: Parameter;
  readonly gamma3: Parameter;
  readonly gamma2: Parameter;
  readonly norm1: Layer;
  readonly attn: XCA;
  readonly dropPath: Layer;
  readonly norm3: Layer;
  readonly localMp: LPI;
  readonly norm2: Layer;
  readonly ffn: FFN;

  constructor(o: XCABlockOptions) {
    super();
    const dim = o.dim;
    const ls = o.layer_scale_init_value ?? 1;
    const normCfg = o.norm_cfg ?? { type: 'LN', eps: 1e-6 };
    const actCfg = o.act_cfg ?? { type: 'GELU' };
    const drop = o.drop ?? 0;
    this.gamma1 = this.registerParameter('gamma1', lazy([dim], () => tf.fill([dim], ls)))!;
    this.gamma3 = this.registerParameter('gamma3', lazy([dim], () => tf.fill([dim], ls)))!;
    this.gamma2 = this.registerParameter('gamma2', lazy([dim], () => tf.fill([dim], ls)))!;
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, dim)[1]);
    this.attn = this.addModule('attn', new XCA({ dim, num_heads: o.num_heads, qkv_bias: o.qkv_bias ?? false, attn_drop: o.attn_drop ?? 0, proj_drop: drop }));
    const dp = o.drop_path ?? 0;
    this.dropPath = this.addModule('drop_path', dp > 0 ? new DropPath({ drop_prob: dp }) : new Identity());
    this.norm3 = this.addModule('norm3', buildNormLayer(normCfg, dim)[1]);
    this.localMp = this.addModule('local_mp', new LPI({ in_features: dim, norm_cfg: o.bn_norm_cfg ?? { type: 'BN' }, act_cfg: actCfg }));
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, dim)[1]);
    this.ffn = this.addModule(
      'ffn',
      new FFN({ embed_dims: dim, feedforward_channels: Math.floor(dim * (o.mlp_ratio ?? 4)), act_cfg: actCfg, ffn_drop: drop, add_identity: false }),
    );
  }

  forward(x: tf.Tensor, h: number, w: number): tf.Tensor {
    x = tf.add(x, this.dropPath.forward(tf.mul(this.gamma1.variable, this.attn.forward(this.norm1.forward(x)))));
    // The official order: the LPI (gamma3) before the FFN (gamma2).
    x = tf.add(x, this.dropPath.forward(tf.mul(this.gamma3.variable, this.localMp.forward(this.norm3.forward(x), h, w))));
    // ffn(x, identity=0): the FFN's output without its shortcut.
    return tf.add(x, this.dropPath.forward(tf.mul(this.gamma2.variable, this.ffn.forward(this.norm2.forward(x)))));
  }

  /** Input [[B, N, C], [H, W]]; returns [B, N, C]. */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tok, hw] = x as [number[], number[]];
    this.attn.inferShape(this.norm1.inferShape(tok, ctx), ctx);
    this.localMp.inferShape([this.norm3.inferShape(tok, ctx), hw], ctx);
    this.ffn.inferShape(this.norm2.inferShape(tok, ctx), ctx);
    return tok;
  }
}

/** Options of {@link ClassAttentionBlock}. */
export interface ClassAttentionBlockOptions {
  /** The feature dimension. */
  dim: number;
  /** Parallel attention heads. */
  num_heads: number;
  /** Hidden dimension ratio of the FFN. @default 4.0 */
  mlp_ratio?: number;
  /** Bias of the q, k, v projections. @default False */
  qkv_bias?: boolean;
  /** Dropout after the projections and in the FFN. @default 0.0 */
  drop?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path?: number;
  /** Initial value of the layer scales (0 or less: none). @default 1.0 */
  layer_scale_init_value?: number;
  /** Normalise all tokens before the FFN rather than only the class token. @default False */
  tokens_norm?: boolean;
  /** Normalisation config. @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
}

/**
 * Class-attention block (CaiT) as XCiT has it: the class token attends to all tokens; the patch
 * tokens pass through as x + gamma1 * norm1(x) and are then doubled by the final residual (the
 * reference implementation's arithmetic, kept for its checkpoints); the FFN sees the class token only.
 */
export class ClassAttentionBlock extends Layer {
  readonly gamma1: Parameter | null;
  readonly gamma2: Parameter | null;
  readonly norm1: Layer;
  readonly attn: XCiTClassAttention;
  readonly dropPath: Layer;
  readonly norm2: Layer;
  readonly ffn: FFN;
  readonly tokensNorm: boolean;

  constructor(o: ClassAttentionBlockOptions) {
    super();
    const dim = o.dim;
    const normCfg = o.norm_cfg ?? { type: 'LN', eps: 1e-6 };
    const drop = o.drop ?? 0;
    const ls = o.layer_scale_init_value ?? 1;
    this.gamma1 = this.registerParameter('gamma1', ls > 0 ? lazy([dim], () => tf.fill([dim], ls)) : null);
    this.gamma2 = this.registerParameter('gamma2', ls > 0 ? lazy([dim], () => tf.fill([dim], ls)) : null);
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, dim)[1]);
    this.attn = this.addModule('attn', new XCiTClassAttention({ dim, num_heads: o.num_heads, qkv_bias: o.qkv_bias ?? false, attn_drop: o.attn_drop ?? 0, proj_drop: drop }));
    const dp = o.drop_path ?? 0;
    this.dropPath = this.addModule('drop_path', dp > 0 ? new DropPath({ drop_prob: dp }) : new Identity());
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, dim)[1]);
    this.ffn = this.addModule(
      'ffn',
      new FFN({ embed_dims: dim, feedforward_channels: Math.floor(dim * (o.mlp_ratio ?? 4)), act_cfg: o.act_cfg ?? { type: 'GELU' }, ffn_drop: drop, add_identity: false }),
    );
    this.tokensNorm = o.tokens_norm ?? false;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const first = (t: tf.Tensor): tf.Tensor => tf.slice(t, [0, 0, 0], [-1, 1, -1]);
    const rest = (t: tf.Tensor): tf.Tensor => tf.slice(t, [0, 1, 0], [-1, -1, -1]);
    const g = (p: Parameter | null, t: tf.Tensor): tf.Tensor => (p ? tf.mul(p.variable, t) : t);
    const xNorm1 = this.norm1.forward(x);
    const xAttn = tf.concat([this.attn.forward(xNorm1), rest(xNorm1)], 1);
    x = tf.add(x, this.dropPath.forward(g(this.gamma1, xAttn)));
    x = this.tokensNorm ? this.norm2.forward(x) : tf.concat([this.norm2.forward(first(x)), rest(x)], 1);
    const cls = g(this.gamma2, this.ffn.forward(first(x)));
    return tf.add(x, this.dropPath.forward(tf.concat([cls, rest(x)], 1)));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, , c] = x;
    this.attn.inferShape(this.norm1.inferShape(x, ctx), ctx);
    this.norm2.inferShape(this.tokensNorm ? x : [b, 1, c], ctx);
    this.ffn.inferShape([b, 1, c], ctx);
    return x;
  }
}

/** Options of {@link XCiT}. */
export interface XCiTOptions {
  /** Input image size (must be a multiple of patch_size). @default 224 */
  img_size?: number | [number, number];
  /** Patch size, 8 or 16. @default 16 */
  patch_size?: number;
  /** Number of input channels. @default 3 */
  in_channels?: number;
  /** Embedding dimension. @default 768 */
  embed_dims?: number;
  /** Number of XCA blocks. @default 12 */
  depth?: number;
  /** Number of class-attention blocks. @default 2 */
  cls_attn_layers?: number;
  /** Number of attention heads. @default 12 */
  num_heads?: number;
  /** Hidden dimension ratio of the FFNs. @default 4.0 */
  mlp_ratio?: number;
  /** Bias of the q, k, v projections. @default True */
  qkv_bias?: boolean;
  /** Dropout after the position encoding, the projections and in the FFNs. @default 0.0 */
  drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate of every XCA block (the same rate for all; none in the class-attention blocks). @default 0.0 */
  drop_path_rate?: number;
  /** Add the Fourier position encoding to the patch tokens. @default True */
  use_pos_embed?: boolean;
  /** Initial value of the layer scales. @default 1.0 */
  layer_scale_init_value?: number;
  /** Normalise all tokens (not only the class token) before the FFN of the class-attention blocks. @default False */
  tokens_norm?: boolean;
  /** Output: 'raw' tokens, 'featmap' [B, C, H, W], 'avg_featmap' (mean patch token) or 'cls_token'. @default 'cls_token' */
  out_type?: 'raw' | 'featmap' | 'avg_featmap' | 'cls_token';
  /** Layers whose output is returned (XCA blocks first, then class-attention blocks; negative counts from the end). @default (-1, ) */
  out_indices?: number | number[];
  /** Layer norm after the last class-attention block. @default True */
  final_norm?: boolean;
  /** Stages to freeze: 0 the stem (patch embedding, position encoding), k also the first k - 1 layers; -1 none. @default -1 */
  frozen_stages?: number;
  /** Batch norm of the LPIs and the patch embedding. @default dict(type='BN') */
  bn_norm_cfg?: LayerCfg;
  /** Normalisation config. @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Initialisation config. @default dict(type='TruncNormal', layer='Linear') */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** XCiT backbone (XCiT: Cross-Covariance Image Transformers). */
@MODELS.registerModule()
export class XCiT extends BaseBackbone {
  readonly embedDims: number;
  readonly outType: 'raw' | 'featmap' | 'avg_featmap' | 'cls_token';
  readonly numLayers: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly useTokenPosEmbed: boolean;
  readonly patchEmbed: ConvPatchEmbed;
  readonly clsToken: Parameter;
  readonly posEmbed: XCiTPositionalEncodingFourier | null;
  readonly posDrop: Dropout;
  readonly xcaLayers: ModuleList<XCABlock>;
  readonly caLayers: ModuleList<ClassAttentionBlock>;
  readonly norm: Layer | null;

  constructor(o: XCiTOptions = {}) {
    super(o.init_cfg === undefined ? { type: 'TruncNormal', layer: 'Linear' } : o.init_cfg);
    const img = o.img_size ?? 224;
    const imgSize = typeof img === 'number' ? [img, img] : [...img];
    const patch = o.patch_size ?? 16;
    if (imgSize[0] % patch !== 0 || imgSize[1] % patch !== 0) {
      throw new MmclsError(`\`patch_size\` (${patch}) should divide the image shape (${imgSize.join(', ')}) evenly.`, { code: 'model.bad-argument' });
    }
    this.embedDims = o.embed_dims ?? 768;
    const outType = o.out_type ?? 'cls_token';
    if (!['raw', 'featmap', 'avg_featmap', 'cls_token'].includes(outType)) {
      throw new MmclsError(`Unsupported out_type ${String(outType)}, please choose from raw, featmap, avg_featmap, cls_token`, { code: 'model.bad-argument' });
    }
    this.outType = outType;
    const bnCfg = o.bn_norm_cfg ?? { type: 'BN' };
    const normCfg = o.norm_cfg ?? { type: 'LN', eps: 1e-6 };
    const actCfg = o.act_cfg ?? { type: 'GELU' };
    this.clsToken = this.registerParameter('cls_token', lazy([1, 1, this.embedDims], () => tf.zeros([1, 1, this.embedDims])))!;
    this.patchEmbed = this.addModule(
      'patch_embed',
      new ConvPatchEmbed({ img_size: img, patch_size: patch, in_channels: o.in_channels ?? 3, embed_dims: this.embedDims, norm_cfg: bnCfg, act_cfg: actCfg }),
    );
    this.useTokenPosEmbed = o.use_pos_embed ?? true;
    this.posEmbed = this.useTokenPosEmbed ? this.addModule('pos_embed', new XCiTPositionalEncodingFourier({ dim: this.embedDims })) : null;
    const dropRate = o.drop_rate ?? 0;
    this.posDrop = this.addModule('pos_drop', new Dropout({ p: dropRate }));
    const depth = o.depth ?? 12;
    const clsLayers = o.cls_attn_layers ?? 2;
    const common = {
      dim: this.embedDims,
      num_heads: o.num_heads ?? 12,
      mlp_ratio: o.mlp_ratio ?? 4,
      qkv_bias: o.qkv_bias ?? true,
      drop: dropRate,
      attn_drop: o.attn_drop_rate ?? 0,
      norm_cfg: normCfg,
      act_cfg: actCfg,
      layer_scale_init_value: o.layer_scale_init_value ?? 1,
    };
    this.xcaLayers = this.addModule('xca_layers', new ModuleList<XCABlock>());
    for (let i = 0; i < depth; i++) this.xcaLayers.push(new XCABlock({ ...common, drop_path: o.drop_path_rate ?? 0, bn_norm_cfg: bnCfg }));
    this.caLayers = this.addModule('ca_layers', new ModuleList<ClassAttentionBlock>());
    for (let i = 0; i < clsLayers; i++) this.caLayers.push(new ClassAttentionBlock({ ...common, tokens_norm: o.tokens_norm ?? false }));
    this.numLayers = depth + clsLayers;
    // MMCls would fail in forward without the final norm; here the class-attention output is then returned as is.
    this.norm = o.final_norm ?? true ? this.addModule('norm', buildNormLayer(normCfg, this.embedDims)[1]) : null;

    const oi = o.out_indices ?? [-1];
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((index) => {
      const r = index < 0 ? this.numLayers + index : index;
      if (r < 0 || r > this.numLayers) throw new MmclsError(`Invalid out_indices ${index}.`, { code: 'model.bad-argument' });
      return r;
    });
    this.frozenStages = o.frozen_stages ?? -1;
    if (this.frozenStages > this.numLayers + 1) {
      throw new MmclsError(`frozen_stages must be less than ${this.numLayers} but get ${this.frozenStages}`, { code: 'model.bad-argument' });
    }
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (!(this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained')) {
      initParameter(this.clsToken, { type: 'TruncNormal', std: 0.02 });
    }
  }

  /** MMCls's `_freeze_stages` (note: frozen_stages = k freezes the stem and the first k - 1 layers). */
  private freezeStages(): void {
    if (this.frozenStages < 0) return;
    if (this.posEmbed) {
      this.posEmbed.eval();
      this.posEmbed.requiresGrad(false);
    }
    this.patchEmbed.eval();
    this.patchEmbed.requiresGrad(false);
    this.posDrop.eval();
    const nXca = this.xcaLayers.length;
    if (this.frozenStages > nXca) this.clsToken.requiresGrad = false;
    for (let i = 1; i < this.frozenStages; i++) {
      const m: Module = i <= nXca ? this.xcaLayers.at(i - 1) : this.caLayers.at(i - nXca - 1);
      m.eval();
      m.requiresGrad(false);
    }
    if (this.frozenStages === nXca + this.caLayers.length && this.norm) {
      this.norm.eval();
      this.norm.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages());
  }

  forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    const { tokens, size } = this.patchEmbed.forward(x);
    const [hp, wp] = size;
    let h = tokens;
    if (this.posEmbed) h = tf.add(h, tf.reshape(this.posEmbed.forward(b, hp, wp), [b, hp * wp, this.embedDims]));
    h = this.posDrop.forward(h);
    const outs: Feat[] = [];
    const nXca = this.xcaLayers.length;
    for (let i = 0; i < nXca; i++) {
      h = this.xcaLayers.at(i).forward(h, hp, wp);
      if (this.outIndices.includes(i)) outs.push(this.formatOutput(h, size, false));
    }
    h = tf.concat([tf.tile(this.clsToken.variable, [b, 1, 1]), h], 1);
    const nCa = this.caLayers.length;
    for (let i = 0; i < nCa; i++) {
      h = this.caLayers.at(i).forward(h);
      if (i === nCa - 1 && this.norm) h = this.norm.forward(h);
      if (this.outIndices.includes(i + nXca)) outs.push(this.formatOutput(h, size, true));
    }
    return outs;
  }

  private formatOutput(x: tf.Tensor, [hp, wp]: [number, number], withClsToken: boolean): tf.Tensor {
    if (this.outType === 'raw') return x;
    const [b, , c] = x.shape;
    if (this.outType === 'cls_token') {
      if (!withClsToken) throw new MmclsError('Cannot output cls_token since there is no cls_token.', { code: 'model.bad-argument' });
      return tf.reshape(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [b, c]);
    }
    const patches = withClsToken ? tf.slice(x, [0, 1, 0], [-1, -1, -1]) : x;
    if (this.outType === 'featmap') return tf.reshape(patches, [b, hp, wp, c]);
    return tf.mean(patches, 1);
  }

  private formatShape(tok: number[], [hp, wp]: number[], withClsToken: boolean): number[] {
    const [b, , c] = tok;
    if (this.outType === 'raw') return tok;
    if (this.outType === 'cls_token') {
      if (!withClsToken) throw new MmclsError('Cannot output cls_token since there is no cls_token.', { code: 'model.bad-argument' });
      return [b, c];
    }
    return this.outType === 'featmap' ? [b, c, hp, wp] : [b, c];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'XCiT');
    const [tok, hw] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    const [b, n, c] = tok;
    if (this.posEmbed) this.posEmbed.inferShape([b, c, hw[0], hw[1]], ctx);
    let h: number[] = asShape(this.posDrop.inferShape(tok, ctx), 'XCiT');
    const outs: ShapeValue[] = [];
    const nXca = this.xcaLayers.length;
    for (let i = 0; i < nXca; i++) {
      h = asShape(shapeInList(this.xcaLayers, this.xcaLayers.at(i), [h, hw], ctx), 'XCiT');
      if (this.outIndices.includes(i)) outs.push(this.formatShape(h, hw, false));
    }
    h = [b, n + 1, c];
    const nCa = this.caLayers.length;
    for (let i = 0; i < nCa; i++) {
      h = asShape(shapeInList(this.caLayers, this.caLayers.at(i), h, ctx), 'XCiT');
      if (i === nCa - 1 && this.norm) h = asShape(this.norm.inferShape(h, ctx), 'XCiT');
      if (this.outIndices.includes(i + nXca)) outs.push(this.formatShape(h, hw, true));
    }
    return outs;
  }
}
