import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout, ReLU } from '../../nn/activation';
import { LayerCfg, buildDropout } from '../../nn/builders';
import { Linear } from '../../nn/conv';
import { Layer, Sequential } from '../../nn/layer';
import { Buffer, Module, Parameter, ShapeContext, ShapeValue, StateEntry, lazy } from '../../nn/module';
import { initParameter } from '../../nn/init';

/**
 * Window attention of the Swin Transformers (MMCls's `WindowMSA`, `WindowMSAV2`, `ShiftWindowMSA`)
 * and the helpers they share: window partition / reverse, the cyclic shift, the shifted-window
 * attention mask and the relative position index. Tokens are [B, L, C]; maps are NHWC here.
 */

/**
 * Relative position index of a Wh x Ww window ([Wh*Ww, Wh*Ww], row-major): for tokens a = (ia, ja)
 * and b = (ib, jb), `(ia - ib + Wh - 1) * (2 * Ww - 1) + (ja - jb + Ww - 1)` (MMCls's double-step
 * sequence plus its flip compute exactly this).
 */
export function windowRelativePositionIndex(wh: number, ww: number): Int32Array {
  const n = wh * ww;
  const out = new Int32Array(n * n);
  for (let a = 0; a < n; a++) {
    const ia = Math.floor(a / ww);
    const ja = a % ww;
    for (let b = 0; b < n; b++) {
      const ib = Math.floor(b / ww);
      const jb = b % ww;
      out[a * n + b] = (ia - ib + wh - 1) * (2 * ww - 1) + (ja - jb + ww - 1);
    }
  }
  return out;
}

/** [B, H, W, C] to windows [B * H/ws * W/ws, ws, ws, C] (windows row-major, batch outermost). */
export function windowPartition(x: tf.Tensor, ws: number): tf.Tensor {
  const [b, h, w, c] = x.shape;
  const t = tf.reshape(x, [b, h / ws, ws, w / ws, ws, c]);
  return tf.reshape(tf.transpose(t, [0, 1, 3, 2, 4, 5]), [-1, ws, ws, c]);
}

/** Inverse of {@link windowPartition}: windows [B * nW, ws, ws, C] to [B, H, W, C]. */
export function windowReverse(windows: tf.Tensor, h: number, w: number, ws: number): tf.Tensor {
  const c = windows.shape[windows.rank - 1];
  const b = Math.floor(windows.shape[0] / ((h * w) / ws / ws));
  const t = tf.reshape(windows, [b, h / ws, w / ws, ws, ws, c]);
  return tf.reshape(tf.transpose(t, [0, 1, 3, 2, 4, 5]), [b, h, w, c]);
}

/** `torch.roll(x, shifts=(s, s), dims=(1, 2))` on [B, H, W, C]: out[i] = x[(i - s) mod H]. */
export function roll2d(x: tf.Tensor, s: number): tf.Tensor {
  const rollAxis = (t: tf.Tensor, axis: number): tf.Tensor => {
    const n = t.shape[axis];
    const k = ((s % n) + n) % n;
    if (k === 0) return t;
    const begin = t.shape.map(() => 0);
    const size = t.shape.map(() => -1);
    const headBegin = [...begin];
    headBegin[axis] = n - k;
    const tailSize = [...size];
    tailSize[axis] = n - k;
    return tf.concat([tf.slice(t, headBegin, size), tf.slice(t, begin, tailSize)], axis);
  };
  return rollAxis(rollAxis(x, 1), 2);
}

/**
 * The shifted-window attention mask ([nW, ws*ws, ws*ws], row-major) of a padded Hp x Wp map:
 * regions split at -ws and -shift on each axis are numbered 0..8, and token pairs of a window that
 * come from different regions get -100 (MMCls's `get_attn_mask`). `null` when shift is 0.
 */
