import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildDropout, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear, Pair, pair } from '../../nn/conv';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Module, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { AdaptivePadding, FFN, FFNOptions, PatchEmbed } from '../../nn/transformer';
import { Feat } from '../types';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** Window multi-head self-attention without relative position bias (DaViT's W-MSA). Input [B*nW, N, C]. */
export class DaViTWindowMSA extends Module {
  readonly embedDims: number;
  readonly numHeads: number;
  readonly scale: number;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;

  constructor(o: { embed_dims: number; num_heads: number; qkv_bias?: boolean; qk_scale?: number | null; attn_drop?: number; proj_drop?: number }) {
    super();
    this.embedDims = o.embed_dims;
    this.numHeads = o.num_heads;
    this.scale = o.qk_scale || Math.floor(this.embedDims / this.numHeads) ** -0.5;
    this.qkv = this.addModule('qkv', new Linear({ in_features: this.embedDims, out_features: this.embedDims * 3, bias: o.qkv_bias ?? true }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: this.embedDims, out_features: this.embedDims }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
  }

  /** `mask`: [nW, N, N] additive mask of a shifted window partition, or null. */
  forward(x: tf.Tensor, mask: tf.Tensor | null = null): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const d = Math.floor(c / h);
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, d]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv, 0);
    let attn = tf.matMul(tf.mul(q, this.scale), k, false, true);
    if (mask) {
      const nw = mask.shape[0];
      attn = tf.reshape(tf.add(tf.reshape(attn, [b / nw, nw, h, n, n]), tf.reshape(mask, [1, nw, 1, n, n])), [b, h, n, n]);
    }
    attn = this.attnDrop.forward(tf.softmax(attn, -1));
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, c]);
    return this.projDrop.forward(this.proj.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, n, c] = asShape(x, 'DaViTWindowMSA');
    this.qkv.inferShape(x, ctx);
    const h = this.numHeads;
    const d = Math.floor(c / h);
    ctx.add('matmul', b * h * n * d * n, b * h * n * n);
    ctx.add('matmul', b * h * n * n * d, b * h * n * d);
    return this.proj.inferShape([b, n, c], ctx);
  }
}

/** Extra options of the shifted-window attention of DaViT's spatial blocks (`attn_cfgs`). */
export interface DaViTAttnCfgs {
  /** Cyclic shift of the windows (0: plain window attention). */
  shift_size?: number;
  /** Override of the head_dims ** -0.5 scale. */
  qk_scale?: number | null;
  /** Attention dropout. */
  attn_drop?: number;
  /** Projection dropout. */
  proj_drop?: number;
  /** Dropout / drop path on the output. */
  dropout_layer?: LayerCfg | null;
}

/** MMCls's ShiftWindowMSA around a {@link DaViTWindowMSA}: window partition, (shift,) attention, reverse, drop path. */
export class DaViTShiftWindowMSA extends Module {
  readonly windowSize: number;
  readonly shiftSize: number;
  readonly padSmallMap: boolean;
  readonly w_msa: DaViTWindowMSA;
  readonly drop: Layer;

  constructor(o: { embed_dims: number; num_heads: number; window_size: number; qkv_bias?: boolean; pad_small_map?: boolean; drop_path?: number } & DaViTAttnCfgs) {
    super();
    this.windowSize = o.window_size;
    this.shiftSize = o.shift_size ?? 0;
    if (!(this.shiftSize >= 0 && this.shiftSize < this.windowSize)) {
      throw new MmclsError(`shift_size ${this.shiftSize} must be in [0, window_size ${this.windowSize})`, { code: 'model.bad-argument' });
    }
    this.padSmallMap = o.pad_small_map ?? false;
    this.w_msa = this.addModule(
      'w_msa',
      new DaViTWindowMSA({ embed_dims: o.embed_dims, num_heads: o.num_heads, qkv_bias: o.qkv_bias, qk_scale: o.qk_scale, attn_drop: o.attn_drop, proj_drop: o.proj_drop }),
    );
    this.drop = this.addModule('drop', buildDropout(o.dropout_layer === undefined ? { type: 'DropPath', drop_prob: o.drop_path ?? 0 } : o.dropout_layer));
  }

