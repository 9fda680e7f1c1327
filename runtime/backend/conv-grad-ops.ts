/**
 * Backward convolutions written with forward ops (conv2d, depthwiseConv2d, matMul, pad, slice),
 * so that a backend whose forward kernels are fast (wasm: XNNPACK with SIMD) is fast backwards too.
 * They take and return NHWC tensors and run on whatever backend is current; the wasm kernels in
 * `wasm-kernels.ts` call them. They only use kernels that the wasm backend has.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** Elements above which the im2col matrix of a filter gradient is built batch slice by batch slice. */
let im2colMaxElements = 1 << 24;

/** Sets the im2col slice limit (elements; default 2^24, 64 MiB of float32) and returns the previous one. */
export function setIm2colMaxElements(n: number): number {
  const prev = im2colMaxElements;
  im2colMaxElements = Math.max(1, Math.floor(n));
  return prev;
}

export function pair(v: number | [number, number] | number[] | undefined, dflt = 1): [number, number] {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0] ?? dflt, v[1] ?? v[0] ?? dflt];
}

/**
 * Inserts `d - 1` zeros between the taps of a [KH, KW, A, B] filter, so that a convolution with
 * dilation `d` equals a convolution with dilation 1 and the returned filter.
 */
export function dilateFilter(filter: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  if (dh === 1 && dw === 1) return filter;
  return tf.tidy(() => {
    const [kh, kw, a, b] = filter.shape;
    const r = tf.reshape(filter, [kh, 1, kw, 1, a * b]);
    const p = tf.pad(r, [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0]]);
    const full = tf.reshape(p, [kh * dh, kw * dw, a, b]);
    return tf.slice(full, [0, 0, 0, 0], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, a, b]);
  }) as tf.Tensor4D;
}

/** Takes every `dh`-th / `dw`-th tap of a dilated filter gradient: the inverse of `dilateFilter`. */
export function undilateFilter(filter: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  if (dh === 1 && dw === 1) return filter;
  const [h, w, a, b] = filter.shape;
  return tf.stridedSlice(filter, [0, 0, 0, 0], [h, w, a, b], [dh, dw, 1, 1]) as tf.Tensor4D;
}

interface Geometry {
  info: backend_util.Conv2DInfo;
  /** Zeros to add at the top/left/bottom/right of x so every tap of every output lies inside. */
  top: number;
  left: number;
  bottom: number;
  right: number;
}

