import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { MODELS } from '../registry';
import { Dropout } from './activation';
import { LayerCfg, buildActivationLayer, buildDropout, buildNormLayer } from './builders';
import { Conv2d, Linear, Pair, pair } from './conv';
import { Identity, Layer, Sequential } from './layer';
import { Module, Parameter, ShapeContext, ShapeValue, asShape, lazy } from './module';

/** Options of {@link LayerScale}. */
export interface LayerScaleOptions {
  /** Channels. */
  dim: number;
  /** Initial scale. @default 1e-05 */
  layer_scale_init_value?: number;
}

/** Per-channel learnable scale (`weight`), MMCls's LayerScale. */
export class LayerScale extends Layer {
  readonly weight: Parameter;
  constructor(o: LayerScaleOptions) {
    super();
    const v = o.layer_scale_init_value ?? 1e-5;
    this.weight = this.registerParameter('weight', lazy([o.dim], () => tf.fill([o.dim], v)))!;
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, this.weight.variable);
  }
}

/** Options of {@link MultiheadAttention} (MMCls's, with one qkv projection). */
export interface MultiheadAttentionOptions {
  /** Embedding dimension. */
  embed_dims: number;
  /** Number of heads. */
  num_heads: number;
  /** Input dimension (None: embed_dims). @default None */
  input_dims?: number | null;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
  /** Dropout or DropPath on the output. @default dict(type='Dropout', drop_prob=0.0) */
  dropout_layer?: LayerCfg | null;
  /** Bias of the qkv projection. @default True */
  qkv_bias?: boolean;
  /** Scale of q·k (None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
  /** Bias of the output projection. @default True */
  proj_bias?: boolean;
  /** Add v to the output (T2T-ViT). @default False */
  v_shortcut?: boolean;
  /** Learnable output scale (gamma1). @default False */
  use_layer_scale?: boolean;
  /** Initial value of the output scale; > 0 enables it. @default 0.0 */
  layer_scale_init_value?: number;
}

/** Multi-head self-attention over [B, N, C] tokens with a fused `qkv` linear layer and `proj`. */
@MODELS.registerModule()
export class MultiheadAttention extends Layer {
  readonly embedDims: number;
  readonly numHeads: number;
  readonly headDims: number;
  readonly scale: number;
  readonly vShortcut: boolean;
  readonly qkv: Layer;
  readonly attnDrop: Dropout;
  readonly proj: Layer;
  readonly projDrop: Dropout;
  readonly outDrop: Layer;
  readonly gamma1: Layer;

  constructor(o: MultiheadAttentionOptions) {
    super();
    this.embedDims = o.embed_dims;
    this.numHeads = o.num_heads;
    if (this.embedDims % this.numHeads !== 0) {
      throw new MmclsError(`embed_dims ${this.embedDims} is not divisible by num_heads ${this.numHeads}`, { code: 'model.bad-argument' });
    }
    this.headDims = this.embedDims / this.numHeads;
    this.scale = o.qk_scale ?? this.headDims ** -0.5;
    this.vShortcut = o.v_shortcut ?? false;
    const inputDims = o.input_dims ?? this.embedDims;
    this.qkv = this.addModule('qkv', new Linear({ in_features: inputDims, out_features: this.embedDims * 3, bias: o.qkv_bias ?? true }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: this.embedDims, out_features: this.embedDims, bias: o.proj_bias ?? true }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
    this.outDrop = this.addModule('out_drop', buildDropout(o.dropout_layer === undefined ? { type: 'Dropout', drop_prob: 0 } : o.dropout_layer));
    const ls = o.layer_scale_init_value ?? 0;
    this.gamma1 = this.addModule(
      'gamma1',
      o.use_layer_scale || ls > 0 ? new LayerScale({ dim: this.embedDims, layer_scale_init_value: ls > 0 ? ls : 1e-5 }) : new Identity(),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape;
    const h = this.numHeads;
    const d = this.headDims;
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, d]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv, 0);
    let attn = tf.mul(tf.matMul(q, k, false, true), this.scale);
    attn = this.attnDrop.forward(tf.softmax(attn, -1));
    let y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, this.embedDims]);
    y = this.proj.forward(y);
    y = this.outDrop.forward(this.gamma1.forward(this.projDrop.forward(y)));
    if (this.vShortcut) y = tf.add(tf.squeeze(v, [1]), y);
    return y;
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n] = x;
    this.qkv.inferShape(x, ctx);
    const h = this.numHeads;
    const d = this.headDims;
    // q @ k^T and attn @ v: fvcore counts each matmul as its multiply-adds, activations = output elements.
    ctx.add('matmul', b * h * n * n * d, b * h * n * n);
    ctx.add('matmul', b * h * n * n * d, b * h * n * d);
    const out = [b, n, this.embedDims];
    this.proj.inferShape(out, ctx);
    return out;
  }
}