export function shiftWindowMask(hp: number, wp: number, ws: number, shift: number): Float32Array | null {
  if (shift <= 0) return null;
  const region = (i: number, n: number): number => (i < n - ws ? 0 : i < n - shift ? 1 : 2);
  const nwh = hp / ws;
  const nww = wp / ws;
  const n = ws * ws;
  const out = new Float32Array(nwh * nww * n * n);
  const ids = new Int32Array(n);
  for (let wi = 0; wi < nwh; wi++) {
    for (let wj = 0; wj < nww; wj++) {
      for (let a = 0; a < n; a++) {
        const y = wi * ws + Math.floor(a / ws);
        const x = wj * ws + (a % ws);
        ids[a] = region(y, hp) * 3 + region(x, wp);
      }
      const base = (wi * nww + wj) * n * n;
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) out[base + a * n + b] = ids[b] - ids[a] !== 0 ? -100 : 0;
    }
  }
  return out;
}

/** Adds an [nW, N, N] mask to attention [B*nW, heads, N, N] (batch outermost), as MMCls does. */
function addWindowMask(attn: tf.Tensor, mask: tf.Tensor | null): tf.Tensor {
  if (!mask) return attn;
  const [bw, nh, n] = attn.shape;
  const nw = mask.shape[0];
  const a = tf.reshape(attn, [bw / nw, nw, nh, n, n]);
  return tf.reshape(tf.add(a, tf.reshape(mask, [1, nw, 1, n, n])), [bw, nh, n, n]);
}

/** fvcore's count of the two attention matmuls over windows: q@k^T and attn@v. */
function countWindowMatmuls(ctx: ShapeContext, bw: number, heads: number, n: number, headDims: number): void {
  ctx.add('matmul', bw * heads * n * n * headDims, bw * heads * n * n);
  ctx.add('matmul', bw * heads * n * n * headDims, bw * heads * n * headDims);
}

/** Options of {@link WindowMSA}. */
export interface WindowMSAOptions {
  /** Number of input channels. */
  embed_dims: number;
  /** Height and width of the window. */
  window_size: [number, number];
  /** Number of attention heads. */
  num_heads: number;
  /** Bias of the qkv projection. @default True */
  qkv_bias?: boolean;
  /** Scale of q (None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
}

/** Window multi-head self-attention with a learned relative position bias table (Swin V1). */
export class WindowMSA extends Module {
  readonly embedDims: number;
  readonly windowSize: [number, number];
  readonly numHeads: number;
  readonly scale: number;
  readonly relativePositionBiasTable: Parameter;
  readonly relativePositionIndex: Buffer;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;

  constructor(o: WindowMSAOptions) {
    super();
    this.embedDims = o.embed_dims;
    this.windowSize = [o.window_size[0], o.window_size[1]];
    this.numHeads = o.num_heads;
    const [wh, ww] = this.windowSize;
    // `qk_scale or head_dims ** -0.5`: 0 and None both fall back, as in Python.
    this.scale = o.qk_scale || Math.floor(o.embed_dims / o.num_heads) ** -0.5;
    const len = (2 * wh - 1) * (2 * ww - 1);
    this.relativePositionBiasTable = this.registerParameter(
      'relative_position_bias_table',
      lazy([len, o.num_heads], () => tf.zeros([len, o.num_heads])),
    )!;
    const n = wh * ww;
    this.relativePositionIndex = this.registerBuffer(
      'relative_position_index',
      lazy([n, n], () => tf.tensor2d(windowRelativePositionIndex(wh, ww), [n, n], 'int32'), 'int32'),
      'int64',
    );
    this.qkv = this.addModule('qkv', new Linear({ in_features: o.embed_dims, out_features: o.embed_dims * 3, bias: o.qkv_bias ?? true }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: o.embed_dims, out_features: o.embed_dims }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (!was) initParameter(this.relativePositionBiasTable, { type: 'TruncNormal', std: 0.02 });
  }

  /** Relative position bias [heads, N, N] from the table. */
  protected positionBias(): tf.Tensor {
    const n = this.windowSize[0] * this.windowSize[1];
    const idx = tf.reshape(this.relativePositionIndex.variable, [-1]);
    const bias = tf.reshape(tf.gather(this.relativePositionBiasTable.variable, idx), [n, n, this.numHeads]);
    return tf.transpose(bias, [2, 0, 1]);
  }

  /** `x`: windows [B*nW, N, C]; `mask`: [nW, N, N] or null. */
  forward(x: tf.Tensor, mask: tf.Tensor | null = null): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, c / h]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv, 0);
    let attn = tf.matMul(tf.mul(q, this.scale), k, false, true);
    attn = tf.add(attn, tf.expandDims(this.positionBias(), 0));
    attn = tf.softmax(addWindowMask(attn, mask), -1);
    attn = this.attnDrop.forward(attn);
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, c]);
    return this.projDrop.forward(this.proj.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = x as number[];
    const [b, n, c] = s;
    this.qkv.inferShape(s, ctx);
    countWindowMatmuls(ctx, b, this.numHeads, n, c / this.numHeads);
    return this.proj.inferShape(s, ctx);
  }
}