  /** The shift used for an h x w map, and the padded size. */
  private geometry(h: number, w: number): { shift: number; hp: number; wp: number } {
    const ws = this.windowSize;
    let shift = this.shiftSize;
    if (Math.min(h, w) === ws) {
      shift = this.padSmallMap ? shift : 0;
    } else if (Math.min(h, w) < ws && !this.padSmallMap) {
      throw new MmclsError(`The input shape (${h}, ${w}) is smaller than the window size (${ws}). Please set \`pad_small_map=True\`, or decrease the \`window_size\`.`, {
        code: 'model.shape',
      });
    }
    return { shift, hp: h + ((ws - (h % ws)) % ws), wp: w + ((ws - (w % ws)) % ws) };
  }

  private attnMask(hp: number, wp: number, shift: number): tf.Tensor {
    const ws = this.windowSize;
    const region = (i: number, size: number): number => (i < size - ws ? 0 : i < size - shift ? 1 : 2);
    const nwh = hp / ws;
    const nww = wp / ws;
    const n = ws * ws;
    const out = new Float32Array(nwh * nww * n * n);
    for (let a = 0; a < nwh; a++) {
      for (let bw = 0; bw < nww; bw++) {
        const ids: number[] = [];
        for (let i = 0; i < ws; i++) for (let j = 0; j < ws; j++) ids.push(region(a * ws + i, hp) * 3 + region(bw * ws + j, wp));
        const base = (a * nww + bw) * n * n;
        for (let p = 0; p < n; p++) for (let q = 0; q < n; q++) out[base + p * n + q] = ids[p] === ids[q] ? 0 : -100;
      }
    }
    return tf.tensor3d(out, [nwh * nww, n, n]);
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    const [b, l, c] = x.shape;
    const [h, w] = hw;
    if (l !== h * w) throw new MmclsError(`The query length ${l} doesn't match the input shape (${h}, ${w}).`, { code: 'model.shape' });
    const ws = this.windowSize;
    const { shift, hp, wp } = this.geometry(h, w);
    let q = tf.reshape(x, [b, h, w, c]);
    if (hp !== h || wp !== w) q = tf.pad(q, [[0, 0], [0, hp - h], [0, wp - w], [0, 0]]);
    const roll = (t: tf.Tensor, s: number): tf.Tensor => {
      // torch.roll by s on H and W (s may be negative).
      const rh = ((s % hp) + hp) % hp;
      const rw = ((s % wp) + wp) % wp;
      if (rh) t = tf.concat([tf.slice(t, [0, hp - rh, 0, 0], [-1, rh, -1, -1]), tf.slice(t, [0, 0, 0, 0], [-1, hp - rh, -1, -1])], 1);
      if (rw) t = tf.concat([tf.slice(t, [0, 0, wp - rw, 0], [-1, -1, rw, -1]), tf.slice(t, [0, 0, 0, 0], [-1, -1, wp - rw, -1])], 2);
      return t;
    };
    if (shift > 0) q = roll(q, -shift);
    const mask = shift > 0 ? this.attnMask(hp, wp, shift) : null;
    const nh = hp / ws;
    const nw = wp / ws;
    const windows = tf.reshape(tf.transpose(tf.reshape(q, [b, nh, ws, nw, ws, c]), [0, 1, 3, 2, 4, 5]), [b * nh * nw, ws * ws, c]);
    const attn = this.w_msa.forward(windows, mask);
    let y = tf.reshape(tf.transpose(tf.reshape(attn, [b, nh, nw, ws, ws, c]), [0, 1, 3, 2, 4, 5]), [b, hp, wp, c]);
    if (shift > 0) y = roll(y, shift);
    if (hp !== h || wp !== w) y = tf.slice(y, [0, 0, 0, 0], [b, h, w, c]);
    return this.drop.forward(tf.reshape(y, [b, h * w, c]));
  }