/** Options of {@link FFN} (MMCV's feed-forward network). */
export interface FFNOptions {
  /** Input and output channels. @default 256 */
  embed_dims?: number;
  /** Hidden channels. @default 1024 */
  feedforward_channels?: number;
  /** Number of fully connected layers (at least 2). @default 2 */
  num_fcs?: number;
  /** Activation. @default dict(type='ReLU', inplace=True) */
  act_cfg?: LayerCfg;
  /** Dropout after the activation and the last layer. @default 0.0 */
  ffn_drop?: number;
  /** Dropout or DropPath on the output before the shortcut. @default None */
  dropout_layer?: LayerCfg | null;
  /** Add the input to the output. @default True */
  add_identity?: boolean;
  /** Initial value of the output scale (gamma2); > 0 enables it. @default 0.0 */
  layer_scale_init_value?: number;
}

/** MMCV's FFN: `layers` = [[fc, act, dropout], ..., fc, dropout], then drop-path and the shortcut. */
@MODELS.registerModule()
export class FFN extends Module {
  readonly layers: Sequential;
  readonly dropoutLayer: Layer;
  readonly gamma2: Layer;
  readonly addIdentity: boolean;

  constructor(o: FFNOptions = {}) {
    super();
    const embed = o.embed_dims ?? 256;
    const ff = o.feedforward_channels ?? 1024;
    const numFcs = o.num_fcs ?? 2;
    if (numFcs < 2) throw new MmclsError(`num_fcs should be no less than 2. got ${numFcs}.`, { code: 'model.bad-argument' });
    const act = o.act_cfg ?? { type: 'ReLU', inplace: true };
    const drop = o.ffn_drop ?? 0;
    const layers: Layer[] = [];
    let inCh = embed;
    for (let i = 0; i < numFcs - 1; i++) {
      layers.push(new Sequential(new Linear({ in_features: inCh, out_features: ff }), buildActivationLayer(act), new Dropout({ p: drop })));
      inCh = ff;
    }
    layers.push(new Linear({ in_features: ff, out_features: embed }));
    layers.push(new Dropout({ p: drop }));
    this.layers = this.addModule('layers', new Sequential(...layers));
    this.dropoutLayer = this.addModule('dropout_layer', buildDropout(o.dropout_layer ?? null));
    this.addIdentity = o.add_identity ?? true;
    const ls = o.layer_scale_init_value ?? 0;
    this.gamma2 = this.addModule('gamma2', ls > 0 ? new LayerScale({ dim: embed, layer_scale_init_value: ls }) : new Identity());
  }

  forward(x: tf.Tensor, identity?: tf.Tensor): tf.Tensor {
    const out = this.gamma2.forward(this.layers.forward(x));
    if (!this.addIdentity) return this.dropoutLayer.forward(out);
    return tf.add(identity ?? x, this.dropoutLayer.forward(out));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.layers.inferShape(x, ctx);
  }
}

/** MMCV's AdaptivePadding: pads bottom/right ('corner') or both sides ('same') so patches tile the input. */
export class AdaptivePadding extends Layer {
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly dilation: [number, number];
  readonly mode: 'corner' | 'same';