/** Options of {@link WindowMSAV2}. */
export interface WindowMSAV2Options {
  /** Number of input channels. */
  embed_dims: number;
  /** Height and width of the window. */
  window_size: [number, number];
  /** Number of attention heads. */
  num_heads: number;
  /** Learnable q and v biases (k has none). @default True */
  qkv_bias?: boolean;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
  /** Hidden channels of the continuous position bias MLP. @default 512 */
  cpb_mlp_hidden_dims?: number;
  /** Window size of pre-training; (0, 0) normalises coordinates by this window. @default (0, 0) */
  pretrained_window_size?: [number, number];
}

/**
 * The log-spaced relative coordinates table [1, 2Wh-1, 2Ww-1, 2] of Swin V2: coordinates divided by
 * (pretrained or current window - 1), times 8, then sign(x) * log2(|x| + 1) / log2(8), in float32.
 */
export function relativeCoordsTable(wh: number, ww: number, pretrained: [number, number] = [0, 0]): Float32Array {
  const f = Math.fround;
  const dh = pretrained[0] > 0 ? pretrained[0] - 1 : wh - 1;
  const dw = pretrained[0] > 0 ? pretrained[1] - 1 : ww - 1;
  const out = new Float32Array((2 * wh - 1) * (2 * ww - 1) * 2);
  const tr = (v: number, d: number): number => {
    const x = f(f(f(v) / f(d)) * 8);
    return f(f(Math.sign(x) * f(Math.log2(f(Math.abs(x) + 1)))) / 3);
  };
  let k = 0;
  for (let i = -(wh - 1); i < wh; i++) {
    for (let j = -(ww - 1); j < ww; j++) {
      out[k++] = tr(i, dh);
      out[k++] = tr(j, dw);
    }
  }
  return out;
}

/**
 * Swin V2 window attention: scaled cosine attention (learned per-head logit scale, clamped at
 * log 100) and a continuous relative position bias from a small MLP over log-spaced coordinates
 * (16 * sigmoid). Learned q and v biases; k has none.
 */
export class WindowMSAV2 extends Module {
  readonly embedDims: number;
  readonly windowSize: [number, number];
  readonly numHeads: number;
  readonly cpbMlp: Sequential;
  readonly logitScale: Parameter;
  readonly qBias: Parameter | null;
  readonly vBias: Parameter | null;
  readonly relativeCoordsTable: Buffer;
  readonly relativePositionIndex: Buffer;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;