  /** Shape pass: `x` is [[B, L, C], [H, W]]. */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, size] = x as [number[], number[]];
    const [b, , c] = tokens;
    const { hp, wp } = this.geometry(size[0], size[1]);
    const ws = this.windowSize;
    this.w_msa.inferShape([(b * hp * wp) / (ws * ws), ws * ws, c], ctx);
    return this.drop.inferShape(tokens, ctx);
  }
}

/** DaViT's convolutional position encoding: tokens plus a 3x3 depth-wise conv of their map. */
export class ConvPosEnc extends Module {
  readonly proj: Conv2d;

  constructor(embedDims: number, kernelSize = 3) {
    super();
    this.proj = this.addModule(
      'proj',
      new Conv2d({ in_channels: embedDims, out_channels: embedDims, kernel_size: kernelSize, stride: 1, padding: Math.floor(kernelSize / 2), groups: embedDims }),
    );
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    const [b, n, c] = x.shape;
    if (n !== hw[0] * hw[1]) throw new MmclsError(`ConvPosEnc: ${n} tokens for a ${hw[0]}x${hw[1]} map`, { code: 'model.shape' });
    const feat = this.proj.forward(tf.reshape(x, [b, hw[0], hw[1], c]));
    return tf.add(x, tf.reshape(feat, [b, n, c]));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, size] = x as [number[], number[]];
    this.proj.inferShape([tokens[0], tokens[2], size[0], size[1]], ctx);
    return tokens;
  }
}

/** DaViT's channel attention: softmax((k * scale)^T v) applied to q, per head. Input [B, N, C]. */
export class ChannelAttention extends Layer {
  readonly embedDims: number;
  readonly numHeads: number;
  readonly headDims: number;
  readonly scale: number;
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(embedDims: number, numHeads = 8, qkvBias = false) {
    super();
    this.embedDims = embedDims;
    this.numHeads = numHeads;
    this.headDims = Math.floor(embedDims / numHeads);
    this.scale = this.headDims ** -0.5;
    this.qkv = this.addModule('qkv', new Linear({ in_features: embedDims, out_features: embedDims * 3, bias: qkvBias }));
    this.proj = this.addModule('proj', new Linear({ in_features: embedDims, out_features: embedDims }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape;
    const h = this.numHeads;
    const d = this.headDims;
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, d]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv, 0);
    // [B, h, d, N] @ [B, h, N, d] -> [B, h, d, d]
    const attention = tf.softmax(tf.matMul(tf.mul(k, this.scale), v, true, false), -1);
    // (attention @ q^T)^T = q @ attention^T: [B, h, N, d]
    const y = tf.matMul(q, attention, false, true);
    return this.proj.forward(tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b, n, this.embedDims]));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n] = x;
    this.qkv.inferShape(x, ctx);
    const h = this.numHeads;
    const d = this.headDims;
    ctx.add('matmul', b * h * d * n * d, b * h * d * d);
    ctx.add('matmul', b * h * d * d * n, b * h * d * n);
    return this.proj.inferShape([b, n, this.embedDims], ctx) as number[];
  }
}

interface BlockOptions {
  embed_dims: number;
  num_heads: number;
  window_size?: number;
  ffn_ratio?: number;
  qkv_bias?: boolean;
  drop_path?: number;
  pad_small_map?: boolean;
  attn_cfgs?: DaViTAttnCfgs;
  ffn_cfgs?: Partial<FFNOptions>;
  norm_cfg?: LayerCfg;
}

