import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear, Pair, pair } from '../../nn/conv';
import { initParameter } from '../../nn/init';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { MaxPool2d } from '../../nn/pooling';
import { PatchEmbed, PatchEmbedOptions, interpolationMatrix, resizePosEmbed, upsampleFlops } from '../../nn/transformer';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/**
 * MMCls's `resize_decomposed_rel_pos`: the [q_size, k_size, C] table of relative-position
 * embeddings, the (L, C) table first linearly interpolated to 2 * max(q, k) - 1 rows when needed.
 */
export function resizeDecomposedRelPos(relPos: tf.Tensor2D, qSize: number, kSize: number): tf.Tensor3D {
  return tf.tidy(() => {
    const maxRelDist = 2 * Math.max(qSize, kSize) - 1;
    let resized: tf.Tensor2D = relPos;
    if (relPos.shape[0] !== maxRelDist) {
      const m = tf.tensor2d(interpolationMatrix(relPos.shape[0], maxRelDist, 'bilinear'), [maxRelDist, relPos.shape[0]]);
      resized = tf.matMul(m, relPos);
    }
    // Coordinates in float32 as PyTorch computes them, truncated by `.long()`.
    const f = Math.fround;
    const qRatio = Math.max(kSize / qSize, 1);
    const kRatio = Math.max(qSize / kSize, 1);
    const idx = new Int32Array(qSize * kSize);
    for (let i = 0; i < qSize; i++) {
      for (let j = 0; j < kSize; j++) {
        idx[i * kSize + j] = Math.trunc(f(f(f(i * f(qRatio)) - f(j * f(kRatio))) + f((kSize - 1) * f(kRatio))));
      }
    }
    return tf.reshape(tf.gather(resized, tf.tensor1d(idx, 'int32')), [qSize, kSize, relPos.shape[1]]) as tf.Tensor3D;
  });
}

/**
 * MMCls's `add_decomposed_rel_pos` without extra tokens: `attn` [B*heads, qh*qw, kh*kw] plus the
 * decomposed height and width terms computed from `q` [B*heads, qh*qw, C].
 */
export function addDecomposedRelPos(attn: tf.Tensor, q: tf.Tensor, qShape: [number, number], kShape: [number, number], relPosH: tf.Tensor2D, relPosW: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const [bh, , c] = q.shape as [number, number, number];
    const [qh, qw] = qShape;
    const [kh, kw] = kShape;
    const rh = resizeDecomposedRelPos(relPosH, qh, kh);
    const rw = resizeDecomposedRelPos(relPosW, qw, kw);
    const rq = tf.reshape(q, [bh, qh, qw, c]);
    // einsum('byhwc,hkc->byhwk') and einsum('byhwc,wkc->byhwk') as batched matmuls.
    const relH = tf.matMul(tf.reshape(tf.transpose(rq, [1, 0, 2, 3]), [qh, bh * qw, c]), rh, false, true);
    const relHt = tf.transpose(tf.reshape(relH, [qh, bh, qw, kh]), [1, 0, 2, 3]);
    const relW = tf.matMul(tf.reshape(tf.transpose(rq, [2, 0, 1, 3]), [qw, bh * qh, c]), rw, false, true);
    const relWt = tf.transpose(tf.reshape(relW, [qw, bh, qh, kw]), [1, 2, 0, 3]);
    const map = tf.reshape(attn, [bh, qh, qw, kh, kw]);
    const out = tf.add(tf.add(map, tf.reshape(relHt, [bh, qh, qw, kh, 1])), tf.reshape(relWt, [bh, qh, qw, 1, kw]));
    return tf.reshape(out, [bh, qh * qw, kh * kw]);
  });
}

/**
 * fvcore's count of a two-operand einsum with `macs` multiply-adds: it parses numpy's
 * `einsum_path` report, which prints the cost (2 x macs) as '%.3e', and halves it (floored).
 */