  constructor(o: WindowMSAV2Options) {
    super();
    this.embedDims = o.embed_dims;
    this.windowSize = [o.window_size[0], o.window_size[1]];
    this.numHeads = o.num_heads;
    const [wh, ww] = this.windowSize;
    const hidden = o.cpb_mlp_hidden_dims ?? 512;
    this.cpbMlp = this.addModule(
      'cpb_mlp',
      new Sequential(
        new Linear({ in_features: 2, out_features: hidden, bias: true }),
        new ReLU(),
        new Linear({ in_features: hidden, out_features: o.num_heads, bias: false }),
      ),
    );
    const nh = o.num_heads;
    this.logitScale = this.registerParameter('logit_scale', lazy([nh, 1, 1], () => tf.fill([nh, 1, 1], Math.log(10))))!;
    const pre = o.pretrained_window_size ?? [0, 0];
    const table = relativeCoordsTable(wh, ww, [pre[0], pre[1]]);
    this.relativeCoordsTable = this.registerBuffer(
      'relative_coords_table',
      lazy([1, 2 * wh - 1, 2 * ww - 1, 2], () => tf.tensor4d(table, [1, 2 * wh - 1, 2 * ww - 1, 2])),
    );
    const n = wh * ww;
    this.relativePositionIndex = this.registerBuffer(
      'relative_position_index',
      lazy([n, n], () => tf.tensor2d(windowRelativePositionIndex(wh, ww), [n, n], 'int32'), 'int32'),
      'int64',
    );
    this.qkv = this.addModule('qkv', new Linear({ in_features: o.embed_dims, out_features: o.embed_dims * 3, bias: false }));
    const withBias = o.qkv_bias ?? true;
    const c = o.embed_dims;
    this.qBias = this.registerParameter('q_bias', withBias ? lazy([c], () => tf.zeros([c])) : null);
    this.vBias = this.registerParameter('v_bias', withBias ? lazy([c], () => tf.zeros([c])) : null);
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: c, out_features: c }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
  }

  /** Continuous relative position bias [heads, N, N] (before the 16 * sigmoid). */
  protected positionBias(): tf.Tensor {
    const n = this.windowSize[0] * this.windowSize[1];
    const table = tf.reshape(this.cpbMlp.forward(this.relativeCoordsTable.variable), [-1, this.numHeads]);
    const idx = tf.reshape(this.relativePositionIndex.variable, [-1]);
    return tf.transpose(tf.reshape(tf.gather(table, idx), [n, n, this.numHeads]), [2, 0, 1]);
  }

  forward(x: tf.Tensor, mask: tf.Tensor | null = null): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    let qkv = this.qkv.forward(x);
    if (this.qBias && this.vBias) qkv = tf.add(qkv, tf.concat([this.qBias.variable, tf.zerosLike(this.vBias.variable), this.vBias.variable]));
    const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [b, n, 3, h, c / h]), [2, 0, 3, 1, 4]), 0);
    // F.normalize: x / max(||x||, 1e-12).
    const normalize = (t: tf.Tensor): tf.Tensor => tf.div(t, tf.maximum(tf.norm(t, 'euclidean', -1, true), 1e-12));
    let attn = tf.matMul(normalize(q), normalize(k), false, true);
    attn = tf.mul(attn, tf.exp(tf.minimum(this.logitScale.variable, Math.log(1 / 0.01))));
    attn = tf.add(attn, tf.expandDims(tf.mul(tf.sigmoid(this.positionBias()), 16), 0));
    attn = this.attnDrop.forward(tf.softmax(addWindowMask(attn, mask), -1));
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, c]);
    return this.projDrop.forward(this.proj.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = x as number[];
    const [b, n, c] = s;
    this.qkv.inferShape(s, ctx);
    countWindowMatmuls(ctx, b, this.numHeads, n, c / this.numHeads);
    // The bias MLP runs on the coordinates table at every call.
    this.cpbMlp.inferShape(this.relativeCoordsTable.shape, ctx);
    return this.proj.inferShape(s, ctx);
  }
}

/** Options of {@link ShiftWindowMSA}. */
export interface ShiftWindowMSAOptions {
  /** Number of input channels. */
  embed_dims: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Height and width of the (square) window. */
  window_size: number;
  /** Cyclic shift towards the bottom right; 0 is plain window attention. @default 0 */
  shift_size?: number;
  /** Dropout or DropPath on the output. @default dict(type='DropPath', drop_prob=0.) */
  dropout_layer?: LayerCfg | null;
  /** Pad maps smaller than the window to it (detection); False keeps classification's behaviour of not shifting a map equal to the window and refusing smaller ones. @default False */
  pad_small_map?: boolean;
  /** Window attention: 'WindowMSA' (Swin V1) or 'WindowMSAV2' (Swin V2). @default 'WindowMSA' */
  window_msa?: 'WindowMSA' | 'WindowMSAV2';
  /** Bias of the qkv projection. @default True */
  qkv_bias?: boolean;
  /** Scale of q (WindowMSA only; None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
  /** Hidden channels of the position bias MLP (WindowMSAV2 only). @default 512 */
  cpb_mlp_hidden_dims?: number;
  /** Window size of pre-training (WindowMSAV2 only). @default (0, 0) */
  pretrained_window_size?: [number, number];
}