function makeFfn(o: BlockOptions): FFN {
  return new FFN({
    embed_dims: o.embed_dims,
    feedforward_channels: Math.trunc(o.embed_dims * (o.ffn_ratio ?? 4)),
    num_fcs: 2,
    ffn_drop: 0,
    dropout_layer: { type: 'DropPath', drop_prob: o.drop_path ?? 0 },
    act_cfg: { type: 'GELU' },
    ...(o.ffn_cfgs ?? {}),
  });
}

/** DaViT spatial block: position conv, LN, window attention, residual; position conv, LN, FFN with residual. */
export class SpatialBlock extends Module {
  readonly cpe1: ConvPosEnc;
  readonly norm1: Layer;
  readonly attn: DaViTShiftWindowMSA;
  readonly cpe2: ConvPosEnc;
  readonly norm2: Layer;
  readonly ffn: FFN;

  constructor(o: BlockOptions) {
    super();
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.cpe1 = this.addModule('cpe1', new ConvPosEnc(o.embed_dims, 3));
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.attn = this.addModule(
      'attn',
      new DaViTShiftWindowMSA({
        embed_dims: o.embed_dims,
        num_heads: o.num_heads,
        window_size: o.window_size ?? 7,
        qkv_bias: o.qkv_bias ?? true,
        pad_small_map: o.pad_small_map ?? false,
        drop_path: o.drop_path ?? 0,
        shift_size: 0,
        ...(o.attn_cfgs ?? {}),
      }),
    );
    this.cpe2 = this.addModule('cpe2', new ConvPosEnc(o.embed_dims, 3));
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.ffn = this.addModule('ffn', makeFfn(o));
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    x = this.cpe1.forward(x, hw);
    x = tf.add(this.attn.forward(this.norm1.forward(x), hw), x);
    x = this.cpe2.forward(x, hw);
    return this.ffn.forward(this.norm2.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, size] = x as [number[], number[]];
    this.cpe1.inferShape([tokens, size], ctx);
    this.attn.inferShape([this.norm1.inferShape(tokens, ctx), size], ctx);
    this.cpe2.inferShape([tokens, size], ctx);
    this.ffn.inferShape(this.norm2.inferShape(tokens, ctx), ctx);
    return tokens;
  }
}

/** DaViT channel block: position conv, LN, channel attention, residual; position conv, LN, FFN with residual. */
export class ChannelBlock extends Module {
  readonly cpe1: ConvPosEnc;
  readonly norm1: Layer;
  readonly attn: ChannelAttention;
  readonly cpe2: ConvPosEnc;
  readonly norm2: Layer;
  readonly ffn: FFN;

  constructor(o: BlockOptions) {
    super();
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.cpe1 = this.addModule('cpe1', new ConvPosEnc(o.embed_dims, 3));
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.attn = this.addModule('attn', new ChannelAttention(o.embed_dims, o.num_heads, o.qkv_bias ?? false));
    this.cpe2 = this.addModule('cpe2', new ConvPosEnc(o.embed_dims, 3));
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.ffn = this.addModule('ffn', makeFfn(o));
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    x = this.cpe1.forward(x, hw);
    x = tf.add(this.attn.forward(this.norm1.forward(x)), x);
    x = this.cpe2.forward(x, hw);
    return this.ffn.forward(this.norm2.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, size] = x as [number[], number[]];
    this.cpe1.inferShape([tokens, size], ctx);
    this.attn.inferShape(this.norm1.inferShape(tokens, ctx), ctx);
    this.cpe2.inferShape([tokens, size], ctx);
    this.ffn.inferShape(this.norm2.inferShape(tokens, ctx), ctx);
    return tokens;
  }
}

