import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildDropout } from '../../nn/builders';
import { Linear } from '../../nn/conv';
import { Layer } from '../../nn/layer';
import { Parameter, ShapeContext, lazy } from '../../nn/module';

/** Options of {@link ChannelMultiheadAttention}. */
export interface ChannelMultiheadAttentionOptions {
  /** The embedding dimension. */
  embed_dims: number;
  /** Parallel attention heads. @default 8 */
  num_heads?: number;
  /** Input dimension (None: embed_dims). @default None */
  input_dims?: number | null;
  /** Dropout after the attention (kept for compatibility; MMCls does not apply it). @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
  /** Dropout before the shortcut. @default dict(type='Dropout', drop_prob=0.) */
  dropout_layer?: LayerCfg | null;
  /** Bias of the q, k, v projection. @default False */
  qkv_bias?: boolean;
  /** Bias of the output projection. @default True */
  proj_bias?: boolean;
  /** 'learnable' (a per-head temperature), 'fixed' (head_dims ** -0.5) or 'none' (qk_scale). @default 'learnable' */
  qk_scale_type?: 'learnable' | 'fixed' | 'none';
  /** The scale when qk_scale_type is 'none'. @default None */
  qk_scale?: number | null;
  /** Add v to the output. @default False */
  v_shortcut?: boolean;
}

/**
 * Channel (cross-covariance) multi-head self-attention (MMCls's `ChannelMultiheadAttention`, used by
 * EdgeNeXt): per head, the attention is a d x d matrix over channels from L2-normalised q and k
 * (normalised along the tokens), scaled by a learnable per-head temperature. Input [B, N, C].
 */
export class ChannelMultiheadAttention extends Layer {
  readonly embedDims: number;
  readonly numHeads: number;
  readonly headDims: number;
  readonly vShortcut: boolean;
  readonly scaleParam: Parameter | null;
  readonly scaleValue: number;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;
  readonly outDrop: Layer;

  constructor(o: ChannelMultiheadAttentionOptions) {
    super();
    this.embedDims = o.embed_dims;
    this.numHeads = o.num_heads ?? 8;
    this.headDims = Math.floor(this.embedDims / this.numHeads);
    this.vShortcut = o.v_shortcut ?? false;
    const type = o.qk_scale_type ?? 'learnable';
    if (type === 'learnable') {
      const h = this.numHeads;
      this.scaleParam = this.registerParameter('scale', lazy([h, 1, 1], () => tf.ones([h, 1, 1])));
      this.scaleValue = 1;
    } else if (type === 'fixed') {
      this.scaleParam = null;
      this.scaleValue = this.headDims ** -0.5;
    } else if (type === 'none') {
      if (o.qk_scale === undefined || o.qk_scale === null) {
        throw new MmclsError("ChannelMultiheadAttention: qk_scale_type='none' needs qk_scale", { code: 'model.bad-argument' });
      }
      this.scaleParam = null;
      this.scaleValue = o.qk_scale;
    } else {
      throw new MmclsError(`ChannelMultiheadAttention: qk_scale_type must be 'learnable', 'fixed' or 'none', got ${JSON.stringify(type)}`, {
        code: 'model.bad-argument',
      });
    }
    const inputDims = o.input_dims ?? this.embedDims;
    this.qkv = this.addModule('qkv', new Linear({ in_features: inputDims, out_features: this.embedDims * 3, bias: o.qkv_bias ?? false }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: this.embedDims, out_features: this.embedDims, bias: o.proj_bias ?? true }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
    this.outDrop = this.addModule('out_drop', buildDropout(o.dropout_layer === undefined ? { type: 'Dropout', drop_prob: 0 } : o.dropout_layer));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape;
    const h = this.numHeads;
    const d = this.headDims;
    // [B, N, 3, h, d] -> [3, B, h, d, N]
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, d]), [2, 0, 3, 4, 1]);
    const [q0, k0, v] = tf.unstack(qkv, 0);
    // F.normalize(dim=-1): x / max(||x||, 1e-12)
    const l2 = (t: tf.Tensor): tf.Tensor => tf.div(t, tf.maximum(tf.sqrt(tf.sum(tf.square(t), -1, true)), 1e-12));
    const q = l2(q0);
    const k = l2(k0);
    let attn = tf.matMul(q, k, false, true);
    attn = this.scaleParam ? tf.mul(attn, this.scaleParam.variable) : tf.mul(attn, this.scaleValue);
    attn = tf.softmax(attn, -1);
    // (attn @ v): [B, h, d, N] -> [B, N, h, d] -> [B, N, C]
    let y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 3, 1, 2]), [b, n, this.embedDims]);
    y = this.outDrop.forward(this.projDrop.forward(this.proj.forward(y)));
    if (this.vShortcut) y = tf.add(tf.reshape(tf.transpose(v, [0, 3, 1, 2]), [b, n, this.embedDims]), y);
    return y;
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n] = x;
    this.qkv.inferShape(x, ctx);
    const h = this.numHeads;
    const d = this.headDims;
    // q @ k^T: [B, h, d, N] x [B, h, N, d]; attn @ v: [B, h, d, d] x [B, h, d, N].
    ctx.add('matmul', b * h * d * n * d, b * h * d * d);
    ctx.add('matmul', b * h * d * d * n, b * h * d * n);
    const out = [b, n, this.embedDims];
    this.proj.inferShape(out, ctx);
    return out;
  }
}