export function einsumFlops(macs: number): number {
  return Math.floor(Number((2 * macs).toExponential(3)) / 2);
}

/** Options of {@link MViTMLP}. */
export interface MViTMLPOptions {
  /** Input channels. */
  in_channels: number;
  /** Hidden channels (None: in_channels). @default None */
  hidden_channels?: number | null;
  /** Output channels (None: in_channels). @default None */
  out_channels?: number | null;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MViT's two-layer MLP (`fc1`, activation, `fc2`) whose output width may differ from its input. */
export class MViTMLP extends Layer {
  readonly fc1: Linear;
  readonly act: Layer;
  readonly fc2: Linear;

  constructor(o: MViTMLPOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    const out = o.out_channels || o.in_channels;
    const hidden = o.hidden_channels || o.in_channels;
    this.fc1 = this.addModule('fc1', new Linear({ in_features: o.in_channels, out_features: hidden }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.fc2 = this.addModule('fc2', new Linear({ in_features: hidden, out_features: out }));
  }

  override get typeName(): string {
    return 'MLP';
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.fc2.inferShape(this.act.inferShape(this.fc1.inferShape(x, ctx), ctx), ctx);
  }
}

/**
 * MMCls's `attention_pool` on NHWC data: `x` [B', H*W, C] (B' = batch x heads) through `pool` on the
 * [B', H, W, C] map, then `norm`; returns [B', H'*W', C] and [H', W'].
 */
function attentionPool(x: tf.Tensor, pool: Layer, inSize: [number, number], norm: Layer | null): [tf.Tensor, [number, number]] {
  const [b, l, c] = x.shape as [number, number, number];
  const [h, w] = inSize;
  if (l !== h * w) throw new MmclsError(`MViT attention pooling: ${l} tokens do not form a ${h}x${w} map`, { code: 'model.shape' });
  const y = pool.forward(tf.reshape(x, [b, h, w, c]));
  const [, oh, ow] = y.shape as [number, number, number, number];
  let out = tf.reshape(y, [b, oh * ow, c]);
  if (norm) out = norm.forward(out);
  return [out, [oh, ow]];
}

/** The shape pass of {@link attentionPool} (PyTorch permutes to NCHW for the pool). */
function attentionPoolShape(x: number[], pool: Layer, inSize: [number, number], norm: Layer | null, ctx: ShapeContext): [number[], [number, number]] {
  const [b, , c] = x;
  const [, , oh, ow] = asShape(pool.inferShape([b, c, inSize[0], inSize[1]], ctx));
  let out: number[] = [b, oh * ow, c];
  if (norm) out = asShape(norm.inferShape(out, ctx));
  return [out, [oh, ow]];
}

/** Options of {@link MultiScaleAttention}. */
export interface MultiScaleAttentionOptions {
  /** Input channels. */
  in_dims: number;
  /** Output channels. */
  out_dims: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Bias of the qkv projection. @default True */
  qkv_bias?: boolean;
  /** Norm after the q/k/v pooling. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Kernel of the q/k/v pooling convolutions. @default (3, 3) */
  pool_kernel?: Pair;
  /** Stride of the q pooling. @default 1 */
  stride_q?: number;
  /** Stride of the k/v pooling. @default 1 */
  stride_kv?: number;
  /** Decomposed spatial relative-position embeddings. @default False */
  rel_pos_spatial?: boolean;
  /** Adds the pooled q to the attention output. @default True */
  residual_pooling?: boolean;
  /** Input resolution (needed with rel_pos_spatial). @default None */
  input_size?: Pair | null;
  /** Zero-initialise the relative-position embeddings. @default False */
  rel_pos_zero_init?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Multi-scale multi-head attention of MViT V2: pooled q/k/v, decomposed relative positions, residual pooling. */
export class MultiScaleAttention extends Layer {
  readonly numHeads: number;
  readonly inDims: number;
  readonly outDims: number;
  readonly scale: number;
  readonly relPosH: Parameter | null;
  readonly relPosW: Parameter | null;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly poolQ: Conv2d;
  readonly normQ: Layer;
  readonly poolK: Conv2d;
  readonly normK: Layer;
  readonly poolV: Conv2d;
  readonly normV: Layer;
  readonly residualPooling: boolean;
  readonly relPosSpatial: boolean;
  readonly relPosZeroInit: boolean;

  constructor(o: MultiScaleAttentionOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.numHeads = o.num_heads;
    this.inDims = o.in_dims;
    this.outDims = o.out_dims;
    const headDim = Math.floor(o.out_dims / o.num_heads);
    this.scale = headDim ** -0.5;
    this.relPosSpatial = o.rel_pos_spatial ?? false;
    this.relPosZeroInit = o.rel_pos_zero_init ?? false;
    const strideQ = o.stride_q ?? 1;
    const strideKv = o.stride_kv ?? 1;
    // PyTorch lists a module's own parameters first.
    if (this.relPosSpatial) {
      if (o.input_size === undefined || o.input_size === null) {
        throw new MmclsError('MultiScaleAttention: rel_pos_spatial needs input_size', { code: 'model.bad-argument' });
      }
      const [h, w] = pair(o.input_size);
      if (h !== w) throw new MmclsError(`MultiScaleAttention: rel_pos_spatial needs a square input, got ${h}x${w}`, { code: 'model.bad-argument' });
      const relDim = 2 * Math.max(Math.floor(h / strideQ), Math.floor(h / strideKv)) - 1;
      this.relPosH = this.registerParameter('rel_pos_h', lazy([relDim, headDim], () => tf.zeros([relDim, headDim])));
      this.relPosW = this.registerParameter('rel_pos_w', lazy([relDim, headDim], () => tf.zeros([relDim, headDim])));
    } else {
      this.relPosH = this.relPosW = null;
    }
    this.qkv = this.addModule('qkv', new Linear({ in_features: o.in_dims, out_features: o.out_dims * 3, bias: o.qkv_bias ?? true }));
    this.proj = this.addModule('proj', new Linear({ in_features: o.out_dims, out_features: o.out_dims }));
    const kernel = pair(o.pool_kernel ?? [3, 3]);
    const poolDims = headDim;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const build = (stride: number): [Conv2d, Layer] => [
      new Conv2d({ in_channels: poolDims, out_channels: poolDims, kernel_size: kernel, stride, padding: [Math.floor(kernel[0] / 2), Math.floor(kernel[1] / 2)], groups: poolDims, bias: false }),
      buildNormLayer(normCfg, poolDims)[1],
    ];
    const [pq, nq] = build(strideQ);
    this.poolQ = this.addModule('pool_q', pq);
    this.normQ = this.addModule('norm_q', nq);
    const [pk, nk] = build(strideKv);
    this.poolK = this.addModule('pool_k', pk);
    this.normK = this.addModule('norm_k', nk);
    const [pv, nv] = build(strideKv);
    this.poolV = this.addModule('pool_v', pv);
    this.normV = this.addModule('norm_v', nv);
    this.residualPooling = o.residual_pooling ?? true;
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    const cfg = this.initCfg;
    if (cfg && !Array.isArray(cfg) && cfg.type === 'Pretrained') return;
    if (!this.relPosZeroInit) {
      for (const p of [this.relPosH, this.relPosW]) if (p) initParameter(p, { type: 'TruncNormal', std: 0.02 });
    }
  }

  /** `x` [B, H*W, C_in] -> [B, H'*W', C_out] and [H', W']. */
  forwardWithSize(x: tf.Tensor, inSize: [number, number]): [tf.Tensor, [number, number]] {
    const [b, n] = x.shape as [number, number, number];
    const h = this.numHeads;
    const d = this.outDims / h;
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, d]), [2, 0, 3, 1, 4]);
    const [q0, k0, v0] = tf.unstack(tf.reshape(qkv, [3, b * h, n, d]));
    const [q, qShape] = attentionPool(q0, this.poolQ, inSize, this.normQ);
    const [k, kShape] = attentionPool(k0, this.poolK, inSize, this.normK);
    const [v] = attentionPool(v0, this.poolV, inSize, this.normV);
    let attn = tf.matMul(tf.mul(q, this.scale), k, false, true);
    if (this.relPosSpatial) attn = addDecomposedRelPos(attn, q, qShape, kShape, this.relPosH!.variable as tf.Tensor2D, this.relPosW!.variable as tf.Tensor2D);
    let y = tf.matMul(tf.softmax(attn), v);
    if (this.residualPooling) y = tf.add(y, q);
    const nq = qShape[0] * qShape[1];
    y = tf.reshape(tf.transpose(tf.reshape(y, [b, h, nq, d]), [0, 2, 1, 3]), [b, nq, this.outDims]);
    return [this.proj.forward(y), qShape];
  }