/** Options of a DaViT block (the keys of a stage's `block_cfgs`). */
export interface DaViTBlockOptions {
  /** Channels. */
  embed_dims: number;
  /** Attention heads. */
  num_heads: number;
  /** Window size of the spatial attention. @default 7 */
  window_size?: number;
  /** FFN expansion ratio. @default 4.0 */
  ffn_ratio?: number;
  /** Bias of the q, k, v projections. @default True */
  qkv_bias?: boolean;
  /** Drop path rate. @default 0.0 */
  drop_path?: number;
  /** Pad maps smaller than the window instead of failing. @default False */
  pad_small_map?: boolean;
  /** Extra options of the window attention. @default dict() */
  attn_cfgs?: DaViTAttnCfgs;
  /** Extra options of the FFNs. @default dict() */
  ffn_cfgs?: Partial<FFNOptions>;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
}

/** DaViT block: a spatial (window attention) block, then a channel attention block. */
export class DaViTBlock extends Module {
  readonly spatialBlock: SpatialBlock;
  readonly channelBlock: ChannelBlock;

  constructor(o: DaViTBlockOptions) {
    super();
    this.spatialBlock = this.addModule('spatial_block', new SpatialBlock(o));
    this.channelBlock = this.addModule('channel_block', new ChannelBlock({ ...o, attn_cfgs: undefined, pad_small_map: undefined }));
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    return this.channelBlock.forward(this.spatialBlock.forward(x, hw), hw);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    this.spatialBlock.inferShape(x, ctx);
    this.channelBlock.inferShape(x, ctx);
    return (x as ShapeValue[])[0];
  }
}

/** DaViT's downsampling: LayerNorm on the tokens, then a 2x2 stride-2 conv. */
export class DaViTDownSample extends Module {
  readonly outChannels: number;
  readonly adaptivePadding: AdaptivePadding | null;
  readonly projection: Conv2d;
  readonly norm: Layer | null;

  constructor(o: { in_channels: number; out_channels: number; kernel_size?: Pair; stride?: Pair | null; padding?: 'same' | 'corner' | Pair; dilation?: Pair; bias?: boolean; norm_cfg?: LayerCfg | null }) {
    super();
    this.outChannels = o.out_channels;
    const kernel = o.kernel_size ?? 2;
    const stride = o.stride ?? kernel;
    const dilation = o.dilation ?? 1;
    const padding = o.padding ?? 'same';
    this.adaptivePadding =
      typeof padding === 'string' ? this.addModule('adaptive_padding', new AdaptivePadding({ kernel_size: kernel, stride, dilation, padding })) : null;
    this.projection = this.addModule(
      'projection',
      new Conv2d({
        in_channels: o.in_channels,
        out_channels: o.out_channels,
        kernel_size: kernel,
        stride,
        padding: typeof padding === 'string' ? 0 : pair(padding),
        dilation,
        bias: o.bias ?? true,
      }),
    );
    this.norm = o.norm_cfg ? this.addModule('norm', buildNormLayer(o.norm_cfg, o.in_channels)[1]) : null;
  }

  /**
   * MMCls applies its adaptive padding to the [B, L, C] tokens (the last two axes), which pads
   * nothing when L and C are even and breaks the token count otherwise: that case is an error here.
   */
  private checkPadding(l: number, c: number): void {
    if (!this.adaptivePadding) return;
    const [pl, pc] = this.adaptivePadding.padShape(l, c);
    if (pl || pc) throw new MmclsError(`DaViTDownSample: input feature has wrong size (${l} tokens of ${c} channels need padding)`, { code: 'model.shape' });
  }

  forward(x: tf.Tensor, hw: [number, number]): { x: tf.Tensor; hw: [number, number] } {
    const [b, l, c] = x.shape;
    this.checkPadding(l, c);
    if (l !== hw[0] * hw[1]) throw new MmclsError('input feature has wrong size', { code: 'model.shape' });
    if (!this.norm) throw new MmclsError('DaViTDownSample needs a norm_cfg', { code: 'model.bad-argument' });
    const y = this.projection.forward(tf.reshape(this.norm.forward(x), [b, hw[0], hw[1], c]));
    const [, oh, ow, oc] = y.shape;
    return { x: tf.reshape(y, [b, oh * ow, oc]), hw: [oh, ow] };
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, size] = x as [number[], number[]];
    const [b, l, c] = tokens;
    this.checkPadding(l, c);
    if (this.norm) this.norm.inferShape(tokens, ctx);
    const [, oc, oh, ow] = asShape(this.projection.inferShape([b, c, size[0], size[1]], ctx), 'DaViTDownSample');
    return [[b, oh * ow, oc], [oh, ow]];
  }
}