  constructor(o: { kernel_size: Pair; stride: Pair; dilation?: Pair; padding: 'corner' | 'same' }) {
    super();
    this.kernel = pair(o.kernel_size);
    this.stride = pair(o.stride);
    this.dilation = pair(o.dilation ?? 1);
    this.mode = o.padding;
  }

  padShape(h: number, w: number): [number, number] {
    const oh = Math.ceil(h / this.stride[0]);
    const ow = Math.ceil(w / this.stride[1]);
    return [
      Math.max((oh - 1) * this.stride[0] + (this.kernel[0] - 1) * this.dilation[0] + 1 - h, 0),
      Math.max((ow - 1) * this.stride[1] + (this.kernel[1] - 1) * this.dilation[1] + 1 - w, 0),
    ];
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [ph, pw] = this.padShape(x.shape[1]!, x.shape[2]!);
    if (!ph && !pw) return x;
    const t = this.mode === 'same' ? Math.floor(ph / 2) : 0;
    const l = this.mode === 'same' ? Math.floor(pw / 2) : 0;
    return tf.pad(x, [[0, 0], [t, ph - t], [l, pw - l], [0, 0]]);
  }

  protected override shapeOf(x: number[], _ctx: ShapeContext): number[] {
    const [ph, pw] = this.padShape(x[2], x[3]);
    return [x[0], x[1], x[2] + ph, x[3] + pw];
  }
}

/** Options of {@link PatchEmbed} (MMCV's). */
export interface PatchEmbedOptions {
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Embedding dimension. @default 768 */
  embed_dims?: number;
  /** Convolution type. @default 'Conv2d' */
  conv_type?: string;
  /** Patch size. @default 16 */
  kernel_size?: Pair;
  /** Patch stride (None: kernel_size). @default None */
  stride?: Pair | null;
  /** 'corner' / 'same' adaptive padding, or a number. @default 'corner' */
  padding?: 'corner' | 'same' | number;
  /** Dilation. @default 1 */
  dilation?: Pair;
  /** Bias of the projection. @default True */
  bias?: boolean;
  /** Norm after the projection. @default None */
  norm_cfg?: LayerCfg | null;
  /** Input size, to compute init_out_size. @default None */
  input_size?: Pair | null;
}

/** Image to patch tokens: a strided conv (`projection`), flattened to [B, H'*W', C]. */
export class PatchEmbed extends Module {
  readonly adaptivePadding: AdaptivePadding | null;
  readonly projection: Conv2d;
  readonly norm: Layer | null;
  readonly initOutSize: [number, number] | null;

  constructor(o: PatchEmbedOptions = {}) {
    super();
    const embed = o.embed_dims ?? 768;
    const kernel = o.kernel_size ?? 16;
    const stride = o.stride ?? kernel;
    const dilation = o.dilation ?? 1;
    const padding = o.padding ?? 'corner';
    if (typeof padding === 'string') {
      this.adaptivePadding = this.addModule('adaptive_padding', new AdaptivePadding({ kernel_size: kernel, stride, dilation, padding }));
    } else {
      this.adaptivePadding = null;
    }
    this.projection = this.addModule(
      'projection',
      new Conv2d({ in_channels: o.in_channels ?? 3, out_channels: embed, kernel_size: kernel, stride, padding: typeof padding === 'string' ? 0 : padding, dilation, bias: o.bias ?? true }),
    );
    this.norm = o.norm_cfg ? this.addModule('norm', buildNormLayer(o.norm_cfg, embed)[1]) : null;
    if (o.input_size !== undefined && o.input_size !== null) {
      let [h, w] = pair(o.input_size);
      if (this.adaptivePadding) {
        const [ph, pw] = this.adaptivePadding.padShape(h, w);
        h += ph;
        w += pw;
      }
      this.initOutSize = this.projection.outputSize(h, w);
    } else {
      this.initOutSize = null;
    }
  }