function geometry(xShape: [number, number, number, number], filterShape: [number, number, number, number],
  strides: [number, number], dilations: [number, number], pad: Pad, rounding: Rounding, depthwise: boolean): Geometry {
  const info = backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations, pad, rounding, depthwise, 'channelsLast');
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const needH = (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight;
  const needW = (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth;
  const bottom = Math.max(info.padInfo.bottom, needH - top - info.inHeight);
  const right = Math.max(info.padInfo.right, needW - left - info.inWidth);
  return { info, top, left, bottom, right };
}

/**
 * The patches of x that each filter tap sees: [N, OH, OW, KH*KW*C], tap-major, channel-minor,
 * so that a [KH, KW, C, ...] filter reshaped to [KH*KW*C, ...] lines up with the last axis.
 */
function patches(x: tf.Tensor4D, g: Geometry): tf.Tensor4D {
  const { info } = g;
  const xp = (g.top | g.left | g.bottom | g.right) === 0 ? x
    : tf.pad(x, [[0, 0], [g.top, g.bottom], [g.left, g.right], [0, 0]]);
  const [n, , , c] = x.shape;
  const cols: tf.Tensor4D[] = [];
  for (let kh = 0; kh < info.filterHeight; kh++) {
    for (let kw = 0; kw < info.filterWidth; kw++) {
      const h0 = kh * info.dilationHeight;
      const w0 = kw * info.dilationWidth;
      const h1 = h0 + (info.outHeight - 1) * info.strideHeight + 1;
      const w1 = w0 + (info.outWidth - 1) * info.strideWidth + 1;
      if (info.strideHeight === 1 && info.strideWidth === 1) {
        cols.push(tf.slice(xp, [0, h0, w0, 0], [n, h1 - h0, w1 - w0, c]));
      } else {
        cols.push(tf.stridedSlice(xp, [0, h0, w0, 0], [n, h1, w1, c], [1, info.strideHeight, info.strideWidth, 1]) as tf.Tensor4D);
      }
    }
  }
  return cols.length === 1 ? cols[0] : tf.concat(cols, 3);
}

/** Batch slices [start, end) small enough that one slice's im2col matrix stays under the limit. */
function batchChunks(n: number, perSample: number): Array<[number, number]> {
  const per = Math.max(1, Math.floor(im2colMaxElements / Math.max(1, perSample)));
  const out: Array<[number, number]> = [];
  for (let s = 0; s < n; s += per) out.push([s, Math.min(n, s + per)]);
  return out;
}

function sliceBatch<T extends tf.Tensor4D>(t: T, s: number, e: number): T {
  if (s === 0 && e === t.shape[0]) return t;
  return tf.slice(t, [s, 0, 0, 0], [e - s, t.shape[1], t.shape[2], t.shape[3]]) as T;
}

/**
 * x padded (or cropped) at the bottom / right so that a window grid of `out` positions with
 * stride `stride` and `k` taps covers it exactly: size (out - 1) * stride + k.
 */
function padToGrid(x: tf.Tensor4D, g: Geometry): tf.Tensor4D {
  const { info } = g;
  const hp = (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight;
  const wp = (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth;
  const bottom = hp - info.inHeight - g.top;
  const right = wp - info.inWidth - g.left;
  let xp = x;
  if ((g.top | g.left | Math.max(0, bottom) | Math.max(0, right)) !== 0) {
    xp = tf.pad(x, [[0, 0], [g.top, Math.max(0, bottom)], [g.left, Math.max(0, right)], [0, 0]]);
  }
  if (bottom < 0 || right < 0) xp = tf.slice(xp, [0, 0, 0, 0], [xp.shape[0], hp, wp, xp.shape[3]]);
  return xp;
}

/**
 * dL/dW of conv2d(x, W) (NHWC, HWIO) as ONE forward convolution: with channels and batch of x
 * swapped ([CI, H, W, N]) and dy as the filter ([OH, OW, N, CO]) at dilation = stride, the
 * output [CI, KH, KW, CO] is the filter gradient. XNNPACK runs it; no im2col copies.
 */
export function conv2dBackpropFilterNHWC(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number],
  strides: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const g = geometry(x.shape, filterShape, pair(strides), [1, 1], pad, rounding, false);
    const xt = tf.transpose(padToGrid(x, g), [3, 1, 2, 0]);
    const f = tf.transpose(dy, [1, 2, 0, 3]);
    const r = tf.conv2d(xt, f, 1, 'valid', 'NHWC', [g.info.strideHeight, g.info.strideWidth]);
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

/**
 * dL/dW of depthwiseConv2d(x, W), W: [KH, KW, C, M], as one depthwise convolution: x as one
 * image with C*N channels, dy as a [OH, OW, C*N, M] filter at dilation = stride; the batch is
 * summed out of the [1, KH, KW, C*N*M] result. Forward dilation > 1 takes the im2col path.
 */
export function depthwiseBackpropFilterNHWC(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number],
  strides: number | [number, number], dilations: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) return depthwiseBackpropFilterIm2col(x, dy, filterShape, strides, dilations, pad, rounding);
  return tf.tidy(() => {
    const g = geometry(x.shape, filterShape, pair(strides), [1, 1], pad, rounding, true);
    const [kh, kw, c, mult] = filterShape;
    const n = x.shape[0];
    const xp = padToGrid(x, g);
    const xt = tf.reshape(tf.transpose(xp, [1, 2, 3, 0]), [1, xp.shape[1], xp.shape[2], c * n]) as tf.Tensor4D;
    const [, oh, ow] = dy.shape;
    const f = tf.reshape(tf.transpose(tf.reshape(dy, [n, oh, ow, c, mult]), [1, 2, 3, 0, 4]), [oh, ow, c * n, mult]) as tf.Tensor4D;
    const r = tf.depthwiseConv2d(xt, f, 1, 'valid', 'NHWC', [g.info.strideHeight, g.info.strideWidth]); // [1, KH, KW, C*N*M]
    return tf.sum(tf.reshape(r, [kh, kw, c, n, mult]), 3) as tf.Tensor4D;
  });
}

/** dL/dW of conv2d(x, W): im2col of x times dy, one matMul per batch slice. NHWC, HWIO. */
export function conv2dBackpropFilterIm2col(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number],
  strides: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const g = geometry(x.shape, filterShape, pair(strides), [1, 1], pad, rounding, false);
    const { info } = g;
    const [kh, kw, ci, co] = filterShape;
    const k = kh * kw * ci;
    let acc: tf.Tensor2D | undefined;
    for (const [s, e] of batchChunks(info.batchSize, info.outHeight * info.outWidth * k)) {
      const cols = patches(sliceBatch(x, s, e), g);
      const m = (e - s) * info.outHeight * info.outWidth;
      const part = tf.matMul(tf.reshape(cols, [m, k]), tf.reshape(sliceBatch(dy, s, e), [m, co]), true, false) as tf.Tensor2D;
      acc = acc === undefined ? part : tf.add(acc, part) as tf.Tensor2D;
    }
    return tf.reshape(acc!, [kh, kw, ci, co]);
  });
}