/** One DaViT stage: `blocks` and an optional `downsample`. */
export class DaViTBlockSequence extends Module {
  readonly embedDims: number;
  readonly blocks: ModuleList<DaViTBlock>;
  readonly downsample: DaViTDownSample | null;

  constructor(o: {
    embed_dims: number;
    depth: number;
    num_heads: number;
    window_size?: number;
    ffn_ratio?: number;
    qkv_bias?: boolean;
    downsample?: boolean;
    downsample_cfg?: Record<string, unknown>;
    drop_paths?: number | number[];
    block_cfgs?: Partial<DaViTBlockOptions> | Partial<DaViTBlockOptions>[];
    with_cp?: boolean;
    pad_small_map?: boolean;
  }) {
    super();
    this.embedDims = o.embed_dims;
    const dps = Array.isArray(o.drop_paths) ? o.drop_paths : Array(o.depth).fill(o.drop_paths ?? 0);
    const cfgs = Array.isArray(o.block_cfgs) ? o.block_cfgs : Array.from({ length: o.depth }, () => ({ ...(o.block_cfgs ?? {}) }));
    this.blocks = this.addModule(
      'blocks',
      new ModuleList<DaViTBlock>(
        Array.from(
          { length: o.depth },
          (_, i) =>
            new DaViTBlock({
              embed_dims: o.embed_dims,
              num_heads: o.num_heads,
              window_size: o.window_size ?? 7,
              ffn_ratio: o.ffn_ratio ?? 4,
              qkv_bias: o.qkv_bias ?? true,
              drop_path: dps[i],
              with_cp: o.with_cp ?? false,
              pad_small_map: o.pad_small_map ?? false,
              ...cfgs[i],
            }),
        ),
      ),
    );
    this.downsample = o.downsample
      ? this.addModule(
          'downsample',
          new DaViTDownSample({ in_channels: o.embed_dims, out_channels: 2 * o.embed_dims, norm_cfg: { type: 'LN' }, ...(o.downsample_cfg ?? {}) }),
        )
      : null;
  }

  get outChannels(): number {
    return this.downsample ? this.downsample.outChannels : this.embedDims;
  }

  forward(x: tf.Tensor, hw: [number, number], doDownsample = true): { x: tf.Tensor; hw: [number, number] } {
    for (const b of this.blocks) x = b.forward(x, hw);
    if (this.downsample && doDownsample) return this.downsample.forward(x, hw);
    return { x, hw };
  }

  /** Shape pass of the blocks only (the backbone runs the downsample itself, as MMCls does by default). */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, size] = x as [number[], number[]];
    for (const b of this.blocks) shapeInList(this.blocks, b, [tokens, size], ctx);
    return [tokens, size];
  }
}

/** Embedding dims, depths and heads of a DaViT. */
export type DaViTArch = {
  /** Channels of the first stage (doubled at each following stage). */
  embed_dims: number;
  /** Number of blocks of each stage. */
  depths: number[];
  /** Attention heads of each stage. */
  num_heads: number[];
};

/** The preset names of {@link DaViT}. */
export type DaViTArchName = 't' | 'tiny' | 's' | 'small' | 'b' | 'base' | 'l' | 'large' | 'h' | 'huge' | 'g' | 'giant';