  forward(x: tf.Tensor): tf.Tensor {
    const n = x.shape[1]!;
    const side = Math.round(Math.sqrt(n));
    return this.forwardWithSize(x, [side, side])[0];
  }

  /** Shape pass with the token grid size; returns the output shape and grid. */
  shapeWithSize(x: number[], inSize: [number, number], ctx: ShapeContext): [number[], [number, number]] {
    ctx.enter(this);
    try {
      const [b, n] = x;
      const h = this.numHeads;
      const d = this.outDims / h;
      this.qkv.inferShape(x, ctx);
      const [q, qShape] = attentionPoolShape([b * h, n, d], this.poolQ, inSize, this.normQ, ctx);
      const [k, kShape] = attentionPoolShape([b * h, n, d], this.poolK, inSize, this.normK, ctx);
      attentionPoolShape([b * h, n, d], this.poolV, inSize, this.normV, ctx);
      const nq = q[1];
      const nk = k[1];
      // (q * scale) @ k^T and attn @ v (fvcore: one multiply-add per flop).
      ctx.add('matmul', b * h * nq * d * nk, b * h * nq * nk);
      if (this.relPosSpatial) {
        // Two einsums: B*heads*qh*qw*C*kh and B*heads*qh*qw*C*kw multiply-adds.
        ctx.add('einsum', einsumFlops(b * h * nq * d * kShape[0]), b * h * nq * kShape[0]);
        ctx.add('einsum', einsumFlops(b * h * nq * d * kShape[1]), b * h * nq * kShape[1]);
      }
      ctx.add('matmul', b * h * nq * nk * d, b * h * nq * d);
      const out = asShape(this.proj.inferShape([b, nq, this.outDims], ctx));
      return [out, qShape];
    } finally {
      ctx.exit(this);
    }
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = asShape(x);
    const side = Math.round(Math.sqrt(s[1]));
    return this.shapeWithSize(s, [side, side], ctx)[0];
  }
}

/** Options of {@link MultiScaleBlock}. */
export interface MultiScaleBlockOptions {
  /** Input channels. */
  in_dims: number;
  /** Output channels. */
  out_dims: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Hidden width of the MLP relative to its input. @default 4.0 */
  mlp_ratio?: number;
  /** Bias of the qkv projection. @default True */
  qkv_bias?: boolean;
  /** Stochastic depth rate. @default 0.0 */
  drop_path?: number;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Activation of the MLP. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Kernel of the q/k/v pooling. @default (3, 3) */
  qkv_pool_kernel?: Pair;
  /** Stride of the q pooling. @default 1 */
  stride_q?: number;
  /** Stride of the k/v pooling. @default 1 */
  stride_kv?: number;
  /** Decomposed spatial relative-position embeddings. @default True */
  rel_pos_spatial?: boolean;
  /** Adds the pooled q to the attention output. @default True */
  residual_pooling?: boolean;
  /** Change the width in the attention (else in the MLP). @default True */
  dim_mul_in_attention?: boolean;
  /** Input resolution. @default None */
  input_size?: Pair | null;
  /** Zero-initialise the relative-position embeddings. @default False */
  rel_pos_zero_init?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MViT V2 block: LN, multi-scale attention (with a pooled, projected skip), LN, MLP. */
export class MultiScaleBlock extends Layer {
  readonly inDims: number;
  readonly outDims: number;
  readonly dimMulInAttention: boolean;
  readonly norm1: Layer;
  readonly attn: MultiScaleAttention;
  readonly dropPath: Layer;
  readonly norm2: Layer;
  readonly mlp: MViTMLP;
  readonly proj: Linear | null;
  readonly poolSkip: MaxPool2d | null;
  readonly initOutSize: [number, number] | null;