  /** Tokens [B, H'*W', C] and the patch grid size [H', W']. */
  forward(x: tf.Tensor): { tokens: tf.Tensor; size: [number, number] } {
    if (this.adaptivePadding) x = this.adaptivePadding.forward(x);
    const y = this.projection.forward(x);
    const [b, h, w, c] = y.shape;
    let tokens = tf.reshape(y, [b, h * w, c]);
    if (this.norm) tokens = this.norm.forward(tokens);
    return { tokens, size: [h, w] };
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    if (this.adaptivePadding) x = this.adaptivePadding.inferShape(x, ctx);
    const [b, c, h, w] = asShape(this.projection.inferShape(x, ctx));
    let tokens: ShapeValue = [b, h * w, c];
    if (this.norm) tokens = this.norm.inferShape(tokens, ctx);
    return [tokens, [h, w]];
  }
}

/** Row interpolation weights [dst, src] of PyTorch's `interpolate` (align_corners=False). */
export function interpolationMatrix(src: number, dst: number, mode: 'bicubic' | 'bilinear' | 'nearest'): Float32Array {
  const m = new Float32Array(dst * src);
  const scale = src / dst;
  const clampIdx = (i: number): number => Math.min(Math.max(i, 0), src - 1);
  for (let i = 0; i < dst; i++) {
    if (mode === 'nearest') {
      m[i * src + Math.min(Math.floor(i * scale), src - 1)] = 1;
      continue;
    }
    let s = (i + 0.5) * scale - 0.5;
    if (mode === 'bilinear') {
      s = Math.max(s, 0);
      const i0 = Math.floor(s);
      const i1 = Math.min(i0 + 1, src - 1);
      const t = s - i0;
      m[i * src + i0] += 1 - t;
      m[i * src + i1] += t;
      continue;
    }
    const a = -0.75;
    const i0 = Math.floor(s);
    const t = s - i0;
    const c1 = (x: number): number => ((a + 2) * x - (a + 3)) * x * x + 1;
    const c2 = (x: number): number => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    const ws = [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
    for (let k = 0; k < 4; k++) m[i * src + clampIdx(i0 - 1 + k)] += ws[k];
  }
  return m;
}

/**
 * MMCls's `resize_pos_embed`: interpolates the grid part of a [1, extra + H*W, C] position embedding
 * from `src` to `dst` (PyTorch's bicubic / bilinear / nearest, align_corners=False), differentiably.
 */
export function resizePosEmbed(
  posEmbed: tf.Tensor,
  src: [number, number],
  dst: [number, number],
  mode: 'bicubic' | 'bilinear' | 'nearest' = 'bicubic',
  numExtraTokens = 1,
): tf.Tensor {
  if (src[0] === dst[0] && src[1] === dst[1]) return posEmbed;
  const [, l, c] = posEmbed.shape;
  if (l !== numExtraTokens + src[0] * src[1]) {
    throw new MmclsError(`The length of pos_embed (${l}) doesn't match the expected shape (${src[0]}*${src[1]}+${numExtraTokens})`, {
      code: 'model.shape',
    });
  }
  const extra = tf.slice(posEmbed, [0, 0, 0], [1, numExtraTokens, c]);
  const grid = tf.reshape(tf.slice(posEmbed, [0, numExtraTokens, 0], [1, -1, c]), [src[0], src[1] * c]);
  const wh = tf.tensor2d(interpolationMatrix(src[0], dst[0], mode), [dst[0], src[0]]);
  const ww = tf.tensor2d(interpolationMatrix(src[1], dst[1], mode), [dst[1], src[1]]);
  const rows = tf.reshape(tf.matMul(wh, grid), [dst[0], src[1], c]);
  const cols = tf.matMul(ww, tf.reshape(tf.transpose(rows, [1, 0, 2]), [src[1], dst[0] * c]));
  const out = tf.reshape(tf.transpose(tf.reshape(cols, [dst[1], dst[0], c]), [1, 0, 2]), [1, dst[0] * dst[1], c]);
  return tf.concat([extra, out], 1);
}

/** FLOPs fvcore counts for an upsample of `outNumel` elements (bicubic has no handle). */
export function upsampleFlops(mode: 'bicubic' | 'bilinear' | 'nearest', outNumel: number): number {
  return mode === 'bilinear' ? 4 * outNumel : mode === 'nearest' ? outNumel : 0;
}