/** Shifted-window multi-head self-attention on [B, H*W, C] tokens (MMCls's `ShiftWindowMSA`). */
@MODELS.registerModule()
export class ShiftWindowMSA extends Module {
  readonly windowSize: number;
  readonly shiftSize: number;
  readonly padSmallMap: boolean;
  readonly wMsa: WindowMSA | WindowMSAV2;
  readonly drop: Layer;
  private readonly maskCache = new Map<string, Float32Array | null>();

  constructor(o: ShiftWindowMSAOptions) {
    super();
    this.windowSize = o.window_size;
    this.shiftSize = o.shift_size ?? 0;
    if (!(this.shiftSize >= 0 && this.shiftSize < this.windowSize)) {
      throw new MmclsError(`ShiftWindowMSA: shift_size must be in [0, window_size), got ${this.shiftSize} with window_size ${this.windowSize}`, {
        code: 'model.bad-argument',
      });
    }
    const ws: [number, number] = [this.windowSize, this.windowSize];
    if ((o.window_msa ?? 'WindowMSA') === 'WindowMSAV2') {
      this.wMsa = this.addModule(
        'w_msa',
        new WindowMSAV2({
          embed_dims: o.embed_dims,
          num_heads: o.num_heads,
          window_size: ws,
          qkv_bias: o.qkv_bias,
          attn_drop: o.attn_drop,
          proj_drop: o.proj_drop,
          cpb_mlp_hidden_dims: o.cpb_mlp_hidden_dims,
          pretrained_window_size: o.pretrained_window_size,
        }),
      );
    } else {
      this.wMsa = this.addModule(
        'w_msa',
        new WindowMSA({
          embed_dims: o.embed_dims,
          num_heads: o.num_heads,
          window_size: ws,
          qkv_bias: o.qkv_bias,
          qk_scale: o.qk_scale,
          attn_drop: o.attn_drop,
          proj_drop: o.proj_drop,
        }),
      );
    }
    this.drop = this.addModule('drop', buildDropout(o.dropout_layer === undefined ? { type: 'DropPath', drop_prob: 0 } : o.dropout_layer));
    this.padSmallMap = o.pad_small_map ?? false;
  }

  /** The shift used for an H x W map (0 when the map equals the window and small maps are not padded). */
  effectiveShift(h: number, w: number): number {
    const ws = this.windowSize;
    if (Math.min(h, w) === ws) return this.padSmallMap ? this.shiftSize : 0;
    if (Math.min(h, w) < ws && !this.padSmallMap) {
      throw new MmclsError(
        `The input shape (${h}, ${w}) is smaller than the window size (${ws}). Please set \`pad_small_map=True\`, or decrease the \`window_size\`.`,
        { code: 'model.shape' },
      );
    }
    return this.shiftSize;
  }

  /** The attention mask of a padded map, cached per size. */
  attnMask(hp: number, wp: number, shift: number): Float32Array | null {
    const key = `${hp}x${wp}/${shift}`;
    if (!this.maskCache.has(key)) this.maskCache.set(key, shiftWindowMask(hp, wp, this.windowSize, shift));
    return this.maskCache.get(key)!;
  }