const A = (embed_dims: number, depths: number[], num_heads: number[]): DaViTArch => ({ embed_dims, depths, num_heads });
const T = A(96, [1, 1, 3, 1], [3, 6, 12, 24]);
const S = A(96, [1, 1, 9, 1], [3, 6, 12, 24]);
const B = A(128, [1, 1, 9, 1], [4, 8, 16, 32]);
const L = A(192, [1, 1, 9, 1], [6, 12, 24, 48]);
const H = A(256, [1, 1, 9, 1], [8, 16, 32, 64]);
const G = A(384, [1, 1, 12, 3], [12, 24, 48, 96]);
const ARCH_ZOO: Record<DaViTArchName, DaViTArch> = { t: T, tiny: T, s: S, small: S, b: B, base: B, l: L, large: L, h: H, huge: H, g: G, giant: G };

/** Options of {@link DaViT}. */
export interface DaViTOptions {
  /** Preset ('tiny', 'small', 'base', 'large', 'huge', 'giant' or their initials) or a dict of embed_dims, depths and num_heads. @default 't' */
  arch?: DaViTArchName | DaViTArch;
  /** Stride of the 7x7 patch embedding. @default 4 */
  patch_size?: number;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Window size of the spatial attention. @default 7 */
  window_size?: number;
  /** FFN expansion ratio. @default 4.0 */
  ffn_ratio?: number;
  /** Bias of the q, k, v projections. @default True */
  qkv_bias?: boolean;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0.1 */
  drop_path_rate?: number;
  /** Output a stage's map after the following downsampling. @default False */
  out_after_downsample?: boolean;
  /** Pad maps smaller than the window instead of failing. @default False */
  pad_small_map?: boolean;
  /** Normalisation of the outputs (None: identity). @default dict(type='LN') */
  norm_cfg?: LayerCfg | null;
  /** Extra options of every stage, or one dict per stage. @default dict() */
  stage_cfgs?: Record<string, unknown> | Record<string, unknown>[];
  /** Stages to freeze, counting from 0 (the patch embedding too); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Keep batch norms in eval mode while training. @default False */
  norm_eval?: boolean;
  /** Stages whose output is returned. @default (3, ) */
  out_indices?: number[];
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** DaViT backbone (Dual Attention Vision Transformers): alternating window and channel attention. */
@MODELS.registerModule()
export class DaViT extends BaseBackbone {
  readonly embedDims: number;
  readonly depths: number[];
  readonly numHeads: number[];
  readonly numLayers: number;
  readonly outIndices: number[];
  readonly outAfterDownsample: boolean;
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly numFeatures: number[];
  readonly patchEmbed: PatchEmbed;
  readonly stages: ModuleList<DaViTBlockSequence>;
  private readonly norms = new Map<number, Layer>();