/** dL/dW of depthwiseConv2d(x, W), W: [KH, KW, C, M]. Per-channel batched matMul of patches and dy. */
export function depthwiseBackpropFilterIm2col(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number],
  strides: number | [number, number], dilations: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const g = geometry(x.shape, filterShape, pair(strides), pair(dilations), pad, rounding, true);
    const { info } = g;
    const [kh, kw, c, mult] = filterShape;
    const taps = kh * kw;
    let acc: tf.Tensor3D | undefined;
    for (const [s, e] of batchChunks(info.batchSize, info.outHeight * info.outWidth * taps * c)) {
      const m = (e - s) * info.outHeight * info.outWidth;
      const cols = tf.transpose(tf.reshape(patches(sliceBatch(x, s, e), g), [m, taps, c]), [2, 1, 0]); // [C, taps, M]
      const d = tf.transpose(tf.reshape(sliceBatch(dy, s, e), [m, c, mult]), [1, 0, 2]); // [C, M, mult]
      const part = tf.matMul(cols, d) as tf.Tensor3D; // [C, taps, mult]
      acc = acc === undefined ? part : tf.add(acc, part) as tf.Tensor3D;
    }
    return tf.reshape(tf.transpose(acc!, [1, 0, 2]), [kh, kw, c, mult]);
  });
}

/**
 * The gradient of a strided convolution with respect to its input, as a sum of stride-1
 * convolutions, one per output phase (sub-pixel decomposition): the rows of the padded input
 * with `row % stride == r` only receive taps `r, r + stride, ...` of the filter. That costs the
 * same multiply-adds as the forward convolution, with no zeros inserted into dy.
 * `conv(dyPadded, subFilter)` must return [N, H', W', channels of x].
 */