  /** `query`: [B, H*W, C] tokens of an H x W map. */
  forward(query: tf.Tensor, hw: [number, number]): tf.Tensor {
    const [b, l, c] = query.shape;
    const [h, w] = hw;
    if (l !== h * w) throw new MmclsError(`The query length ${l} doesn't match the input shape (${h}, ${w}).`, { code: 'model.shape' });
    const ws = this.windowSize;
    const shift = this.effectiveShift(h, w);
    let x = tf.reshape(query, [b, h, w, c]);
    const padR = (ws - (w % ws)) % ws;
    const padB = (ws - (h % ws)) % ws;
    if (padR || padB) x = tf.pad(x, [[0, 0], [0, padB], [0, padR], [0, 0]]);
    const hp = h + padB;
    const wp = w + padR;
    if (shift > 0) x = roll2d(x, -shift);
    const maskData = this.attnMask(hp, wp, shift);
    const n = ws * ws;
    const mask = maskData ? tf.tensor3d(maskData, [maskData.length / (n * n), n, n]) : null;
    const windows = tf.reshape(windowPartition(x, ws), [-1, n, c]);
    const attn = this.wMsa.forward(windows, mask);
    let y = windowReverse(tf.reshape(attn, [-1, ws, ws, c]), hp, wp, ws);
    if (shift > 0) y = roll2d(y, shift);
    if (padR || padB) y = tf.slice(y, [0, 0, 0, 0], [b, h, w, c]);
    return this.drop.forward(tf.reshape(y, [b, h * w, c]));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    const [b, , c] = tokens;
    const [h, w] = hw;
    this.effectiveShift(h, w);
    const ws = this.windowSize;
    const hp = Math.ceil(h / ws) * ws;
    const wp = Math.ceil(w / ws) * ws;
    this.wMsa.inferShape([(b * hp * wp) / (ws * ws), ws * ws, c], ctx);
    return tokens;
  }
}

/**
 * Coefficients of the not-a-knot cubic spline through (xs, ys) evaluated at `at`, as a dense
 * [at.length, xs.length] matrix (the spline is linear in ys). Points outside [xs0, xsN] are
 * clamped, as FITPACK's evaluation does.
 */
export function notAKnotSplineMatrix(xs: number[], at: number[]): Float64Array {
  const n = xs.length;
  const out = new Float64Array(at.length * n);
  for (let j = 0; j < n; j++) {
    const ys = xs.map((_, i) => (i === j ? 1 : 0));
    const m = splineSecondDerivatives(xs, ys);
    at.forEach((t0, r) => {
      const t = Math.min(Math.max(t0, xs[0]), xs[n - 1]);
      let i = 0;
      while (i < n - 2 && t > xs[i + 1]) i++;
      const hseg = xs[i + 1] - xs[i];
      const a = (xs[i + 1] - t) / hseg;
      const bb = (t - xs[i]) / hseg;
      out[r * n + j] = a * ys[i] + bb * ys[i + 1] + ((a * a * a - a) * m[i] + (bb * bb * bb - bb) * m[i + 1]) * (hseg * hseg) / 6;
    });
  }
  return out;
}

/** Second derivatives of the not-a-knot cubic spline (dense solve; n is small). */
function splineSecondDerivatives(xs: number[], ys: number[]): Float64Array {
  const n = xs.length;
  const m = new Float64Array(n);
  if (n < 4) {
    // Too few points for not-a-knot: a polynomial through them has constant second derivative
    // (n = 3) or none (n <= 2).
    if (n === 3) {
      const d1 = (ys[1] - ys[0]) / (xs[1] - xs[0]);
      const d2 = (ys[2] - ys[1]) / (xs[2] - xs[1]);
      m.fill((2 * (d2 - d1)) / (xs[2] - xs[0]));
    }
    return m;
  }
  const a: number[][] = Array.from({ length: n }, () => new Array(n + 1).fill(0));
  const h = (i: number): number => xs[i + 1] - xs[i];
  // Not-a-knot at x1: the third derivative is continuous, (M1 - M0)/h0 = (M2 - M1)/h1.
  a[0][0] = h(1);
  a[0][1] = -(h(0) + h(1));
  a[0][2] = h(0);
  for (let i = 1; i < n - 1; i++) {
    a[i][i - 1] = h(i - 1);
    a[i][i] = 2 * (h(i - 1) + h(i));
    a[i][i + 1] = h(i);
    a[i][n] = 6 * ((ys[i + 1] - ys[i]) / h(i) - (ys[i] - ys[i - 1]) / h(i - 1));
  }
  a[n - 1][n - 3] = h(n - 2);
  a[n - 1][n - 2] = -(h(n - 3) + h(n - 2));
  a[n - 1][n - 1] = h(n - 3);
  // Gaussian elimination with partial pivoting.
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) piv = r;
    [a[col], a[piv]] = [a[piv], a[col]];
    for (let r = 0; r < n; r++) {
      if (r === col || a[r][col] === 0) continue;
      const f = a[r][col] / a[col][col];
      for (let k = col; k <= n; k++) a[r][k] -= f * a[col][k];
    }
  }
  for (let i = 0; i < n; i++) m[i] = a[i][n] / a[i][i];
  return m;
}