  constructor(options: DaViTOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? 't';
    let arch: DaViTArch;
    if (typeof a === 'string') {
      const s = (ARCH_ZOO as Record<string, DaViTArch | undefined>)[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs {${Object.keys(ARCH_ZOO).map((k) => `'${k}'`).join(', ')}}`, { code: 'model.bad-argument' });
      arch = s;
    } else {
      if (!a || typeof a.embed_dims !== 'number' || !Array.isArray(a.depths) || !Array.isArray(a.num_heads)) {
        throw new MmclsError(`Custom arch needs a dict with keys {'embed_dims', 'depths', 'num_heads'}, got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    this.embedDims = arch.embed_dims;
    this.depths = [...arch.depths];
    this.numHeads = [...arch.num_heads];
    this.numLayers = this.depths.length;
    this.outIndices = [...(options.out_indices ?? [3])];
    this.outAfterDownsample = options.out_after_downsample ?? false;
    this.frozenStages = options.frozen_stages ?? -1;
    this.normEval = options.norm_eval ?? false;
    const total = this.depths.reduce((s, d) => s + d, 0);
    const rate = options.drop_path_rate ?? 0.1;
    let dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));

    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({
        in_channels: options.in_channels ?? 3,
        embed_dims: this.embedDims,
        conv_type: 'Conv2d',
        kernel_size: 7,
        stride: options.patch_size ?? 4,
        padding: 'same',
        norm_cfg: { type: 'LN' },
      }),
    );
    this.stages = this.addModule('stages', new ModuleList<DaViTBlockSequence>());
    const dims = [this.embedDims];
    const stageCfgs = options.stage_cfgs ?? {};
    for (let i = 0; i < this.numLayers; i++) {
      const stageCfg = Array.isArray(stageCfgs) ? stageCfgs[i] : { ...stageCfgs };
      const stage = new DaViTBlockSequence({
        embed_dims: dims[dims.length - 1],
        depth: this.depths[i],
        num_heads: this.numHeads[i],
        window_size: options.window_size ?? 7,
        ffn_ratio: options.ffn_ratio ?? 4,
        qkv_bias: options.qkv_bias ?? true,
        downsample: i < this.numLayers - 1,
        drop_paths: dpr.slice(0, this.depths[i]),
        with_cp: options.with_cp ?? false,
        pad_small_map: options.pad_small_map ?? false,
        ...stageCfg,
      });
      this.stages.push(stage);
      dpr = dpr.slice(this.depths[i]);
      dims.push(stage.outChannels);
    }
    this.numFeatures = dims.slice(0, -1);
    const normCfg = options.norm_cfg === undefined ? { type: 'LN' } : options.norm_cfg;
    for (const i of this.outIndices) {
      if (i < 0 || i >= this.numLayers) throw new MmclsError(`Invalid out_indices ${i} for ${this.numLayers} stages`, { code: 'model.bad-argument' });
      this.norms.set(i, this.addModule(`norm${i}`, normCfg ? buildNormLayer(normCfg, this.numFeatures[i])[1] : new Identity()));
    }
    this.freezeStages();
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.patchEmbed.eval();
      this.patchEmbed.requiresGrad(false);
    }
    for (let i = 0; i <= this.frozenStages && i < this.numLayers; i++) {
      this.stages.at(i).eval();
      this.stages.at(i).requiresGrad(false);
    }
    for (const i of this.outIndices) if (i <= this.frozenStages) this.norms.get(i)!.requiresGrad(false);
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    const pe = this.patchEmbed.forward(x);
    let t = pe.tokens;
    let hw = pe.size;
    const outs: Feat[] = [];
    for (let i = 0; i < this.numLayers; i++) {
      const stage = this.stages.at(i);
      ({ x: t, hw } = stage.forward(t, hw, this.outAfterDownsample));
      const norm = this.norms.get(i);
      if (norm) outs.push(tf.reshape(norm.forward(t), [-1, hw[0], hw[1], this.numFeatures[i]]));
      if (stage.downsample && !this.outAfterDownsample) ({ x: t, hw } = stage.downsample.forward(t, hw));
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'DaViT');
    let [tokens, size] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numLayers; i++) {
      const stage = this.stages.at(i);
      ctx.enter(this.stages);
      ctx.enter(stage);
      try {
        stage.inferShape([tokens, size], ctx);
        if (stage.downsample && this.outAfterDownsample) [tokens, size] = stage.downsample.inferShape([tokens, size], ctx) as [number[], number[]];
      } finally {
        ctx.exit(stage);
        ctx.exit(this.stages);
      }
      const norm = this.norms.get(i);
      if (norm) {
        const [b, l] = norm.inferShape(tokens, ctx) as number[];
        outs.push([b, this.numFeatures[i], size[0], size[1]]);
        if (l !== size[0] * size[1]) throw new MmclsError('DaViT: token count mismatch', { code: 'analysis.shape' });
      }
      if (stage.downsample && !this.outAfterDownsample) {
        ctx.enter(this.stages);
        ctx.enter(stage);
        try {
          [tokens, size] = stage.downsample.inferShape([tokens, size], ctx) as [number[], number[]];
        } finally {
          ctx.exit(stage);
          ctx.exit(this.stages);
        }
      }
    }
    return outs;
  }
}