function backpropInputByPhases(dy: tf.Tensor4D, filter: tf.Tensor4D, g: Geometry, outChannels: number,
  conv: (dyPadded: tf.Tensor4D, flippedSubFilter: tf.Tensor4D) => tf.Tensor4D): tf.Tensor4D {
  const { info } = g;
  const [n] = dy.shape;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const [kh, kw] = filter.shape;
  const hp = info.inHeight + g.top + g.bottom;
  const wp = info.inWidth + g.left + g.right;
  const qh = Math.ceil(hp / sh);
  const qw = Math.ceil(wp / sw);
  const phases: tf.Tensor4D[] = [];
  for (let r = 0; r < sh; r++) {
    for (let c = 0; c < sw; c++) {
      const jr = r < kh ? Math.ceil((kh - r) / sh) : 0;
      const jc = c < kw ? Math.ceil((kw - c) / sw) : 0;
      if (jr === 0 || jc === 0) {
        phases.push(tf.zeros([n, qh, qw, outChannels]));
        continue;
      }
      let sub = filter;
      if (sh !== 1 || sw !== 1) {
        sub = tf.stridedSlice(filter, [r, c, 0, 0], [kh, kw, filter.shape[2], filter.shape[3]], [sh, sw, 1, 1]) as tf.Tensor4D;
      }
      const flipped = tf.reverse(sub, [0, 1]);
      const dyp = tf.pad(dy, [[0, 0], [jr - 1, jr - 1], [jc - 1, jc - 1], [0, 0]]);
      let ph = conv(dyp, flipped); // [N, OH + jr - 1, OW + jc - 1, C]
      const [, h, w] = ph.shape;
      if (h !== qh || w !== qw) ph = tf.pad(ph, [[0, 0], [0, qh - h], [0, qw - w], [0, 0]]);
      phases.push(ph);
    }
  }
  let full: tf.Tensor4D;
  if (phases.length === 1) {
    full = phases[0];
  } else {
    const st = tf.reshape(tf.stack(phases), [sh, sw, n, qh, qw, outChannels]);
    full = tf.reshape(tf.transpose(st, [2, 3, 0, 4, 1, 5]), [n, qh * sh, qw * sw, outChannels]);
  }
  return tf.slice(full, [0, g.top, g.left, 0], [n, info.inHeight, info.inWidth, outChannels]);
}

/** dL/dx of conv2d(x, W) for x of `inputShape` (NHWC), W: [KH, KW, CI, CO]. */
export function conv2dBackpropInputNHWC(inputShape: [number, number, number, number], dy: tf.Tensor4D, filter: tf.Tensor4D,
  strides: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const g = geometry(inputShape, filter.shape, pair(strides), [1, 1], pad, rounding, false);
    return backpropInputByPhases(dy, filter, g, inputShape[3],
      (dyp, flipped) => tf.conv2d(dyp, tf.transpose(flipped, [0, 1, 3, 2]), 1, 'valid'));
  });
}

/** dL/dx of depthwiseConv2d(x, W) for x of `inputShape` (NHWC), W: [KH, KW, C, M]. */
export function depthwiseBackpropInputNHWC(inputShape: [number, number, number, number], dy: tf.Tensor4D, filter: tf.Tensor4D,
  strides: number | [number, number], dilations: number | [number, number], pad: Pad, rounding?: Rounding): tf.Tensor4D {
  return tf.tidy(() => {
    const [dh, dw] = pair(dilations);
    const g = geometry(inputShape, filter.shape, pair(strides), [dh, dw], pad, rounding, true);
    const [, , c, mult] = filter.shape;
    // Dilation is folded into the filter, so the phases below only deal with strides.
    const f = dilateFilter(filter, dh, dw);
    const fshape = f.shape;
    return backpropInputByPhases(dy, tf.reshape(f, [fshape[0], fshape[1], c * mult, 1]), g, c, (dyp, flipped) => {
      const y = tf.depthwiseConv2d(dyp, flipped, 1, 'valid'); // [N, H', W', C*M]
      if (mult === 1) return y;
      const [n, h, w] = y.shape;
      return tf.sum(tf.reshape(y, [n, h, w, c, mult]), 4) as tf.Tensor4D;
    });
  });
}

/**
 * The explicit padding that gives a pooling window grid the same output size as `pad` with
 * `dimRoundingMode` (numeric pad with 'ceil' / 'round' adds windows past the bottom / right).
 * Kernels that ignore the rounding mode (wasm pooling, cpu AvgPoolGrad) get this instead.
 */
export function explicitPoolPadding(xShape: [number, number, number, number], filterSize: number | [number, number],
  strides: number | [number, number], pad: Pad, rounding: Rounding): backend_util.ExplicitPadding {
  const info = backend_util.computePool2DInfo(xShape, filterSize, strides, 1, pad as 'valid' | 'same' | number, rounding);
  const bottom = (info.outHeight - 1) * info.strideHeight + info.filterHeight - info.inHeight - info.padInfo.top;
  const right = (info.outWidth - 1) * info.strideWidth + info.filterWidth - info.inWidth - info.padInfo.left;
  return [[0, 0], [info.padInfo.top, Math.max(0, bottom)], [info.padInfo.left, Math.max(0, right)], [0, 0]];
}