/**
 * MMCls's `resize_relative_position_bias_table`: resamples a [src*src, heads] table to
 * [dst*dst, heads] with a bicubic interpolating spline on geometrically spaced source offsets
 * (scipy's interp2d 'cubic' on a grid is the tensor product of not-a-knot cubic splines).
 */
export function resizeRelativePositionBiasTable(src: number, dst: number, table: Float32Array, numHeads: number): Float32Array {
  const gp = (a: number, r: number, n: number): number => (a * (1 - r ** n)) / (1 - r);
  let left = 1.01;
  let right = 1.5;
  let q = 0;
  while (right - left > 1e-6) {
    q = (left + right) / 2;
    if (gp(1, q, Math.floor(src / 2)) > Math.floor(dst / 2)) right = q;
    else left = q;
  }
  const dis: number[] = [];
  let cur = 1;
  for (let i = 0; i < Math.floor(src / 2); i++) {
    dis.push(cur);
    cur += q ** (i + 1);
  }
  const xs = [...dis.map((d) => -d).reverse(), 0, ...dis];
  const t = Math.floor(dst / 2);
  const at: number[] = [];
  for (let v = -t; v < t + 0.1; v += 1) at.push(v);
  const a = notAKnotSplineMatrix(xs, at);
  const ns = xs.length;
  const nd = at.length;
  const out = new Float32Array(nd * nd * numHeads);
  const tmp = new Float64Array(nd * ns);
  for (let hd = 0; hd < numHeads; hd++) {
    // rows: tmp = A z (z[i][j] = table[(i * src + j), hd]); then out = tmp A^T.
    tmp.fill(0);
    for (let r = 0; r < nd; r++) {
      for (let i = 0; i < ns; i++) {
        const w = a[r * ns + i];
        if (w === 0) continue;
        for (let j = 0; j < ns; j++) tmp[r * ns + j] += w * table[(i * src + j) * numHeads + hd];
      }
    }
    for (let r = 0; r < nd; r++) {
      for (let s = 0; s < nd; s++) {
        let acc = 0;
        for (let j = 0; j < ns; j++) acc += tmp[r * ns + j] * a[s * ns + j];
        out[(r * nd + s) * numHeads + hd] = acc;
      }
    }
  }
  return out;
}

/**
 * What MMCls's load hook does to a checkpoint's relative position tables: a bias table of another
 * window size is interpolated to this model's and its index buffer dropped (it is rebuilt here).
 * `state` holds PyTorch-layout entries; `own` the model's shapes by key.
 */
export function prepareRelativePositionBiasTables(state: Map<string, StateEntry>, own: Map<string, number[]>): string[] {
  const resized: string[] = [];
  for (const [key, shape] of own) {
    if (!key.endsWith('relative_position_bias_table')) continue;
    const e = state.get(key);
    if (!e || e.shape.length !== 2) continue;
    const [l1, nh1] = e.shape;
    const [l2] = shape;
    if (l1 === l2) continue;
    const src = Math.floor(Math.sqrt(l1));
    const dst = Math.floor(Math.sqrt(l2));
    const data = e.data instanceof Float32Array ? e.data : Float32Array.from(e.data as ArrayLike<number>, Number);
    state.set(key, { data: resizeRelativePositionBiasTable(src, dst, data, nh1), shape: [dst * dst, nh1], dtype: 'float32' });
    state.delete(key.replace('bias_table', 'index'));
    resized.push(key);
  }
  return resized;
}