  constructor(o: MultiScaleBlockOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.inDims = o.in_dims;
    this.outDims = o.out_dims;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, o.in_dims)[1]);
    this.dimMulInAttention = o.dim_mul_in_attention ?? true;
    const attnDims = this.dimMulInAttention ? o.out_dims : o.in_dims;
    this.attn = this.addModule(
      'attn',
      new MultiScaleAttention({
        in_dims: o.in_dims,
        out_dims: attnDims,
        num_heads: o.num_heads,
        qkv_bias: o.qkv_bias ?? true,
        norm_cfg: normCfg,
        pool_kernel: o.qkv_pool_kernel ?? [3, 3],
        stride_q: o.stride_q ?? 1,
        stride_kv: o.stride_kv ?? 1,
        rel_pos_spatial: o.rel_pos_spatial ?? true,
        residual_pooling: o.residual_pooling ?? true,
        input_size: o.input_size ?? null,
        rel_pos_zero_init: o.rel_pos_zero_init ?? false,
      }),
    );
    const dp = o.drop_path ?? 0;
    this.dropPath = this.addModule('drop_path', dp > 0 ? new DropPath({ drop_prob: dp }) : new Identity());
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, attnDims)[1]);
    this.mlp = this.addModule('mlp', new MViTMLP({ in_channels: attnDims, hidden_channels: Math.floor(attnDims * (o.mlp_ratio ?? 4)), out_channels: o.out_dims, act_cfg: o.act_cfg ?? { type: 'GELU' } }));
    this.proj = o.in_dims !== o.out_dims ? this.addModule('proj', new Linear({ in_features: o.in_dims, out_features: o.out_dims })) : null;
    const strideQ = o.stride_q ?? 1;
    const inputSize = o.input_size === undefined || o.input_size === null ? null : pair(o.input_size);
    if (strideQ > 1) {
      const k = strideQ + 1;
      this.poolSkip = this.addModule('pool_skip', new MaxPool2d({ kernel_size: k, stride: strideQ, padding: Math.floor(k / 2), ceil_mode: false }));
      this.initOutSize = inputSize ? [Math.floor(inputSize[0] / strideQ), Math.floor(inputSize[1] / strideQ)] : null;
    } else {
      this.poolSkip = null;
      this.initOutSize = inputSize;
    }
  }

  /** `x` [B, H*W, C_in] on an HxW grid -> [B, H'*W', C_out] and [H', W']. */
  forwardWithSize(x: tf.Tensor, inSize: [number, number]): [tf.Tensor, [number, number]] {
    const xNorm = this.norm1.forward(x);
    const [xAttn, outSize] = this.attn.forwardWithSize(xNorm, inSize);
    let skip = this.dimMulInAttention && this.proj ? this.proj.forward(xNorm) : x;
    if (this.poolSkip) skip = attentionPool(skip, this.poolSkip, inSize, null)[0];
    const y = tf.add(skip, this.dropPath.forward(xAttn));
    const yNorm = this.norm2.forward(y);
    const xMlp = this.mlp.forward(yNorm);
    const skip2 = !this.dimMulInAttention && this.proj ? this.proj.forward(yNorm) : y;
    return [tf.add(skip2, this.dropPath.forward(xMlp)), outSize];
  }

  forward(x: tf.Tensor): tf.Tensor {
    const side = Math.round(Math.sqrt(x.shape[1]!));
    return this.forwardWithSize(x, [side, side])[0];
  }

  /** Shape pass with the token grid size (enters this module in `ctx`); returns the output shape and grid. */
  shapeWithSize(x: number[], inSize: [number, number], ctx: ShapeContext): [number[], [number, number]] {
    ctx.enter(this);
    try {
      return this.shapeInner(x, inSize, ctx);
    } finally {
      ctx.exit(this);
    }
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = asShape(x);
    const side = Math.round(Math.sqrt(s[1]));
    return this.shapeInner(s, [side, side], ctx)[0];
  }

  private shapeInner(x: number[], inSize: [number, number], ctx: ShapeContext): [number[], [number, number]] {
    const xNorm = asShape(this.norm1.inferShape(x, ctx));
    const [xAttn, outSize] = this.attn.shapeWithSize(xNorm, inSize, ctx);
    if (this.dimMulInAttention && this.proj) this.proj.inferShape(xNorm, ctx);
    if (this.poolSkip) attentionPoolShape([x[0], x[1], this.dimMulInAttention && this.proj ? this.outDims : x[2]], this.poolSkip, inSize, null, ctx);
    const yNorm = asShape(this.norm2.inferShape(xAttn, ctx));
    const xMlp = asShape(this.mlp.inferShape(yNorm, ctx));
    if (!this.dimMulInAttention && this.proj) this.proj.inferShape(yNorm, ctx);
    return [xMlp, outSize];
  }
}

/** An MViT architecture. */
export interface MViTArch {
  /** Embedding width of the first layer. */
  embed_dims: number;
  /** Number of layers. */
  num_layers: number;
  /** Heads of the first layer. */
  num_heads: number;
  /** Layers that downscale the feature map (and multiply width and heads). */
  downscale_indices: number[];
}

export const MVIT_ARCHS: Record<string, MViTArch> = {
  tiny: { embed_dims: 96, num_layers: 10, num_heads: 1, downscale_indices: [1, 3, 8] },
  small: { embed_dims: 96, num_layers: 16, num_heads: 1, downscale_indices: [1, 3, 14] },
  base: { embed_dims: 96, num_layers: 24, num_heads: 1, downscale_indices: [2, 5, 21] },
  large: { embed_dims: 144, num_layers: 48, num_heads: 2, downscale_indices: [2, 8, 44] },
};

/** Options of {@link MViT}. */
export interface MViTOptions {
  /** Architecture: 'tiny', 'small', 'base', 'large', or a dict with embed_dims, num_layers, num_heads and downscale_indices. @default 'base' */
  arch?: string | MViTArch;
  /** Expected input size. @default 224 */
  img_size?: number;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Output scale indices (negative counts from the last). @default -1 */
  out_scales?: number | number[];
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Add an absolute position embedding to the patch embedding. @default False */
  use_abs_pos_embed?: boolean;
  /** Interpolation of the absolute position embedding for other input sizes. @default 'bicubic' */
  interpolate_mode?: 'bicubic' | 'bilinear' | 'nearest';
  /** Kernel of the q/k/v pooling. @default (3, 3) */
  pool_kernel?: Pair;
  /** Width multiplier of the downscale layers. @default 2 */
  dim_mul?: number;
  /** Heads multiplier of the downscale layers. @default 2 */
  head_mul?: number;
  /** Stride of the k/v pooling in the first layer. @default 4 */
  adaptive_kv_stride?: number;
  /** Decomposed spatial relative-position embeddings. @default True */
  rel_pos_spatial?: boolean;
  /** Adds the pooled q to the attention output. @default True */
  residual_pooling?: boolean;
  /** Change the width in the attention (else in the MLP). @default True */
  dim_mul_in_attention?: boolean;
  /** Zero-initialise the relative-position embeddings. @default False */
  rel_pos_zero_init?: boolean;
  /** MLP hidden ratio. @default 4.0 */
  mlp_ratio?: number;
  /** Bias of the qkv projections. @default True */
  qkv_bias?: boolean;
  /** Normalisation config of the output norms (and blocks). @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Patch embedding config. @default dict(kernel_size=7, stride=4, padding=3) */
  patch_cfg?: PatchEmbedOptions;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MViT V2 backbone (MViTv2: Improved Multiscale Vision Transformers for Classification and Detection). */
@MODELS.registerModule()
export class MViT extends BaseBackbone {
  readonly archSettings: MViTArch;
  readonly embedDims: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly downscaleIndices: number[];
  readonly numScales: number;
  readonly stageIndices: Map<number, number>;
  readonly useAbsPosEmbed: boolean;
  readonly interpolateMode: 'bicubic' | 'bilinear' | 'nearest';
  readonly outScales: number[];
  readonly patchEmbed: PatchEmbed;
  readonly patchResolution: [number, number];
  readonly posEmbed: Parameter | null;
  readonly blocks: ModuleList<MultiScaleBlock>;
  private readonly norms = new Map<number, Layer>();

  constructor(o: MViTOptions = {}) {
    super(o.init_cfg ?? null);
    const a = o.arch ?? 'base';
    if (typeof a === 'string') {
      const s = MVIT_ARCHS[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs {${Object.keys(MVIT_ARCHS).join(', ')}}`, { code: 'model.bad-argument' });
      this.archSettings = s;
    } else {
      for (const k of ['embed_dims', 'num_layers', 'num_heads', 'downscale_indices']) {
        if (!a || typeof a !== 'object' || !(k in a)) {
          throw new MmclsError("Custom arch needs a dict with keys {'embed_dims', 'num_layers', 'num_heads', 'downscale_indices'}", { code: 'model.bad-argument' });
        }
      }
      this.archSettings = a;
    }
    this.embedDims = this.archSettings.embed_dims;
    this.numLayers = this.archSettings.num_layers;
    this.numHeads = this.archSettings.num_heads;
    this.downscaleIndices = [...this.archSettings.downscale_indices];
    this.numScales = this.downscaleIndices.length + 1;
    this.stageIndices = new Map(this.downscaleIndices.map((idx, i) => [idx - 1, i]));
    this.stageIndices.set(this.numLayers - 1, this.numScales - 1);
    this.useAbsPosEmbed = o.use_abs_pos_embed ?? false;
    this.interpolateMode = o.interpolate_mode ?? 'bicubic';
    const os = o.out_scales ?? -1;
    const scales = (typeof os === 'number' ? [os] : [...os]).map((i) => {
      const j = i < 0 ? this.numScales + i : i;
      if (j < 0 || j > this.numScales) throw new MmclsError(`Invalid out_scales ${i}`, { code: 'model.bad-argument' });
      return j;
    });
    this.outScales = scales.sort((x, y) => x - y);

    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({ in_channels: o.in_channels ?? 3, input_size: o.img_size ?? 224, embed_dims: this.embedDims, conv_type: 'Conv2d', ...(o.patch_cfg ?? { kernel_size: 7, stride: 4, padding: 3 }) }),
    );
    this.patchResolution = this.patchEmbed.initOutSize!;
    if (this.useAbsPosEmbed) {
      const n = this.patchResolution[0] * this.patchResolution[1];
      this.posEmbed = this.registerParameter('pos_embed', lazy([1, n, this.embedDims], () => tf.zeros([1, n, this.embedDims])));
    } else {
      this.posEmbed = null;
    }
    const rate = o.drop_path_rate ?? 0;
    const dpr = Array.from({ length: this.numLayers }, (_, i) => (this.numLayers > 1 ? (rate * i) / (this.numLayers - 1) : 0));
    const normCfg = o.norm_cfg ?? { type: 'LN', eps: 1e-6 };
    const dimMulInAttention = o.dim_mul_in_attention ?? true;
    const dimMul = o.dim_mul ?? 2;
    this.blocks = this.addModule('blocks', new ModuleList<MultiScaleBlock>());
    const outDimsList = [this.embedDims];
    let numHeads = this.numHeads;
    let strideKv = o.adaptive_kv_stride ?? 4;
    let inputSize: [number, number] | null = this.patchResolution;
    for (let i = 0; i < this.numLayers; i++) {
      let strideQ = 1;
      if (this.downscaleIndices.includes(i)) {
        numHeads *= o.head_mul ?? 2;
        strideQ = 2;
        strideKv = Math.max(Math.floor(strideKv / 2), 1);
      }
      const last = outDimsList[outDimsList.length - 1];
      let outDims = last;
      if (dimMulInAttention && this.downscaleIndices.includes(i)) outDims = last * dimMul;
      else if (!dimMulInAttention && this.downscaleIndices.includes(i + 1)) outDims = last * dimMul;
      const block: MultiScaleBlock = new MultiScaleBlock({
        in_dims: last,
        out_dims: outDims,
        num_heads: numHeads,
        mlp_ratio: o.mlp_ratio ?? 4,
        qkv_bias: o.qkv_bias ?? true,
        drop_path: dpr[i],
        norm_cfg: normCfg,
        qkv_pool_kernel: o.pool_kernel ?? [3, 3],
        stride_q: strideQ,
        stride_kv: strideKv,
        rel_pos_spatial: o.rel_pos_spatial ?? true,
        residual_pooling: o.residual_pooling ?? true,
        dim_mul_in_attention: dimMulInAttention,
        input_size: inputSize,
        rel_pos_zero_init: o.rel_pos_zero_init ?? false,
      });
      this.blocks.push(block);
      inputSize = block.initOutSize;
      outDimsList.push(outDims);
      const stage = this.stageIndices.get(i);
      if (stage !== undefined && this.outScales.includes(stage)) {
        this.norms.set(i, this.addModule(`norm${stage}`, buildNormLayer(normCfg, outDims)[1]));
      }
    }
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    const cfg = this.initCfg;
    if (cfg && !Array.isArray(cfg) && cfg.type === 'Pretrained') return;
    if (this.posEmbed) initParameter(this.posEmbed, { type: 'TruncNormal', std: 0.02 });
  }

  forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    const { tokens, size } = this.patchEmbed.forward(x);
    let h = tokens;
    let res: [number, number] = size;
    if (this.posEmbed) h = tf.add(h, resizePosEmbed(this.posEmbed.variable, this.patchResolution, res, this.interpolateMode, 0));
    const outs: Feat[] = [];
    this.blocks.toArray().forEach((block, i) => {
      [h, res] = block.forwardWithSize(h, res);
      const norm = this.norms.get(i);
      if (norm) {
        // MMCls normalises x itself: the following blocks see the normalised tokens.
        h = norm.forward(h);
        outs.push(tf.reshape(h, [b, res[0], res[1], h.shape[2]!]));
      }
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tok, size] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    let h = tok;
    let res: [number, number] = [size[0], size[1]];
    if (this.posEmbed && (res[0] !== this.patchResolution[0] || res[1] !== this.patchResolution[1])) {
      ctx.add(`upsample_${this.interpolateMode}2d`, upsampleFlops(this.interpolateMode, this.embedDims * res[0] * res[1]), 0);
    }
    const outs: ShapeValue[] = [];
    this.blocks.toArray().forEach((block, i) => {
      ctx.enter(this.blocks);
      try {
        [h, res] = block.shapeWithSize(h, res, ctx);
      } finally {
        ctx.exit(this.blocks);
      }
      const norm = this.norms.get(i);
      if (norm) {
        h = asShape(norm.inferShape(h, ctx));
        outs.push([h[0], h[2], res[0], res[1]]);
      }
    });
    return outs;
  }
}

